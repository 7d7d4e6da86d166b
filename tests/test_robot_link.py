"""Contract tests: the real robot driver against the real simulated robot over a real pty.

The simulator runs at ``TIME_SCALE`` times real time so that paths take tens of milliseconds;
link timing (timeouts, watchdogs) stays in real time, as it does in the cell. Waits are
deadlines for something to happen (``wait_for_status``), never assertions on how long it took.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import os
import struct
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from drivers.codecs.robot_protocol import (
    FaultCode,
    FrameDecoder,
    Hold,
    MessageType,
    Nak,
    Pose,
    ResultCode,
    RobotState,
    RobotStatus,
    StatusRequest,
    crc16,
    encode_frame,
)
from drivers.codecs.settings import RobotSettings
from drivers.codecs.weave import WeavePattern, WeaveShape
from drivers.errors import DeviceRejected, DeviceTimeout, LinkDown
from drivers.link import LinkState
from drivers.robot import MotionRefused, RobotDriver
from sim.clock import SimClock
from sim.devices.robot import SimulatedRobot, TrajectorySample
from tests.waiting import eventually

TIME_SCALE = 20
HOME = (0.0, 0.0, 500.0)
MAX_SPEED_MM_PER_S = 500.0
MAX_ACCELERATION_MM_PER_S2 = 3000.0
MAX_CORRECTION_MM = 8.0
CORRECTION_RATE_MM_PER_S = 25.0


def robot_settings(port: str = "/nonexistent", **overrides: Any) -> RobotSettings:
    """The cell's robot section (config/cell.yaml), with the test's port and overrides."""
    link = {
        "port": port,
        "baud": 115200,
        "timeout_ms": 100,
        "retries": 2,
        "reconnect_delay_min_ms": 20,
        "reconnect_delay_max_ms": 200,
        **overrides.pop("link", {}),
    }
    limits = {
        "max_speed_mm_per_s": MAX_SPEED_MM_PER_S,
        "max_acceleration_mm_per_s2": MAX_ACCELERATION_MM_PER_S2,
        "workspace_mm": {
            "x": {"min": -900, "max": 900},
            "y": {"min": -900, "max": 900},
            "z": {"min": -50, "max": 900},
        },
        "max_path_correction_mm": MAX_CORRECTION_MM,
        "max_correction_rate_mm_per_s": CORRECTION_RATE_MM_PER_S,
        **overrides.pop("limits", {}),
    }
    return RobotSettings.model_validate(
        {
            "link": link,
            "limits": limits,
            "correction_watchdog_ms": 100,
            "link_watchdog_ms": 500,
            "status_period_ms": 20,
            "home_pose_mm": HOME,
            **overrides,
        }
    )


@contextlib.asynccontextmanager
async def running_robot(link_path: Path, **overrides: Any) -> AsyncIterator[SimulatedRobot]:
    robot = SimulatedRobot(robot_settings(**overrides), SimClock(TIME_SCALE), str(link_path))
    await robot.start()
    try:
        yield robot
    finally:
        await robot.close()


@contextlib.asynccontextmanager
async def connected_driver(port: str, **overrides: Any) -> AsyncIterator[RobotDriver]:
    driver = RobotDriver(robot_settings(port, **overrides))
    await driver.connect()
    try:
        await driver.wait_connected(2.0)
        yield driver
    finally:
        await driver.close()


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[SimulatedRobot]:
    async with running_robot(tmp_path / "robot") as robot:
        yield robot


@pytest.fixture
async def driver(sim: SimulatedRobot) -> AsyncIterator[RobotDriver]:
    async with connected_driver(sim.port) as connected:
        yield connected


async def wait_for_status(
    driver: RobotDriver,
    done: Callable[[RobotStatus], bool],
    deadline_s: float = 5.0,
    seen: list[RobotStatus] | None = None,
) -> RobotStatus:
    """Poll the status (as the controller does, every few ms) until ``done`` holds."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + deadline_s
    while True:
        status = await driver.read_status()
        if seen is not None:
            seen.append(status)
        if done(status):
            return status
        assert loop.time() < give_up, f"gave up waiting; last status: {status}"
        await asyncio.sleep(0.005)


def is_state(*states: RobotState) -> Callable[[RobotStatus], bool]:
    return lambda status: status.state in states


def assert_pose_at(pose: Pose, expected: tuple[float, float, float], tolerance_mm: float = 0.05):
    distance = math.dist(pose.position_mm, expected)
    assert distance <= tolerance_mm, f"tool at {pose.position_mm}, expected {expected}"


def path_samples(robot: SimulatedRobot, path_id: int) -> list[TrajectorySample]:
    return [s for s in robot.trajectory if s.path_id == path_id]


@contextlib.asynccontextmanager
async def streaming_corrections(
    driver: RobotDriver, lateral_mm: float, vertical_mm: float, period_s: float = 0.005
) -> AsyncIterator[None]:
    """Stream one correction every ``period_s`` (real time) while the block runs."""

    async def stream() -> None:
        while True:
            driver.send_correction(lateral_mm, vertical_mm)
            await asyncio.sleep(period_s)

    task = asyncio.create_task(stream(), name="test correction stream")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# -- connection and motion --------------------------------------------------------------------


async def test_connects_and_reads_the_status(sim: SimulatedRobot, driver: RobotDriver):
    status = await driver.read_status()
    assert driver.connected
    assert driver.stats.state is LinkState.UP
    assert status.state is RobotState.IDLE
    assert_pose_at(status.pose, HOME)
    assert status.fault_code == FaultCode.NONE
    assert driver.stats.last_rtt_s is not None
    assert sim.requests_received[MessageType.STATUS_REQUEST] == 2  # the handshake and ours


async def test_a_three_segment_path_blends_and_arrives(sim: SimulatedRobot, driver: RobotDriver):
    vertices = [(200.0, 0.0, 500.0), (200.0, 150.0, 500.0), (300.0, 150.0, 450.0)]
    speeds = [200.0, 200.0, 100.0]
    for vertex, speed in zip(vertices, speeds, strict=True):
        await driver.move_linear(Pose(*vertex), speed, path_id=7)
    length_mm = sum(math.dist(a, b) for a, b in itertools.pairwise([HOME, *vertices]))

    seen: list[RobotStatus] = []
    final = await wait_for_status(
        driver, lambda s: s.state is RobotState.IDLE and s.queue_depth == 0, seen=seen
    )
    assert_pose_at(final.pose, vertices[-1])
    assert final.path_id == 7
    assert final.path_length_mm == pytest.approx(length_mm, abs=0.05)
    assert final.path_position_mm == pytest.approx(length_mm, abs=0.05)
    assert final.tool_speed_mm_per_s == 0
    # Every status on the way: the whole path queued, position growing, speed within the limit.
    moving = [s for s in seen if s.state is RobotState.MOVING]
    assert moving, "never saw the robot move"
    assert all(s.path_length_mm == pytest.approx(length_mm, abs=0.05) for s in moving)
    positions = [s.path_position_mm for s in seen]
    assert positions == sorted(positions)
    assert max(s.tool_speed_mm_per_s for s in seen) <= max(speeds) + 1e-3

    # Ground truth: blended (never slowed below the slower segment's speed between the ends),
    # within the speed and acceleration limits, and through the vertices.
    samples = path_samples(sim, 7)
    inner = [s for s in samples if 20.0 < s.path_position_mm < length_mm - 20.0]
    assert min(s.tool_speed_mm_per_s for s in inner) >= speeds[-1] - 1e-3
    for before, after in itertools.pairwise(samples):
        dt_s = after.sim_time_s - before.sim_time_s
        travelled_mm = math.dist(before.pose.position_mm, after.pose.position_mm)
        assert travelled_mm <= max(speeds) * dt_s + 1e-6
        speed_change = abs(after.tool_speed_mm_per_s - before.tool_speed_mm_per_s)
        assert speed_change <= MAX_ACCELERATION_MM_PER_S2 * dt_s + 1e-6
    for vertex in vertices:
        assert min(math.dist(s.pose.position_mm, vertex) for s in samples) < 0.5


async def test_a_circle_of_two_arcs_runs_and_corrections_follow_its_normal(
    sim: SimulatedRobot, driver: RobotDriver
):
    # A full circle of radius 50 about (50, 0) in the plane z = 500, counter-clockwise seen
    # from above, sent as two half circles: lateral (left of travel) points to the centre.
    centre, radius = (50.0, 0.0, 500.0), 50.0
    await driver.move_circular((50.0, -50.0, 500.0), Pose(100.0, 0.0, 500.0), 100.0, path_id=9)
    await driver.move_circular((50.0, 50.0, 500.0), Pose(*HOME), 100.0, path_id=9)
    async with streaming_corrections(driver, lateral_mm=2.0, vertical_mm=0.0):
        final = await wait_for_status(driver, is_state(RobotState.IDLE))
    assert final.path_length_mm == pytest.approx(2 * math.pi * radius, abs=0.05)
    samples = path_samples(sim, 9)
    # Never stopped between the arcs; the tool on the circle shrunk by the applied correction.
    inner = [s for s in samples if 30.0 < s.path_position_mm < final.path_length_mm - 30.0]
    assert min(s.tool_speed_mm_per_s for s in inner) >= 100.0 - 1e-3
    for s in samples:
        r = math.dist(s.pose.position_mm, centre)
        assert r == pytest.approx(radius - s.lateral_correction_mm, abs=1e-3)
    assert max(s.lateral_correction_mm for s in samples) == pytest.approx(2.0, abs=1e-4)


async def test_an_arc_through_points_on_one_line_is_refused(
    sim: SimulatedRobot, driver: RobotDriver
):
    with pytest.raises(DeviceRejected, match="arc"):
        await driver.move_circular((50.0, 0.0, 500.0), Pose(100.0, 0.0, 500.0), 100.0, 3)
    with pytest.raises(DeviceRejected, match="arc"):  # radius 1 mm: below the robot's 5 mm
        await driver.move_circular((1.0, 1.0, 500.0), Pose(2.0, 0.0, 500.0), 100.0, 3)


async def test_segment_speed_is_respected(sim: SimulatedRobot, driver: RobotDriver):
    await driver.move_linear(Pose(0.0, 300.0, 500.0), 60.0)
    seen: list[RobotStatus] = []
    await wait_for_status(driver, is_state(RobotState.IDLE), seen=seen)
    assert max(s.tool_speed_mm_per_s for s in seen) <= 60.0 + 1e-3
    assert max(s.tool_speed_mm_per_s for s in path_samples(sim, 0)) == pytest.approx(60.0)


async def test_a_joint_move_arrives(sim: SimulatedRobot, driver: RobotDriver):
    await driver.move_joint(Pose(-100.0, 50.0, 300.0, 0.0, 90.0, 0.0), 40.0)
    final = await wait_for_status(driver, is_state(RobotState.IDLE))
    assert_pose_at(final.pose, (-100.0, 50.0, 300.0))
    assert final.pose.ry_deg == pytest.approx(90.0)
    speeds = [s.tool_speed_mm_per_s for s in sim.trajectory]
    assert max(speeds) <= 0.4 * MAX_SPEED_MM_PER_S + 1e-3


async def test_hold_stops_on_the_path_and_resume_continues(
    sim: SimulatedRobot, driver: RobotDriver
):
    target = (400.0, 0.0, 500.0)
    await driver.move_linear(Pose(*target), 50.0, path_id=3)
    await wait_for_status(driver, lambda s: s.path_position_mm > 40.0)
    await driver.hold()
    held = await wait_for_status(driver, is_state(RobotState.HELD))
    assert held.tool_speed_mm_per_s == 0
    assert 40.0 < held.path_position_mm < held.path_length_mm
    assert held.queue_depth == 1
    assert held.pose.y_mm == pytest.approx(0.0, abs=1e-3)  # on the path
    await asyncio.sleep(0.05)  # a simulated second held: it stays put
    still = await driver.read_status()
    assert still.state is RobotState.HELD
    assert still.path_position_mm == held.path_position_mm
    await driver.hold()  # idempotent
    await driver.resume()
    final = await wait_for_status(driver, is_state(RobotState.IDLE))
    assert_pose_at(final.pose, target)
    assert final.path_position_mm == pytest.approx(400.0, abs=0.05)
    await driver.resume()  # idempotent: nothing held, still ok


async def test_moves_sent_while_held_wait_for_resume(sim: SimulatedRobot, driver: RobotDriver):
    await driver.hold()
    await driver.move_linear(Pose(0.0, 100.0, 500.0), 200.0)
    status = await driver.read_status()
    assert status.state is RobotState.HELD
    assert status.queue_depth == 1
    await driver.resume()
    final = await wait_for_status(driver, is_state(RobotState.IDLE))
    assert_pose_at(final.pose, (0.0, 100.0, 500.0))


async def test_stop_decelerates_and_clears_the_queue(sim: SimulatedRobot, driver: RobotDriver):
    await driver.move_linear(Pose(300.0, 0.0, 500.0), 100.0, path_id=5)
    await driver.move_linear(Pose(300.0, 300.0, 500.0), 100.0, path_id=5)
    await wait_for_status(driver, lambda s: s.path_position_mm > 50.0)
    await driver.stop()
    stopped = await wait_for_status(
        driver, lambda s: s.state is RobotState.STOPPED and s.tool_speed_mm_per_s == 0
    )
    assert stopped.queue_depth == 0
    assert stopped.pose.x_mm < 300.0
    # A new move starts from where the tool stopped.
    await driver.move_linear(Pose(0.0, 0.0, 450.0), 200.0)
    final = await wait_for_status(driver, is_state(RobotState.IDLE))
    assert_pose_at(final.pose, (0.0, 0.0, 450.0))


async def test_a_move_sent_while_stopping_starts_where_the_tool_rests(
    sim: SimulatedRobot, driver: RobotDriver
):
    await driver.move_linear(Pose(400.0, 0.0, 500.0), 300.0, path_id=5)
    await wait_for_status(driver, lambda s: s.tool_speed_mm_per_s >= 300.0)
    await driver.stop()
    await driver.move_linear(Pose(0.0, 0.0, 450.0), 200.0, path_id=6)  # while it brakes
    final = await wait_for_status(driver, lambda s: s.state is RobotState.IDLE and s.path_id == 6)
    assert_pose_at(final.pose, (0.0, 0.0, 450.0))
    stopped_path = path_samples(sim, 5)
    assert stopped_path[-1].tool_speed_mm_per_s == 0  # came to rest before the new path
    assert stopped_path[-1].path_position_mm < 400.0
    assert path_samples(sim, 6)[0].tool_speed_mm_per_s <= MAX_ACCELERATION_MM_PER_S2 * 0.002


# -- corrections ------------------------------------------------------------------------------


async def test_a_correction_offsets_the_taught_path(sim: SimulatedRobot, driver: RobotDriver):
    target = (300.0, 0.0, 500.0)  # travel along +x: lateral is +y, vertical is +z
    await driver.move_linear(Pose(*target), 50.0, path_id=11)
    async with streaming_corrections(driver, lateral_mm=2.0, vertical_mm=-1.5):
        mid = await wait_for_status(driver, lambda s: s.path_position_mm > 150.0)
        final = await wait_for_status(driver, is_state(RobotState.IDLE))
    assert mid.lateral_correction_mm == pytest.approx(2.0, abs=1e-4)
    assert mid.vertical_correction_mm == pytest.approx(-1.5, abs=1e-4)
    assert mid.pose.y_mm == pytest.approx(2.0, abs=1e-3)
    assert mid.pose.z_mm == pytest.approx(498.5, abs=1e-3)
    assert_pose_at(final.pose, (300.0, 2.0, 498.5))
    assert final.fault_code == FaultCode.NONE
    assert final.last_correction_seq <= (driver.last_correction_seq or 0)
    assert sim.corrections_applied >= 1
    # The robot's own rate limit: the applied offset never moved faster than allowed.
    samples = path_samples(sim, 11)
    for before, after in itertools.pairwise(samples):
        dt_s = after.sim_time_s - before.sim_time_s
        change = abs(after.lateral_correction_mm - before.lateral_correction_mm)
        assert change <= CORRECTION_RATE_MM_PER_S * dt_s + 1e-6
    # ... and the path position is measured along the taught path, not the corrected one.
    assert final.path_position_mm == pytest.approx(300.0, abs=0.05)


async def test_the_robot_weaves_a_path_from_the_parameters_sent_with_it(
    sim: SimulatedRobot, driver: RobotDriver
):
    shape = WeaveShape(WeavePattern.SINE, 2.0, 2.0, pitch_mm=10.0)
    await driver.set_weave(12, shape)
    await driver.set_weave(12, shape)  # idempotent: the same state twice
    await driver.move_linear(Pose(300.0, 0.0, 500.0), 50.0, path_id=12)
    await wait_for_status(driver, lambda s: s.state is RobotState.IDLE and s.path_id == 12)
    samples = [s for s in path_samples(sim, 12) if 20 < s.path_position_mm < 280]
    # Travel along +x from HOME: the weave shows in y, where the path has none.
    assert max(s.pose.y_mm for s in samples) == pytest.approx(2.0, abs=0.01)
    assert min(s.pose.y_mm for s in samples) == pytest.approx(-2.0, abs=0.01)
    for sample in samples[::50]:
        expected = shape.offset_mm(sample.path_position_mm, 300.0)[0]
        assert sample.pose.y_mm == pytest.approx(expected, abs=1e-3)
    with pytest.raises(MotionRefused, match="amplitude"):
        await driver.set_weave(13, WeaveShape(WeavePattern.SINE, 20.0, 2.0, pitch_mm=10.0))
    assert sim.requests_received[MessageType.WEAVE] == 2


async def test_the_robot_clamps_a_correction_at_its_own_limit(tmp_path: Path):
    # The robot is configured tighter (3 mm) than the controller believes (8 mm).
    async with (
        running_robot(tmp_path / "robot", limits={"max_path_correction_mm": 3.0}) as robot,
        connected_driver(robot.port) as driver,
    ):
        await driver.move_linear(Pose(300.0, 0.0, 500.0), 50.0, path_id=1)
        async with streaming_corrections(driver, lateral_mm=5.0, vertical_mm=-6.0):
            final = await wait_for_status(driver, is_state(RobotState.IDLE))
        assert final.lateral_correction_mm == pytest.approx(3.0)
        assert final.vertical_correction_mm == pytest.approx(-3.0)
        assert_pose_at(final.pose, (300.0, 3.0, 497.0))


async def test_a_stalled_correction_stream_holds_the_robot(
    sim: SimulatedRobot, driver: RobotDriver
):
    await driver.move_linear(Pose(400.0, 0.0, 500.0), 20.0, path_id=2)
    async with streaming_corrections(driver, lateral_mm=0.5, vertical_mm=0.0):
        await wait_for_status(driver, lambda s: s.path_position_mm > 10.0)
    # The stream has stopped; the status polling goes on.
    faulted = await wait_for_status(driver, is_state(RobotState.FAULT))
    assert faulted.fault_code == FaultCode.CORRECTION_STREAM_LOST
    assert faulted.tool_speed_mm_per_s == 0
    assert faulted.path_position_mm < faulted.path_length_mm
    with pytest.raises(DeviceRejected) as refused:
        await driver.resume()
    assert refused.value.code == ResultCode.NOT_ALLOWED
    with pytest.raises(DeviceRejected):
        await driver.move_linear(Pose(0.0, 0.0, 500.0), 100.0)
    await driver.stop()  # acknowledges the fault
    cleared = await driver.read_status()
    assert cleared.state is RobotState.STOPPED
    assert cleared.fault_code == FaultCode.NONE


async def test_a_silent_controller_trips_the_link_watchdog(
    sim: SimulatedRobot, driver: RobotDriver
):
    await driver.move_linear(Pose(400.0, 0.0, 500.0), 20.0, path_id=4)
    await wait_for_status(driver, lambda s: s.path_position_mm > 5.0)
    await asyncio.sleep(0.8)  # no request at all for longer than link_watchdog_ms (500)
    status = await wait_for_status(driver, is_state(RobotState.FAULT))
    assert status.fault_code == FaultCode.CONTROLLER_LINK_LOST
    assert status.fault_text == "controller link lost"
    assert status.path_position_mm < status.path_length_mm


# -- refusals before the wire -----------------------------------------------------------------


async def test_refused_motions_never_reach_the_wire(sim: SimulatedRobot, driver: RobotDriver):
    requests_before = sim.requests_total
    sent_before = driver.stats.requests
    refusals: list[Callable[[], Any]] = [
        lambda: driver.move_linear(Pose(1000.0, 0.0, 500.0), 100.0),  # outside x
        lambda: driver.move_linear(Pose(0.0, 0.0, -60.0), 100.0),  # below the floor
        lambda: driver.move_linear(Pose(0.0, 0.0, 400.0), MAX_SPEED_MM_PER_S + 1),
        lambda: driver.move_linear(Pose(0.0, 0.0, 400.0), 0.0),
        lambda: driver.move_linear(Pose(0.0, 0.0, 400.0), -5.0),
        lambda: driver.move_linear(Pose(0.0, math.nan, 400.0), 100.0),
        lambda: driver.move_linear(Pose(0.0, 0.0, 400.0, rz_deg=math.inf), 100.0),
        lambda: driver.move_linear(Pose(0.0, 0.0, 400.0), math.nan),
        lambda: driver.move_linear(Pose(0.0, 0.0, 400.0), 100.0, path_id=70_000),
        lambda: driver.move_joint(Pose(0.0, 0.0, 400.0), 150.0),
        lambda: driver.move_joint(Pose(0.0, 950.0, 400.0), 50.0),
    ]
    for refusal in refusals:
        with pytest.raises(MotionRefused, match=r"^robot at .*refused: .*\(nothing sent\)$"):
            await refusal()
    for lateral_mm, vertical_mm in [(MAX_CORRECTION_MM + 0.1, 0.0), (0.0, -9.0), (math.nan, 0)]:
        with pytest.raises(MotionRefused):
            driver.send_correction(lateral_mm, vertical_mm)
    await driver.read_status()  # whatever had been sent would have arrived before this
    assert sim.requests_total == requests_before + 1
    assert sim.corrections_received == 0
    assert driver.stats.requests == sent_before + 1
    assert driver.stats.refused_writes == len(refusals) + 3


async def test_corrections_from_another_thread_keep_frames_whole(sim: SimulatedRobot):
    """The tracking loop streams corrections from its own thread while the event loop asks for
    the status, and the robot now and then reads the line late (the port backs up, so frames
    queue in the driver): every frame reaches the robot whole, every request gets its answer.
    (A timeout of a second: the stream thread spins as fast as it can, and on a busy machine
    an answer may take longer than the cell's 100 ms; a retry's late answer is not the point.)"""
    async with connected_driver(sim.port, link={"timeout_ms": 1000}) as driver:
        await _stream_while_polling(sim, driver)


async def _stream_while_polling(sim: SimulatedRobot, driver: RobotDriver) -> None:
    done = threading.Event()
    sent = 0
    failures: list[BaseException] = []

    def stream() -> None:
        nonlocal sent
        try:
            while not done.is_set():
                driver.send_correction(0.001 * (sent % 100), 0.0)
                sent += 1
        except BaseException as error:  # anything at all: the test fails with it
            failures.append(error)

    async def slow_reader() -> None:
        while not done.is_set():
            sim.pause_reading()  # the robot is busy: the line backs up
            await asyncio.sleep(0.03)
            sim.resume_reading()
            await asyncio.sleep(0.01)

    thread = threading.Thread(target=stream, name="test correction stream")
    thread.start()
    reader = asyncio.create_task(slow_reader())
    try:
        for _ in range(60):
            status = await driver.read_status()
            assert status.state is RobotState.IDLE
    finally:
        done.set()
        thread.join()
        await reader
    await driver.read_status()  # everything sent before it has arrived
    assert failures == []
    garbled = {k: v for k, v in sim.decoder.counters().items() if k != "frames" and v}
    assert garbled == {}
    assert driver.unmatched_responses == 0
    assert driver.corrections_dropped > 0  # the line did back up
    assert driver.corrections_sent + driver.corrections_dropped == sent
    assert sim.corrections_received == driver.corrections_sent


# -- faults on the wire -----------------------------------------------------------------------


async def test_a_lost_answer_is_retried_for_an_idempotent_request(
    sim: SimulatedRobot, driver: RobotDriver
):
    before = sim.requests_received[MessageType.STATUS_REQUEST]
    sim.faults.set("stall", frames=1)
    status = await driver.read_status()
    assert status.state is RobotState.IDLE
    assert driver.stats.timeouts == 1
    assert sim.requests_received[MessageType.STATUS_REQUEST] == before + 2


async def test_no_answer_at_all_times_out_then_the_link_recovers(
    sim: SimulatedRobot, driver: RobotDriver
):
    sim.faults.set("stall")
    with pytest.raises(DeviceTimeout, match=r"^robot at .*: no answer to HOLD within 100 ms \(3"):
        await driver.hold()
    assert driver.stats.timeouts == 3
    # Three unanswered attempts in a row: the link is taken for lost and reopened.
    assert not driver.connected
    with pytest.raises(LinkDown):
        await driver.read_status()
    sim.faults.clear()
    await driver.wait_connected(3.0)
    assert driver.stats.reconnects == 1
    assert (await driver.read_status()).state is RobotState.HELD


async def test_a_move_is_never_retried(sim: SimulatedRobot, driver: RobotDriver):
    sim.faults.set("stall", frames=1)
    with pytest.raises(DeviceTimeout, match="not idempotent"):
        await driver.move_linear(Pose(100.0, 0.0, 500.0), 100.0)
    assert driver.stats.timeouts == 1
    assert sim.requests_received[MessageType.MOVE_LINEAR] == 1
    # The robot did take it; only the answer was lost. The status says so.
    final = await wait_for_status(driver, is_state(RobotState.IDLE))
    assert_pose_at(final.pose, (100.0, 0.0, 500.0))


@pytest.mark.parametrize("fault", ["corrupt", "truncate", "garbage"])
async def test_garbled_answers_are_counted_and_survived(
    sim: SimulatedRobot, driver: RobotDriver, fault: str
):
    for _ in range(5):
        sim.faults.set(fault, frames=1)
        status = await driver.read_status()
        assert status.state is RobotState.IDLE
    assert driver.stats.frame_errors >= 5
    counters = driver.wire_counters()
    if fault == "garbage":
        assert counters["garbage_bytes"] >= 15
        assert driver.stats.timeouts == 0  # the answer followed its garbage: no retry needed
    assert driver.connected


async def test_a_late_answer_is_skipped_not_taken(sim: SimulatedRobot, driver: RobotDriver):
    sim.faults.set("delay", frames=1, delay_s=0.15)  # later than the 100 ms timeout
    status = await driver.read_status()  # the retry's answer
    assert status.state is RobotState.IDLE
    assert driver.stats.timeouts == 1
    await eventually(lambda: driver.unmatched_responses == 1, what="the unmatched answer")
    assert (await driver.read_status()).state is RobotState.IDLE


async def test_a_correction_does_not_wait_behind_a_slow_request(tmp_path: Path):
    async with (
        running_robot(tmp_path / "robot") as robot,
        connected_driver(robot.port, link={"timeout_ms": 2000}) as driver,
    ):
        robot.faults.set("delay", frames=1, delay_s=0.5)
        slow = asyncio.create_task(driver.read_status())
        await eventually(lambda: robot.requests_total == 2, what="the request")  # with the robot
        driver.send_correction(1.0, 0.0)
        await eventually(lambda: robot.corrections_received == 1, what="the correction")
        assert not slow.done()
        assert (await slow).state is RobotState.IDLE


async def test_a_nak_raises_device_rejected(sim: SimulatedRobot, driver: RobotDriver):
    sim.set_drives_enabled(False)
    with pytest.raises(DeviceRejected, match="drives off") as refused:
        await driver.move_linear(Pose(100.0, 0.0, 500.0), 100.0)
    assert refused.value.code == ResultCode.DRIVES_OFF
    assert driver.stats.rejections == 1
    assert (await driver.read_status()).state is RobotState.DRIVES_OFF
    sim.set_drives_enabled(True)
    assert (await driver.read_status()).state is RobotState.IDLE
    await driver.move_linear(Pose(100.0, 0.0, 500.0), 100.0)


async def test_drives_off_stops_at_once_and_stays_idle_after(
    sim: SimulatedRobot, driver: RobotDriver
):
    await driver.move_linear(Pose(400.0, 0.0, 500.0), 100.0, path_id=9)
    await wait_for_status(driver, lambda s: s.tool_speed_mm_per_s >= 100.0)
    sim.set_drives_enabled(False)
    off = await driver.read_status()
    assert off.state is RobotState.DRIVES_OFF
    assert off.tool_speed_mm_per_s == 0
    assert off.queue_depth == 0
    sim.set_drives_enabled(True)
    await asyncio.sleep(0.05)
    idle = await driver.read_status()
    assert idle.state is RobotState.IDLE
    assert idle.pose == off.pose


# -- losing the link --------------------------------------------------------------------------


async def test_reconnects_to_a_simulator_restarted_on_a_new_pty(tmp_path: Path):
    link_path = tmp_path / "robot"
    changes: list[LinkState] = []
    async with running_robot(link_path) as first:
        driver = RobotDriver(robot_settings(first.port))
        driver.add_state_listener(changes.append)
        await driver.connect()
    try:
        # The simulator is gone: the driver notices the hang-up and says so.
        await eventually(lambda: driver.stats.state is LinkState.DOWN, what="link down")
        with pytest.raises(LinkDown, match=f"^robot at {link_path}: link is down"):
            await driver.read_status()
        with pytest.raises(LinkDown):
            driver.send_correction(0.5, 0.0)
        async with running_robot(link_path) as second:
            await driver.wait_connected(3.0)
            assert driver.stats.reconnects == 1
            status = await driver.read_status()
            assert status.state is RobotState.IDLE
            assert second.requests_received[MessageType.STATUS_REQUEST] >= 2
            await driver.close()
    finally:
        await driver.close()
    assert changes == [
        LinkState.CONNECTING,
        LinkState.UP,
        LinkState.DOWN,
        LinkState.UP,
        LinkState.DISCONNECTED,
    ]


async def test_a_hang_up_fails_the_waiting_request_with_link_down(tmp_path: Path):
    robot = SimulatedRobot(robot_settings(), SimClock(TIME_SCALE), str(tmp_path / "robot"))
    await robot.start()
    try:
        async with connected_driver(robot.port, link={"timeout_ms": 5000}) as driver:
            robot.faults.set("stall")
            waiting = asyncio.create_task(driver.read_status())
            await eventually(lambda: robot.requests_total == 2, what="the request")
            await robot.close()
            with pytest.raises(LinkDown, match="hung up"):
                await waiting
            assert driver.stats.timeouts == 0
    finally:
        await robot.close()


async def test_an_absent_robot_is_no_error_until_asked(tmp_path: Path):
    absent = tmp_path / "no-robot-here"
    driver = RobotDriver(robot_settings(str(absent)))
    await driver.connect()
    try:
        assert not driver.connected
        assert driver.stats.state is LinkState.CONNECTING
        with pytest.raises(LinkDown, match=f"^robot at {absent}: link is down; CORRECTION"):
            driver.send_correction(1.0, 0.0)
        with pytest.raises(LinkDown):
            await driver.read_status()
        # It comes later: the supervisor finds it.
        async with running_robot(absent):
            await driver.wait_connected(3.0)
            assert driver.stats.reconnects == 0
            await driver.read_status()
    finally:
        await driver.close()
    assert driver.stats.state is LinkState.DISCONNECTED


# -- other transports and the robot's own side ------------------------------------------------


@contextlib.asynccontextmanager
async def tcp_to_pty_bridge(pty_path: str) -> AsyncIterator[int]:
    """A serial-device server in miniature: one TCP client at a time, bridged to a pty."""
    loop = asyncio.get_running_loop()
    bridges: set[asyncio.Task[None]] = set()

    async def bridge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        fd = os.open(pty_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        loop.add_reader(fd, lambda: writer.write(os.read(fd, 4096)))
        try:
            while data := await reader.read(4096):
                os.write(fd, data)
        finally:
            loop.remove_reader(fd)
            os.close(fd)
            writer.close()
            await writer.wait_closed()

    def start(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(bridge(reader, writer), name="test tcp-pty bridge")
        bridges.add(task)
        task.add_done_callback(bridges.discard)

    server = await asyncio.start_server(start, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in list(bridges):
            task.cancel()
        await asyncio.gather(*bridges, return_exceptions=True)
        await server.wait_closed()


async def test_works_over_a_socket_url(sim: SimulatedRobot):
    async with (
        tcp_to_pty_bridge(sim.port) as tcp_port,
        connected_driver(f"socket://127.0.0.1:{tcp_port}") as driver,
    ):
        await driver.move_linear(Pose(50.0, 50.0, 500.0), 200.0)
        final = await wait_for_status(driver, is_state(RobotState.IDLE))
        assert_pose_at(final.pose, (50.0, 50.0, 500.0))
        assert driver.address == f"socket://127.0.0.1:{tcp_port}"


async def test_the_robot_skips_garbage_and_naks_what_it_cannot_read(sim: SimulatedRobot):
    """The robot's side of the wire, driven with raw bytes."""
    loop = asyncio.get_running_loop()
    fd = os.open(sim.port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    decoder = FrameDecoder()
    answers: list[Any] = []
    loop.add_reader(fd, lambda: answers.extend(decoder.feed(os.read(fd, 4096))))
    try:
        bad_type = bytearray(encode_frame(3, Hold()))
        bad_type[5] = 0x42  # an unknown message type, in an intact frame
        bad_type[-2:] = struct.pack("<H", crc16(bad_type[2:-2]))
        corrupted = bytearray(encode_frame(2, StatusRequest()))
        corrupted[-1] ^= 0xFF
        os.write(
            fd,
            b"\x00\xa5\x13noise"
            + bytes(corrupted)
            + encode_frame(1, StatusRequest())
            + bytes(bad_type),
        )
        await eventually(lambda: len(answers) == 2, what="both answers")
        assert answers[0].seq == 1
        assert isinstance(answers[0].message, RobotStatus)
        assert answers[1].seq == 3
        assert answers[1].message == Nak(0x42, ResultCode.BAD_MESSAGE)
        assert sim.decoder.crc_errors == 1
        assert sim.decoder.garbage_bytes > 0
        assert sim.requests_received[MessageType.STATUS_REQUEST] == 1
    finally:
        loop.remove_reader(fd)
        os.close(fd)


async def test_a_move_slower_than_the_cells_slowest_is_given_its_own_time(
    sim: SimulatedRobot, driver: RobotDriver
):
    """A move's timeout is its length at the cell's slowest speed (half the air speed), or at
    its own speed if that is slower: the re-scan crawled to its start at 10 mm/s along a long
    seam and was cut off at 1x by the air moves' timeout (F170)."""
    from cellctl.motion.moves import Motion
    from cellctl.weld.passes import PassTorch

    # A cell whose air moves would cover 2000 mm in a hundredth of a second: any real move
    # outlasts that, unless its own speed sets its time.
    motion = Motion(driver, period_s=0.01, margin_s=0.1, slowest_mm_per_s=200_000.0)
    start = sim.status().pose.position_mm
    target = (start[0] + 60.0, start[1], start[2])
    assert motion.timeout_s(60.0) < 0.2
    status = await motion.move_linear(target, PassTorch(0.0, 0.0), 10.0, "a slow move")
    assert math.dist(status.pose.position_mm, target) < 0.5
