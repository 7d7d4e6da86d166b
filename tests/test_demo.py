"""``cellctl demo`` and ``cellsim run`` as a user or a CI job runs them: real child processes.

The demo (cellctl/demo.py) promises: the part's seams found and tracked, scored against the
simulator's truth beside the taught path; a fault ends it at once with the fault's code and
text and the run folder; SIGTERM and SIGINT stop its children and free their ports and ptys;
the commands it prints to show its records work as printed; ``--gui`` opens the operator
screen on its own controller, or says why it cannot. The scenario runner stops its controller
on a signal too. What was left behind is read from the kernel (tests/process_table.py).

Each demo here welds one 80 mm coupon at 10x: a few seconds of welding after a few of start-up.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from drivers.codecs.robot_protocol import Pose
from drivers.codecs.sensor_protocol import HEADER_BYTES, decode_header
from sim.devices.robot import TrajectorySample
from sim.devices.sensor import SimulatedSensor, TrackingScore
from sim.truth.part import Offset, TruePart, TrueSeam, VisionScenario, load_true_part
from tests import process_table
from tests.waiting import eventually

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "config" / "cell.yaml"
ONE_COUPON_FAST = ["--config", str(CONFIG), "--parts", "1", "--part", "coupon-fillet-80",
                   "--time-scale", "10"]  # fmt: skip
RUN_TIMEOUT_S = 120  # guards against a hang; a run takes some 10 s
STOP_TIMEOUT_S = 30  # a stopped demo's children end in a second or two

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")


def cellctl() -> list[str]:
    """``cellctl`` as `make demo` runs it: the console script beside this interpreter."""
    script = Path(sys.executable).parent / "cellctl"
    return [str(script)] if script.exists() else [sys.executable, "-m", "cellctl.cli.main"]


def start(command: list[str], folder: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """``command`` run in ``folder``, its output in ``folder``/out.txt and err.txt."""
    with (folder / "out.txt").open("w") as out, (folder / "err.txt").open("w") as err:
        return subprocess.Popen(
            command, cwd=folder, stdout=out, stderr=err, env={**os.environ, **(env or {})}
        )


def output(folder: Path) -> tuple[str, str]:
    return (folder / "out.txt").read_text(), (folder / "err.txt").read_text()


def wait_for(condition, what: str, process: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"exited with {process.returncode} while waiting for {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def finish(process: subprocess.Popen, timeout_s: float = RUN_TIMEOUT_S) -> int:
    try:
        return process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(f"still running after {timeout_s} s")


def part_started(log: Path) -> bool:
    return log.exists() and "part 1 (coupon-fillet-80) started" in log.read_text()


# -- a demo that welds ----------------------------------------------------------------------


@pytest.mark.slow
def test_the_demo_tracks_every_seam_and_the_commands_it_prints_show_its_records(tmp_path):
    demo = start([*cellctl(), "demo", *ONE_COUPON_FAST, "--run-dir", "run"], tmp_path)
    assert finish(demo) == 0, output(tmp_path)
    out, _ = output(tmp_path)
    assert re.search(r"seams found and tracked\s+1 of 1", out), out
    # The coupon lies off its program by millimetres (vision/demo-bracket.yaml: offset,
    # rotation, bow); the torch followed the true joint to a small fraction of that.
    row = re.search(r"^\s+fillet\s+([\d.]+) mm\s+([\d.]+) mm\s+([\d.]+) mm\s+([\d.]+) mm", out,
                    re.MULTILINE)  # fmt: skip
    assert row, out
    tracked_rms, tracked_max, taught_rms, taught_max = map(float, row.groups())
    assert taught_rms > 2.0
    assert taught_max > 3.0
    assert tracked_rms < taught_rms / 10
    assert tracked_max < taught_max / 4
    assert (tmp_path / "run" / "controller.log").exists()  # the run folder is kept

    commands = re.findall(r"^  (\S.*)$", out.split("See its records with:")[1], re.MULTILINE)
    assert [c.split()[1:3] for c in commands] == [["report", "--config"], ["config", "history"]]
    for command in commands:
        done = subprocess.run(shlex.split(command), cwd=tmp_path, capture_output=True,
                              text=True, timeout=60, check=False)  # fmt: skip
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        if " report " in command:
            assert "parts processed                         1" in done.stdout, done.stdout
        else:  # one config version, one part welded under it, good
            assert re.search(r"^[0-9a-f]{12}\s.*\s1\s+1\s+0\s", done.stdout, re.MULTILINE), (
                done.stdout
            )
    report = tmp_path / "run" / "report"
    assert (report / "parts.csv").exists()
    assert (report / "cycle_times.png").exists()


@pytest.mark.slow
def test_a_part_whose_joint_cannot_be_found_ends_the_demo_with_the_fault(tmp_path):
    far_off = tmp_path / "far-off.yaml"  # beyond the seam search and the sensor's view
    far_off.write_text("name: far-off\ndeviations:\n  - {kind: offset, lateral_mm: 40}\n")
    demo = start(
        [*cellctl(), "demo", *ONE_COUPON_FAST, "--vision", str(far_off), "--run-dir", "run"],
        tmp_path,
    )
    assert finish(demo) == 1
    out, err = output(tmp_path)
    assert "F150 Joint not found by the seam search" in err, err
    assert "no trustworthy joint within ±8 mm of the taught start" in err, err
    assert "Run folder: run " in out, out
    assert "F150" in (tmp_path / "run" / "controller.log").read_text()
    assert not process_table.mentioning(str(tmp_path / "run"))


# -- signals --------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_ends_the_demo_and_leaves_nothing_running(tmp_path, signum):
    run = tmp_path / "run"
    demo = start([*cellctl(), "demo", *ONE_COUPON_FAST, "--run-dir", "run"], tmp_path)
    wait_for(lambda: part_started(run / "controller.log"), "the part to start", demo)
    children = process_table.children(demo.pid)
    assert len(children) == 2  # the simulator and the controller
    ports = set().union(*(process_table.listening_ports(pid) for pid in children))
    assert len(ports) >= 4  # PLC, sensor, control channel, OPC UA

    os.kill(demo.pid, signum)
    assert finish(demo, STOP_TIMEOUT_S) == 128 + signum
    assert not [pid for pid in children if process_table.running(pid)]
    assert not process_table.mentioning(str(run))
    assert not ports & process_table.listening_ports()
    assert not (run / "robot").is_symlink()
    assert not (run / "power_source").is_symlink()
    _, err = output(tmp_path)
    assert f"{signal.Signals(signum).name} received: stopping the cell" in err


@pytest.mark.slow
def test_a_killed_demo_takes_its_children_with_it(tmp_path):
    """Its children run in sessions of their own, beyond a signal to the demo's process group;
    the kernel ends them when the demo dies, even by SIGKILL, which it cannot act on."""
    run = tmp_path / "run"
    demo = start([*cellctl(), "demo", *ONE_COUPON_FAST, "--run-dir", "run"], tmp_path)
    wait_for(lambda: part_started(run / "controller.log"), "the part to start", demo)
    children = process_table.children(demo.pid)
    assert len(children) == 2
    ports = set().union(*(process_table.listening_ports(pid) for pid in children))

    demo.kill()
    assert finish(demo, STOP_TIMEOUT_S) == -signal.SIGKILL
    # The kernel's SIGTERM reaches them at once; their own shutdown (arc off and hold first)
    # takes a moment. (Not by their command lines: the run folder is relative on them.)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while any(process_table.running(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in children if process_table.running(pid)]
    assert not process_table.mentioning(str(run))
    assert not ports & process_table.listening_ports()


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_ends_the_scenario_runner_and_its_controller(tmp_path, signum):
    scenario = tmp_path / "many-coupons.yaml"
    scenario.write_text("name: many-coupons\npart: coupon-fillet-80\nparts: 20\ntime_scale: 10\n")
    work = tmp_path / "work"
    runner = start(
        [sys.executable, "-m", "sim.cli", "run", "--scenario", str(scenario), "--config",
         str(CONFIG), "--work", str(work)],
        tmp_path,
    )  # fmt: skip
    folder = work / "00-many-coupons"
    wait_for(lambda: part_started(folder / "controller.log"), "the part to start", runner)
    children = process_table.children(runner.pid)
    assert len(children) == 1  # the controller; the simulated cell runs in the runner
    ports = set().union(*(process_table.listening_ports(pid) for pid in {runner.pid, *children}))

    os.kill(runner.pid, signum)
    assert finish(runner, STOP_TIMEOUT_S) == 128 + signum
    assert not [pid for pid in children if process_table.running(pid)]
    assert not process_table.mentioning(str(work))
    assert not ports & process_table.listening_ports()
    assert not (folder / "robot").is_symlink()
    assert not (folder / "power_source").is_symlink()
    assert f"{signal.Signals(signum).name} received" in output(tmp_path)[1]


# -- the operator screen --------------------------------------------------------------------


@pytest.mark.slow
def test_the_demo_opens_the_operator_screen_on_its_own_controller(tmp_path):
    demo = start(
        [*cellctl(), "demo", *ONE_COUPON_FAST, "--gui", "--run-dir", "run"],
        tmp_path,
        env={"QT_QPA_PLATFORM": "offscreen"},
    )
    wait_for(lambda: "The operator screen stays" in output(tmp_path)[0], "the summary", demo,
             RUN_TIMEOUT_S)  # fmt: skip
    out, _ = output(tmp_path)
    port = int(re.search(r"controller OPC UA\s+opc\.tcp://127\.0\.0\.1:(\d+)", out).group(1))
    children = process_table.children(demo.pid)
    screens = [pid for pid in children if b" gui " in Path(f"/proc/{pid}/cmdline").read_bytes()
               .replace(b"\0", b" ")]  # fmt: skip
    assert len(screens) == 1
    assert len(children) == 3
    wait_for(lambda: process_table.connected_to(screens[0], port), "the screen to connect", demo)

    os.kill(demo.pid, signal.SIGINT)  # what the demo says ends it, besides closing the screen
    assert finish(demo, STOP_TIMEOUT_S) == 0
    assert not [pid for pid in children if process_table.running(pid)]


def test_the_demo_says_when_there_is_no_display_for_the_operator_screen(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}  # fmt: skip
    done = subprocess.run([*cellctl(), "demo", "--config", str(CONFIG), "--gui", "--run-dir",
                           "run"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode == 2
    assert "cannot open the operator screen: no display here" in done.stderr
    assert not (tmp_path / "run").exists()  # nothing was started


# -- what the demo's figures come from ------------------------------------------------------


def test_a_multi_pass_seam_is_scored_by_its_root_even_when_a_rescan_adds_a_pass():
    """The summary's per-seam figure is the root pass against the joint; the later passes run
    at their offsets from it. A re-scan that adds a pass must not turn the table's count
    round: the loader boom's eleventh pass (a cap at 19 mm) was scored as a root (12 mm)."""
    from cellctl.cli.demo import truth_per_pass, truth_per_seam
    from cellctl.config import load_cell_config

    part = load_cell_config(CONFIG).parts["loader-boom-side-plate"]
    seam = part.seams[0].name
    count = len(part.seams[0].passes) + 1  # one more than the table: the re-scan's
    welded = {seam: [
        {"number": n, "kind": "root" if n == 1 else "cap", "lateral_offset_mm": 0.0,
         "vertical_offset_mm": 2.0 * (n - 1)} for n in range(1, count + 1)
    ]}  # fmt: skip
    truth = [
        {"seam": seam, "samples": 100, "rms_mm": 0.02 if n == 1 else 2.0 * (n - 1),
         "max_mm": 0.05 if n == 1 else 2.0 * (n - 1), "taught_rms_mm": 4.0,
         "taught_max_mm": 8.0, "lateral_mean_mm": 0.0, "lateral_rms_mm": 0.0,
         "vertical_mean_mm": 2.0 * (n - 1), "vertical_rms_mm": 2.0 * (n - 1)}
        for n in range(1, count + 1)
    ]  # fmt: skip
    per_seam = truth_per_seam(truth, part, welded)
    assert per_seam[seam]["rms_mm"] == pytest.approx(0.02)
    assert per_seam[seam]["max_mm"] == pytest.approx(0.05)
    per_pass = truth_per_pass(truth, part, welded)
    assert [row["pass"] for row in per_pass] == list(range(1, count + 1))
    assert all(row["rms_mm"] == pytest.approx(0.0, abs=1e-9) for row in per_pass[1:])


def test_a_stop_for_a_fault_waits_a_moment_for_the_faults_row(tmp_path, monkeypatch):
    """The state change of a stop is recorded apart from its fault's row: the demo, seeing the
    stop first, must wait for the row (its text is what it prints), not end without it."""
    from cellctl.cli import demo
    from cellctl.records.store import ProductionStore
    from cellctl.testing import Operator

    store = ProductionStore(tmp_path / "production.db", cell="cell-01")
    watch = demo.CellWatch(Operator(0, tmp_path / "production.db"))
    watch.arm()
    store.record_state_change(time.time(), "Execute", "Holding", "F150", "production")
    watch.check()  # the stop is there, its fault not yet: no verdict
    text = "Joint not found by the seam search"
    store.record_fault("F150", "hold", text, "seam s1", "Execute", "seam finding", None,
                       time.monotonic(), 3.0)  # fmt: skip
    with pytest.raises(demo.CellStopped) as stopped:
        watch.check()
    assert [f["text"] for f in stopped.value.faults] == [text]
    # A stop for a fault whose row never comes ends the demo all the same, a moment later.
    other = demo.CellWatch(Operator(0, tmp_path / "production.db"))
    other.arm()
    store.record_state_change(time.time(), "Held", "Holding", "F151", "production")
    other.check()
    monkeypatch.setattr(demo, "FAULT_ROW_GRACE_S", 0.0)
    with pytest.raises(demo.CellStopped, match=r"state Holding \(F151\)"):
        other.check()
    store.close()


def test_the_truth_scores_the_taught_path_beside_the_torch():
    """The taught path's figure is the true joint's distance from the taught seam, at the same
    samples as the torch's: what the torch's error would have been had it welded as taught."""
    offset = Offset(kind="offset", lateral_mm=3.0)
    seam = TrueSeam("s", "fillet", 45.0, (0.0, 0.0, 0.0), (100.0, 0.0, 0.0), [offset])
    score = TrackingScore(TruePart([seam]))
    for x in range(0, 101, 10):  # the torch on the true joint: 3 mm left of the taught line
        score.add(TrajectorySample(0, 7, float(x), Pose(float(x), 3.0, 0.0), 8.0, 3.0, 0.0))
    (figures,) = score.figures()
    assert figures["rms_mm"] == pytest.approx(0.0, abs=1e-9)
    assert figures["taught_rms_mm"] == pytest.approx(3.0)
    assert figures["taught_max_mm"] == pytest.approx(3.0)


async def test_a_busy_simulator_drops_a_late_frame_instead_of_queueing_it():
    """A trigger the event loop gets to after the next one was due is not rendered: rendering
    every late frame would keep the loop (which also answers for the PLC, the power source and
    the robot) ever further behind on a busy machine."""
    part = load_true_part(REPO / "config" / "parts" / "coupon-fillet-80.yaml",
                          VisionScenario(name="ideal"))  # fmt: skip
    sensor = SimulatedSensor(
        part, lambda: Pose(300.0, -40.0, 8.0), lookahead_mm=30, frame_rate_hz=1.0
    )
    await sensor.start()  # one frame a second: the test asks the loop's side itself
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", sensor.port)
        try:
            await eventually(lambda: sensor.clients, what="the client to be accepted")
            exposed, dropped = sensor.frames_exposed, sensor.frames_dropped_late
            now = time.monotonic()
            assert sensor.observe(now - 2.0) is None  # two periods late
            assert (sensor.frames_exposed, sensor.frames_dropped_late) == (exposed, dropped + 1)
            order = sensor.observe(now)  # on time: stamped with the trigger's instant
            assert order is not None
            assert order.exposure_ns == round(now * 1e9)
            assert order.frame_number == exposed + 1
            assert (sensor.frames_exposed, sensor.frames_dropped_late) == (exposed + 1, dropped + 1)
            # The camera's own trigger (once a second) sends the client whole frames; the loop
            # runs meanwhile (it says what each frame shows).
            header = decode_header(await asyncio.wait_for(reader.readexactly(HEADER_BYTES), 5))
            assert (header.width_px, header.height_px) == (640, 480)
            pixels = await asyncio.wait_for(reader.readexactly(640 * 480), 5)
            assert pixels != bytes(640 * 480)
        finally:
            writer.close()
    finally:
        await sensor.close()
