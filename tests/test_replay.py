"""Recording seams in the controller and replaying them offline (``cellctl replay``).

A real controller welds the coupon's sine-shaped seam against the simulator with recording on;
the rig writes the simulator's truth beside the recording (as ``cellsim --truth-file`` does).
The replay with the recorded settings must give back the corrections that were sent; a
filter that averages over 20 mm of a seam that bends 5 mm per 75 mm must track worse.
"""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import numpy as np
import pytest

from cellctl.cli import main
from cellctl.config import load_cell_config
from cellctl.config.recording_models import RecordingSettings
from cellctl.config.sensor_models import SensorSettings
from cellctl.recording import RUN_FILE, SeamRecorder, folder_bytes
from cellctl.replay import (
    ReplayError,
    compare,
    find_recordings,
    load_recording,
    load_truth,
    parse_overrides,
)
from cellctl.vision.pipeline import JointMeasurement
from drivers.codecs.sensor_protocol import Frame
from sim.truth_file import write_truth
from tests.cell_rig import REPO, running_cell
from tests.test_tracking_cell import TIME_SCALE, scenario, sensor_on


def recording_on(folder: Path, every_nth_frame: int = 1, budget_mb: float = 500):
    base = sensor_on()

    def edit(cell: dict) -> None:
        base(cell)
        cell["sensor"]["recording"] = {
            "enabled": True,
            "folder": str(folder),
            "every_nth_frame": every_nth_frame,
            "budget_mb": budget_mb,
            "min_free_disk_mb": 0,
            # The whole seam may wait for the writer: on a loaded test machine (2 cores, the
            # simulator and the controller in this process) it falls behind.
            "write_queue_frames": 1000,
        }

    return edit


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Path:
    """One part welded with recording on; the recording folder (with the sim's truth)."""
    import asyncio

    tmp_path = tmp_path_factory.mktemp("recorded")
    folder = tmp_path / "recordings"

    async def weld() -> None:
        vision = scenario("sine-5mm")
        async with running_cell(tmp_path, TIME_SCALE, recording_on(folder), vision=vision) as rig:
            await rig.to_idle()
            record = await rig.weld_part(timeout_s=60)
            assert record["status"] == "complete"
            write_truth(rig.sim.tracking_score.part, folder / "truth.json", vision.name)
            scores = rig.sim.tracking_score.figures()
            (folder / "sim-score.json").write_text(json.dumps(scores))

    asyncio.run(weld())
    return folder


def test_a_tracked_seam_is_recorded_with_its_frames_and_context(recorded):
    runs = find_recordings(recorded)
    assert len(runs) == 1
    recording = load_recording(runs[0])
    doc = recording.doc
    assert doc["seam_name"] == "fillet"
    assert doc["joint"] == "fillet"
    assert len(doc["path_mm"]) == 2  # the path welded (seam finding's), straight
    assert (runs[0] / "calibration.yaml").is_file()
    frames = recording.frames
    assert len(frames["frame_number"]) > 100
    images = sorted(runs[0].glob("*.png"))
    assert len(images) == sum(frames["image"]) == len(frames["frame_number"])
    assert sum(frames["ok"]) > 100
    # The sensor's position along the path at each exposure: from the look-ahead on, along
    # the 80 mm seam (the controller's estimate from the robot's statuses).
    assert frames["s_sensor_mm"][0] == pytest.approx(30, abs=5)
    assert frames["s_sensor_mm"][-1] - frames["s_sensor_mm"][0] > 40
    assert len(recording.corrections["t_s"]) > 200
    assert doc["figures"]["corrections_sent"] == len(recording.corrections["t_s"])


def test_replay_with_the_recorded_settings_reproduces_the_corrections(recorded):
    recording = load_recording(find_recordings(recorded)[0])
    truth = load_truth(recorded / "truth.json")
    same = compare(recording, [], truth)
    print(json.dumps(same.as_dict(), indent=1))
    assert same.result.frames_replayed == len(recording.frames["frame_number"])
    assert same.result.frames_with_joint == sum(recording.frames["ok"])
    assert same.correction_rms_mm < 0.01
    assert same.correction_max_mm < 0.1
    # Deterministic: positions and order come from the recording, not from the clock.
    again = compare(recording, [], truth)
    assert np.array_equal(again.result.stream.lateral_mm, same.result.stream.lateral_mm)
    assert np.array_equal(again.result.stream.vertical_mm, same.result.stream.vertical_mm)
    assert same.recorded_error is not None
    assert same.replayed_error is not None
    assert same.recorded_error[0] < 0.3  # closed loop on a ±5 mm sine
    assert same.replayed_error[0] == pytest.approx(same.recorded_error[0], abs=0.01)
    # The replay's measure (corrections sent vs the truth file) agrees with the simulator's
    # own score of the torch (every physics step, robot dynamics included) within 0.1 mm.
    simulated = json.loads((recorded / "sim-score.json").read_text())[0]
    print("simulator's score:", simulated)
    assert same.recorded_error[0] == pytest.approx(simulated["rms_mm"], abs=0.1)


def test_a_wide_filter_window_tracks_the_sine_worse(recorded):
    recording = load_recording(find_recordings(recorded)[0])
    truth = load_truth(recorded / "truth.json")
    wide = compare(recording, parse_overrides(["tracking.filter_window_mm=20"]), truth)
    print(json.dumps(wide.as_dict(), indent=1))
    assert wide.correction_rms_mm > 0.05
    assert wide.replayed_error[0] > 1.5 * wide.recorded_error[0]
    assert wide.replayed_error[1] > wide.recorded_error[1]


def test_another_correction_rate_and_lead_resample_the_stream(recorded):
    recording = load_recording(find_recordings(recorded)[0])
    slower = compare(recording, parse_overrides(["tracking.correction_rate_hz=125"]))
    # 125 corrections a second over the recorded time, near the recorded ones (the same
    # filter; the rate limit allows twice the step per correction).
    sent_at = recording.corrections["t_s"]
    assert len(slower.result.stream.t_s) == pytest.approx((sent_at[-1] - sent_at[0]) * 125, abs=2)
    assert slower.correction_rms_mm < 0.05
    later = compare(recording, parse_overrides(["tracking.correction_lead_ms=100"]))
    # Aiming 100 ms further along the path: a sine's correction runs ahead of the recorded.
    assert later.correction_rms_mm > 0.05
    # The torch positions aimed at move 94 ms further along (at 8 mm/s x 4: about 3 mm).
    # (Over the corrections both streams have: a replay that would have lost tracking stops
    # its stream early, which this check is not about.)
    replayed = np.asarray(later.result.stream.s_torch_mm)
    recorded_s = np.asarray(recording.corrections["s_torch_mm"])
    both = min(len(replayed), len(recorded_s))
    ahead = replayed[:both] - recorded_s[:both]
    assert float(np.median(ahead)) == pytest.approx(0.094 * 8 * TIME_SCALE, rel=0.3)


def test_cellctl_replay_prints_a_row_per_seam(recorded, capsys, tmp_path):
    out = tmp_path / "rows.json"
    code = main(
        ["replay", str(recorded), "--set", "tracking.filter_window_mm=4", "--json", str(out)]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "changed: tracking.filter_window_mm=4" in printed
    assert "fillet" in printed
    rows = json.loads(out.read_text())
    assert len(rows) == 1
    assert rows[0]["tracking_error_replayed_rms_mm"] > 0
    assert rows[0]["frames_per_s"] > 0


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("tracking.gain=2", ["tracking has no field 'gain'", "filter_window_mm", "coast_mm"]),
        ("tracking.filter_window_mm=-1", ["tracking.filter_window_mm", "greater than 0"]),
        ("tracking.outlier_persistence=many", ["tracking.outlier_persistence", "'many'"]),
        ("vision.gain=2", ["unknown section 'vision'", "tracking, stripe, joint"]),
        ("filter_window_mm=2", ["expected SECTION.FIELD=VALUE"]),
    ],
)
def test_a_bad_setting_is_refused_naming_the_field(setting, expected, capsys, tmp_path):
    with pytest.raises(ReplayError) as refused:
        parse_overrides([setting])
    for text in expected:
        assert text in str(refused.value)
    assert main(["replay", str(tmp_path), "--set", setting]) == 2
    assert expected[0] in capsys.readouterr().err


def test_a_folder_without_recordings_is_refused(tmp_path, capsys):
    assert main(["replay", str(tmp_path / "nothing")]) == 2
    assert "no such recording folder" in capsys.readouterr().err


def coupon_seam():
    """The shipped coupon's seam, as the controller's config loader reads it."""
    return load_cell_config(REPO / "config" / "cell.yaml").parts["coupon-fillet-80"].seams[0]


def record_noise(root: Path, settings: RecordingSettings, runs: int, frames: int) -> None:
    """``runs`` seam runs of ``frames`` frames of noise (~75 kB a PNG: noise does not
    compress) through a real recorder."""
    recorder = SeamRecorder(
        settings, root, SensorSettings(), REPO / "config" / "sensor-calibration.yaml"
    )
    rng = np.random.default_rng(7)
    seam = coupon_seam()
    try:
        for seam_run in range(runs):
            recorder.start_seam(
                seam=seam,
                path=[(0.0, 0.0, 0.0), (80.0, 0.0, 0.0)],
                path_id=seam_run + 1,
                max_correction_mm=10.0,
                max_rate_mm_per_s=50.0,
                seed=[(0.0, 0.0, 0.0)],
            )
            for number in range(frames):
                pixels = rng.integers(0, 255, (240, 320), dtype=np.uint8)
                frame = Frame(number, 10**9 + number * 10**7, pixels)
                measurement = JointMeasurement(
                    number, frame.exposure_s, True, 0.1, -0.2, 0.0, 0.0, 0.9, "", 300
                )
                recorder.frame(frame, measurement, number * 0.1, (0.0, 0.0), number)
                recorder.flush()  # the writer keeps up (a slow disk drops frames instead)
            recorder.finish_seam([(1.0, 0.0, 0.0, 0.0)], {"frames": frames}, None)
            recorder.flush()
    finally:
        recorder.close()


def test_the_disk_budget_holds_and_the_log_says_so(tmp_path, caplog):
    budget_mb = 1.0
    root = tmp_path / "recordings"
    # An old run already takes a third of the budget.
    (root / "old").mkdir(parents=True)
    (root / "old" / "blob.bin").write_bytes(b"\0" * (1024 * 1024 // 3))
    caplog.set_level(logging.WARNING, logger="cellctl.recording")
    settings = RecordingSettings(
        enabled=True, every_nth_frame=2, budget_mb=budget_mb, min_free_disk_mb=0
    )
    record_noise(root, settings, runs=2, frames=200)
    assert folder_bytes(root) <= budget_mb * 1024 * 1024
    runs = sorted(p for p in root.iterdir() if (p / RUN_FILE).is_file())
    assert len(runs) == 2  # the measurement logs are complete even when the images stop
    first = json.loads((runs[0] / RUN_FILE).read_text())
    assert len(first["frames"]["frame_number"]) == 200
    written = len(list(runs[0].glob("*.png")))
    assert 0 < written == sum(first["frames"]["image"]) < 100
    assert first["images_not_written"]["budget"] > 0
    assert not list(runs[1].glob("*.png"))  # the budget was already spent
    assert (root / "old" / "blob.bin").exists()  # never deleted in this mode
    warnings = [r.getMessage() for r in caplog.records if "disk budget" in r.getMessage()]
    assert len(warnings) == 2  # once per seam run
    assert "no more frames are recorded" in warnings[0]


def test_when_full_the_oldest_runs_can_make_room(tmp_path, caplog):
    budget_mb = 1.0
    root = tmp_path / "recordings"
    (root / "notes").mkdir(parents=True)
    (root / "notes" / "engineer.txt").write_text("not a recording: never deleted")
    caplog.set_level(logging.WARNING, logger="cellctl.recording")
    settings = RecordingSettings(
        enabled=True, budget_mb=budget_mb, min_free_disk_mb=0, when_full="drop_oldest_runs"
    )
    record_noise(root, settings, runs=3, frames=8)  # ~0.6 MB a run
    assert folder_bytes(root) <= budget_mb * 1024 * 1024
    runs = sorted(p.name for p in root.iterdir() if (p / RUN_FILE).is_file())
    assert len(runs) == 1
    assert runs[0].endswith("-p3")  # the newest, whole
    newest = json.loads((root / runs[0] / RUN_FILE).read_text())
    assert all(newest["frames"]["image"])
    assert (root / "notes" / "engineer.txt").exists()
    dropped = [r.getMessage() for r in caplog.records if "deleted the oldest run" in r.getMessage()]
    assert [m.split("run ")[1].split(" ")[0][-3:] for m in dropped] == ["-p1", "-p2"]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_shows_only_on_a_terminal_and_after_a_while(monkeypatch):
    import cellctl.replay_cli as replay_cli

    terminal = _Terminal()
    quick = replay_cli.Progress("replay", terminal)
    quick(10, 100)
    assert terminal.getvalue() == ""  # a replay of under two seconds shows nothing
    monkeypatch.setattr(replay_cli, "PROGRESS_AFTER_S", 0.0)
    slow = replay_cli.Progress("replay", terminal)
    slow(50, 100)
    assert "[###############...............] 50/100 frames" in terminal.getvalue()
    slow.clear()
    assert terminal.getvalue().endswith("\r\033[K")
    log_file = io.StringIO()
    replay_cli.Progress("replay", log_file)(50, 100)
    assert log_file.getvalue() == ""


def test_cellsim_writes_the_truth_of_the_part_it_simulates(tmp_path):
    from sim.cli import _devices_for, build_parser
    from tests.cell_rig import write_config

    config = write_config(tmp_path, sensor_on())
    truth_file = tmp_path / "truth.json"
    vision = REPO / "config" / "vision" / "sine-5mm.yaml"
    args = build_parser().parse_args(
        ["all", "--config", str(config), "--vision", str(vision), "--truth-file", str(truth_file)]
    )
    _devices_for(args)  # built, never started: nothing listens
    truth = load_truth(truth_file)["fillet"]
    assert truth.length_mm == pytest.approx(80.0)
    # The scenario's ±5 mm sine of 150 mm wavelength, a quarter wave in.
    assert np.interp(37.5, truth.s_mm, truth.lateral_mm) == pytest.approx(5.0, abs=1e-3)
    assert np.interp(75.0, truth.s_mm, truth.lateral_mm) == pytest.approx(0.0, abs=1e-3)


def test_a_decimated_recording_replays_close_and_says_it_is_not_exact(recorded, tmp_path, capsys):
    import shutil

    run = tmp_path / "decimated"
    shutil.copytree(find_recordings(recorded)[0], run)
    document = json.loads((run / RUN_FILE).read_text())
    # What every_nth_frame: 2 would have kept: every other frame's image.
    for i, number in enumerate(document["frames"]["frame_number"]):
        if i % 2 and document["frames"]["image"][i]:
            next(run.glob(f"{number:08d}_*.png")).unlink()
            document["frames"]["image"][i] = False
    (run / RUN_FILE).write_text(json.dumps(document))
    half = compare(load_recording(run), [], load_truth(recorded / "truth.json"))
    assert half.result.frames_replayed == sum(document["frames"]["image"])
    assert 0 < half.correction_rms_mm < 0.05  # half the measurements, the same joint
    assert half.replayed_error[0] < 2 * half.recorded_error[0] + 0.02
    assert main(["replay", str(run), "--truth", str(recorded / "truth.json")]) == 0
    assert "cannot reproduce the run exactly" in capsys.readouterr().out


def test_a_damaged_recording_is_refused_naming_the_file_and_line(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / RUN_FILE).write_text('{"format": 1,\n "frames": [1, 2,,]}')
    with pytest.raises(ReplayError, match=r"seam.json: line 2: not JSON"):
        load_recording(run)
    (run / RUN_FILE).write_text('{"format": 1, "frames": {}}')
    with pytest.raises(ReplayError, match="missing corrections, path_mm, seam_name, tracking"):
        load_recording(run)
    assert main(["replay", str(tmp_path)]) == 1  # found, but not replayable
    assert "seam.json: missing" in capsys.readouterr().err


def test_cellctl_replay_draws_each_seam(recorded, tmp_path):
    import subprocess
    import sys

    import cv2

    plots = tmp_path / "plots"
    # The command itself, in a process of its own: Qt's application outlives a drawing.
    done = subprocess.run(
        [sys.executable, "-m", "cellctl.cli", "replay", str(recorded), "--set",
         "tracking.filter_window_mm=10", "--plot", str(plots)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    drawn = sorted(plots.glob("*.png"))
    assert [p.stem for p in drawn] == [p.name for p in find_recordings(recorded)]
    picture = cv2.imread(str(drawn[0]))
    assert picture.shape[:2] == (900, 1000)
    # Curves in the recorded (blue) and replayed (orange) pens, not a blank page.
    blue = np.all(np.abs(picture.astype(int) - (200, 90, 40)) < 30, axis=2)
    orange = np.all(np.abs(picture.astype(int) - (20, 80, 220)) < 30, axis=2)
    assert blue.sum() > 500
    assert orange.sum() > 500
    assert f"plot {drawn[0]}" in done.stdout


def test_an_unwritable_recording_folder_is_said_once_and_tracking_goes_on(tmp_path, caplog):
    root = tmp_path / "recordings"
    root.write_text("a file where the folder should be")
    caplog.set_level(logging.WARNING, logger="cellctl.recording")
    settings = RecordingSettings(enabled=True, min_free_disk_mb=0)
    record_noise(root, settings, runs=2, frames=5)  # raises nothing
    failures = [r.getMessage() for r in caplog.records if "is not recorded" in r.getMessage()]
    assert len(failures) == 2  # once per run, not once per frame
    assert "start failed" in failures[0]
