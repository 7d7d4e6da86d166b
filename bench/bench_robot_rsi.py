"""KUKA RSI at 1x: late answers over a whole seam, and how closely the robot follows corrections.

The simulated KUKA (``sim.devices.robot_rsi``) runs in a child process, as ``cellsim`` runs it
beside the controller, and welds the bracket's first seam (150 mm at 8 mm/s) by its job; the
real driver (``drivers.robot.kuka_rsi``) answers here, and this process streams corrections as
the robot-owned cycle does: the robot's actual pose projected on the taught path gives the
path position, a known correction law there (1 mm + a 2 mm sine per 100 mm) goes out. This
process's event loop is kept busy meanwhile (20 ms of Python every 100 ms, as a slow record
commit or a garbage collection would), to show the answers do not wait for it.

Measured:

- the share of telegrams answered late over the seam, and the longest run of late ones, by
  the robot's count (what RSI stops on) and by the driver's own; against the limit (10). Both
  ends judge by the kernel's arrival stamps (``drivers.codecs.arrival_time``): the driver from
  the telegram's arrival to its answer leaving, the robot from its telegram leaving to the
  answer's arrival, so neither counts its own thread's lateness in reading, and the two agree;
- the correction following error: the robot's actual lateral offset against the law at its
  path position, RMS and max. This is RSI's share of the torch error (cycle, slew, the
  correction's age), not the closed loop with the laser: that needs the laser tracking's
  corrector on the robot-owned cycle (not built yet), so no truth error is given here.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import os
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import yaml

from bench.stats import goal, percentile
from drivers.codecs.seam_path import SeamPath
from drivers.codecs.settings import RobotSettings
from drivers.robot.kuka_rsi import KukaRsiDriver
from drivers.robot.owned import PathCorrection

REPO = Path(__file__).resolve().parent.parent
SEAM_POINTS = [[400.0, -75.0, 8.0], [400.0, 75.0, 8.0]]  # bracket-a12, gusset-left
TRAVEL_SPEED_MM_PER_S = 8.0
LOOP_BUSY_S, LOOP_IDLE_S = 0.020, 0.080
CORRECTION_PERIOD_S = 0.004


def _settings(sensor_port: int) -> RobotSettings:
    section = yaml.safe_load((REPO / "config" / "cell.yaml").read_text(encoding="utf-8"))["robot"]
    section.update(interface="kuka_rsi", kuka_rsi={"sensor_port": sensor_port})
    return RobotSettings.model_validate(section)


def law_mm(position_mm: float) -> float:
    """The lateral correction the bench asks for at a path position."""
    return 1.0 + 2.0 * math.sin(2 * math.pi * position_mm / 100.0)


# -- the simulator's process ------------------------------------------------------------------


def _serve(conn: Connection, sensor_port: int) -> None:
    asyncio.run(_robot_main(conn, sensor_port))


async def _robot_main(conn: Connection, sensor_port: int) -> None:
    from sim.clock import SimClock  # the child needs the simulator, the parent never does
    from sim.devices.robot_rsi import SimulatedRsiRobot, TaughtJob

    seam = SeamPath.polyline(SEAM_POINTS)
    job = TaughtJob(1, "S1", seam, TRAVEL_SPEED_MM_PER_S, clearance_mm=40.0)
    robot = SimulatedRsiRobot(_settings(sensor_port), SimClock(1.0), {1: job})
    truth: list[tuple[float, float]] = []  # (path position, actual lateral offset) mm

    def sample(s: Any) -> None:
        if s.path_id != 0:
            position, lateral, _ = seam.locate(s.pose.position_mm)
            truth.append((position, lateral))

    robot.on_trajectory_sample = sample
    await robot.start()
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[str] = asyncio.Queue()
    loop.add_reader(conn.fileno(), lambda: commands.put_nowait(conn.recv()))
    conn.send("ready")
    try:
        while (command := await commands.get()) != "quit":
            if command == "start":
                conn.send(robot.start_job(1))
            elif command == "searched":  # nothing to find here: the job goes on to the start
                robot.set_search_done(True, (0.0, 0.0, 0.0))
                conn.send(True)
            elif command in ("go", "end"):
                robot.set_seam_go(command == "go")
                conn.send(True)
            elif command == "signals":
                conn.send(robot.signals())
            elif command == "report":
                conn.send({"counters": dict(vars(robot.counters)), "truth": truth})
    finally:
        loop.remove_reader(conn.fileno())
        await robot.close()


async def _receive(conn: Connection) -> Any:
    """The child's next message, waited for without blocking the loop."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    loop.add_reader(conn.fileno(), lambda: ready.done() or ready.set_result(None))
    try:
        await ready
        return conn.recv()
    finally:
        loop.remove_reader(conn.fileno())


async def _ask(conn: Connection, command: str) -> Any:
    conn.send(command)
    return await _receive(conn)


async def _until(conn: Connection, signal: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not (await _ask(conn, "signals"))[signal]:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {signal} within {timeout_s:g} s")
        await asyncio.sleep(0.01)


async def _busy_loop() -> None:
    while True:
        started = time.perf_counter()
        while time.perf_counter() - started < LOOP_BUSY_S:
            pass  # Python work on the event loop's thread, holding the GIL in turns
        await asyncio.sleep(LOOP_IDLE_S)


async def _stream(driver: KukaRsiDriver, seam: SeamPath) -> None:
    position = 0.0
    while True:
        feedback = driver.latest_feedback()
        if feedback is not None:
            position = seam.locate(feedback.position_mm, position)[0]
            s = min(max(position, 0.0), seam.length_mm)
            driver.set_path_correction(PathCorrection(law_mm(s), 0.0, seam.frame_at(s)))
        await asyncio.sleep(CORRECTION_PERIOD_S)


async def _measure() -> dict[str, Any]:
    from cellctl.testing import free_port

    port = free_port()
    settings = _settings(port)
    assert settings.kuka_rsi is not None
    driver = KukaRsiDriver(settings.kuka_rsi)
    await driver.start_link()
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(target=_serve, args=(child, port))
    process.start()
    seam = SeamPath.polyline(SEAM_POINTS)
    tasks: list[asyncio.Task[None]] = []
    try:
        await _receive(parent)  # "ready"
        tasks = [asyncio.create_task(_stream(driver, seam)), asyncio.create_task(_busy_loop())]
        assert await _ask(parent, "start")
        # The job stops at its search position first (cellctl.weld.owned_search).
        await _until(parent, "robot_at_search", 20.0)
        await _ask(parent, "searched")
        await _until(parent, "robot_at_seam_start", 20.0)
        driver.expect_stream(True)
        await asyncio.sleep(0.5)  # the held offset settles before the "arc"
        await _ask(parent, "go")
        await _until(parent, "robot_at_seam_end", seam.length_mm / TRAVEL_SPEED_MM_PER_S * 2)
        await _ask(parent, "end")
        driver.expect_stream(False)
        await _until(parent, "robot_job_done", 20.0)
        report = await _ask(parent, "report")
        parent.send("quit")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        process.join(10)
        await driver.stop_link()
    return {"robot": report["counters"], "ours": driver.counters(), "truth": report["truth"]}


def main() -> dict[str, Any]:
    measured = asyncio.run(_measure())
    robot, ours = measured["robot"], measured["ours"]
    sent = robot["telegrams_sent"]
    late_share = robot["late_answers"] / sent if sent else math.nan
    errors = [lateral - law_mm(position) for position, lateral in measured["truth"]]
    errors = [e for e, (p, _) in zip(errors, measured["truth"], strict=True) if 10 <= p <= 140]
    rms = math.sqrt(sum(e * e for e in errors) / len(errors)) if errors else math.nan
    worst = max((abs(e) for e in errors), default=math.nan)
    figures = {
        "telegrams": sent,
        "late_share_robot": late_share,
        "longest_late_run_robot": robot["longest_late_run"],
        "late_share_driver": ours.late_share,
        "longest_late_run_driver": ours.longest_late_run,
        "late_answer_limit": 10,
        "following_error_rms_mm": rms,
        "following_error_max_mm": worst,
        "following_error_p99_mm": percentile([abs(e) for e in errors], 0.99),
    }
    print(f"  telegrams over the seam: {sent} (4 ms cycle); load average {os.getloadavg()[0]:.1f}")
    print(
        f"  late answers (robot's count): {late_share:.3%}, longest run "
        f"{robot['longest_late_run']} (RSI stops after 10)"
    )
    print(
        f"  late answers (driver's own):  {ours.late_share:.3%}, longest run "
        f"{ours.longest_late_run}"
    )
    print(
        f"  correction following error (no laser): RMS {rms:.3f} mm, max {worst:.3f} mm "
        f"over {len(errors)} samples"
    )
    print(goal("late share", late_share < 0.001, f"{late_share:.3%} (goal < 0.1 %)"))
    print(
        goal(
            "longest late run",
            robot["longest_late_run"] <= 3,
            f"{robot['longest_late_run']} (goal: never near the limit of 10)",
        )
    )
    return figures
