"""Contract of the KUKA RSI driver against the simulated KUKA robot, over real UDP on loopback.

The robot (``sim.devices.robot_rsi``) sends its ``<Rob>`` telegram every 4 ms from a thread of
its own; the driver (``drivers.robot.kuka_rsi``) answers from its own. Nothing is mocked: both
ends are the shipped code on real sockets.
"""

from __future__ import annotations

import math
import socket
import sys
import time

import pytest

from cellctl.testing import free_port
from drivers.codecs.arrival_time import ANCILLARY_BYTES, enable_arrival_stamps, kernel_arrival_s
from drivers.codecs.kuka_rsi import (
    CartesianPose,
    RobotTelegram,
    decode_sensor_telegram,
    encode_robot_telegram,
)
from drivers.codecs.seam_path import SeamPath
from drivers.codecs.settings import KukaRsiSettings, RobotLimits, RobotSettings
from drivers.errors import LinkDown
from drivers.robot.kuka_rsi import KukaRsiDriver
from drivers.robot.owned import OwnedLinkState, PathCorrection
from drivers.robot.serial import MotionRefused
from sim.clock import SimClock
from sim.devices.robot_rsi import RSI_LATE_ERROR, JobStep, SimulatedRsiRobot, TaughtJob
from tests.waiting import eventually

SEAM = SeamPath.polyline([[400.0, -30.0, 8.0], [400.0, 30.0, 8.0]])
SEAM_FRAME = SEAM.frame_at(0.0)  # travel +y: lateral is -x, vertical +z


def _settings(robot_host: str = "127.0.0.1", **rsi: object) -> RobotSettings:
    return RobotSettings(
        interface="kuka_rsi",
        kuka_rsi=KukaRsiSettings(sensor_port=free_port(), robot_host=robot_host, **rsi),
        jobs={"S1": 1},
        limits=RobotLimits(
            workspace_mm={
                "x": {"min": -900, "max": 900},
                "y": {"min": -900, "max": 900},
                "z": {"min": -50, "max": 900},
            },
            max_correction_rate_mm_per_s=50.0,
        ),
        home_pose_mm=(400.0, -30.0, 60.0),
    )


class Rig:
    def __init__(self, settings: RobotSettings, time_scale: float = 20.0) -> None:
        assert settings.kuka_rsi is not None
        self.robot = SimulatedRsiRobot(
            settings,
            SimClock(time_scale),
            {1: TaughtJob(1, "S1", SEAM, travel_speed_mm_per_s=10.0, clearance_mm=20.0)},
            bind_host=settings.kuka_rsi.robot_host,
        )
        self.driver = KukaRsiDriver(settings.kuka_rsi)
        self.faults: list[tuple[OwnedLinkState, str]] = []
        self.driver.add_fault_listener(lambda state, text: self.faults.append((state, text)))


@pytest.fixture
async def rig():
    rig = Rig(_settings())
    await rig.driver.start_link()
    rig.robot.start_thread()
    yield rig
    rig.robot.close_thread()
    await rig.driver.stop_link()


async def test_telegrams_are_answered_with_their_ipoc(rig):
    assert rig.robot.start_job(1)
    await eventually(lambda: rig.robot.counters.answers_on_time >= 100, what="100 answers")
    robot, ours = rig.robot.counters, rig.driver.counters()
    # The robot takes an answer only when it echoes the IPOC of the telegram it waits for.
    assert robot.answers_on_time >= 100
    assert ours.telegrams_received >= robot.answers_on_time
    assert rig.driver.state is OwnedLinkState.STREAMING
    feedback = rig.driver.latest_feedback()
    assert feedback is not None
    assert feedback.sequence > 1_000_000  # the IPOC: the robot's clock in ms since its boot
    assert feedback.robot_time_s == pytest.approx(feedback.sequence / 1000)
    assert feedback.orientation_deg == (0.0, 0.0, 180.0)  # the torch points down


async def test_ipoc_is_echoed_byte_for_byte():
    """A robot of our own making on a plain socket: the answer carries its IPOC, nothing else."""
    settings = _settings()
    driver = KukaRsiDriver(settings.kuka_rsi)
    await driver.start_link()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as robot:
            robot.bind(("127.0.0.1", 0))
            robot.settimeout(2.0)
            for ipoc in (4, 8, 123456789012):
                telegram = RobotTelegram(ipoc, CartesianPose(400, 0, 8, 0, 0, 180))
                robot.sendto(
                    encode_robot_telegram(telegram), ("127.0.0.1", settings.kuka_rsi.sensor_port)
                )
                answer = decode_sensor_telegram(robot.recv(4096))
                assert answer.ipoc == ipoc
                assert answer.sensor_type == "ImFree"
                assert answer.correction == CartesianPose()
    finally:
        await driver.stop_link()


async def test_a_seam_frame_correction_reaches_the_robot_in_its_base_frame(rig):
    assert rig.robot.start_job(1)
    await eventually(lambda: rig.driver.state is OwnedLinkState.STREAMING, what="streaming")
    rig.driver.set_path_correction(PathCorrection(2.0, -1.0, SEAM_FRAME))
    # Lateral (left of +y travel) is -x; vertical is +z.
    await eventually(
        lambda: math.dist(rig.robot.offset_mm, (-2.0, 0.0, -1.0)) < 1e-3, what="offset applied"
    )
    feedback = rig.driver.latest_feedback()
    assert feedback is not None
    truth = rig.robot.actual_tool_pose()
    assert math.dist(feedback.position_mm, truth.position_mm) < 3.0  # one cycle of motion


async def test_in_the_tool_frame_the_same_correction_lands_in_the_same_place():
    rig = Rig(_settings(correction_frame="tool"))
    await rig.driver.start_link()
    rig.robot.start_thread()
    try:
        assert rig.robot.start_job(1)
        await eventually(lambda: rig.driver.state is OwnedLinkState.STREAMING, what="streaming")
        rig.driver.set_path_correction(PathCorrection(2.0, -1.0, SEAM_FRAME))
        await eventually(
            lambda: math.dist(rig.robot.offset_mm, (-2.0, 0.0, -1.0)) < 1e-3, what="offset"
        )
    finally:
        rig.robot.close_thread()
        await rig.driver.stop_link()


async def test_a_correction_beyond_the_limit_is_refused_and_the_last_one_stays(rig):
    rig.driver.set_path_correction(PathCorrection(1.0, 0.0, SEAM_FRAME))
    with pytest.raises(MotionRefused, match="beyond the RSI correction limit"):
        rig.driver.set_path_correction(PathCorrection(9.0, 0.0, SEAM_FRAME))
    with pytest.raises(MotionRefused, match="not finite"):
        rig.driver.set_path_correction(PathCorrection(math.nan, 0.0, SEAM_FRAME))
    assert rig.driver.counters().corrections_refused == 2
    assert rig.robot.start_job(1)
    await eventually(lambda: abs(rig.robot.offset_mm[0] + 1.0) < 1e-3, what="1 mm applied")


async def test_late_answers_are_counted_and_the_robot_stops_on_its_limit(rig):
    assert rig.robot.start_job(1)
    await eventually(lambda: rig.robot.counters.answers_on_time >= 20, what="the stream")
    rig.driver.expect_stream(True)
    rig.robot.answer_delay_ms = 10.0  # the network delays every answer past the 4 ms cycle
    await eventually(lambda: rig.robot.step is JobStep.FAULT, what="the robot to stop")
    assert rig.robot.stop_error.startswith(RSI_LATE_ERROR)
    assert rig.robot.counters.longest_late_run == 11  # one more than the limit of 10
    assert rig.robot.signals()["robot_job_fault"]
    await eventually(lambda: rig.faults, what="the driver to report it")
    state, text = rig.faults[0]
    assert state is OwnedLinkState.STOPPED_WITH_ERROR
    assert "stopped RSI on its timeout" in text
    assert rig.driver.counters().robot_late_count >= 10
    # It stays until an operator's reset.
    assert rig.driver.state is OwnedLinkState.STOPPED_WITH_ERROR
    rig.driver.reset_fault()
    await eventually(lambda: rig.driver.state is OwnedLinkState.LISTENING, what="reset")


async def test_a_pulled_cable_is_a_lost_stream(rig):
    assert rig.robot.start_job(1)
    await eventually(lambda: rig.driver.state is OwnedLinkState.STREAMING, what="streaming")
    rig.driver.expect_stream(True)
    rig.robot.unplugged = True
    await eventually(lambda: rig.faults, what="the driver to report it")
    assert rig.faults == [(OwnedLinkState.LOST, rig.driver.fault_text)]
    assert "no RSI telegram for 40 ms" in rig.driver.fault_text


async def test_a_stream_the_job_ends_is_no_fault(rig):
    assert rig.robot.start_job(1)
    # The job stops at its search position first (nothing to find here), then to the start.
    await eventually(lambda: rig.robot.signals()["robot_at_search"], what="search position")
    rig.robot.set_search_done(True, (0.0, 0.0, 0.0))
    await eventually(lambda: rig.robot.signals()["robot_at_seam_start"], what="seam start")
    rig.robot.set_seam_go(True)
    await eventually(lambda: rig.robot.signals()["robot_at_seam_end"], 10.0, "seam end")
    rig.robot.set_seam_go(False)
    await eventually(lambda: rig.robot.signals()["robot_job_done"], what="job done")
    await eventually(lambda: rig.driver.state is OwnedLinkState.LISTENING, what="stream over")
    assert rig.faults == []


async def test_garbage_is_counted_and_never_answered(rig):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.bind(("127.0.0.1", 0))
        sender.settimeout(0.2)
        for junk in (b"", b"\x00\xff" * 40, b'<Rob Type="KUKA"><IPOC>12</IPOC></Rob>'):
            sender.sendto(junk, ("127.0.0.1", rig.driver.settings.sensor_port))
        await eventually(lambda: rig.driver.counters().garbage_datagrams == 3, what="3 counted")
        with pytest.raises(TimeoutError):
            sender.recv(4096)
    # The robot's side, likewise: a stranger's datagram is refused, the stream goes on.
    assert rig.robot.start_job(1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
        stranger.sendto(b"<Sen/>", ("127.0.0.1", rig.robot._socket.getsockname()[1]))
    await eventually(lambda: rig.robot.counters.refused_senders == 1, what="robot refuses")
    await eventually(lambda: rig.robot.counters.answers_on_time >= 20, what="stream goes on")


async def test_a_datagram_from_an_unexpected_address_is_refused():
    settings = _settings(robot_host="127.0.0.2")  # the robot controller's address
    rig = Rig(settings)
    await rig.driver.start_link()
    rig.robot.start_thread()
    try:
        assert rig.robot.start_job(1)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
            stranger.bind(("127.0.0.1", 0))
            stranger.settimeout(0.2)
            telegram = encode_robot_telegram(RobotTelegram(4, CartesianPose()))
            stranger.sendto(telegram, ("127.0.0.1", settings.kuka_rsi.sensor_port))
            await eventually(lambda: rig.driver.counters().refused_senders == 1, what="refused")
            with pytest.raises(TimeoutError):
                stranger.recv(4096)
        # The robot at its own address is answered all along.
        await eventually(lambda: rig.robot.counters.answers_on_time >= 20, what="the robot")
    finally:
        rig.robot.close_thread()
        await rig.driver.stop_link()


async def test_a_port_in_use_is_a_link_down_naming_the_address():
    settings = _settings()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("127.0.0.1", settings.kuka_rsi.sensor_port))
        driver = KukaRsiDriver(settings.kuka_rsi)
        with pytest.raises(LinkDown, match=f"udp 127.0.0.1:{settings.kuka_rsi.sensor_port}"):
            await driver.start_link()
        await driver.stop_link()


async def test_lost_packets_are_late_answers_and_the_stream_goes_on(rig):
    assert rig.robot.start_job(1)
    await eventually(lambda: rig.robot.counters.answers_on_time >= 20, what="the stream")
    rig.driver.expect_stream(True)
    rig.robot.loss_share = 0.1  # one datagram in ten lost, either way
    before = rig.robot.counters.late_answers
    await eventually(lambda: rig.robot.counters.late_answers >= before + 20, what="losses")
    rig.robot.loss_share = 0.0
    on_time = rig.robot.counters.answers_on_time
    await eventually(lambda: rig.robot.counters.answers_on_time >= on_time + 50, what="on")
    # Lost ones come one or two in a row, far from the limit: no stop, no fault.
    assert rig.robot.step is not JobStep.FAULT
    assert rig.robot.counters.longest_late_run < 10
    assert rig.faults == []
    assert rig.driver.state is OwnedLinkState.STREAMING


async def test_the_injection_table_speaks_to_the_rsi_robot(rig):
    from sim.wire.injection import InjectionError, inject

    class CellOfOne:  # the table's view of a cell (sim.wire.injection.InjectableCell)
        plc = power_source = sensor = None
        robot = rig.robot

        async def unplug(self, device: str) -> None:
            rig.robot.unplug()

        async def plug_in(self, device: str) -> None:
            rig.robot.plug_in()

    cell = CellOfOne()
    late = await inject(cell, "rsi_late 10 3")  # the next three answers only
    assert (late.cause, late.armed) == (True, True)  # it bites past the robot's limit
    assert (rig.robot.answer_delay_ms, rig.robot.late_answers_left) == (10.0, 3)
    assert (await inject(cell, "rsi_late 10")).cause
    assert (rig.robot.answer_delay_ms, rig.robot.late_answers_left) == (10.0, None)
    assert (await inject(cell, "rsi_loss 0.5")).cause
    assert rig.robot.loss_share == 0.5
    assert (await inject(cell, "wire_clear robot")).restored == "robot"
    assert (rig.robot.answer_delay_ms, rig.robot.loss_share) == (0.0, 0.0)
    with pytest.raises(InjectionError, match="the robot is on RSI"):
        await inject(cell, "slow robot 20")
    with pytest.raises(InjectionError, match="not on EGM"):
        await inject(cell, "egm_loss 0.5")
    await inject(cell, "link_cut robot")
    assert rig.robot.unplugged


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_TIMESTAMPNS is Linux's")
def test_a_datagram_is_judged_by_when_it_arrived_not_by_when_it_was_read():
    # Python's socket module does not name SO_TIMESTAMPNS: without the stamp the driver judged
    # an answer's lateness from its own read, blind to its thread waking late, and the
    # simulated robot judged the answers by its own read, counting its own lateness.
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender,
    ):
        receiver.bind(("127.0.0.1", 0))
        assert enable_arrival_stamps(receiver)
        sender.sendto(b"<Rob/>", receiver.getsockname())
        sent_by = time.time()
        time.sleep(0.05)  # the reader wakes late
        _, ancillary, _, _ = receiver.recvmsg(64, ANCILLARY_BYTES)
        read_at = time.time()
    arrived = kernel_arrival_s(ancillary)
    assert arrived is not None
    assert arrived <= sent_by
    assert read_at - arrived >= 0.05
