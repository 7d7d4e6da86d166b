"""The simulated welding robot's wire peer: the far end of the robot's serial link.

Owns:

- the wire: a pty pair (``sim.wire.pty_link``) whose slave end the controller opens as its
  serial port, read with ``loop.add_reader`` on the master; every intact request is answered
  with the shared codec (``drivers.codecs.robot_protocol``), garbled bytes are counted and
  skipped, and every answer passes through ``faults`` (``sim.wire.faults``) on its way out;
- the robot's watchdogs, both in real time because the controller runs in real time: while
  moving, no CORRECTION for ``correction_watchdog_ms`` once corrections have started on the
  path, or no intact frame at all for ``link_watchdog_ms``, holds the robot with a fault
  (state FAULT once at rest; STOP clears it);
- the physics task: it wakes every couple of real milliseconds and brings the motion
  (``sim.devices.robot_motion.RobotMotion``, pure, in simulated time) up to now. Every request
  also brings it up to "now" first, so a STATUS is never a tick old.
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
from typing import Any

from drivers.codecs.robot_protocol import (
    Ack,
    BadMessage,
    Correction,
    FaultCode,
    FrameDecoder,
    Hold,
    MessageType,
    MoveCircular,
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
    Search,
    SearchResultRequest,
    StatusRequest,
    Stop,
    Weave,
    encode_frame,
)
from drivers.codecs.settings import RobotSettings
from sim.clock import SimClock
from sim.devices.pose_history import Vector
from sim.devices.robot_motion import RobotMotion, TrajectorySample
from sim.events import EventLog
from sim.wire.faults import WireFaults
from sim.wire.pty_link import PtyEndpoint

log = logging.getLogger(__name__)

PHYSICS_TICK_REAL_S = 0.002  # how often (real time) the physics task wakes up
# How far past the newest physics step ``tool_seen_at`` extrapolates (simulated s): three
# steps, the physics task's tick and its lateness at 1x; at a higher time scale a trigger
# further ahead is answered on the loop.
SEEN_AHEAD_SIM_S = 0.006

# Requests that change nothing the robot does (for the event log's "command" entries).
_NOT_COMMANDS = frozenset(
    {MessageType.STATUS_REQUEST, MessageType.CORRECTION, MessageType.SEARCH_RESULT_REQUEST}
)

__all__ = ["SimulatedRobot", "TrajectorySample"]


class SimulatedRobot:
    """A welding robot on a serial link: answers the robot protocol, moves, keeps ground truth.

    ``port`` is what the controller opens (the stable ``link_path`` when given, else the pty's
    own ``/dev/pts/N``). ``faults`` spoils the frames the robot sends. ``motion`` is the robot's
    physics; ``trajectory`` and ``on_trajectory_sample`` are its ground truth.
    """

    def __init__(
        self, settings: RobotSettings, clock: SimClock, link_path: str | None = None
    ) -> None:
        self.settings = settings
        self.limits = settings.limits
        self.clock = clock
        self.link_path = link_path
        self.faults = WireFaults()
        self.motion = RobotMotion(settings.limits, settings.home_pose_mm, clock.now_s())

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
            MoveCircular: self._on_move_circular,
            MoveJoint: self._on_move_joint,
            Hold: self._on_hold,
            Resume: self._on_resume,
            Stop: self._on_stop,
            StatusRequest: self._on_status_request,
            Correction: self._on_correction,
            Weave: self._on_weave,
            Search: self._on_search,
            SearchResultRequest: self._on_search_result_request,
        }
        self._last_correction_seq = 0
        self._was_moving = False
        self.events: EventLog | None = None  # ground truth for benchmarks (sim.events)
        now = time.monotonic()
        self._last_request_real_s = now
        self._last_correction_real_s = now

    @property
    def trajectory(self) -> collections.deque[TrajectorySample]:
        return self.motion.trajectory

    @property
    def on_trajectory_sample(self) -> Callable[[TrajectorySample], None] | None:
        return self.motion.on_trajectory_sample

    @on_trajectory_sample.setter
    def on_trajectory_sample(self, listener: Callable[[TrajectorySample], None] | None) -> None:
        self.motion.on_trajectory_sample = listener

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
        self.motion.sim_time_s = self.clock.now_s()
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
        if self.events is not None and enabled != self.motion.drives_enabled:
            self.events.record("robot", "done", "drives on" if enabled else "drives off")
        self._advance()
        self.motion.set_drives_enabled(enabled)

    # -- views for tests and ground truth -------------------------------------------------

    def actual_tool_pose(self) -> Pose:
        """Where the tool point really is now (corrections included): the sensor's mount."""
        self._advance()
        return self.motion.tool_pose()

    def tool_travel_at(self, at_real_s: float | None) -> tuple[float, float, float] | None:
        """The tool's direction of travel on its weld path at monotonic ``at_real_s`` (None:
        now); None off a weld path."""
        if at_real_s is None:
            return self.motion.tool_travel()
        now_sim_s = self.clock.now_s()
        self.motion.advance_to(now_sim_s)
        at_sim_s = now_sim_s - (time.monotonic() - at_real_s) * self.clock.time_scale
        return self.motion.tool_travel_at(at_sim_s)

    def tool_pose_at(self, at_real_s: float) -> Pose:
        """Where the tool point was at monotonic time ``at_real_s`` (a moment ago: the
        sensor's exposure, which the event loop gets round to a little late)."""
        now_sim_s = self.clock.now_s()
        self.motion.advance_to(now_sim_s)
        at_sim_s = now_sim_s - (time.monotonic() - at_real_s) * self.clock.time_scale
        return self.motion.tool_pose_at(at_sim_s)

    def tool_seen_at(self, at_real_s: float) -> tuple[Vector, Vector | None] | None:
        """From any thread (the sensor's camera): the tool point and its travel direction on
        a weld path at monotonic ``at_real_s``, from the physics' recent steps, not advancing
        them (``PoseHistory``); None when those do not say (ask ``tool_pose_at`` on the loop)."""
        at_sim_s = self.clock.now_s() - (time.monotonic() - at_real_s) * self.clock.time_scale
        return self.motion.poses.at(at_sim_s, SEEN_AHEAD_SIM_S)

    @property
    def requests_total(self) -> int:
        return sum(self.requests_received.values())

    def status(self) -> RobotStatus:
        """The status the robot would answer now."""
        self._advance()
        return self.motion.status(self._last_correction_seq)

    def snapshot(self) -> dict[str, object]:
        """The ground truth now, as plain data (for the control channel and logs)."""
        status = self.status()
        return {
            "state": status.state.name.lower(),
            "drives_enabled": self.motion.drives_enabled,
            "pose": dict(zip(Pose.__slots__, status.pose.values(), strict=True)),
            "path_id": status.path_id,
            "path_position_mm": status.path_position_mm,
            "path_length_mm": status.path_length_mm,
            "tool_speed_mm_per_s": status.tool_speed_mm_per_s,
            "queue_depth": status.queue_depth,
            "lateral_correction_mm": status.lateral_correction_mm,
            "vertical_correction_mm": status.vertical_correction_mm,
            "weave": self.motion.weave().pattern.name.lower(),
            "weave_offset_mm": list(self.motion.weave_offset_mm()),
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
        return self.motion.state

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
        self._advance()
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

    def _on_move_linear(self, seq: int, move: MoveLinear) -> Response:
        code = self.motion.check_move(move.pose, move.speed_mm_per_s)
        if code is not ResultCode.OK:
            return Nak(MessageType.MOVE_LINEAR, code)
        self.motion.queue(move.pose, move.speed_mm_per_s, move.path_id)
        return Ack(MessageType.MOVE_LINEAR)

    def _on_move_circular(self, seq: int, move: MoveCircular) -> Response:
        code = self.motion.check_move(move.pose, move.speed_mm_per_s)
        if code is ResultCode.OK:
            code = self.motion.check_arc(move.via_mm, move.pose, move.path_id)
        if code is not ResultCode.OK:
            return Nak(MessageType.MOVE_CIRCULAR, code)
        self.motion.queue(move.pose, move.speed_mm_per_s, move.path_id, via_mm=move.via_mm)
        return Ack(MessageType.MOVE_CIRCULAR)

    def _on_move_joint(self, seq: int, move: MoveJoint) -> Response:
        if not math.isfinite(move.speed_percent):
            return Nak(MessageType.MOVE_JOINT, ResultCode.BAD_MESSAGE)
        if not 0 < move.speed_percent <= 100:
            return Nak(MessageType.MOVE_JOINT, ResultCode.SPEED_OVER_LIMIT)
        speed_mm_per_s = self.limits.max_speed_mm_per_s * move.speed_percent / 100
        code = self.motion.check_move(move.pose, speed_mm_per_s)
        if code is not ResultCode.OK:
            return Nak(MessageType.MOVE_JOINT, code)
        self.motion.queue(move.pose, speed_mm_per_s, path_id=0)
        return Ack(MessageType.MOVE_JOINT)

    def _on_weave(self, seq: int, weave: Weave) -> Response:
        code = self.motion.set_weave(weave.path_id, weave.shape)
        if code is not ResultCode.OK:
            return Nak(MessageType.WEAVE, code)
        return Ack(MessageType.WEAVE)

    def _on_search(self, seq: int, search: Search) -> Response:
        code = self.motion.check_search(search)
        if code is not ResultCode.OK:
            return Nak(MessageType.SEARCH, code)
        self.motion.start_search(search)
        return Ack(MessageType.SEARCH)

    def _on_search_result_request(self, seq: int, request: SearchResultRequest) -> Response:
        return self.motion.search_result(request.search_id)

    def _on_hold(self, seq: int, hold: Hold) -> Response:
        self.motion.hold()
        return Ack(MessageType.HOLD)

    def _on_resume(self, seq: int, resume: Resume) -> Response:
        code = self.motion.resume()
        if code is not ResultCode.OK:
            return Nak(MessageType.RESUME, code)
        return Ack(MessageType.RESUME)

    def _on_stop(self, seq: int, stop: Stop) -> Response:
        self.motion.stop()
        return Ack(MessageType.STOP)

    def _on_status_request(self, seq: int, request: StatusRequest) -> Response:
        return self.status()

    def _on_correction(self, seq: int, correction: Correction) -> None:
        self.corrections_received += 1
        if not (math.isfinite(correction.lateral_mm) and math.isfinite(correction.vertical_mm)):
            return  # fire-and-forget: nobody to NAK; the watchdog notices if only junk comes
        if not self.motion.correct(correction.lateral_mm, correction.vertical_mm):
            return  # no path to correct: a late correction after the path ended
        self.corrections_applied += 1
        self._last_correction_seq = seq
        self._last_correction_real_s = time.monotonic()

    # -- physics and watchdogs ---------------------------------------------------------------

    def _advance(self) -> None:
        self.motion.advance_to(self.clock.now_s())

    async def _run_physics(self) -> None:
        while True:
            await asyncio.sleep(PHYSICS_TICK_REAL_S)
            self._advance()
            self._check_watchdogs(time.monotonic())

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
            self.motion.corrections_started
            and now_real_s - self._last_correction_real_s
            > self.settings.correction_watchdog_ms / 1000
        ):
            self._trip(FaultCode.CORRECTION_STREAM_LOST)

    def trip_collision(self) -> None:
        """The torch's breakaway switch opened (wired to the robot's stop): it stops at once."""
        self._advance()
        self.motion.trip(FaultCode.TORCH_COLLISION)

    def _trip(self, fault: FaultCode) -> None:
        log.warning("simulated robot: %s; holding", fault.name.lower().replace("_", " "))
        self.motion.trip(fault)
