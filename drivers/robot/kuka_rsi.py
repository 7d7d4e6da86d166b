"""The controller's end of KUKA RSI: answer every robot telegram in its cycle, with the correction.

A ``RobotOwnedMotion`` backend (``drivers.robot.owned``: the contract is there). What is
particular to RSI:

- The robot is the UDP client. We bind ``sensor_host:sensor_port`` (the robot's RSI ETHERNET
  configuration points there) and answer each ``<Rob>`` telegram to the address it came from,
  echoing its ``IPOC``, with ``RKorr`` (``drivers.codecs.kuka_rsi``).
- Answers come from a thread of this driver's own, which does nothing else: it blocks in
  ``select`` on the socket, decodes, and answers at once. The asyncio loop is never on that
  path, so a loop stalled by a slow database commit or a garbage collection cannot make an
  answer late. (A process-wide stall still can; that is what the late counters measure.)
- Corrections are absolute (``RSI_ON(#ABSOLUTE)`` in the KRL template): ``RKorr`` is the whole
  offset from the taught path, so a lost answer never adds an error up. The seam-frame offset
  turns into the base frame with the seam frame given with it, and into the tool frame
  (``correction_frame: tool``) with the tool orientation the same telegram reports.
- Late answers, our own measure: an answer sent more than one cycle after the telegram reached
  this host (the kernel's receive time stamp) is late; the robot would have passed on. The
  robot's own count (``<Delay D>``) is kept beside it. ``longest_late_run`` is the most in a row.
- A stream that stops while expected is ``LOST``; when the answers just before were late in a
  run as long as the robot's limit (``late_answer_limit``), by our measure or by the robot's
  (its ``Delay`` count going up telegram after telegram: an answer can leave here in time and
  still reach the robot late), it is ``STOPPED_WITH_ERROR``: RSI stopped the robot on its
  timeout.

Threads: the answering thread owns the socket, the counters and the feedback; it hands both
out as immutable snapshots (one reference assignment each). ``set_path_correction`` (any
thread) replaces one immutable ``_Correction`` under ``_correction_lock``; the answering thread
only reads that reference. State changes are told to the fault listeners on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import select
import socket
import sys
import threading
import time
from dataclasses import dataclass, replace

from drivers.codecs.arrival_time import ANCILLARY_BYTES, enable_arrival_stamps, kernel_arrival_s
from drivers.codecs.kuka_rsi import (
    CartesianPose,
    RsiCodecError,
    SensorTelegram,
    base_to_tool,
    decode_robot_telegram,
    encode_sensor_telegram,
)
from drivers.codecs.settings import KukaRsiSettings
from drivers.errors import LinkDown
from drivers.realtime import ask_for_realtime_or_say
from drivers.robot.owned import (
    FAULT_STATES,
    ZERO_CORRECTION,
    FaultListener,
    OwnedLinkCounters,
    OwnedLinkState,
    PathCorrection,
    RobotFeedback,
    SeamFrame,
)
from drivers.robot.serial import MotionRefused

log = logging.getLogger(__name__)

MAX_DATAGRAM_BYTES = 65_535
# The answering thread waits for the GIL after select returns; with CPython's default 5 ms
# switch interval that alone can exceed a 4 ms cycle (shared/PITFALLS.md). start_link lowers
# the process's interval to this (never raises it: the sensing may have set it lower).
GIL_SWITCH_INTERVAL_S = 0.0002
# SCHED_FIFO for the answering thread when the process may (drivers.realtime): above the
# correction stream (10) and the sensor's reader, since a late answer stops the robot.
ANSWER_REALTIME_PRIORITY = 20


@dataclass(frozen=True, slots=True)
class _Correction:
    """The correction every answer carries now, with the seam frame it is meant in."""

    lateral_mm: float
    vertical_mm: float
    frame: SeamFrame | None


class KukaRsiDriver:
    """The controller's end of one robot's RSI Ethernet link (see the module's docstring)."""

    corrects_before_seam = True  # RKorr applies from RSI_ON, before the approach

    def __init__(self, settings: KukaRsiSettings, device: str = "robot") -> None:
        self.device = device
        self.settings = settings
        self._cycle_s = settings.cycle_ms / 1000
        self._stream_timeout_s = settings.stream_timeout_ms / 1000
        self._loop: asyncio.AbstractEventLoop | None = None
        self._socket: socket.socket | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._robot_ip = ""
        self._listeners: list[FaultListener] = []

        self._correction_lock = threading.Lock()  # writers of _correction (any thread)
        self._correction = _Correction(0.0, 0.0, None)
        self._corrections_refused = 0  # under _correction_lock

        # Owned by the answering thread; others read the references only.
        self._state = OwnedLinkState.IDLE
        self._fault_text = ""
        self._feedback: RobotFeedback | None = None
        self._counters = OwnedLinkCounters()
        self._late_run = 0  # our late answers in a row
        self._robot_late_run = 0  # telegrams in a row whose Delay count went up
        self._last_telegram_s: float | None = None
        # Set by the loop (expect_stream, reset_fault), read by the thread: single references.
        self._expected_since_s: float | None = None
        self._reset_requested = False

    # -- identity and state -------------------------------------------------------------------

    @property
    def address(self) -> str:
        return self.settings.address

    @property
    def state(self) -> OwnedLinkState:
        return self._state

    @property
    def fault_text(self) -> str:
        return self._fault_text

    def latest_feedback(self) -> RobotFeedback | None:
        return self._feedback

    def counters(self) -> OwnedLinkCounters:
        with self._correction_lock:
            refused = self._corrections_refused
        return replace(self._counters, corrections_refused=refused)

    def add_fault_listener(self, listener: FaultListener) -> None:
        """Call ``listener(state, text)`` on the event loop when the link enters LOST or
        STOPPED_WITH_ERROR."""
        self._listeners.append(listener)

    # -- life ---------------------------------------------------------------------------------

    async def start_link(self) -> None:
        """Bind the sensor's socket and start answering; ``LinkDown`` if it cannot bind."""
        if self._thread is not None:
            return
        self._loop = asyncio.get_running_loop()
        try:
            self._robot_ip = socket.gethostbyname(self.settings.robot_host)
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        except OSError as error:
            raise LinkDown(self.device, self.address, f"cannot open the socket: {error}") from None
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            enable_arrival_stamps(sock)  # judged by arrival, not by our reading
            sock.bind((self.settings.sensor_host, self.settings.sensor_port))
            sock.setblocking(False)
        except OSError as error:
            sock.close()
            raise LinkDown(self.device, self.address, f"cannot bind: {error}") from None
        self._socket = sock
        self._wake_r, self._wake_w = socket.socketpair()
        self._stopping.clear()
        self._counters = OwnedLinkCounters()
        self._late_run = self._robot_late_run = 0
        self._last_telegram_s = None
        self._state = OwnedLinkState.LISTENING
        sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_INTERVAL_S))
        self._thread = threading.Thread(
            target=self._answer_forever, name=f"{self.device} RSI answers", daemon=True
        )
        self._thread.start()

    async def stop_link(self) -> None:
        """Stop answering and close the socket (safe to call twice)."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping.set()
            assert self._wake_w is not None
            with contextlib.suppress(OSError):
                self._wake_w.send(b"x")
            thread.join(timeout=1.0)  # it wakes at once: select sees the wake-up socket
        for sock in (self._socket, self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        self._socket = self._wake_r = self._wake_w = None
        self._state = OwnedLinkState.IDLE

    def expect_stream(self, expected: bool) -> None:
        """From now on (True) a silent stream is a fault; (False) it is the job's business."""
        self._expected_since_s = time.monotonic() if expected else None

    def reset_fault(self) -> None:
        """Leave LOST / STOPPED_WITH_ERROR (an operator's reset); the stream is not expected."""
        self._expected_since_s = None
        self._reset_requested = True
        if self._thread is None:
            self._fault_text = ""

    # -- the correction -----------------------------------------------------------------------

    def set_path_correction(self, correction: PathCorrection) -> None:
        """Carry ``correction`` in every answer from now on (any thread; never waits)."""
        limit = self.settings.max_correction_mm
        problem = ""
        if not correction.is_finite():
            problem = "it is not finite"
        elif abs(correction.lateral_mm) > limit or abs(correction.vertical_mm) > limit:
            problem = f"it is beyond the RSI correction limit ±{limit:g} mm"
        with self._correction_lock:
            frame = correction.seam_frame or self._correction.frame
            if not problem and frame is None and (correction.lateral_mm or correction.vertical_mm):
                problem = "no seam frame was given yet to turn it into the robot's frame"
            if problem:
                self._corrections_refused += 1
            else:
                self._correction = _Correction(correction.lateral_mm, correction.vertical_mm, frame)
        if problem:
            raise MotionRefused(
                self.device,
                self.address,
                f"correction lateral {correction.lateral_mm} mm, vertical "
                f"{correction.vertical_mm} mm refused: {problem} (the previous one stays)",
            )

    def _rkorr(
        self, correction: _Correction, orientation_deg: tuple[float, float, float]
    ) -> CartesianPose:
        """The correction in the frame RSI expects, each axis clamped to the POSCORR limit."""
        if correction.frame is None:
            return CartesianPose()
        _, lateral, vertical = correction.frame
        offset = tuple(
            correction.lateral_mm * lateral[i] + correction.vertical_mm * vertical[i]
            for i in range(3)
        )
        if self.settings.correction_frame == "tool":
            offset = base_to_tool(offset, orientation_deg)  # type: ignore[arg-type]
        limit = self.settings.max_correction_mm
        x, y, z = (max(-limit, min(limit, value)) for value in offset)
        return CartesianPose(x, y, z)

    # -- the answering thread -----------------------------------------------------------------

    def _answer_forever(self) -> None:
        ask_for_realtime_or_say(ANSWER_REALTIME_PRIORITY, f"{self.device} RSI answers")
        sock, wake = self._socket, self._wake_r
        assert sock is not None
        assert wake is not None
        # Wake often enough to see a silent stream within a fraction of its timeout.
        poll_s = max(0.002, self._stream_timeout_s / 4)
        while not self._stopping.is_set():
            try:
                readable, _, _ = select.select([sock, wake], [], [], poll_s)
            except (OSError, ValueError):
                break  # the socket closed under us: stop_link is under way
            if wake in readable:
                break
            if sock in readable:
                self._take_datagram(sock)
            self._supervise(time.monotonic())

    def _take_datagram(self, sock: socket.socket) -> None:
        try:
            data, ancillary, _, sender = sock.recvmsg(MAX_DATAGRAM_BYTES, ANCILLARY_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as error:
            # e.g. ECONNREFUSED from an earlier answer's ICMP: the datagram is lost, not the link.
            log.debug("%s at %s: receive failed: %s", self.device, self.address, error)
            return
        received_s = time.monotonic()
        arrived_wall_s = kernel_arrival_s(ancillary)
        counters = self._counters
        if sender[0] != self._robot_ip or (
            self.settings.robot_port is not None and sender[1] != self.settings.robot_port
        ):
            self._counters = replace(counters, refused_senders=counters.refused_senders + 1)
            return
        try:
            telegram = decode_robot_telegram(data)
        except RsiCodecError as error:
            log.debug("%s at %s: garbage datagram: %s", self.device, self.address, error)
            self._counters = replace(counters, garbage_datagrams=counters.garbage_datagrams + 1)
            return
        previous = counters.robot_late_count
        if telegram.late_count is not None and previous is not None:
            went_up = telegram.late_count > previous
            self._robot_late_run = self._robot_late_run + 1 if went_up else 0
        orientation = telegram.actual.orientation_deg
        answer = encode_sensor_telegram(
            SensorTelegram(
                telegram.ipoc,
                self._rkorr(self._correction, orientation),
                self.settings.sensor_type,
            ),
            self.settings.precision,
        )
        try:
            sock.sendto(answer, sender)
        except OSError as error:
            log.debug("%s at %s: answer not sent: %s", self.device, self.address, error)
            return
        # Late: sent after the cycle had passed since the telegram reached this host.
        if arrived_wall_s is not None:
            late = time.time() - arrived_wall_s > self._cycle_s
        else:
            late = time.monotonic() - received_s > self._cycle_s
        self._late_run = self._late_run + 1 if late else 0
        self._counters = replace(
            counters,
            telegrams_received=counters.telegrams_received + 1,
            answers_sent=counters.answers_sent + 1,
            late_answers=counters.late_answers + (1 if late else 0),
            longest_late_run=max(counters.longest_late_run, self._late_run),
            robot_late_count=telegram.late_count,
        )
        self._feedback = RobotFeedback(
            position_mm=telegram.actual.position_mm,
            orientation_deg=orientation,
            robot_time_s=telegram.ipoc / 1000,
            sequence=telegram.ipoc,
            received_at_s=received_s,
            robot_late_count=telegram.late_count,
        )
        self._last_telegram_s = received_s
        if self._state is OwnedLinkState.LISTENING:
            self._state = OwnedLinkState.STREAMING

    def _supervise(self, now_s: float) -> None:
        if self._reset_requested:
            self._reset_requested = False
            self._fault_text = ""
            self._state = OwnedLinkState.LISTENING
        if self._state in FAULT_STATES:
            return
        last_s = self._last_telegram_s
        silent_s = math.inf if last_s is None else now_s - last_s
        if silent_s <= self._stream_timeout_s:
            return
        expected_since = self._expected_since_s
        if expected_since is None or now_s - expected_since <= self._stream_timeout_s:
            if self._state is OwnedLinkState.STREAMING:
                self._state = OwnedLinkState.LISTENING  # the job switched RSI off
            return
        limit = self.settings.late_answer_limit
        shown = "never" if last_s is None else f"{silent_s * 1000:.0f} ms ago"
        late_run = max(self._late_run, self._robot_late_run)
        if late_run >= limit:
            self._fault(
                OwnedLinkState.STOPPED_WITH_ERROR,
                f"the robot stopped RSI on its timeout: {late_run} late answers in a row "
                f"(ours {self._late_run}, the robot's {self._robot_late_run}), its limit "
                f"{limit} (last telegram {shown})",
            )
        else:
            self._fault(
                OwnedLinkState.LOST,
                f"no RSI telegram for {self.settings.stream_timeout_ms} ms while the seam runs "
                f"(last one {shown})",
            )

    def _fault(self, state: OwnedLinkState, text: str) -> None:
        self._fault_text = text
        self._state = state
        log.warning("%s at %s: %s", self.device, self.address, text)
        loop = self._loop
        if loop is None:
            return
        for listener in self._listeners:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody to tell
                loop.call_soon_threadsafe(listener, state, text)


__all__ = ["ZERO_CORRECTION", "KukaRsiDriver"]
