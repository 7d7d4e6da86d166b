"""The welding robot's driver: its serial link, supervised, and every request the controller makes.

Owns the controller's end of the robot link: opening the port (a serial device, a pty or its
stable symlink, or ``socket://host:port``) with pyserial, reading it with ``loop.add_reader``,
framing with ``drivers.codecs.robot_protocol``, matching answers to requests by seq, timeouts and
retries, reconnecting, the link's counters, and refusing motions the robot must never be sent.

Contract:

- ``connect()`` makes the first attempt and returns, connected or not; from then on a supervisor
  task reconnects with doubling backoff until ``close()``. The link counts as up only once the
  robot has answered a STATUS_REQUEST, so an open port with nobody behind it is not "up".
  Requests made while the link is down raise ``LinkDown`` at once.
- One request at a time (a lock). Each attempt waits ``link.timeout_ms`` for the answer with its
  seq; idempotent requests (STATUS_REQUEST, HOLD, RESUME, STOP) are sent up to ``link.retries``
  more times, non-idempotent ones (MOVE_*) never: a timeout there raises ``DeviceTimeout`` and
  the caller must read the status to learn whether the move was queued.
- Answers that match no waiting request (late answers to a timed-out attempt), garbage and
  garbled frames are counted and skipped, never acted upon. A NAK raises ``DeviceRejected`` with
  the robot's result code; an answer of the wrong kind raises ``ProtocolError``.
- A hang-up (pty closed, EOF or EIO, socket closed) or ``LINK_LOST_AFTER_TIMEOUTS`` unanswered
  attempts in a row (a real serial line gives no hang-up when its cable is pulled) take the link
  down: the waiting request fails with ``LinkDown`` and the supervisor reopens the port, which
  may by then be a new pty behind the same symlink.
- Before anything reaches the wire, ``MotionRefused`` is raised for a target outside
  ``limits.workspace_mm``, a speed not in (0, ``max_speed_mm_per_s``], a correction beyond
  ``max_path_correction_mm``, or any NaN or infinity. Nothing is sent.
- ``send_correction`` is synchronous and never waits: it writes one frame (or drops it when the
  line is backed up; the next one supersedes it) even while a slow request waits for its answer.
  It may be called from any thread (the correction stream keeps its own, off the event loop's
  other work): sequence numbers and the bytes on the wire are taken under one lock, and what
  must happen on the event loop (a refusal's listeners, taking a lost link down, waiting for a
  full port) is handed to the loop the link was opened on.

Every error reads ``<device> at <port>: <what happened>``, e.g.
``robot at /tmp/cellsim/robot: no answer to STATUS_REQUEST within 100 ms (3 tries)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import serial

from drivers.codecs.robot_protocol import (
    MAX_SEARCH_SPEED_MM_PER_S,
    SEQ_MODULO,
    Ack,
    Correction,
    Frame,
    FrameDecoder,
    Hold,
    MoveCircular,
    MoveJoint,
    MoveLinear,
    Nak,
    Pose,
    Request,
    Response,
    Resume,
    RobotStatus,
    Search,
    SearchResult,
    SearchResultRequest,
    StatusRequest,
    Stop,
    Weave,
    encode_frame,
    result_text,
)
from drivers.codecs.settings import RobotSettings
from drivers.codecs.weave import WeaveShape
from drivers.errors import (
    DeviceError,
    DeviceRejected,
    DeviceTimeout,
    LinkDown,
    ProtocolError,
    WriteRefused,
)
from drivers.link import SupervisedLink

log = logging.getLogger(__name__)

# Unanswered attempts in a row after which the link is taken for lost and reopened.
LINK_LOST_AFTER_TIMEOUTS = 3
READ_CHUNK_BYTES = 4096

_T = TypeVar("_T")


class MotionRefused(WriteRefused):
    """A motion or correction the driver refused before the wire; nothing was sent."""


@dataclass
class _Waiting:
    """The one request on the wire: its seq and the future its answer resolves."""

    seq: int
    future: asyncio.Future[Response]


class RobotDriver(SupervisedLink):
    """The controller's link to the welding robot.

    ``device`` is the robot's name in the cell and appears in every error message. Connecting,
    supervising and backing off are ``drivers.link.SupervisedLink``'s.
    """

    def __init__(self, settings: RobotSettings, device: str = "robot") -> None:
        super().__init__(
            device,
            settings.link.reconnect_delay_min_ms / 1000,
            settings.link.reconnect_delay_max_ms / 1000,
        )
        self.settings = settings

        self._limits = settings.limits
        self._timeout_s = settings.link.timeout_ms / 1000
        self._decoder = FrameDecoder()
        self._lock = asyncio.Lock()

        self._port: serial.SerialBase | None = None  # open and being read
        self._fd = -1
        self._loop_thread = 0  # the thread of the event loop that reads the port
        # Guards the sequence numbers, the port's descriptor and the write queue: corrections
        # come from the correction stream's thread, requests from the event loop. Re-entrant
        # because the loop's own failure handling (``_detach``) may run under it.
        self._wire_lock = threading.RLock()
        self._lost_port: serial.SerialBase | None = None  # detached after a loss, to close
        self._out = bytearray()  # bytes the port would not take yet (whole frames, in order)
        self._waiting: _Waiting | None = None
        self._next_seq = 0
        self._timeouts_in_a_row = 0

        # Wire counters beyond LinkStats (see wire_counters()).
        self.unmatched_responses = 0
        self.corrections_sent = 0
        self.corrections_dropped = 0
        self.last_correction_seq: int | None = None
        # The last answered STATUS_REQUEST and the time.monotonic() when the robot sampled it,
        # as one tuple: the seam tracker's threads read it while the event loop replaces it, and
        # two attributes could be read half old, half new.
        self.last_sample: tuple[RobotStatus, float] | None = None
        self._status_listeners: list[Callable[[RobotStatus, float], None]] = []

    # -- identity -------------------------------------------------------------------------

    @property
    def address(self) -> str:
        return self.settings.link.address

    def wire_counters(self) -> dict[str, int]:
        """The decoder's counters plus the driver's own, as a plain dict."""
        counters = self._decoder.counters()
        counters.update(
            unmatched_responses=self.unmatched_responses,
            corrections_sent=self.corrections_sent,
            corrections_dropped=self.corrections_dropped,
        )
        return counters

    # -- the transport (drivers.link.SupervisedLink) ----------------------------------------

    async def _open(self) -> bool:
        """Open the port and ask the robot for its status; up only if it answers."""
        try:
            port = await self._open_port()
        except (OSError, ValueError) as error:
            # pyserial raises SerialException (an OSError) for a missing port or one locked by
            # another program; both mean "not now, try again later".
            self.stats.last_error = f"connect failed: {error}"
            return False
        self._attach(port)
        try:
            async with self._lock:
                status = await self._exchange(StatusRequest(), "STATUS_REQUEST (handshake)")
            if not isinstance(status, RobotStatus):
                raise ProtocolError(self.device, self.address, f"handshake answered {status}")
        except DeviceError as error:
            self.stats.record_error(error)
            self._detach(f"handshake failed: {error.message}")
            await self._release_port()
            return False
        self.stats.responses += 1
        return True

    async def _release(self, final: bool) -> None:
        if final:
            self._detach("link closed")
        await self._release_port()

    # -- the port ---------------------------------------------------------------------------

    def _is_socket(self) -> bool:
        return self.settings.link.port.startswith("socket://")

    async def _open_port(self) -> serial.SerialBase:
        def open_port() -> serial.SerialBase:
            # timeout=0: reads never block (we read only when the loop says there is data);
            # exclusive: a second program on the same port would steal half of our answers.
            return serial.serial_for_url(
                self.settings.link.port,
                baudrate=self.settings.link.baud,
                timeout=0,
                write_timeout=0,
                exclusive=True,
            )

        # A socket connect may block for seconds (pyserial gives it 5 s); a device open does not.
        port = (
            await _in_thread(open_port, f"{self.device} open") if self._is_socket() else open_port()
        )
        try:
            os.set_blocking(port.fileno(), False)
        except (OSError, ValueError, AttributeError) as error:
            # e.g. loop:// has no file descriptor: this driver reads through the event loop.
            await self._close_port(port)
            raise ValueError(
                f"{self.settings.link.port} has no pollable file descriptor"
            ) from error
        return port

    def _attach(self, port: serial.SerialBase) -> None:
        loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        with self._wire_lock:
            self._port = port
            self._fd = port.fileno()
            self._out.clear()
        self._decoder.reset()  # bytes from a former link are not part of this one
        self._timeouts_in_a_row = 0
        loop.add_reader(self._fd, self._on_readable)

    def _detach(self, reason: str) -> None:
        """Stop using the port at once; the supervisor (or close) releases it.

        Fails the waiting request with ``LinkDown``, and takes an up link down.
        """
        with self._wire_lock:  # no other thread writes to a descriptor that is going away
            if self._port is not None:
                loop = asyncio.get_running_loop()
                loop.remove_reader(self._fd)
                loop.remove_writer(self._fd)
                if self._lost_port is not None:  # not expected: two losses without a release
                    self._lost_port.close()
                self._lost_port, self._port, self._fd = self._port, None, -1
                self._out.clear()
        waiting = self._waiting
        if waiting is not None and not waiting.future.done():
            waiting.future.set_exception(LinkDown(self.device, self.address, reason))
        self._lost(reason)

    async def _release_port(self) -> None:
        port, self._lost_port = self._lost_port, None
        if port is not None:
            await self._close_port(port)

    async def _close_port(self, port: serial.SerialBase) -> None:
        if self._is_socket():
            # pyserial's socket close sleeps 0.3 s "for quick reconnects": not on our loop.
            await _in_thread(port.close, f"{self.device} close")
        else:
            port.close()

    def _on_readable(self) -> None:
        try:
            data = os.read(self._fd, READ_CHUNK_BYTES)
        except BlockingIOError:
            return
        except OSError as error:
            self._detach(f"read failed: {error}")
            return
        if not data:
            # Readable but empty: the other end hung up (pty closed, socket EOF).
            self._detach("the other end hung up")
            return
        for frame in self._decoder.feed(data):
            self._on_frame(frame)
        self.stats.frame_errors = self._decoder.errors

    def _on_frame(self, frame: Frame) -> None:
        waiting = self._waiting
        if (
            waiting is not None
            and frame.seq == waiting.seq
            and isinstance(frame.message, Response)
            and not waiting.future.done()
        ):
            waiting.future.set_result(frame.message)
        elif isinstance(frame.message, Response):
            # An answer to an attempt we gave up on, or to nothing: never act on it.
            self.unmatched_responses += 1

    def _write(self, frame: bytes) -> None:
        """Send one whole frame now, or queue it behind bytes the port has not taken yet.

        The caller holds ``_wire_lock`` (with the frame's sequence number taken under it).
        """
        if self._port is None:
            raise LinkDown(self.device, self.address, "link is down")
        if self._out:
            self._out += frame  # keep frames whole and in order
            return
        try:
            written = os.write(self._fd, frame)
        except BlockingIOError:
            written = 0
        except OSError as error:
            self._on_loop(self._detach, f"write failed: {error}")
            raise LinkDown(self.device, self.address, f"write failed: {error}") from error
        if written < len(frame):
            self._out += frame[written:]
            self._on_loop(self._watch_writable)

    def _watch_writable(self) -> None:
        with self._wire_lock:
            if self._out and self._port is not None:
                asyncio.get_running_loop().add_writer(self._fd, self._on_writable)

    def _on_writable(self) -> None:
        with self._wire_lock:
            try:
                written = os.write(self._fd, self._out)
            except BlockingIOError:
                return
            except OSError as error:
                self._detach(f"write failed: {error}")
                return
            del self._out[:written]
            if not self._out:
                asyncio.get_running_loop().remove_writer(self._fd)

    def _on_loop(self, action: Callable[..., object], *args: object) -> None:
        """Run ``action`` on the link's event loop: now when called there, else soon."""
        loop = self._loop
        if loop is None or threading.get_ident() == self._loop_thread:
            action(*args)
        else:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nothing to tell
                loop.call_soon_threadsafe(action, *args)

    def _take_seq(self) -> int:
        seq = self._next_seq
        self._next_seq = (seq + 1) % SEQ_MODULO
        return seq

    # -- requests ---------------------------------------------------------------------------

    async def _exchange(self, request: Request, what: str) -> Response:
        """Send ``request`` and return the answer with its seq; the caller holds the lock.

        Retries only idempotent requests. Raises ``DeviceTimeout`` or ``LinkDown``.
        """
        tries = self.settings.link.retries + 1 if request.idempotent else 1
        loop = asyncio.get_running_loop()
        attempts = 0
        while attempts < tries:
            attempts += 1
            waiting = _Waiting(-1, loop.create_future())
            self._waiting = waiting
            try:
                started_s = time.perf_counter()
                with self._wire_lock:  # numbers on the wire in order (corrections take them too)
                    waiting.seq = self._take_seq()
                    self._write(encode_frame(waiting.seq, request))
                self.stats.requests += 1
                async with asyncio.timeout(self._timeout_s):
                    response = await waiting.future
            except TimeoutError:
                self.stats.timeouts += 1
                self._timeouts_in_a_row += 1
                if self._timeouts_in_a_row >= LINK_LOST_AFTER_TIMEOUTS:
                    self._detach(f"no answer to {self._timeouts_in_a_row} requests in a row")
                    break
                continue
            finally:
                self._waiting = None
            self._timeouts_in_a_row = 0
            self.stats.last_rtt_s = time.perf_counter() - started_s
            return response
        retried = f"{attempts} tr{'y' if attempts == 1 else 'ies'}"
        if not request.idempotent:
            retried += (
                f"; not retried: {request.message_type.name} is not idempotent, the robot may or "
                "may not have taken it (read the status)"
            )
        raise DeviceTimeout(
            self.device,
            self.address,
            f"no answer to {what} within {self.settings.link.timeout_ms} ms ({retried})",
        )

    async def _request(self, request: Request, what: str) -> Response:
        """One request, start to finish: link check, lock, exchange, answer check, counting."""
        try:
            if not self.connected:
                raise LinkDown(self.device, self.address, f"link is down; {what} not sent")
            async with self._lock:
                response = await self._exchange(request, what)
            if isinstance(response, Nak):
                self.stats.rejections += 1
                raise DeviceRejected(
                    self.device,
                    self.address,
                    f"{what} refused by the robot: {result_text(response.code)} "
                    f"(NAK code {int(response.code)})",
                    int(response.code),
                )
            expected_ack = isinstance(response, Ack) and response.request_type == (
                request.message_type
            )
            expected_status = isinstance(request, StatusRequest) and isinstance(
                response, RobotStatus
            )
            expected_status = expected_status or (
                isinstance(request, SearchResultRequest) and isinstance(response, SearchResult)
            )
            if not (expected_ack or expected_status):
                raise ProtocolError(
                    self.device, self.address, f"{what} was answered with {response!r}"
                )
        except DeviceError as error:
            self.stats.record_error(error)
            raise
        self.stats.responses += 1
        return response

    async def move_linear(self, pose: Pose, speed_mm_per_s: float, path_id: int = 0) -> None:
        """Queue a straight move of the tool point to ``pose``.

        Moves with the same nonzero ``path_id`` blend into one continuous path (see
        ``drivers.codecs.robot_protocol``). Returns once the robot has queued it (not when it
        arrives).
        Never retried: on ``DeviceTimeout`` read the status to learn whether it was queued.
        """
        what = f"MOVE_LINEAR to {_where(pose)} at {speed_mm_per_s:g} mm/s (path {path_id})"
        self._check_pose(pose, what)
        self._check_speed(speed_mm_per_s, what)
        if not (isinstance(path_id, int) and 0 <= path_id < SEQ_MODULO):
            self._refuse(what, f"path_id {path_id!r} is not in 0..65535")
        await self._request(MoveLinear(pose, float(speed_mm_per_s), path_id), what)

    async def move_circular(
        self,
        via_mm: tuple[float, float, float],
        pose: Pose,
        speed_mm_per_s: float,
        path_id: int = 0,
    ) -> None:
        """Queue a circular arc from the end of the path through ``via_mm`` to ``pose``,
        blended into path ``path_id`` like ``move_linear``. Never retried."""
        what = (
            f"MOVE_CIRCULAR via {_where(Pose(*via_mm))} to {_where(pose)} "
            f"at {speed_mm_per_s:g} mm/s (path {path_id})"
        )
        self._check_pose(Pose(*via_mm), what)
        self._check_pose(pose, what)
        self._check_speed(speed_mm_per_s, what)
        if not (isinstance(path_id, int) and 0 <= path_id < SEQ_MODULO):
            self._refuse(what, f"path_id {path_id!r} is not in 0..65535")
        via = (float(via_mm[0]), float(via_mm[1]), float(via_mm[2]))
        await self._request(MoveCircular(via, pose, float(speed_mm_per_s), path_id), what)

    async def move_joint(self, pose: Pose, speed_percent: float) -> None:
        """Queue a joint move to ``pose`` at ``speed_percent`` of the robot's maximum speed."""
        what = f"MOVE_JOINT to {_where(pose)} at {speed_percent:g} %"
        self._check_pose(pose, what)
        if not (math.isfinite(speed_percent) and 0 < speed_percent <= 100):
            self._refuse(what, f"speed {speed_percent} % is not in (0, 100]")
        await self._request(MoveJoint(pose, float(speed_percent)), what)

    async def set_weave(self, path_id: int, shape: WeaveShape) -> None:
        """Tell the robot how path ``path_id`` weaves (idempotent; pattern NONE takes it
        back). Send it before the path's first move: the robot makes the weave itself."""
        what = f"WEAVE {shape.pattern.name.lower()} for path {path_id}"
        if not (isinstance(path_id, int) and 0 < path_id < SEQ_MODULO):
            self._refuse(what, f"path_id {path_id!r} is not in 1..65535")
        problems = shape.problems(self._limits.max_weave_amplitude_mm)
        if problems:
            self._refuse(what, "; ".join(problems))
        await self._request(Weave(path_id, shape), what)

    async def search(
        self,
        start: Pose,
        direction: tuple[float, float, float],
        speed_mm_per_s: float,
        distance_mm: float,
        search_id: int,
    ) -> None:
        """Start a touch-sensing search from ``start`` (where the tool stands) along the unit
        ``direction`` for at most ``distance_mm``; returns once the robot has taken it. Ask
        ``read_search`` how it ended. Never retried (a second copy would search again)."""
        what = (
            f"SEARCH {search_id} from {_where(start)} along {tuple(round(c, 4) for c in direction)}"
            f" for {distance_mm:g} mm at {speed_mm_per_s:g} mm/s"
        )
        self._check_pose(start, what)
        if not (math.isfinite(speed_mm_per_s) and 0 < speed_mm_per_s <= MAX_SEARCH_SPEED_MM_PER_S):
            self._refuse(
                what, f"speed {speed_mm_per_s} mm/s is not in (0, {MAX_SEARCH_SPEED_MM_PER_S:g}]"
            )
        if not (isinstance(search_id, int) and 0 <= search_id < SEQ_MODULO):
            self._refuse(what, f"search_id {search_id!r} is not in 1..65535")
        request = Search(
            start,
            (float(direction[0]), float(direction[1]), float(direction[2])),
            float(speed_mm_per_s),
            float(distance_mm),
            search_id,
        )
        problem = request.problem()
        if problem:
            self._refuse(what, problem)
        self._check_pose(Pose(*request.end_mm()), what)
        await self._request(request, what)

    async def read_search(self, search_id: int) -> SearchResult:
        """How search ``search_id`` ended (``SearchOutcome.RUNNING`` while it runs)."""
        result = await self._request(SearchResultRequest(search_id), f"SEARCH_RESULT {search_id}")
        assert isinstance(result, SearchResult)  # checked by _request
        return result

    async def hold(self) -> None:
        """Decelerate to a standstill on the path and keep the queue (idempotent)."""
        await self._request(Hold(), "HOLD")

    async def resume(self) -> None:
        """Let a held path continue (idempotent; refused by the robot in a fault)."""
        await self._request(Resume(), "RESUME")

    async def stop(self) -> None:
        """Decelerate, clear the queue and any robot fault (idempotent)."""
        await self._request(Stop(), "STOP")

    async def read_status(self) -> RobotStatus:
        """The robot's state, pose, path progress, corrections and fault."""
        status = await self._request(StatusRequest(), "STATUS_REQUEST")
        assert isinstance(status, RobotStatus)  # checked by _request
        # For the seam tracker's position estimate: the robot sampled this status about half
        # a round trip ago.
        sampled_at = time.monotonic() - (self.stats.last_rtt_s or 0.0) / 2
        self.last_sample = (status, sampled_at)
        for listener in self._status_listeners:
            listener(status, sampled_at)
        return status

    def add_status_listener(self, listener: Callable[[RobotStatus, float], None]) -> None:
        """Call ``listener(status, sampled_at)`` with every status the robot reports, on the
        event loop (sampled_at: time.monotonic() when the robot sampled it, about half a round
        trip before its answer came)."""
        self._status_listeners.append(listener)

    @property
    def last_status(self) -> RobotStatus | None:
        """The last answered STATUS_REQUEST (None before the first)."""
        sample = self.last_sample
        return None if sample is None else sample[0]

    def send_correction(self, lateral_mm: float, vertical_mm: float) -> None:
        """Send a path correction (seam frame, mm) now; never waits for anything.

        Fire-and-forget: the robot does not answer; its status reports the last applied seq
        (``last_correction_seq`` here is the last sent). When the port has not yet taken earlier
        bytes, the correction is dropped and counted (the next one supersedes it; a stale one
        would only arrive late). Raises ``MotionRefused`` beyond the limit and ``LinkDown``
        when the link is down. Safe to call from a thread other than the link's event loop.
        """

        # (Its text only when it is refused or not sent: this runs 250 times a second.)
        def what() -> str:
            return f"CORRECTION lateral {lateral_mm:g} mm, vertical {vertical_mm:g} mm"

        limit_mm = self._limits.max_path_correction_mm
        for name, value in (("lateral", lateral_mm), ("vertical", vertical_mm)):
            if not (math.isfinite(value) and abs(value) <= limit_mm):
                self._refuse(what(), f"{name} {value} mm is beyond ±{limit_mm:g} mm")
        if not self.connected:
            error = LinkDown(self.device, self.address, f"link is down; {what()} not sent")
            self._on_loop(self.stats.record_error, error)  # the stats are the loop's
            raise error
        with self._wire_lock:
            if self._out:
                self.corrections_dropped += 1
                return
            seq = self._take_seq()
            try:
                self._write(encode_frame(seq, Correction(float(lateral_mm), float(vertical_mm))))
            except LinkDown as error:
                self._on_loop(self.stats.record_error, error)
                raise
            self.corrections_sent += 1
            self.last_correction_seq = seq

    # -- refusals before the wire -----------------------------------------------------------

    def _refuse(self, what: str, why: str) -> None:
        error = MotionRefused(self.device, self.address, f"{what} refused: {why} (nothing sent)")
        self._on_loop(self.stats.record_refusal, error)  # its listeners live on the loop
        raise error

    def _check_pose(self, pose: Pose, what: str) -> None:
        if not pose.is_finite():
            self._refuse(what, f"pose {pose.values()} is not finite")
        workspace = self._limits.workspace_mm
        if not workspace.contains(pose.position_mm):
            self._refuse(
                what,
                f"target is outside the workspace (x {workspace.x.min:g}..{workspace.x.max:g}, "
                f"y {workspace.y.min:g}..{workspace.y.max:g}, "
                f"z {workspace.z.min:g}..{workspace.z.max:g} mm)",
            )

    def _check_speed(self, speed_mm_per_s: float, what: str) -> None:
        limit = self._limits.max_speed_mm_per_s
        if not (math.isfinite(speed_mm_per_s) and 0 < speed_mm_per_s <= limit):
            self._refuse(what, f"speed {speed_mm_per_s} mm/s is not in (0, {limit:g}]")


def _where(pose: Pose) -> str:
    return f"({pose.x_mm:.3f}, {pose.y_mm:.3f}, {pose.z_mm:.3f}) mm"


async def _in_thread(function: Callable[[], _T], name: str) -> _T:
    """Run a blocking call in a thread of its own that ends with it.

    Not ``asyncio.to_thread``: the default executor keeps idle threads alive for the loop's
    whole life. If the caller is cancelled meanwhile, an opened port is closed, not leaked.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[_T] = loop.create_future()

    def deliver(result: _T | None, error: BaseException | None) -> None:
        if done.cancelled():
            if isinstance(result, serial.SerialBase):
                threading.Thread(target=result.close, name=f"{name} (abandoned)").start()
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(result)  # type: ignore[arg-type]

    def work() -> None:
        result: _T | None = None
        error: BaseException | None = None
        try:
            result = function()
        except BaseException as exc:
            error = exc
        try:
            loop.call_soon_threadsafe(deliver, result, error)
        except RuntimeError:  # the loop is closed: nobody will take the port
            if isinstance(result, serial.SerialBase):
                result.close()

    threading.Thread(target=work, name=name, daemon=True).start()
    return await done
