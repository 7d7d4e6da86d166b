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

from cellctl.cli.main import main
from cellctl.config import load_cell_config
from cellctl.config.recording_models import RecordingSettings
from cellctl.config.sensor_models import SensorSettings
from cellctl.sensing.recording import RUN_FILE, SeamRecorder, folder_bytes
from cellctl.sensing.replay import (
    ReplayError,
    compare,
    find_recordings,
    load_recording,
    load_truth,
    parse_overrides,
)
from cellctl.sensing.vision.pipeline import JointMeasurement
from drivers.codecs.sensor_protocol import Frame
from rigs.cell import REPO, running_cell
from sim.truth.file import write_truth
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
    recording = load_recording(runs[0])  # a real recording passes every check of the reader
    run = recording.run
    assert run.seam_name == "fillet"
    assert run.joint == "fillet"
    assert len(run.path_mm) == 2  # the path welded (seam finding's), straight
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
    assert run.figures["corrections_sent"] == len(recording.corrections["t_s"])
    assert run.rows_not_logged == {"frames": 0, "corrections": 0}


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
    caplog.set_level(logging.WARNING, logger="cellctl.sensing.recording")
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
    caplog.set_level(logging.WARNING, logger="cellctl.sensing.recording")
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
    import cellctl.cli.replay as replay_cli

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
    from rigs.cell import write_config
    from sim.cli import _devices_for, build_parser

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
    with pytest.raises(ReplayError) as refused:
        load_recording(run)
    assert str(refused.value).splitlines() == [
        f"{run / RUN_FILE}: missing recorded_at_utc, seam_name, joint, work_angle_deg, seam, "
        "path_mm, path_id, lookahead_mm, max_correction_mm, max_rate_mm_per_s, tracking, "
        "stripe, joint_settings, calibration_file, calibration_source, every_nth_frame, seed, "
        "corrections, figures, lost, frames_seen, images_not_written",
        f"{run / RUN_FILE}: frames: missing frame_number, exposure_s, s_sensor_mm, "
        "commanded_lateral_mm, commanded_vertical_mm, ok, lateral_mm, vertical_mm, reason, "
        "corrections_before, image",
    ]
    assert main(["replay", str(tmp_path)]) == 1  # found, but not replayable
    assert "seam.json: missing" in capsys.readouterr().err


def test_cellctl_replay_draws_each_seam(recorded, tmp_path):
    import subprocess
    import sys

    import cv2

    plots = tmp_path / "plots"
    # The command itself, in a process of its own: Qt's application outlives a drawing.
    done = subprocess.run(
        [sys.executable, "-m", "cellctl.cli.main", "replay", str(recorded), "--set",
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
    caplog.set_level(logging.WARNING, logger="cellctl.sensing.recording")
    settings = RecordingSettings(enabled=True, min_free_disk_mb=0)
    record_noise(root, settings, runs=2, frames=5)  # raises nothing
    failures = [r.getMessage() for r in caplog.records if "is not recorded" in r.getMessage()]
    assert len(failures) == 2  # once per run, not once per frame
    assert "start failed" in failures[0]


# -- hostile recordings (issue 14): refused naming the file and the field, in bounded memory --


@pytest.fixture
def small_run(tmp_path) -> Path:
    """A seam run of 20 frames written by the real recorder (4 images kept)."""
    root = tmp_path / "recordings"
    settings = RecordingSettings(enabled=True, every_nth_frame=5, min_free_disk_mb=0)
    record_noise(root, settings, runs=1, frames=20)
    [run] = find_recordings(root)
    return run


def _edit_run(run: Path, edit) -> Path:
    document = json.loads((run / RUN_FILE).read_text())
    edit(document)
    (run / RUN_FILE).write_text(json.dumps(document, separators=(",", ":")))
    return run / RUN_FILE


def _replay_in_a_small_process(run: Path, memory_bytes: int = 1024 * 1024 * 1024):
    """``cellctl replay RUN`` in a process whose address space is capped: a reader that loaded
    an oversized file would die of MemoryError (a traceback) instead of answering."""
    import resource
    import subprocess
    import sys

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))

    return subprocess.run(
        [sys.executable, "-m", "cellctl.cli.main", "replay", str(run)],
        capture_output=True, text=True, timeout=120, preexec_fn=cap, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("name", "edit", "expected"),
    [
        ("text-for-a-number", lambda d: d["frames"]["exposure_s"].__setitem__(3, "abc"),
         'frames.exposure_s[3]: expected a number, got "abc"'),
        ("number-for-a-flag", lambda d: d["frames"]["ok"].__setitem__(2, 1),
         "frames.ok[2]: expected true or false, got 1"),
        ("text-for-a-flag", lambda d: d["frames"]["image"].__setitem__(0, "yes"),
         'frames.image[0]: expected true or false, got "yes"'),
        ("null-correction", lambda d: d["corrections"]["t_s"].__setitem__(0, None),
         "corrections.t_s[0]: expected a number, got nothing (null)"),
        ("nan-in-a-column", lambda d: d["frames"]["s_sensor_mm"].__setitem__(7, float("nan")),
         "frames.s_sensor_mm[7]: expected a finite number, got nan"),
        ("measured-without-value", lambda d: d["frames"]["lateral_mm"].__setitem__(4, None),
         "frames.lateral_mm[4]: no value, but frames.ok[4] is true"),
        ("seed-not-points", lambda d: d.__setitem__("seed", "x"),
         'seed: expected a list, got "x"'),
        ("point-of-two", lambda d: d["path_mm"].__setitem__(1, [80.0, 0.0]),
         "path_mm[1]: needs at least 3 item(s), got 2"),
        ("unknown-joint", lambda d: d.__setitem__("joint", "butt"),
         'joint: expected one of "fillet", "v_groove_butt", "square_butt" or "lap", got "butt"'),
        ("calibration-outside-the-run", lambda d: d.__setitem__("calibration_file", "../../x"),
         "calibration_file: must be a file name in the recording's folder, not a path, got "
         '"../../x"'),
        ("newer-format", lambda d: d.__setitem__("format", 2), "format 2, this cellctl reads 1"),
        ("a-key-nobody-wrote", lambda d: d.__setitem__("gain", 2),
         "gain: unknown key (not written by cellctl's recorder)"),
        ("setting-out-of-range", lambda d: d["tracking"].__setitem__("coast_mm", 500),
         "tracking.coast_mm: must be at most 100, got 500"),
    ],
)  # fmt: skip
def test_a_recording_with_wrong_values_is_refused_naming_file_field_and_row(
    small_run, name, edit, expected
):
    path = _edit_run(small_run, edit)
    with pytest.raises(ReplayError) as refused:
        load_recording(small_run)
    assert str(refused.value) == f"{path}: {expected}"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda d: d["frames"]["lateral_mm"].pop(),
         "frames.lateral_mm: 19 rows, but frames.frame_number has 20; every column has one row "
         "per frame"),
        (lambda d: d["frames"]["frame_number"].append(20),
         "frames.exposure_s: 20 rows, but frames.frame_number has 21"),
        (lambda d: d["corrections"]["t_s"].append(2.0),
         "corrections.s_torch_mm: 1 row, but corrections.t_s has 2; every column has one row "
         "per correction"),
        (lambda d: d["corrections"].update(t_s=[2.0, 1.0], s_torch_mm=[0, 0], lateral_mm=[0, 0],
                                           vertical_mm=[0, 0]),
         "corrections.t_s[1]: 1.0 s is before the row above (2.0 s); corrections are in the "
         "order sent"),
    ],
)  # fmt: skip
def test_columns_of_different_lengths_are_refused(small_run, edit, expected):
    path = _edit_run(small_run, edit)
    with pytest.raises(ReplayError) as refused:
        load_recording(small_run)
    assert str(refused.value).startswith(f"{path}: {expected}")


def test_cellctl_replay_answers_a_wrong_recording_with_its_errors_not_a_traceback(small_run):
    # Both broke the old reader with a TypeError: summing "yes" into the frame count, and a
    # null in the corrections' times.
    def edit(document: dict) -> None:
        document["frames"]["image"][0] = "yes"
        document["corrections"]["t_s"].append(None)

    path = _edit_run(small_run, edit)
    done = _replay_in_a_small_process(small_run)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        f'{path}: frames.image[0]: expected true or false, got "yes"',
        f"{path}: corrections.t_s[1]: expected a number, got nothing (null)",
    ]


def test_an_oversized_recording_is_refused_unread(small_run):
    from cellctl.sensing.recording import SEAM_JSON_MAX_BYTES

    path = small_run / RUN_FILE
    with path.open("r+b") as file:
        file.truncate(SEAM_JSON_MAX_BYTES + 1)  # sparse: no disk, but reading it would cost
    done = _replay_in_a_small_process(small_run, memory_bytes=512 * 1024 * 1024)
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines() == [
        f"{path}: 320.0 MiB; the largest recording a run writes is at most 320 MiB"
    ]


def test_a_recording_of_a_long_seam_loads(tmp_path):
    """The longest seam tracking follows with every frame kept (the track's MAX_MEASUREMENTS:
    10 minutes at 125 frames/s, 250 corrections/s), in the recorder's own format."""
    from cellctl.sensing.recording import SEAM_JSON_MAX_BYTES
    from cellctl.sensing.track import MAX_MEASUREMENTS

    rng = np.random.default_rng(3)
    frames, corrections = MAX_MEASUREMENTS, 2 * MAX_MEASUREMENTS
    exposure = 86_400.0 + np.arange(frames) / 125
    ok = rng.random(frames) > 0.1
    measured = np.round(rng.normal(0, 2, frames), 15)
    reasons = ["", "no gap between the plates"]
    run = tmp_path / "long"
    run.mkdir()
    small = tmp_path / "small"
    record_noise(small, RecordingSettings(enabled=True, min_free_disk_mb=0), runs=1, frames=2)
    document = json.loads((find_recordings(small)[0] / RUN_FILE).read_text())
    document["frames"] = {
        "frame_number": list(range(4_000_000_000, 4_000_000_000 + frames)),
        "exposure_s": exposure.tolist(),
        "s_sensor_mm": (exposure - 86_400.0).tolist(),
        "commanded_lateral_mm": measured.tolist(),
        "commanded_vertical_mm": measured.tolist(),
        "ok": ok.tolist(),
        "lateral_mm": [m if good else None for m, good in zip(measured.tolist(), ok, strict=True)],
        "vertical_mm": [m if good else None for m, good in zip(measured.tolist(), ok, strict=True)],
        "reason": [reasons[not good] for good in ok],
        "corrections_before": (np.arange(frames) * 2).tolist(),
        "image": [False] * frames,
    }
    sent = 86_400.0 + np.arange(corrections) / 250
    document["corrections"] = {
        "t_s": sent.tolist(),
        "s_torch_mm": (sent - 86_400.0).tolist(),
        "lateral_mm": np.round(rng.normal(0, 2, corrections), 15).tolist(),
        "vertical_mm": np.round(rng.normal(0, 2, corrections), 15).tolist(),
    }
    path = run / RUN_FILE
    path.write_text(json.dumps(document, separators=(",", ":")))
    assert 15e6 < path.stat().st_size < SEAM_JSON_MAX_BYTES / 10
    recording = load_recording(run)
    assert len(recording.frames["frame_number"]) == frames
    assert len(recording.corrections["t_s"]) == corrections


def test_the_bound_holds_every_row_the_recorder_can_write(tmp_path, monkeypatch, caplog):
    """The bound is the recorder's: its widest rows fit the bytes counted for them, and past
    RUN_FRAME_ROWS_MAX frames (RUN_CORRECTION_ROWS_MAX corrections) it logs no more rows."""
    import cellctl.sensing.recording as recording_module
    from cellctl.sensing.recording import (
        CORRECTION_ROW_MAX_BYTES,
        FRAME_ROW_MAX_BYTES,
        REASON_MAX_CHARACTERS,
    )

    widest_float = -1234.5678901234567  # 17 significant digits, as repr writes a float
    row = [0xFFFFFFFF, 86_400.123456789012, widest_float, widest_float, widest_float, False,
           widest_float, widest_float, "gap 6.00 mm is wider than 6 mm; faces meet at 90°"
           .ljust(REASON_MAX_CHARACTERS, "x"), 9_999_999, False]  # fmt: skip
    # In a column each value is followed by a comma.
    assert sum(len(json.dumps(v, separators=(",", ":"))) + 1 for v in row) <= FRAME_ROW_MAX_BYTES
    correction = [86_400.123456789012, widest_float, widest_float, widest_float]
    assert sum(len(json.dumps(v)) + 1 for v in correction) <= CORRECTION_ROW_MAX_BYTES

    monkeypatch.setattr(recording_module, "RUN_FRAME_ROWS_MAX", 12)
    monkeypatch.setattr(recording_module, "RUN_CORRECTION_ROWS_MAX", 3)
    caplog.set_level(logging.WARNING, logger="cellctl.sensing.recording")
    root = tmp_path / "recordings"
    recorder = SeamRecorder(
        RecordingSettings(enabled=True, every_nth_frame=1000, min_free_disk_mb=0),
        root, SensorSettings(), REPO / "config" / "sensor-calibration.yaml",
    )  # fmt: skip
    try:
        recorder.start_seam(seam=coupon_seam(), path=[(0.0, 0.0, 0.0), (80.0, 0.0, 0.0)],
                            path_id=1, max_correction_mm=10.0, max_rate_mm_per_s=50.0,
                            seed=[(0.0, 0.0, 0.0)])  # fmt: skip
        for number in range(20):
            frame = Frame(number, 10**9 + number * 10**7, np.zeros((8, 8), dtype=np.uint8))
            refused = JointMeasurement(number, frame.exposure_s, False, 0, 0, 0, 0, 0, "y" * 300, 0)
            recorder.frame(frame, refused, number * 0.1, (0.0, 0.0), 0)
        recorder.finish_seam([(1.0 + i, 0.0, 0.0, 0.0) for i in range(5)], {}, None)
        recorder.flush()
    finally:
        recorder.close()
    recording = load_recording(find_recordings(root)[0])
    assert len(recording.frames["frame_number"]) == 12
    assert recording.frames["reason"][0] == "y" * REASON_MAX_CHARACTERS
    assert len(recording.corrections["t_s"]) == 3
    assert recording.run.frames_seen == 20
    assert recording.run.rows_not_logged == {"frames": 8, "corrections": 2}
    said = [r.getMessage() for r in caplog.records if "the most a run keeps" in r.getMessage()]
    assert len(said) == 1


def test_a_truth_file_too_large_or_too_deep_is_refused_naming_it(tmp_path):
    from cellctl.sensing.replay import TRUTH_FILE_MAX_BYTES

    truth = tmp_path / "truth.json"
    with truth.open("wb") as file:
        file.truncate(TRUTH_FILE_MAX_BYTES + 1)
    with pytest.raises(ReplayError, match=r"truth.json: 64.0 MiB; a truth file is at most 64"):
        load_truth(truth)
    truth.write_text("[" * 100_000 + "]" * 100_000)  # RecursionError in json.loads
    with pytest.raises(ReplayError, match=r"truth\.json: not a truth file: RecursionError"):
        load_truth(truth)


# -- curved seams: the welded path and the truth along it (no cell: the geometry alone) --------

HINGE_BOSS = REPO / "config" / "parts" / "boom-hinge-boss.yaml"


def _circle_recording(tmp_path: Path, shift_mm: tuple[float, float, float]):
    """A recording's context as the recorder writes it for the hinge boss's circle, welded
    where seam finding shifted it by ``shift_mm``: its program's seam, and the welded path's
    vertices (start, middle, start: two half circles)."""
    from types import SimpleNamespace

    import yaml

    from cellctl.sensing.replay import RecordedSeam
    from drivers.codecs.seam_path import build_path

    seam = yaml.safe_load(HINGE_BOSS.read_text())["seams"][0]
    taught = build_path(seam["path"]["start"], seam["path"]["segments"])
    # As the recorder dumps the seam's config model: the arc's other form as nulls.
    seam["path"]["segments"][0]["arc"] |= {"via": None, "to": None}
    welded = taught.shifted(shift_mm)
    run = SimpleNamespace(path_mm=[list(p) for p in welded.vertices()], seam=seam)
    return RecordedSeam(tmp_path, run), taught


def test_a_circle_is_replayed_as_the_welded_circle_not_the_polyline_of_its_vertices(tmp_path):
    from cellctl.sensing.replay import welded_path

    recording, _ = _circle_recording(tmp_path, (0.8, -0.5, 0.0))
    assert len(recording.run.path_mm) == 3  # what the recorder keeps: the vertices
    path = welded_path(recording)
    assert path.curved
    assert path.closed
    assert path.length_mm == pytest.approx(2 * np.pi * 50.0, rel=1e-12)
    assert path.point_at(0.25 * path.length_mm) == pytest.approx((650.8, -0.5, 20.0), abs=1e-9)
    # A path that is not the program's shifted (a later pass laid off a root path, a
    # hand-made recording): its points, joined by lines, as before.
    recording.run.path_mm = [[0, 0, 0], [10, 0, 0], [10, 10, 0]]
    assert welded_path(recording).length_mm == pytest.approx(20.0)
    recording.run.seam = {**recording.run.seam, "path": {"start": [0, 0, 0], "segments": 3}}
    with pytest.raises(ReplayError, match=r"seam\.json: seam\.path: not a seam path"):
        welded_path(recording)


def test_the_truth_of_a_circle_is_read_along_the_welded_circle(tmp_path):
    """The simulator's truth file of the hinge boss (the true joint 1 mm inside the taught
    circle), read along a welded circle shifted by seam finding: the joint lies 1 mm + the
    shift's part along the circle's normal to the left of the torch, all round."""
    from cellctl.sensing.replay import truth_along_path
    from sim.truth.part import VisionScenario, load_true_part

    scenario = VisionScenario.model_validate(
        {"name": "inside", "deviations": [{"kind": "offset", "lateral_mm": 1.0}]}
    )
    write_truth(load_true_part(HINGE_BOSS, scenario), tmp_path / "truth.json", scenario.name)
    truth = load_truth(tmp_path / "truth.json")
    circle, bent = truth["boss-fillet"], truth["stiffener-bent"]
    assert circle.closed
    assert not bent.closed
    assert circle.length_mm == pytest.approx(2 * np.pi * 50.0, rel=1e-4)  # 0.5 mm chords
    bent_length = load_true_part(HINGE_BOSS, scenario).seams[1].length_mm
    assert bent.length_mm == pytest.approx(bent_length, rel=1e-4)

    shift = np.array([0.8, -0.5, 0.0])
    recording, _ = _circle_recording(tmp_path, tuple(shift))
    s = np.linspace(0.0, 2 * np.pi * 50.0, 400)
    lateral, vertical = truth_along_path(recording, circle, s)
    # Left of counter-clockwise travel is the centre (600, 0): the welded circle's centre
    # moved by the shift, so the true circle (R 49 about the old centre) lies 1 mm plus the
    # shift's part along the outward normal inside it (to first order: |shift|² / 2R = 0.009).
    angle = s / 50.0 - np.pi / 2  # the start is the circle's bottom
    outward = np.column_stack([np.cos(angle), np.sin(angle)])
    np.testing.assert_allclose(lateral, 1.0 + outward @ shift[:2], atol=0.012)
    np.testing.assert_allclose(vertical, 0.0, atol=1e-9)
    # Off the welded path: no truth.
    lateral, _ = truth_along_path(recording, circle, np.array([-5.0, 400.0]))
    assert np.isnan(lateral).all()
