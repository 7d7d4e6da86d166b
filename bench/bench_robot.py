"""Robot link figures at 1x time: path corrections per second, and the status round trip.

The simulated robot runs in a child process, on a pty, as ``cellsim`` runs it beside the
controller; the real driver runs here. Measured:

- the status round trip (``read_status``), p50/p99 over ``STATUS_SAMPLES`` requests, idle and
  while a path runs with corrections streamed at 250 Hz (the tracking loop's rate);
- corrections per second sustained: ``send_correction`` called as fast as the driver allows
  for ``FLOOD_S`` seconds while a path runs, counted by the robot (received, and applied);
- the 250 Hz stream's lateness against its absolute deadlines.

A pty carries no baud-rate timing: on a real 115200 baud line the frame sizes alone cap the
figures (printed as "line limit"); these numbers are the software's own cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import yaml

from bench.stats import goal, summary_ms
from drivers.codecs.robot_protocol import (
    FRAME_OVERHEAD_BYTES,
    Correction,
    Pose,
    RobotState,
    RobotStatus,
    StatusRequest,
)
from drivers.codecs.settings import RobotSettings
from drivers.robot import RobotDriver

REPO = Path(__file__).resolve().parent.parent
STATUS_SAMPLES = 2000
STREAM_PERIOD_S = 0.004  # 250 Hz, the tracking loop's correction rate
STREAM_MIN_S = 2.0
FLOOD_S = 3.0
BITS_PER_BYTE_ON_THE_LINE = 10  # start bit, 8 data bits, stop bit


def _robot_settings(port: str) -> RobotSettings:
    """The cell's robot section (config/cell.yaml), pointed at ``port``."""
    section = yaml.safe_load((REPO / "config" / "cell.yaml").read_text(encoding="utf-8"))["robot"]
    section["link"]["port"] = port
    return RobotSettings.model_validate(section)


# -- the simulator's process ------------------------------------------------------------------


def _serve_robot(conn: Connection, link_path: str) -> None:
    asyncio.run(_robot_main(conn, link_path))


async def _robot_main(conn: Connection, link_path: str) -> None:
    from sim.clock import SimClock  # the child needs the simulator, the parent never does
    from sim.devices.robot import SimulatedRobot

    robot = SimulatedRobot(_robot_settings(link_path), SimClock(1.0), link_path)
    await robot.start()
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[str] = asyncio.Queue()
    loop.add_reader(conn.fileno(), lambda: commands.put_nowait(conn.recv()))
    conn.send(robot.port)
    try:
        while (command := await commands.get()) != "quit":
            assert command == "counters"
            conn.send(
                {
                    "corrections_received": robot.corrections_received,
                    "corrections_applied": robot.corrections_applied,
                    "wire_errors": robot.decoder.errors,
                    "state": robot.state.name.lower(),
                }
            )
    finally:
        loop.remove_reader(conn.fileno())
        await robot.close()


async def _ask(conn: Connection, command: str) -> Any:
    """Send a command to the simulator's process and wait (without blocking) for its answer."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    loop.add_reader(conn.fileno(), lambda: ready.done() or ready.set_result(None))
    try:
        conn.send(command)
        await ready
        return conn.recv()
    finally:
        loop.remove_reader(conn.fileno())


# -- the measurements -------------------------------------------------------------------------


async def _status_round_trips(driver: RobotDriver) -> list[float]:
    samples_s = []
    for _ in range(STATUS_SAMPLES):
        started = time.perf_counter()
        await driver.read_status()
        samples_s.append(time.perf_counter() - started)
    return samples_s


async def _stream_corrections(driver: RobotDriver, lateness_s: list[float]) -> None:
    """Corrections at 250 Hz to absolute deadlines (a gentle 1 mm weave), until cancelled."""
    loop = asyncio.get_running_loop()
    deadline = loop.time()
    while True:
        deadline += STREAM_PERIOD_S
        await asyncio.sleep(max(0.0, deadline - loop.time()))
        lateness_s.append(loop.time() - deadline)
        driver.send_correction(math.sin(deadline * 2 * math.pi), 0.0)


async def _flood_corrections(driver: RobotDriver) -> tuple[int, int, float]:
    """``send_correction`` as fast as the driver allows; yields to the loop after each."""
    sent_before, dropped_before = driver.corrections_sent, driver.corrections_dropped
    started = time.perf_counter()
    while time.perf_counter() - started < FLOOD_S:
        driver.send_correction(0.5, -0.25)
        await asyncio.sleep(0)
    took_s = time.perf_counter() - started
    return (
        driver.corrections_sent - sent_before,
        driver.corrections_dropped - dropped_before,
        took_s,
    )


async def _wait_idle(driver: RobotDriver, deadline_s: float = 30.0) -> None:
    for _ in range(int(deadline_s / 0.02)):
        if (await driver.read_status()).state is RobotState.IDLE:
            return
        await asyncio.sleep(0.02)
    raise RuntimeError(f"the robot did not come to rest within {deadline_s:g} s")


async def _measure(port: str, conn: Connection) -> dict[str, Any]:
    settings = _robot_settings(port)
    driver = RobotDriver(settings)
    await driver.connect()
    try:
        await driver.wait_connected(5.0)
        idle_s = await _status_round_trips(driver)

        # A long, slow seam: 600 mm at 20 mm/s keeps the robot moving through the rest.
        await driver.move_joint(Pose(-300.0, 0.0, 300.0), 100.0)
        await _wait_idle(driver)
        await driver.move_linear(Pose(300.0, 0.0, 300.0), 20.0, path_id=1)

        lateness_s: list[float] = []
        stream = asyncio.create_task(_stream_corrections(driver, lateness_s))
        try:
            started = time.perf_counter()
            streaming_s = await _status_round_trips(driver)
            # Let the stream run for a couple of seconds in all, for its lateness figure.
            await asyncio.sleep(max(0.0, STREAM_MIN_S - (time.perf_counter() - started)))
        finally:
            stream.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stream
        before = await _ask(conn, "counters")
        sent, dropped, flood_s = await _flood_corrections(driver)
        status = await driver.read_status()  # also: what the robot saw came before this
        after = await _ask(conn, "counters")
        await driver.stop()
    finally:
        await driver.close()

    received = after["corrections_received"] - before["corrections_received"]
    applied = after["corrections_applied"] - before["corrections_applied"]
    return {
        "status_rtt_idle": summary_ms(idle_s),
        "status_rtt_while_streaming_250hz": summary_ms(streaming_s),
        "stream_250hz_lateness": summary_ms(lateness_s),
        "flood": {
            "seconds": round(flood_s, 2),
            "sent": sent,
            "dropped_by_driver": dropped,
            "received_by_robot": received,
            "applied_by_robot": applied,
            "received_per_s": received / flood_s,
            "applied_per_s": applied / flood_s,
        },
        "robot_state_after": status.state.name.lower(),
        "robot_fault_after": status.fault_text,
        "robot_wire_errors": after["wire_errors"],
        "driver_frame_errors": driver.stats.frame_errors,
        "line_limit_115200": _line_limits(settings.link.baud),
    }


def _line_limits(baud: int) -> dict[str, float]:
    """What a real serial line at ``baud`` allows, from the frame sizes alone."""
    byte_s = BITS_PER_BYTE_ON_THE_LINE / baud
    correction_bytes = FRAME_OVERHEAD_BYTES + Correction._layout.size
    status_bytes = FRAME_OVERHEAD_BYTES + RobotStatus._layout.size
    request_bytes = FRAME_OVERHEAD_BYTES + StatusRequest._layout.size
    return {
        "corrections_per_s": 1 / (correction_bytes * byte_s),
        "status_rtt_ms": (status_bytes + request_bytes) * byte_s * 1e3,
        "share_of_line_at_250hz": 250 * correction_bytes * byte_s,
    }


def main() -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    with tempfile.TemporaryDirectory(prefix="bench-robot-") as folder:
        process = context.Process(
            target=_serve_robot, args=(child, str(Path(folder) / "robot")), name="sim robot"
        )
        process.start()
        try:
            if not parent.poll(30):
                raise RuntimeError("the simulated robot did not start within 30 s")
            port = parent.recv()
            figures = asyncio.run(_measure(port, parent))
        finally:
            with contextlib.suppress(OSError):
                parent.send("quit")
            process.join(10)
            if process.is_alive():
                process.terminate()
                process.join()
    _print(figures)
    return figures


def _print(figures: dict[str, Any]) -> None:
    flood = figures["flood"]
    line = figures["line_limit_115200"]
    print("robot link over a pty, simulated robot in a child process, 1x time")
    print(f"  {'':38} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'n':>6}")
    for label, key in (
        ("status round trip, idle", "status_rtt_idle"),
        ("status round trip, 250 Hz corrections", "status_rtt_while_streaming_250hz"),
        ("250 Hz stream lateness", "stream_250hz_lateness"),
    ):
        row = figures[key]
        print(
            f"  {label:38} {row['p50_ms']:8.3f} {row['p99_ms']:8.3f} {row['max_ms']:8.3f} "
            f"{row['n']:6d}"
        )
    print(
        f"  corrections flooded for {flood['seconds']} s: {flood['sent']} sent, "
        f"{flood['dropped_by_driver']} dropped by the driver (line backed up), "
        f"{flood['received_by_robot']} received, {flood['applied_by_robot']} applied"
    )
    print(
        f"  -> {flood['received_per_s']:.0f} corrections/s received, "
        f"{flood['applied_per_s']:.0f}/s applied; robot {figures['robot_state_after']} "
        f"({figures['robot_fault_after']})"
    )
    print(
        f"  a real 115200 baud line allows {line['corrections_per_s']:.0f} corrections/s "
        f"(250 Hz uses {line['share_of_line_at_250hz']:.0%} of it) and a status round trip "
        f"of at least {line['status_rtt_ms']:.1f} ms"
    )
    status_p99 = figures["status_rtt_while_streaming_250hz"]["p99_ms"]
    print(
        goal(
            "corrections sustained",
            flood["applied_per_s"] >= 250,
            f"{flood['applied_per_s']:.0f}/s applied (goal: at least 250/s)",
        )
    )
    print(
        goal(
            "status round trip while tracking",
            status_p99 < 5.0,
            f"p99 {status_p99:.2f} ms (goal: under 5 ms, a quarter of status_period_ms)",
        )
    )
    lateness = figures["stream_250hz_lateness"]["p99_ms"]
    print(
        goal(
            "250 Hz stream on time",
            lateness < STREAM_PERIOD_S * 1e3,
            f"p99 lateness {lateness:.2f} ms (goal: under one period, 4 ms)",
        )
    )
