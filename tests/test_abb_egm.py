"""Contract tests of the ABB EGM driver (drivers.robot.abb_egm) against the simulated ABB robot
(sim.devices.robot_egm), over real UDP sockets on loopback.

Both ends run here for real: the robot streams EgmRobot every 4 ms, the driver answers each
with EgmSensorPathCorr from its own thread; the robot's pose is its physics.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from drivers.codecs.abb_egm import (
    EgmCodecError,
    EgmPathCorrectionMessage,
    EgmPose,
    EgmRobotMessage,
    MciState,
    RapidExecState,
    decode_path_correction,
    encode_path_correction,
    encode_robot,
)
from drivers.codecs.abb_egm_settings import AbbEgmSettings
from drivers.codecs.robot_protocol import Pose
from drivers.codecs.seam_path import build_path
from drivers.errors import LinkDown
from drivers.robot.abb_egm import AbbEgmDriver
from drivers.robot.owned import OwnedLinkState, PathCorrection, RobotOwnedMotion
from drivers.robot.serial import MotionRefused
from rigs.egm import HOME_MM, LIMITS, free_udp_port, loopback_settings, until_streaming
from sim.clock import SimClock
from sim.devices.robot_egm import EgmJob, EgmMove, JobStep, SimulatedEgmRobot
from tests.waiting import eventually


@dataclass
class Rig:
    settings: AbbEgmSettings
    robot: SimulatedEgmRobot
    driver: AbbEgmDriver
    told: list[tuple[OwnedLinkState, str]]


@contextlib.asynccontextmanager
async def egm_rig(**overrides) -> AsyncIterator[Rig]:
    settings = loopback_settings(**({"comm_timeout_ms": 100, "stream_timeout_ms": 60} | overrides))
    robot = SimulatedEgmRobot(settings, LIMITS, SimClock(1.0), HOME_MM)
    driver = AbbEgmDriver(settings, device="robot")
    told: list[tuple[OwnedLinkState, str]] = []
    driver.add_fault_listener(lambda state, text: told.append((state, text)))
    await driver.start_link()
    robot.start_thread()
    try:
        await until_streaming(driver, timeout_s=10.0)
        yield Rig(settings, robot, driver, told)
    finally:
        robot.close_thread()
        await driver.stop_link()


def seam_job(length_mm: float = 200.0, speed_mm_per_s: float = 50.0) -> list[EgmMove]:
    """A straight seam along +x: lateral is +y, vertical is +z (the seam frame)."""
    x, y, z = HOME_MM
    return [EgmMove(Pose(x + length_mm, y, z), speed_mm_per_s)]


async def test_feedback_is_decoded_and_every_telegram_answered():
    async with egm_rig() as rig:
        await eventually(lambda: rig.driver.counters().telegrams_received >= 20, what="feedback")
        feedback = rig.driver.latest_feedback()
        assert feedback is not None
        assert feedback.position_mm == pytest.approx(HOME_MM)
        assert feedback.orientation_deg == pytest.approx((0.0, 0.0, 0.0))
        message = rig.driver.latest_egm_message()
        assert message is not None
        assert message.mci_state is MciState.STOPPED  # streaming, no EGM move yet
        assert message.planned is not None
        await eventually(
            lambda: rig.robot.status().counters.corrections_ignored >= 20,
            what="the answers at the robot",
        )
        counters = rig.driver.counters()
        # Every telegram the driver took was answered (one may be in flight between the reads).
        assert counters.answers_sent >= counters.telegrams_received - 1
        assert counters.garbage_datagrams == counters.refused_senders == 0


async def test_a_path_correction_moves_the_robot_by_it_on_its_path():
    async with egm_rig() as rig:
        rig.robot.run_job(seam_job())
        rig.driver.set_path_correction(PathCorrection(1.5, -0.5))

        def corrected() -> bool:
            status = rig.robot.status()
            return status.lateral_correction_mm == pytest.approx(1.5) and (
                status.vertical_correction_mm == pytest.approx(-0.5)
            )

        await eventually(corrected, what="the correction applied by the robot")
        status = rig.robot.status()
        assert status.mci_state is MciState.RUNNING
        assert status.pose.y_mm == pytest.approx(HOME_MM[1] + 1.5)
        assert status.pose.z_mm == pytest.approx(HOME_MM[2] - 0.5)
        assert status.pose.x_mm > HOME_MM[0]  # it runs its path meanwhile
        # The robot's feedback shows it, and the planned pose does not.
        await eventually(
            lambda: rig.driver.latest_feedback().position_mm[1] == pytest.approx(1.5),
            what="the corrected pose in the feedback",
        )
        planned = rig.driver.latest_egm_message().planned
        assert planned.position_mm[1] == pytest.approx(0.0)
        assert planned.position_mm[2] == pytest.approx(HOME_MM[2])
        assert max(rig.robot.applied_correction_ages()) < 10_000  # stamped with an age


async def test_the_robot_clamps_a_correction_to_its_limit_and_the_driver_refuses_more():
    async with egm_rig(max_path_correction_mm=2.0) as rig:
        with pytest.raises(MotionRefused, match=r"robot at udp .*beyond the robot's ±2.0 mm"):
            rig.driver.set_path_correction(PathCorrection(2.5, 0.0))
        with pytest.raises(MotionRefused, match="not finite"):
            rig.driver.set_path_correction(PathCorrection(math.nan, 0.0))
        assert rig.driver.counters().corrections_refused == 2
        rig.robot.run_job(seam_job())
        rig.driver.set_path_correction(PathCorrection(2.0, -2.0))
        await eventually(
            lambda: rig.robot.status().lateral_correction_mm == pytest.approx(2.0),
            what="the largest correction applied",
        )
        assert rig.robot.status().vertical_correction_mm == pytest.approx(-2.0)


async def test_sequence_numbers_run_on_both_ways_without_gaps():
    async with egm_rig() as rig:
        await eventually(lambda: rig.driver.counters().telegrams_received >= 50, what="feedback")
        first = rig.driver.latest_feedback().sequence
        seen_at_robot = rig.robot.status().last_correction_seqno
        await eventually(
            lambda: rig.driver.latest_feedback().sequence >= first + 25, what="more feedback"
        )
        assert rig.robot.status().last_correction_seqno > seen_at_robot
        assert rig.driver.egm_counters().feedback_lost == 0
        assert rig.driver.egm_counters().feedback_out_of_order == 0
        assert rig.robot.status().counters.corrections_lost == 0


async def test_the_robot_stops_on_its_comm_timeout_and_the_driver_says_so():
    async with egm_rig() as rig:
        rig.driver.expect_stream(True)
        rig.robot.run_job(seam_job(speed_mm_per_s=20.0))
        await eventually(lambda: rig.robot.status().pose.x_mm > HOME_MM[0] + 1, what="motion")
        rig.robot.drop_sensor_messages()  # the answers are lost on the way to the robot
        await eventually(
            lambda: rig.driver.state is OwnedLinkState.STOPPED_WITH_ERROR,
            what="the robot's stop seen by the driver",
        )
        status = rig.robot.status()
        assert status.mci_state is MciState.ERROR
        assert status.rapid_exec_state is RapidExecState.STOPPED
        assert "ERR_UDPUC_COMM" in status.error
        assert not status.job_running
        assert "robot at udp 127.0.0.1" in rig.driver.fault_text
        assert "MCI state ERROR" in rig.driver.fault_text
        await eventually(lambda: rig.told, what="the fault listener told")
        assert rig.told == [(OwnedLinkState.STOPPED_WITH_ERROR, rig.driver.fault_text)]
        # The robot braked on its path, short of the seam's end, and stays there.
        await asyncio.sleep(0.1)  # braking from 20 mm/s takes about 10 ms
        at_stop = rig.robot.status().pose
        await asyncio.sleep(0.1)
        assert rig.robot.status().pose == at_stop
        assert HOME_MM[0] < at_stop.x_mm < HOME_MM[0] + 200.0
        assert rig.robot.status().counters.comm_timeouts == 1
        # The fault stays until reset, and comes back while the robot still reports it.
        rig.driver.reset_fault()
        await eventually(
            lambda: rig.driver.state is OwnedLinkState.STOPPED_WITH_ERROR, what="error again"
        )
        assert rig.driver.egm_counters().robot_errors == 2


async def test_a_pulled_cable_is_a_lost_stream_while_a_seam_runs():
    async with egm_rig() as rig:
        rig.robot.pull_cable()
        # Not expected (the job has EGM off): silence is no fault.
        await eventually(
            lambda: rig.driver.state is OwnedLinkState.LISTENING, what="listening again"
        )
        assert rig.told == []
        rig.driver.expect_stream(True)
        await eventually(lambda: rig.driver.state is OwnedLinkState.LOST, what="LOST")
        assert "no EGM feedback for 60 ms" in rig.driver.fault_text
        await eventually(lambda: rig.told, what="the fault listener told")
        assert rig.told == [(OwnedLinkState.LOST, rig.driver.fault_text)]
        rig.robot.pull_cable(False)
        await eventually(
            lambda: (
                rig.driver.counters().telegrams_received > 0
                and rig.robot.status().counters.feedback_sent > 0
            ),
            what="feedback again",
        )
        assert rig.driver.state is OwnedLinkState.LOST  # until an operator's reset
        rig.driver.reset_fault()
        await eventually(lambda: rig.driver.state is OwnedLinkState.STREAMING, what="streaming")
        assert rig.driver.egm_counters().streams_lost == 1


def _datagram_to(port: int, data: bytes, from_port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", from_port))
    sock.sendto(data, ("127.0.0.1", port))
    sock.settimeout(0.2)
    return sock


def _nothing_back(sock: socket.socket) -> bool:
    try:
        sock.recvfrom(65_535)
    except TimeoutError:
        return True
    return False


async def test_garbage_from_the_robot_address_is_ignored_and_counted():
    # Any port of the robot's host is the robot's here, so a test socket may speak for it.
    async with egm_rig(robot_port=None) as rig:
        before = rig.driver.counters()
        probe = _datagram_to(rig.settings.sensor_port, b"\x0a\x03garbage\xff")
        try:
            await eventually(
                lambda: rig.driver.counters().garbage_datagrams == 1, what="garbage counted"
            )
            assert _nothing_back(probe)  # never answered
        finally:
            probe.close()
        assert rig.driver.state is OwnedLinkState.STREAMING
        assert rig.driver.counters().telegrams_received > before.telegrams_received


async def test_a_datagram_from_an_unexpected_address_is_refused_unread():
    async with egm_rig() as rig:
        stranger = EgmRobotMessage(
            seqno=4_000_000, robot_time_ms=1, feedback=EgmPose((-999.0, -999.0, -999.0))
        )
        probe = _datagram_to(rig.settings.sensor_port, encode_robot(stranger))
        try:
            await eventually(
                lambda: rig.driver.counters().refused_senders == 1, what="the sender refused"
            )
            assert _nothing_back(probe)
        finally:
            probe.close()
        assert rig.driver.latest_feedback().position_mm == pytest.approx(HOME_MM)
        assert rig.driver.egm_counters().feedback_out_of_order == 0


async def test_the_robot_ignores_garbage_and_strangers_and_takes_its_sensor():
    """The simulated robot's side alone, with the test as its sensor."""
    sensor_port = free_udp_port()
    settings = AbbEgmSettings(sensor_port=sensor_port, robot_port=free_udp_port())
    robot = SimulatedEgmRobot(settings, LIMITS, SimClock(1.0), HOME_MM)
    sensor = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sensor.bind(("127.0.0.1", sensor_port))
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stranger.bind(("127.0.0.1", 0))
    robot.start_thread()
    try:
        sensor.settimeout(1.0)
        _, robot_address = sensor.recvfrom(65_535)
        robot.run_job(seam_job())
        sensor.sendto(b"\x00\x01not egm", robot_address)
        wrong = encode_path_correction(EgmPathCorrectionMessage(1, 0, 5.0, 0.0, 0))
        stranger.sendto(wrong, robot_address)
        right = encode_path_correction(EgmPathCorrectionMessage(1, 0, 1.0, 0.0, 3))
        sensor.sendto(right, robot_address)
        await eventually(
            lambda: robot.status().counters.corrections_applied == 1, what="the correction"
        )
        counters = robot.status().counters
        assert counters.garbage == 1
        assert counters.refused == 1
        await eventually(
            lambda: robot.status().lateral_correction_mm == pytest.approx(1.0), what="applied"
        )
        assert robot.applied_correction_ages() == [3]
        data, _ = sensor.recvfrom(65_535)
        # What the robot sends is its feedback, never taken for a path correction.
        with pytest.raises(EgmCodecError, match="message type 2"):
            decode_path_correction(data)
    finally:
        robot.close_thread()
        sensor.close()
        stranger.close()


def test_the_driver_has_every_member_of_the_robot_owned_motion_protocol():
    """A guard for the merge: the Protocol may grow on the RSI side (drivers.robot.owned)."""
    members = {
        name
        for name in dir(RobotOwnedMotion)
        if not name.startswith("_") or name == "__annotations__"
    } - {"__annotations__"}
    members |= set(RobotOwnedMotion.__annotations__)
    missing = sorted(name for name in members if not hasattr(AbbEgmDriver, name))
    # ``device`` is an instance attribute: made in __init__.
    assert missing == ["device"]
    assert AbbEgmDriver(AbbEgmSettings()).device == "robot"


async def test_any_datagrams_from_the_robot_address_leave_the_stream_answered():
    """Random bytes and spoiled feedback from the robot's own host, between real feedback:
    each is garbage (counted, unanswered) or a telegram, the thread lives on, nothing raises."""
    generator = random.Random(18)
    good = encode_robot(EgmRobotMessage(1, 2, EgmPose((1.0, 2.0, 3.0))))
    datagrams = [generator.randbytes(generator.randrange(0, 300)) for _ in range(150)]
    for _ in range(150):
        spoiled = bytearray(good)
        spoiled[generator.randrange(len(spoiled))] ^= generator.randrange(1, 256)
        datagrams.append(bytes(spoiled))
    async with egm_rig(robot_port=None) as rig:
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        try:
            for datagram in datagrams:
                probe.sendto(datagram, ("127.0.0.1", rig.settings.sensor_port))
            await eventually(
                lambda: rig.driver.counters().garbage_datagrams > 0, what="garbage counted"
            )
            before = rig.driver.counters().telegrams_received
            await eventually(
                lambda: rig.driver.counters().telegrams_received > before + 25,
                what="the robot's stream still taken",
            )
        finally:
            probe.close()
        assert rig.driver.state is OwnedLinkState.STREAMING
        assert rig.robot.status().counters.garbage == 0  # the answers were all good EGM


async def test_a_port_taken_is_link_down_naming_the_device_and_address():
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind(("127.0.0.1", 0))
    try:
        settings = AbbEgmSettings(sensor_port=taken.getsockname()[1])
        driver = AbbEgmDriver(settings, device="robot")
        with pytest.raises(LinkDown, match=r"robot at udp 127\.0\.0\.1:\d+ .*EGM socket"):
            await driver.start_link()
        assert driver.state is OwnedLinkState.IDLE
        await driver.stop_link()  # after a failed start, and twice: nothing to do
        await driver.stop_link()
    finally:
        taken.close()


def bracket_job() -> EgmJob:
    """A seam taught as a line, then a quarter circle turning left (EGMMoveL, EGMMoveC)."""
    seam = build_path(
        [300.0, 0.0, 360.0],
        [
            {"line": {"to": [320.0, 0.0, 360.0]}},
            {"arc": {"via": [334.142, 5.858, 360.0], "to": [340.0, 20.0, 360.0]}},
        ],
    )
    return EgmJob(1, "BRACKET_A12_S1", seam, travel_speed_mm_per_s=40.0, clearance_mm=20.0)


async def standstill(robot, timeout_s: float = 5.0):
    """The robot's pose once it has not moved over 50 ms (or the test fails)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        before = robot.status().pose
        await asyncio.sleep(0.05)
        if robot.status().pose == before:
            return before
    pytest.fail(f"the robot did not stand still within {timeout_s} s of the hold")


async def test_a_job_runs_on_its_signals_with_corrections_hold_and_done():
    async with egm_rig() as rig:
        rig.robot.jobs[1] = bracket_job()
        assert rig.robot.signals()["robot_ready"]
        assert not rig.robot.start_job(2)  # no such job
        assert rig.robot.start_job(1)
        assert not rig.robot.signals()["robot_ready"]
        # The search position: 26 mm before the start on the seam's line (it runs along +x).
        await eventually(lambda: rig.robot.signals()["robot_at_search"], what="the search")
        assert rig.robot.status().pose.position_mm == pytest.approx((274.0, 0.0, 360.0))
        # Seam finding's frame offset, read as the search is done: the job runs to the start
        # shifted by it, then waits for the done to drop with the start's own offset.
        rig.robot.set_search_done(True, (0.0, 1.0, 0.0))
        await eventually(
            lambda: rig.robot.status().pose.position_mm == pytest.approx((300.0, 1.0, 360.0)),
            what="the pre-scan to the shifted start",
        )
        await asyncio.sleep(0.05)
        assert not rig.robot.signals()["robot_at_seam_start"]
        rig.robot.set_search_done(False, (0.0, 1.2, -0.1))
        await eventually(lambda: rig.robot.signals()["robot_at_seam_start"], what="the seam start")
        assert rig.robot.frame_offset_mm == (0.0, 1.2, -0.1)
        assert rig.robot.status().pose.position_mm == pytest.approx((300.0, 1.2, 359.9))
        assert rig.driver.latest_feedback().orientation_deg == pytest.approx(
            (0.0, 0.0, 180.0), abs=1e-6
        )  # the torch down: 180° about X
        assert rig.robot.status().mci_state is MciState.STOPPED  # no EGM move yet
        rig.driver.expect_stream(True)
        rig.driver.set_path_correction(PathCorrection(0.8, 0.3))
        rig.robot.set_seam_go(True)
        await eventually(
            lambda: (
                rig.robot.status().lateral_correction_mm == pytest.approx(0.8)
                and rig.robot.status().vertical_correction_mm == pytest.approx(0.3)
            ),
            what="the correction on the seam",
        )
        assert rig.robot.status().step is JobStep.WELDING
        assert rig.robot.status().mci_state is MciState.RUNNING
        rig.robot.set_hold(True)
        # Braking from 40 mm/s takes about 20 ms of the robot's time; on a loaded machine its
        # thread may take longer to get there, so wait for a standstill before holding it to it.
        held_at = await standstill(rig.robot)
        await asyncio.sleep(0.1)
        assert rig.robot.status().pose == held_at
        assert rig.robot.status().step is JobStep.WELDING  # held, not ended
        rig.robot.set_hold(False)
        await eventually(lambda: rig.robot.signals()["robot_at_seam_end"], 5.0, what="the seam end")
        # At the end of the arc the travel is +y: lateral (left of it) is -x, vertical +z; the
        # whole seam shifted by the frame offset.
        assert rig.robot.status().pose.position_mm == pytest.approx((339.2, 21.2, 360.2))
        rig.robot.set_seam_go(False)
        await eventually(lambda: rig.robot.signals()["robot_job_done"], what="the job done")
        signals = rig.robot.signals()
        assert signals["robot_ready"]
        assert not signals["robot_job_fault"]
        assert rig.driver.state is OwnedLinkState.STREAMING
        assert rig.told == []
        assert rig.robot.status().counters.comm_timeouts == 0


async def test_a_stop_ends_the_job_and_a_comm_timeout_faults_it():
    async with egm_rig() as rig:
        rig.robot.jobs[1] = bracket_job()
        assert rig.robot.start_job(1)
        await eventually(lambda: rig.robot.signals()["robot_at_search"], what="the search")
        rig.robot.set_stop(True)
        assert rig.robot.signals()["robot_ready"]
        assert rig.robot.status().step is JobStep.IDLE
        rig.robot.set_stop(False)
        assert rig.robot.start_job(1)
        await eventually(lambda: rig.robot.signals()["robot_at_search"], what="the search")
        rig.robot.set_search_done(True, (0.0, 0.0, 0.0))
        await eventually(lambda: not rig.robot.signals()["robot_at_search"], what="off it")
        rig.robot.set_search_done(False, (0.0, 0.0, 0.0))
        await eventually(
            lambda: rig.robot.signals()["robot_at_seam_start"], what="the seam start again"
        )
        rig.robot.set_seam_go(True)
        await eventually(lambda: rig.robot.status().step is JobStep.WELDING, what="welding")
        rig.robot.pull_cable()
        await eventually(lambda: rig.robot.signals()["robot_job_fault"], what="the job fault")
        assert "ERR_UDPUC_COMM" in rig.robot.status().error
        assert not rig.robot.signals()["robot_ready"]
        assert not rig.robot.start_job(1)  # a fault is cleared by a stop, not a restart
        rig.robot.set_stop(True)
        assert rig.robot.signals()["robot_ready"]
        assert rig.robot.status().error == ""


async def test_the_injection_table_speaks_to_the_egm_robot():
    from sim.wire.injection import InjectionError, inject

    async with egm_rig(comm_timeout_ms=200, stream_timeout_ms=200) as rig:

        class CellOfOne:  # the table's view of a cell (sim.wire.injection.InjectableCell)
            plc = power_source = sensor = None
            robot = rig.robot

            async def unplug(self, device: str) -> None:
                rig.robot.unplug()

            async def plug_in(self, device: str) -> None:
                rig.robot.plug_in()

        cell = CellOfOne()
        rig.robot.run_job(seam_job(length_mm=100.0, speed_mm_per_s=20.0))
        await eventually(lambda: rig.robot.status().counters.corrections_applied > 10)
        # Late by less than the comm timeout: the corrections still come, older.
        assert (await inject(cell, "egm_late 50")).cause
        applied = rig.robot.status().counters.corrections_applied
        await eventually(lambda: rig.robot.status().counters.corrections_applied > applied + 20)
        # A share lost on the way in: the rest still come.
        assert (await inject(cell, "egm_loss 0.5")).cause
        dropped = rig.robot.status().counters.dropped
        await eventually(lambda: rig.robot.status().counters.dropped > dropped + 10)
        assert (await inject(cell, "wire_clear robot")).restored == "robot"
        assert (rig.robot.sensor_delay_ms, rig.robot.sensor_loss_share) == (0.0, 0.0)
        assert rig.robot.status().counters.comm_timeouts == 0
        # Every one lost: the robot's comm timeout stops it (ERR_UDPUC_COMM), armed.
        drop = await inject(cell, "egm_sensor_drop")
        assert (drop.cause, drop.armed) == (True, True)
        await eventually(lambda: rig.robot.status().counters.comm_timeouts == 1)
        assert rig.robot.status().error.startswith("ERR_UDPUC_COMM")
        assert not (await inject(cell, "egm_sensor_clear")).cause
        with pytest.raises(InjectionError, match="the robot is on EGM"):
            await inject(cell, "corrupt robot 2")
        with pytest.raises(InjectionError, match="not on RSI"):
            await inject(cell, "rsi_late 10")
