"""The simulated welding robot: the far end of the robot's serial link, and its physics.

Owns:

- the wire: a pty pair (``sim.wire.pty_link``) whose slave end the controller opens as its serial
  port, read with ``loop.add_reader`` on the master; every intact request is answered with the
  shared codec (``drivers.codecs.robot_protocol``), garbled bytes are counted and skipped, and every
  answer passes through ``faults`` (``sim.wire.faults``) on its way out;
- the motion: a Cartesian tool point moved along a queue of straight segments with the robot's
  speed and acceleration limits, segments of one ``path_id`` blended into one continuous path,
  HOLD / RESUME / STOP, and drive power taken away by the PLC (``set_drives_enabled``);
- path corrections: a lateral / vertical offset in the seam frame, clamped to
  ``max_path_correction_mm`` and rate-limited to ``max_correction_rate_mm_per_s`` by the robot
  itself, whatever the controller sends;
- the robot's watchdogs, both in real time because the controller runs in real time: while
  moving, no CORRECTION for ``correction_watchdog_ms`` once corrections have started on the
  path, or no intact frame at all for ``link_watchdog_ms``, holds the robot with a fault
  (state FAULT once at rest; STOP clears it);
- the ground truth: where the tool point actually went (``trajectory``), for scoring the
  tracking later.

Motion runs in simulated time (``SimClock``): a physics task wakes every couple of real
milliseconds and integrates the elapsed simulated time in fixed steps of ``PHYSICS_STEP_S``.
Every request also brings the physics up to "now" first, so a STATUS is never a tick old.

Simplifications, on purpose: MOVE_JOINT is run as a straight tool-point move (joint space is not
modelled); the path corner at a vertex is passed exactly (no blend radius), and the seam frame
(hence the direction of a correction) turns at once there; orientation is interpolated
linearly per angle along each segment.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from drivers.codecs.robot_protocol import (
    Ack,
    BadMessage,
    Correction,
    FaultCode,
    FrameDecoder,
    Hold,
    MessageType,
    MoveJoint,
    MoveLinear,
    Nak,
    Pose,
    Request,
    Response,
    ResultCode,
    Resume,
    RobotState,
    RobotStatus,
    StatusRequest,
    Stop,
    encode_frame,
)
from drivers.codecs.settings import RobotSettings
from sim.clock import SimClock
from sim.events import EventLog
from sim.wire.faults import WireFaults
from sim.wire.pty_link import PtyEndpoint

log = logging.getLogger(__name__)

PHYSICS_STEP_S = 0.002  # simulated seconds per integration step
PHYSICS_TICK_REAL_S = 0.002  # how often (real time) the physics task wakes up
MAX_QUEUE_SEGMENTS = 64  # more queued segments than this: NAK BUSY
ARRIVED_MM = 1e-6  # this close to the end of the queued path, the tool is there
MAX_POSE_LOOKBACK_S = 0.05  # simulated: tool_pose_at looks back no further
GROUND_TRUTH_SAMPLES = 200_000  # about 400 s of motion at one sample per physics step

Vector = tuple[float, float, float]


# Requests that change nothing the robot does (for the event log's "command" entries).
_NOT_COMMANDS = frozenset({MessageType.STATUS_REQUEST, MessageType.CORRECTION})


@dataclass(frozen=True, slots=True)
class TrajectorySample:
    """Where the tool point was at one instant: the ground truth for scoring."""

    sim_time_s: float
    path_id: int
    path_position_mm: float
    pose: Pose  # the actual tool pose: the path point plus the applied correction
    tool_speed_mm_per_s: float  # speed along the path
    lateral_correction_mm: float  # the correction applied at that instant
    vertical_correction_mm: float


def _reachable_speed(
    distance_mm: float, speed_there_mm_per_s: float, accel_mm_per_s2: float, dt_s: float
) -> float:
    """The highest speed for the next step that still gets down to ``speed_there`` in time.

    Either the speed is no more than ``speed_there`` already, or after a step of ``v·dt`` the
    braking distance ``(v² - v_there²) / 2a`` must still fit in what is left of ``distance``:
    v·dt + (v² - v_there²) / 2a <= distance, solved for v. Looking one step ahead (rather than
    v² <= v_there² + 2·a·distance now) keeps every braking step within a·dt.
    """
    a_dt = accel_mm_per_s2 * dt_s
    reach = a_dt * a_dt + speed_there_mm_per_s**2 + 2 * accel_mm_per_s2 * max(0.0, distance_mm)
    return max(speed_there_mm_per_s, math.sqrt(reach) - a_dt)


def _sub(a: Vector, b: Vector) -> Vector:
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])


def _cross(a: Vector, b: Vector) -> Vector:
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def _norm(a: Vector) -> float:
    return math.sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2])


def _scaled(a: Vector, factor: float) -> Vector:
    return (a[0] * factor, a[1] * factor, a[2] * factor)


@dataclass
class _Segment:
    """One straight piece of a path, from ``start`` to ``end`` at ``speed_mm_per_s``."""

    start: Pose
    end: Pose
    speed_mm_per_s: float
    start_mm: float  # path position at the start of this segment
    length_mm: float = field(init=False)
    lateral_unit: Vector = field(init=False)  # seam frame: horizontal, left of travel
    vertical_unit: Vector = field(init=False)  # seam frame: up, perpendicular to travel

    def __post_init__(self) -> None:
        chord = _sub(self.end.position_mm, self.start.position_mm)
        self.length_mm = _norm(chord)
        travel = _scaled(chord, 1 / self.length_mm) if self.length_mm > 0 else (1.0, 0.0, 0.0)
        # Lateral is horizontal and perpendicular to travel: up × travel. When the travel is
        # (nearly) vertical every horizontal direction qualifies; take the base frame's +y.
        lateral = _cross((0.0, 0.0, 1.0), travel)
        size = _norm(lateral)
        self.lateral_unit = _scaled(lateral, 1 / size) if size > 1e-9 else (0.0, 1.0, 0.0)
        # Vertical completes the right-handed frame: perpendicular to travel, pointing up.
        self.vertical_unit = _cross(travel, self.lateral_unit)

    @property
    def end_mm(self) -> float:
        return self.start_mm + self.length_mm

    def pose_at(self, path_position_mm: float) -> Pose:
        """The path point at ``path_position_mm`` (which lies on this segment)."""
        if self.length_mm <= 0:
            return self.end
        fraction = min(1.0, max(0.0, (path_position_mm - self.start_mm) / self.length_mm))
        start, end = self.start.values(), self.end.values()
        return Pose(*(a + (b - a) * fraction for a, b in zip(start, end, strict=True)))


@dataclass
class _Path:
    """Queued segments run as one continuous motion (one nonzero path_id, or a single move)."""

    path_id: int
    segments: list[_Segment] = field(default_factory=list)

    @property
    def length_mm(self) -> float:
        return self.segments[-1].end_mm if self.segments else 0.0

    @property
    def end_pose(self) -> Pose:
        return self.segments[-1].end

    def append(self, end: Pose, speed_mm_per_s: float, start: Pose) -> None:
        self.segments.append(_Segment(start, end, speed_mm_per_s, self.length_mm))

    def restart_from(self, pose: Pose) -> None:
        """Rebuild the segments so that the path begins at ``pose`` (where the tool is)."""
        old = self.segments
        self.segments = []
        for segment in old:
            self.append(segment.end, segment.speed_mm_per_s, pose)
            pose = segment.end


class SimulatedRobot:
    """A welding robot on a serial link: answers the robot protocol, moves, keeps ground truth.

    ``port`` is what the controller opens (the stable ``link_path`` when given, else the pty's
    own ``/dev/pts/N``). ``faults`` spoils the frames the robot sends. ``trajectory`` holds the
    last ``GROUND_TRUTH_SAMPLES`` samples of the actual tool point; ``on_trajectory_sample``, if
    set, is called with each one as it is made.
    """

    def __init__(
        self, settings: RobotSettings, clock: SimClock, link_path: str | None = None
    ) -> None:
        self.settings = settings
        self.limits = settings.limits
        self.clock = clock
        self.link_path = link_path
        self.faults = WireFaults()
        self.trajectory: collections.deque[TrajectorySample] = collections.deque(
            maxlen=GROUND_TRUTH_SAMPLES
        )
        self.on_trajectory_sample: Callable[[TrajectorySample], None] | None = None

        # What came in on the wire, for tests and the bench.
        self.decoder = FrameDecoder()
        self.requests_received: collections.Counter[MessageType] = collections.Counter()
        self.corrections_received = 0
        self.corrections_applied = 0  # received while a path was active and taken as target
        self.naks_sent: collections.Counter[ResultCode] = collections.Counter()
        self.bytes_dropped = 0  # answers that did not fit the pty (nobody reading)

        self._endpoint: PtyEndpoint | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._physics: asyncio.Task[None] | None = None
        self._delayed_sends: set[asyncio.TimerHandle] = set()
        # Requests are dispatched through a table: one handler per message type, each taking
        # (seq, request) and returning the answer, or None for CORRECTION.
        self._handlers: dict[type[Request], Callable[[int, Any], Response | None]] = {
            MoveLinear: self._on_move_linear,
            MoveJoint: self._on_move_joint,
            Hold: self._on_hold,
            Resume: self._on_resume,
            Stop: self._on_stop,
            StatusRequest: self._on_status_request,
            Correction: self._on_correction,
        }

        # -- the robot's state --
        self._drives_enabled = True
        self._hold_requested = False  # HOLD latch: cleared by RESUME, STOP, drives off
        self._stopping = False  # STOP received, braking on the path
        self._stopped = False  # STOP completed; reported until the next move
        self._fault = FaultCode.NONE
        self._path: _Path | None = None  # the path being run (or the last one, finished)
        self._pending: collections.deque[_Path] = collections.deque()  # paths after it
        self._path_position_mm = 0.0
        self._speed_mm_per_s = 0.0  # tool speed along the path
        self._segment_index = 0
        self._path_pose = Pose(*settings.home_pose_mm)  # the path point, without correction
        self._target_correction_mm = (0.0, 0.0)  # (lateral, vertical) as commanded, clamped
        self._applied_correction_mm = (0.0, 0.0)  # what the rate limiter has reached so far
        self._last_correction_seq = 0
        self._corrections_started = False  # on the path being run (arms the watchdog)
        self._was_moving = False
        self.events: EventLog | None = None  # ground truth for benchmarks (sim.events)
        self._sim_time_s = clock.now_s()
        now = time.monotonic()
        self._last_request_real_s = now
        self._last_correction_real_s = now

    # -- life cycle -------------------------------------------------------------------------

    @property
    def port(self) -> str:
        if self._endpoint is None:
            raise RuntimeError("SimulatedRobot.port is known only after start()")
        return self._endpoint.port

    def describe(self) -> str:
        """Where the controller finds it, for people: the stable link and the pty behind it."""
        if self._endpoint is None:
            return "not started"
        return f"serial {self._endpoint.describe()} {self.settings.link.baud} baud"

    async def start(self) -> None:
        """Open the pty, listen for requests and start the physics."""
        if self._endpoint is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._endpoint = PtyEndpoint(self.link_path)
        self._loop.add_reader(self._endpoint.master_fd, self._on_readable)
        self._sim_time_s = self.clock.now_s()
        self._physics = asyncio.create_task(self._run_physics(), name="simulated robot physics")

    async def close(self) -> None:
        """Stop the physics and close the pty (the controller sees a hang-up). Idempotent."""
        if self._physics is not None:
            self._physics.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._physics
            self._physics = None
        for handle in self._delayed_sends:
            handle.cancel()
        self._delayed_sends.clear()
        if self._endpoint is not None:
            assert self._loop is not None
            self._loop.remove_reader(self._endpoint.master_fd)
            self._endpoint.close()
            self._endpoint = None

    def unplug(self) -> None:
        """Pull the cable: the pty goes away (the controller sees a hang-up) while the robot
        keeps running its motion, and its link watchdog decides what happens next."""
        if self._endpoint is not None:
            assert self._loop is not None
            self._loop.remove_reader(self._endpoint.master_fd)
            self._endpoint.close()
            self._endpoint = None

    def pause_reading(self) -> None:
        """The robot is busy and leaves the line unread: the pty fills and the controller's
        writes back up (``resume_reading`` reads on)."""
        if self._endpoint is not None:
            assert self._loop is not None
            self._loop.remove_reader(self._endpoint.master_fd)

    def resume_reading(self) -> None:
        if self._endpoint is not None:
            assert self._loop is not None
            self._loop.add_reader(self._endpoint.master_fd, self._on_readable)

    def plug_in(self) -> None:
        """Reconnect the cable: a new pty behind the same link path."""
        if self._endpoint is None:
            assert self._loop is not None
            self._endpoint = PtyEndpoint(self.link_path)
            self.decoder.reset()
            self._loop.add_reader(self._endpoint.master_fd, self._on_readable)

    # -- the PLC's side -------------------------------------------------------------------

    def set_drives_enabled(self, enabled: bool) -> None:
        """Drive power from the PLC. Off: the tool stops where it is, the queue is cleared.

        Re-enabled drives stay idle until a new command arrives.
        """
        if self.events is not None and enabled != self._drives_enabled:
            self.events.record("robot", "done", "drives on" if enabled else "drives off")
        self._advance_to(self.clock.now_s())
        if not enabled and self._drives_enabled:
            # Power gone: the brakes hold the arm where it is, no deceleration ramp.
            self._speed_mm_per_s = 0.0
            self._forget_motion()
            self._fault = FaultCode.NONE
            self._stopped = False
        self._drives_enabled = enabled

    # -- views for tests and ground truth -------------------------------------------------

    def actual_tool_pose(self) -> Pose:
        """Where the tool point really is now (corrections included): the sensor's mount."""
        self._advance_to(self.clock.now_s())
        return self._tool_pose()

    def tool_pose_at(self, at_real_s: float) -> Pose:
        """Where the tool point was at monotonic time ``at_real_s`` (a moment ago: the
        sensor's exposure, which the event loop gets round to a little late), interpolated
        between the physics' steps; now, if it was standing or that is before the steps kept."""
        now_sim_s = self.clock.now_s()
        self._advance_to(now_sim_s)
        at_sim_s = now_sim_s - (time.monotonic() - at_real_s) * self.clock.time_scale
        later = None
        for sample in reversed(self.trajectory):
            if sample.sim_time_s <= at_sim_s:
                break
            later = sample
            if now_sim_s - sample.sim_time_s > MAX_POSE_LOOKBACK_S:
                return self._tool_pose()
        else:
            return self._tool_pose()
        if later is None:  # no step since: standing where the last one left it
            return self._tool_pose()
        f = (at_sim_s - sample.sim_time_s) / (later.sim_time_s - sample.sim_time_s)
        a, b = sample.pose, later.pose
        return Pose(
            a.x_mm + f * (b.x_mm - a.x_mm),
            a.y_mm + f * (b.y_mm - a.y_mm),
            a.z_mm + f * (b.z_mm - a.z_mm),
            a.rx_deg,
            a.ry_deg,
            a.rz_deg,
        )

    @property
    def requests_total(self) -> int:
        return sum(self.requests_received.values())

    def status(self) -> RobotStatus:
        """The status the robot would answer now."""
        self._advance_to(self.clock.now_s())
        path = self._path
        lateral_mm, vertical_mm = self._applied_correction_mm
        return RobotStatus(
            state=self.state,
            pose=self._tool_pose(),
            path_id=path.path_id if path else 0,
            path_position_mm=self._path_position_mm if path else 0.0,
            path_length_mm=path.length_mm if path else 0.0,
            tool_speed_mm_per_s=self._speed_mm_per_s,
            queue_depth=self._queue_depth(),
            lateral_correction_mm=lateral_mm,
            vertical_correction_mm=vertical_mm,
            last_correction_seq=self._last_correction_seq,
            fault_code=self._fault,
        )

    def snapshot(self) -> dict[str, object]:
        """The ground truth now, as plain data (for the control channel and logs)."""
        status = self.status()
        return {
            "state": status.state.name.lower(),
            "drives_enabled": self._drives_enabled,
            "pose": dict(zip(Pose.__slots__, status.pose.values(), strict=True)),
            "path_id": status.path_id,
            "path_position_mm": status.path_position_mm,
            "path_length_mm": status.path_length_mm,
            "tool_speed_mm_per_s": status.tool_speed_mm_per_s,
            "queue_depth": status.queue_depth,
            "lateral_correction_mm": status.lateral_correction_mm,
            "vertical_correction_mm": status.vertical_correction_mm,
            "last_correction_seq": status.last_correction_seq,
            "fault": status.fault_text,
            "requests_received": {t.name.lower(): n for t, n in self.requests_received.items()},
            "corrections_received": self.corrections_received,
            "corrections_applied": self.corrections_applied,
            "naks_sent": {code.name.lower(): n for code, n in self.naks_sent.items()},
            "wire_errors": self.decoder.counters(),
            "wire_fault": str(self.faults.mode),
        }

    @property
    def state(self) -> RobotState:
        if not self._drives_enabled:
            return RobotState.DRIVES_OFF
        if self._fault is not FaultCode.NONE:
            return RobotState.HOLDING if self._speed_mm_per_s > 0 else RobotState.FAULT
        if self._stopping or self._stopped:
            return RobotState.STOPPED
        if self._hold_requested:
            return RobotState.HOLDING if self._speed_mm_per_s > 0 else RobotState.HELD
        if self._speed_mm_per_s > 0 or self._motion_left():
            return RobotState.MOVING
        return RobotState.IDLE

    # -- the wire ---------------------------------------------------------------------------

    def _on_readable(self) -> None:
        assert self._endpoint is not None
        try:
            data = os.read(self._endpoint.master_fd, 65536)
        except BlockingIOError:
            return
        except OSError as error:
            # The pty keeps its own slave fd open, so EIO (no slave) should not happen; if the
            # line dies anyway, stop listening rather than spin on a readable-but-dead fd.
            log.error("simulated robot: pty read failed (%s); no longer listening", error)
            assert self._loop is not None
            self._loop.remove_reader(self._endpoint.master_fd)
            return
        frames = self.decoder.feed(data)
        if not frames:
            return
        self._advance_to(self.clock.now_s())
        self._last_request_real_s = time.monotonic()  # any intact frame shows the link lives
        for frame in frames:
            message = frame.message
            if isinstance(message, BadMessage):
                self._send(frame.seq, Nak(message.type_code, ResultCode.BAD_MESSAGE))
                continue
            if not isinstance(message, Request):
                # A response travelling the wrong way: nothing to answer.
                continue
            self.requests_received[message.message_type] += 1
            if self.events is not None and message.message_type not in _NOT_COMMANDS:
                self.events.record("robot", "command", message.message_type.name)
            answer = self._handlers[type(message)](frame.seq, message)
            if answer is not None:
                self._send(frame.seq, answer)

    def _send(self, seq: int, response: Response) -> None:
        if isinstance(response, Nak):
            self.naks_sent[ResultCode(response.code)] += 1
        frame = encode_frame(seq, response)
        delay_s = self.faults.pending_delay_s()
        data = self.faults.apply(frame)
        if not data:
            return
        if delay_s > 0:
            assert self._loop is not None
            handle: asyncio.TimerHandle

            def send_late() -> None:
                self._delayed_sends.discard(handle)
                self._write(data)

            handle = self._loop.call_later(delay_s, send_late)
            self._delayed_sends.add(handle)
        else:
            self._write(data)

    def _write(self, data: bytes) -> None:
        if self._endpoint is None:
            return
        try:
            written = os.write(self._endpoint.master_fd, data)
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EIO):
                raise
            written = 0
        # A full pty means nobody reads the line; what does not fit is lost, as on a cable.
        self.bytes_dropped += len(data) - written

    # -- requests ---------------------------------------------------------------------------

    def _check_move(self, pose: Pose, speed_mm_per_s: float) -> ResultCode:
        """Why a move would be refused now (OK if it would not)."""
        if not (pose.is_finite() and math.isfinite(speed_mm_per_s)):
            return ResultCode.BAD_MESSAGE
        if not 0 < speed_mm_per_s <= self.limits.max_speed_mm_per_s:
            return ResultCode.SPEED_OVER_LIMIT
        if not self.limits.workspace_mm.contains(pose.position_mm):
            return ResultCode.OUT_OF_WORKSPACE
        if not self._drives_enabled:
            return ResultCode.DRIVES_OFF
        if self._fault is not FaultCode.NONE:
            return ResultCode.NOT_ALLOWED
        if self._queue_depth() >= MAX_QUEUE_SEGMENTS:
            return ResultCode.BUSY
        return ResultCode.OK

    def _on_move_linear(self, seq: int, move: MoveLinear) -> Response:
        code = self._check_move(move.pose, move.speed_mm_per_s)
        if code is not ResultCode.OK:
            return Nak(MessageType.MOVE_LINEAR, code)
        self._queue_segment(move.pose, move.speed_mm_per_s, move.path_id)
        return Ack(MessageType.MOVE_LINEAR)

    def _on_move_joint(self, seq: int, move: MoveJoint) -> Response:
        if not math.isfinite(move.speed_percent):
            return Nak(MessageType.MOVE_JOINT, ResultCode.BAD_MESSAGE)
        if not 0 < move.speed_percent <= 100:
            return Nak(MessageType.MOVE_JOINT, ResultCode.SPEED_OVER_LIMIT)
        speed_mm_per_s = self.limits.max_speed_mm_per_s * move.speed_percent / 100
        code = self._check_move(move.pose, speed_mm_per_s)
        if code is not ResultCode.OK:
            return Nak(MessageType.MOVE_JOINT, code)
        self._queue_segment(move.pose, speed_mm_per_s, path_id=0)
        return Ack(MessageType.MOVE_JOINT)

    def _on_hold(self, seq: int, hold: Hold) -> Response:
        if self._drives_enabled:  # without drive power the arm is standing anyway
            self._hold_requested = True
        return Ack(MessageType.HOLD)

    def _on_resume(self, seq: int, resume: Resume) -> Response:
        if not self._drives_enabled:
            return Nak(MessageType.RESUME, ResultCode.DRIVES_OFF)
        if self._fault is not FaultCode.NONE:
            return Nak(MessageType.RESUME, ResultCode.NOT_ALLOWED)
        # Idempotent: not held means nothing to do, and the answer is still "ok".
        self._hold_requested = False
        return Ack(MessageType.RESUME)

    def _on_stop(self, seq: int, stop: Stop) -> Response:
        if self._drives_enabled:
            self._hold_requested = False
            self._fault = FaultCode.NONE
            self._pending.clear()
            if self._speed_mm_per_s > 0:
                self._stopping = True  # brake on the path; _step forgets it at standstill
            else:
                self._finish_stop()
        return Ack(MessageType.STOP)

    def _on_status_request(self, seq: int, request: StatusRequest) -> Response:
        return self.status()

    def _on_correction(self, seq: int, correction: Correction) -> None:
        self.corrections_received += 1
        if not (math.isfinite(correction.lateral_mm) and math.isfinite(correction.vertical_mm)):
            return  # fire-and-forget: nobody to NAK; the watchdog notices if only junk comes
        if self.state not in (RobotState.MOVING, RobotState.HOLDING, RobotState.HELD):
            return  # no path to correct: a late correction after the path ended
        # The robot's own clamp, whatever the controller believes the limit is.
        limit_mm = self.limits.max_path_correction_mm
        self._target_correction_mm = (
            min(limit_mm, max(-limit_mm, correction.lateral_mm)),
            min(limit_mm, max(-limit_mm, correction.vertical_mm)),
        )
        self.corrections_applied += 1
        self._last_correction_seq = seq
        self._corrections_started = True
        self._last_correction_real_s = time.monotonic()

    # -- the queue ---------------------------------------------------------------------------

    def _queue_segment(self, end: Pose, speed_mm_per_s: float, path_id: int) -> None:
        self._stopped = False
        last = self._pending[-1] if self._pending else self._path
        if self._stopping and last is self._path:
            last = None  # the path being stopped takes no more segments; a new one begins
        if last is not None and path_id != 0 and last.path_id == path_id:
            # Same path: blend on from its last vertex (even if the tool already stopped there).
            last.append(end, speed_mm_per_s, start=last.end_pose)
            return
        path = _Path(path_id)
        # The start is provisional: _start_next_path moves it to where the tool then is.
        path.append(end, speed_mm_per_s, start=last.end_pose if last else self._path_pose)
        self._pending.append(path)
        self._start_next_path()

    def _start_next_path(self) -> bool:
        """Make the next queued path current if the one before is done and we may move."""
        current = self._path
        if not self._pending or self._speed_mm_per_s > 0:
            return False
        if current is not None and self._path_position_mm < current.length_mm:
            return False
        if self._hold_requested or self._fault is not FaultCode.NONE or self._stopping:
            return False
        path = self._pending.popleft()
        # A new path starts where the tool actually is: the old path's correction is folded
        # into the start point, so the tool does not jump when the correction resets to zero.
        path.restart_from(self._tool_pose())
        self._path = path
        self._path_position_mm = 0.0
        self._segment_index = 0
        self._path_pose = path.segments[0].start
        self._target_correction_mm = self._applied_correction_mm = (0.0, 0.0)
        self._corrections_started = False
        self._stopped = False
        return True

    def _forget_motion(self) -> None:
        """Clear every path and latch; the tool stays where it is."""
        self._pending.clear()
        self._hold_requested = False
        self._drop_path()
        self._stopping = False

    def _finish_stop(self) -> None:
        """A STOP's braking is over: the path is gone; moves sent meanwhile start from here."""
        self._drop_path()
        self._stopping = False
        self._stopped = not self._pending

    def _drop_path(self) -> None:
        """Forget the current path; its correction becomes part of the tool's resting pose."""
        self._path_pose = self._tool_pose()
        self._path = None
        self._path_position_mm = 0.0
        self._segment_index = 0
        self._target_correction_mm = self._applied_correction_mm = (0.0, 0.0)
        self._corrections_started = False

    def _queue_depth(self) -> int:
        depth = sum(len(path.segments) for path in self._pending)
        path = self._path
        if path is not None and not self._stopping:  # a path being stopped is no longer queued
            depth += sum(1 for s in path.segments if s.end_mm > self._path_position_mm)
        return depth

    def _motion_left(self) -> bool:
        path = self._path
        return bool(self._pending) or (path is not None and self._path_position_mm < path.length_mm)

    # -- physics ----------------------------------------------------------------------------

    async def _run_physics(self) -> None:
        while True:
            await asyncio.sleep(PHYSICS_TICK_REAL_S)
            self._advance_to(self.clock.now_s())
            self._check_watchdogs(time.monotonic())

    def _advance_to(self, sim_time_s: float) -> None:
        """Integrate the motion from the last instant computed up to ``sim_time_s``."""
        while self._sim_time_s < sim_time_s:
            step_s = min(PHYSICS_STEP_S, sim_time_s - self._sim_time_s)
            self._sim_time_s += step_s
            self._step(step_s)

    def _check_watchdogs(self, now_real_s: float) -> None:
        moving = self.state is RobotState.MOVING
        if self._was_moving and not moving and self.events is not None:
            self.events.record("robot", "done", f"motion done ({self.state.name.lower()})")
        if moving and not self._was_moving:
            # Motion (re)starts: give the controller a full watchdog period to stream again.
            self._last_correction_real_s = now_real_s
        self._was_moving = moving
        if not moving:
            return
        if now_real_s - self._last_request_real_s > self.settings.link_watchdog_ms / 1000:
            self._trip(FaultCode.CONTROLLER_LINK_LOST)
        elif (
            self._corrections_started
            and now_real_s - self._last_correction_real_s
            > self.settings.correction_watchdog_ms / 1000
        ):
            self._trip(FaultCode.CORRECTION_STREAM_LOST)

    def _trip(self, fault: FaultCode) -> None:
        log.warning("simulated robot: %s; holding", fault.name.lower().replace("_", " "))
        self._fault = fault  # brakes like a HOLD (see _step); STOP clears it

    def _step(self, dt_s: float) -> None:
        """Advance the tool point by ``dt_s`` simulated seconds."""
        if not self._drives_enabled:
            return
        self._start_next_path()
        path = self._path
        if path is None:
            return
        accel = self.limits.max_acceleration_mm_per_s2
        position = self._path_position_mm
        speed = self._speed_mm_per_s
        braking = self._hold_requested or self._stopping or self._fault is not FaultCode.NONE
        if speed <= 0 and (braking or position >= path.length_mm):
            # Standing still and meant to. A STOP that found the tool standing ends here.
            if self._stopping:
                self._finish_stop()
            return
        segments = path.segments
        segment = segments[self._seek_segment(path, position)]

        # 1. The speed the robot aims for: the segment's programmed speed, or zero to brake.
        aim = 0.0 if braking else segment.speed_mm_per_s
        # 2. Never so fast that, after this step, it could not stop by the end of the queued
        #    path at full deceleration: this is what makes it stop exactly at the last vertex,
        #    and what lets it blend through a vertex only while the next segment is queued.
        aim = min(aim, _reachable_speed(path.length_mm - position, 0.0, accel, dt_s))
        # 3. Nor so fast that it would enter a later, slower segment above that one's speed.
        for later in segments[self._segment_index + 1 :]:
            aim = min(
                aim,
                _reachable_speed(later.start_mm - position, later.speed_mm_per_s, accel, dt_s),
            )
        # 4. Speed changes towards the aim by at most a·dt: the acceleration limit. (2 and 3
        #    look one step ahead, so braking never needs more than a·dt per step.)
        max_change = accel * dt_s
        speed += min(max_change, max(-max_change, aim - speed))
        # 5. Advance along the path (semi-implicit Euler: the new speed over the whole step).
        position += speed * dt_s
        if path.length_mm - position < ARRIVED_MM:
            # By 2 the approach only converges on the end vertex (each step covers a little
            # less than what is left); within ARRIVED_MM it is there and at rest.
            position = path.length_mm
            speed = 0.0
        self._path_position_mm = position
        self._speed_mm_per_s = speed
        # 6. The path point, interpolated on the segment the new position lies on.
        self._path_pose = segments[self._seek_segment(path, position)].pose_at(position)
        # 7. The correction moves towards its target no faster than the robot allows.
        self._slew_correction(dt_s)
        # 8. Record where the tool point really is.
        self._record()
        # 9. A STOP is complete at standstill: the rest of the path is forgotten.
        if self._stopping and speed <= 0:
            self._finish_stop()

    def _seek_segment(self, path: _Path, position_mm: float) -> int:
        """Index of the segment ``position_mm`` lies on (at a vertex: the one that follows)."""
        segments = path.segments
        while (
            self._segment_index < len(segments) - 1
            and position_mm >= segments[self._segment_index].end_mm
        ):
            self._segment_index += 1
        return self._segment_index

    def _slew_correction(self, dt_s: float) -> None:
        max_change_mm = self.limits.max_correction_rate_mm_per_s * dt_s
        self._applied_correction_mm = tuple(  # type: ignore[assignment]
            applied + min(max_change_mm, max(-max_change_mm, target - applied))
            for applied, target in zip(
                self._applied_correction_mm, self._target_correction_mm, strict=True
            )
        )

    def _tool_pose(self) -> Pose:
        """The actual tool point: the path point shifted by the correction in the seam frame."""
        path_pose = self._path_pose
        lateral_mm, vertical_mm = self._applied_correction_mm
        if self._path is None or (lateral_mm == 0 and vertical_mm == 0):
            return path_pose
        segment = self._path.segments[self._segment_index]
        lateral, vertical = segment.lateral_unit, segment.vertical_unit
        return Pose(
            path_pose.x_mm + lateral_mm * lateral[0] + vertical_mm * vertical[0],
            path_pose.y_mm + lateral_mm * lateral[1] + vertical_mm * vertical[1],
            path_pose.z_mm + lateral_mm * lateral[2] + vertical_mm * vertical[2],
            path_pose.rx_deg,
            path_pose.ry_deg,
            path_pose.rz_deg,
        )

    def _record(self) -> None:
        assert self._path is not None
        lateral_mm, vertical_mm = self._applied_correction_mm
        sample = TrajectorySample(
            sim_time_s=self._sim_time_s,
            path_id=self._path.path_id,
            path_position_mm=self._path_position_mm,
            pose=self._tool_pose(),
            tool_speed_mm_per_s=self._speed_mm_per_s,
            lateral_correction_mm=lateral_mm,
            vertical_correction_mm=vertical_mm,
        )
        self.trajectory.append(sample)
        if self.on_trajectory_sample is not None:
            self.on_trajectory_sample(sample)
