"""The simulated sensor's camera head (sim.devices.sensor_camera): rendered and sent in a thread
of its own, whole frames to every client, a client that is not taking them skipped rather
than queued behind, and the pixels the same as rendered anywhere else."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from drivers.codecs.robot_protocol import Pose
from drivers.codecs.sensor_protocol import HEADER_BYTES, decode_header
from sim.devices.robot import SEEN_AHEAD_SIM_S
from sim.devices.robot_motion import RobotMotion
from sim.devices.sensor import SimulatedSensor
from sim.devices.sensor_camera import ASK_THE_LOOP, FrameOrder
from sim.devices.sensor_render import (
    CameraModel,
    Disturbances,
    JointView,
    StripeRenderer,
    seam_to_sensor,
)
from sim.truth.part import TruePart, TrueSeam
from tests.test_weave import limits as weave_limits
from tests.waiting import eventually

FRAME_BYTES = HEADER_BYTES + 640 * 480


def _sensor(rate_hz: float) -> SimulatedSensor:
    seam = TrueSeam("s", "fillet", 45.0, (0.0, 0.0, 0.0), (100.0, 0.0, 0.0), [])
    return SimulatedSensor(
        TruePart([seam]), lambda: Pose(10.0, 0.0, 0.0), lookahead_mm=30, frame_rate_hz=rate_hz
    )


async def _read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    header = decode_header(await asyncio.wait_for(reader.readexactly(HEADER_BYTES), 10))
    return header.frame_number, await reader.readexactly(header.payload_bytes)


async def test_a_client_not_taking_its_frames_is_skipped_and_holds_no_one_up():
    """A second client (a benchmark's tap) that stops reading fills its connection; from
    then on it is skipped (frames_skipped), and when it reads again it gets whole frames,
    newer ones after a gap, never a backlog of every frame. The first client meanwhile gets
    its frames as before."""
    sensor = _sensor(100.0)
    await sensor.start()
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)  # fills after a frame
    slow.setblocking(False)
    try:
        fast_reader, fast_writer = await asyncio.open_connection("127.0.0.1", sensor.port)
        await asyncio.get_running_loop().sock_connect(slow, ("127.0.0.1", sensor.port))
        await eventually(lambda: sensor.clients == 2, what="both clients accepted")
        fast_numbers = []
        while sensor.frames_skipped < 3:  # the slow one reads nothing meanwhile
            number, _ = await _read_frame(fast_reader)
            fast_numbers.append(number)
            assert len(fast_numbers) < 2000, "the slow client was never skipped"
        assert len(fast_numbers) >= 3  # the first client was served all the while
        assert fast_numbers == sorted(fast_numbers)
        # The slow client reads again: whole frames, in order, with a gap where it was skipped.
        slow_reader, slow_writer = await asyncio.open_connection(sock=slow)
        slow_numbers = []
        for _ in range(40):
            number, pixels = await _read_frame(slow_reader)
            assert len(pixels) == 640 * 480
            slow_numbers.append(number)
        assert slow_numbers == sorted(slow_numbers)
        assert max(np.diff(slow_numbers)) > 1
        slow_writer.close()
        fast_writer.close()
        await eventually(lambda: sensor.clients == 0, what="both hang-ups noticed")
    finally:
        slow.close()
        await sensor.close()


def test_a_frame_rendered_into_a_buffer_is_the_frame_rendered_anew():
    """The camera head renders into its send buffers (``render(out=...)``); the pixels are the
    renderer's own, draw for draw, with every disturbance on."""
    dirty = Disturbances(
        noise_sigma=3, speckle=0.15, stripe_width_variation=0.2, spatter_per_frame=6,
        glare=0.5, reflection=0.35, dropout_probability=0.1,
    )  # fmt: skip
    fresh = StripeRenderer(CameraModel(), dirty, 4)
    buffered = StripeRenderer(CameraModel(), dirty, 4)
    buffer = np.full((480, 640), 77, np.uint8)
    for i in range(30):
        x, z = seam_to_sensor(3 * math.sin(i / 4), 0.4, 45.0)
        view = JointView("fillet", x, z, 0.0, 0.0, 45.0)
        expected = fresh.render(view)
        got = buffered.render(view, out=buffer)
        assert got.pixels is buffer
        assert np.array_equal(buffer, expected.pixels)
        assert np.array_equal(got.stripe_rows, expected.stripe_rows, equal_nan=True)


CAMERA_PRIORITY_CHECK = """
import asyncio, os, sys
os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(3))
from drivers.codecs.robot_protocol import Pose
from sim.devices.sensor import SimulatedSensor
from sim.truth.part import TruePart, TrueSeam

async def main():
    seam = TrueSeam("s", "fillet", 45.0, (0.0, 0.0, 0.0), (100.0, 0.0, 0.0), [])
    sensor = SimulatedSensor(TruePart([seam]), lambda: Pose(10.0, 0.0, 0.0), lookahead_mm=30,
                             frame_rate_hz=50.0)
    await sensor.start()
    await asyncio.sleep(0.2)
    camera = sensor.camera_stream._thread.native_id
    print(os.sched_getparam(0).sched_priority, os.sched_getparam(camera).sched_priority)
    await sensor.close()

asyncio.run(main())
"""


def test_a_real_time_simulators_camera_runs_above_its_event_loop():
    """Where the simulator runs real-time (the benchmarks), the camera's thread runs one
    priority above the rest of it: it renders a frame without handing the core (and the GIL)
    back to the loop at every numpy call. In a process of its own: real-time is inherited."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    except (AttributeError, OSError):
        pytest.skip("no real-time scheduling here (needs CAP_SYS_NICE)")
    finally:
        with contextlib.suppress(AttributeError, OSError):
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    done = subprocess.run(
        [sys.executable, "-c", CAMERA_PRIORITY_CHECK], capture_output=True, text=True, timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["3", "4"]


# -- a frame's truth without the event loop (sim.devices.pose_history) -------------------------


def _moving_robot(now_s: float) -> RobotMotion:
    """A robot at 12 mm/s along +x on weld path 3 (lateral: +y), its simulated clock the
    monotonic one, stepped up to ``now_s``; a correction slewing in meanwhile."""
    motion = RobotMotion(weave_limits(), (0.0, 0.0, 10.0), now_s - 2.0)
    motion.queue(Pose(200.0, 0.0, 10.0), 12.0, 3)
    motion.advance_to(now_s - 1.0)
    assert motion.correct(0.4, 0.0)
    motion.advance_to(now_s)
    return motion


def test_the_tool_point_between_and_just_after_the_physics_steps():
    """``PoseHistory``: between two physics steps the tool point the motion itself says
    (``tool_pose_at``); a little past the newest step, where the motion then gets to; further
    on, or with the robot standing, it does not say."""
    motion = _moving_robot(100.0)
    for back_s in (0.0005, 0.0031, 0.0117, 0.05):
        seen = motion.poses.at(100.0 - back_s, SEEN_AHEAD_SIM_S)
        assert seen is not None
        assert seen[0] == pytest.approx(motion.tool_pose_at(100.0 - back_s).position_mm, abs=1e-9)
        assert seen[1] == pytest.approx((1.0, 0.0, 0.0))
    ahead = motion.poses.at(100.0035, SEEN_AHEAD_SIM_S)
    assert motion.poses.at(100.0 + SEEN_AHEAD_SIM_S + 0.001, SEEN_AHEAD_SIM_S) is None
    assert motion.poses.at(98.5, SEEN_AHEAD_SIM_S) is None  # before the steps kept
    motion.advance_to(100.006)
    assert ahead is not None
    assert ahead[0] == pytest.approx(motion.tool_pose_at(100.0035).position_mm, abs=1e-4)
    motion.advance_to(200.0)  # at the end of the path, standing: no new steps
    assert motion.poses.at(200.0, SEEN_AHEAD_SIM_S) is None


def test_the_camera_finds_a_frames_truth_as_the_event_loop_does():
    """``observe_here`` (the camera's thread, from the robot's recent steps) gives the frame
    the truth ``observe`` gives on the loop: the same seam, place and joint as seen; and
    asks the loop when the steps do not say (the robot standing still)."""
    seam = TrueSeam("s", "fillet", 45.0, (0.0, 0.0, 10.0), (200.0, 0.0, 10.0), [])
    motion = _moving_robot(time.monotonic())

    def advance() -> None:
        motion.advance_to(time.monotonic())

    def pose_at(at_s: float) -> Pose:
        advance()
        return motion.tool_pose_at(at_s)

    def travel_at(at_s: float | None) -> tuple[float, float, float] | None:
        advance()
        return motion.tool_travel() if at_s is None else motion.tool_travel_at(at_s)

    def sensor() -> SimulatedSensor:
        return SimulatedSensor(
            TruePart([seam]), motion.tool_pose, lookahead_mm=30, frame_rate_hz=125.0,
            tool_pose_at=pose_at, tool_travel_at=travel_at,
            tool_seen_at=lambda at_s: motion.poses.at(at_s, SEEN_AHEAD_SIM_S),
        )  # fmt: skip

    on_loop, here = sensor(), sensor()
    for _ in range(5):
        trigger_s = time.monotonic() - 0.001
        advance()
        expected = on_loop.observe(trigger_s)
        got = here.observe_here(trigger_s)
        assert isinstance(got, FrameOrder)
        assert expected is not None
        assert got.exposure_ns == expected.exposure_ns == round(trigger_s * 1e9)
        assert got.view is not None
        assert expected.view is not None
        assert got.view.joint == "fillet"
        assert (got.view.root_x_mm, got.view.root_z_mm) == pytest.approx(
            (expected.view.root_x_mm, expected.view.root_z_mm), abs=1e-6
        )
        assert got.view.root_x_mm != pytest.approx(seam_to_sensor(0.0, 0.0, 45.0)[0])  # corrected
    assert here.frames[-1].seam_position_mm == pytest.approx(on_loop.frames[-1].seam_position_mm)
    motion.advance_to(time.monotonic() + 30.0)  # the path done: the robot stands
    assert here.observe_here(time.monotonic()) is ASK_THE_LOOP
