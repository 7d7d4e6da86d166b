"""ABB EGM path correction at 1x time: the correction rate and the age of applied corrections.

The simulated ABB robot (``sim.devices.robot_egm``) runs in a child process, as ``cellsim``
would run it, streaming ``EgmRobot`` every 4 ms over UDP on loopback; the real driver
(``drivers.robot.abb_egm``) runs here and answers each message from its own thread. A tracking
loop here sets a new path correction every 4 ms on absolute deadlines (the seam tracker's
rate), a slow lateral / vertical wave within the robot's slew limit, while the robot runs a
seam (a line, then an arc: EGMMoveL, EGMMoveC). Measured, over the EGM move:

- the correction rate: corrections the robot applied per second, and as a share of the
  feedback it sent (one answer per feedback message is the most EGM takes);
- the age of the corrections the robot applied, p50/p99/max, as the driver stamped it
  (``EgmPathCorr.age``: ms from ``set_path_correction`` to the answer leaving). The robot reads
  its socket once per sample, so a correction waits up to one more sample there: not in the
  stamped age, said beside it;
- the driver's answers later than one sample after the feedback (its own measure), and the
  feedback lost on the way (gaps in the robot's sequence numbers).
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from bench.stats import goal, percentile
from drivers.codecs.abb_egm_settings import AbbEgmSettings
from drivers.codecs.robot_protocol import Pose
from drivers.robot.abb_egm import AbbEgmDriver
from drivers.robot.owned import PathCorrection
from rigs.egm import HOME_MM, LIMITS, loopback_settings, until_streaming

TRACKING_PERIOD_S = 0.004  # the seam tracker's correction rate
SEAM_SPEED_MM_PER_S = 20.0
WAVE_MM = 1.0  # lateral / vertical amplitude of the correction wave
WAVE_PERIOD_S = 2.0  # slow enough for the robot's 20 mm/s slew limit


def _robot_process(settings: AbbEgmSettings, pipe: Connection) -> None:
    """The child: the simulated robot, a seam when told, its figures when the seam ends."""
    from sim.clock import SimClock
    from sim.devices.robot_egm import EgmMove, SimulatedEgmRobot

    robot = SimulatedEgmRobot(settings, LIMITS, SimClock(1.0), HOME_MM)
    robot.start_thread()
    try:
        pipe.recv()  # go
        x, y, z = HOME_MM
        started = time.monotonic()
        robot.run_job(
            [
                EgmMove(Pose(x + 60.0, y, z), SEAM_SPEED_MM_PER_S),
                EgmMove(Pose(x + 100.0, y + 40.0, z), SEAM_SPEED_MM_PER_S, (x + 88.3, y + 11.7, z)),
            ]
        )
        sent_before = robot.status().counters.feedback_sent
        while robot.status().job_running:
            time.sleep(0.01)
        took_s = time.monotonic() - started
        status = robot.status()
        pipe.send(
            {
                "seam_s": took_s,
                "ages_ms": robot.applied_correction_ages(),
                "feedback_sent": status.counters.feedback_sent - sent_before,
                "corrections_applied": status.counters.corrections_applied,
                "corrections_lost": status.counters.corrections_lost,
                "late_samples": status.counters.late_samples,
                "error": status.error,
            }
        )
        pipe.recv()  # bye: the driver no longer expects the stream
    finally:
        robot.close_thread()
        pipe.close()


def _tracking_loop(driver: AbbEgmDriver, stop: threading.Event) -> None:
    """A new correction every 4 ms on absolute deadlines, as the seam tracker sets them."""
    started = deadline = time.monotonic()
    while not stop.is_set():
        phase = 2 * math.pi * (time.monotonic() - started) / WAVE_PERIOD_S
        driver.set_path_correction(
            PathCorrection(WAVE_MM * math.sin(phase), WAVE_MM * math.cos(phase) - WAVE_MM)
        )
        deadline += TRACKING_PERIOD_S
        stop.wait(max(0.0, deadline - time.monotonic()))


async def _run() -> dict[str, Any]:
    settings = loopback_settings()
    driver = AbbEgmDriver(settings, device="robot")
    await driver.start_link()
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    child = context.Process(target=_robot_process, args=(settings, theirs), daemon=True)
    child.start()
    stop = threading.Event()
    tracker = threading.Thread(target=_tracking_loop, args=(driver, stop), name="bench tracker")
    try:
        await until_streaming(driver)
        driver.expect_stream(True)
        tracker.start()
        before = driver.counters()
        ours.send("go")
        robot = await asyncio.to_thread(ours.recv)  # the seam's end
        after, egm = driver.counters(), driver.egm_counters()
        state = driver.state
        driver.expect_stream(False)
        ours.send("bye")
    finally:
        stop.set()
        if tracker.is_alive():
            tracker.join()
        child.join(10)
        ours.close()
        await driver.stop_link()
    answers = after.answers_sent - before.answers_sent
    return {
        "robot": robot,
        "answers": answers,
        "late_answers": after.late_answers - before.late_answers,
        "longest_late_run": after.longest_late_run,
        "feedback_lost": egm.feedback_lost,
        "driver_state": str(state),
    }


def main() -> dict[str, Any]:
    raw = asyncio.run(_run())
    robot = raw["robot"]
    ages = robot["ages_ms"]
    seam_s = robot["seam_s"]
    applied = robot["corrections_applied"]
    figures = {
        "seam_s": round(seam_s, 2),
        "corrections_applied_per_s": round(applied / seam_s, 1),
        "applied_share_of_feedback": round(applied / max(1, robot["feedback_sent"]), 4),
        "applied_age_p50_ms": percentile(ages, 0.50),
        "applied_age_p99_ms": percentile(ages, 0.99),
        "applied_age_max_ms": max(ages) if ages else math.nan,
        "late_answer_share": round(raw["late_answers"] / max(1, raw["answers"]), 5),
        "longest_late_run": raw["longest_late_run"],
        "feedback_lost": raw["feedback_lost"],
        "corrections_lost_at_robot": robot["corrections_lost"],
        "robot_late_samples": robot["late_samples"],
        "robot_error": robot["error"],
        "driver_state": raw["driver_state"],
    }
    print(f"  seam {figures['seam_s']} s at 1x, EGM sample 4 ms, tracker 4 ms")
    print(
        f"  corrections applied: {figures['corrections_applied_per_s']}/s "
        f"({figures['applied_share_of_feedback']:.1%} of the feedback answered and applied)"
    )
    print(
        f"  age of applied corrections (stamped): p50 {figures['applied_age_p50_ms']} ms, "
        f"p99 {figures['applied_age_p99_ms']} ms, max {figures['applied_age_max_ms']} ms "
        "(+ up to one 4 ms sample in the robot's socket)"
    )
    print(
        f"  late answers {figures['late_answer_share']:.3%} (longest run "
        f"{figures['longest_late_run']}); feedback lost {figures['feedback_lost']}; "
        f"corrections lost at the robot {figures['corrections_lost_at_robot']}"
    )
    print(goal("no robot stop", not robot["error"], robot["error"] or "the seam ran to its end"))
    print(
        goal(
            "one correction per sample",
            figures["applied_share_of_feedback"] >= 0.99,
            f"{figures['applied_share_of_feedback']:.1%}",
        )
    )
    return figures


if __name__ == "__main__":
    main()
