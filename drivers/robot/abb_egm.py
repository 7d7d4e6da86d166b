"""An ABB robot's EGM path correction, the controller's side: ``AbbEgmDriver``.

It meets ``drivers.robot.owned.RobotOwnedMotion`` (the contract is there); what is EGM's own:

- The robot is the UDP client: its ``EgmRobot`` feedback arrives at ``sensor_host:sensor_port``
  every ``sample_rate_ms``; each one from the robot's address is answered at once, from the
  thread that read it (``egm answers``, never the asyncio loop), with an ``EgmSensorPathCorr``
  sent back to where it came from: the correction now set (absolute lateral / vertical offset
  in path coordinates, y / z), its age (ms since ``set_path_correction``), our own sequence
  number and time in ms.
- Counted beside ``OwnedLinkCounters`` (``egm_counters``): feedback lost (gaps in the robot's
  sequence numbers) and feedback out of order.
- ``STOPPED_WITH_ERROR``: the robot reports EGM's MCI state ERROR (it stopped on the interface,
  a communication timeout among other causes: its event log says which). ``LOST``: no
  feedback for ``stream_timeout_ms`` while a stream is expected (a cable pulled, a robot
  stopped without a word).
- ``latest_egm_message`` is the last feedback as EGM has it (planned pose, motor, MCI and
  RAPID state), for what ``RobotFeedback`` does not carry.

Ownership: the answering thread owns the socket; everything it shares with callers (state,
the correction, the last feedback, the counters) is guarded by ``_lock``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import socket
import threading
import time
from dataclasses import dataclass

from drivers.codecs.abb_egm import (
    UINT32_MAX,
    EgmCodecError,
    EgmPathCorrectionMessage,
    EgmRobotMessage,
    MciState,
    decode_robot,
    encode_path_correction,
    zyx_deg_from_quaternion,
)
from drivers.codecs.abb_egm_settings import AbbEgmSettings
from drivers.codecs.arrival_time import ANCILLARY_BYTES, enable_arrival_stamps, kernel_arrival_s
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
)
from drivers.robot.serial import MotionRefused

log = logging.getLogger(__name__)

# The answering thread under SCHED_FIFO where it may: above the correction stream (10) and the
# laser reader (9), since an answer must go out within the robot's sample.
ANSWER_REALTIME_PRIORITY = 11
POLL_S = 0.004  # the thread wakes this often without datagrams, to watch the stream's timeout


@dataclass(frozen=True, slots=True)
class EgmCounters:
    """What EGM counts beyond ``OwnedLinkCounters`` (a snapshot since ``start_link``)."""

    feedback_lost: int = 0  # gaps in the robot's sequence numbers
    feedback_out_of_order: int = 0  # a sequence number at or before the last one
    robot_errors: int = 0  # times the robot reported MCI state ERROR (told once per error)
    streams_lost: int = 0  # times the state became LOST


class AbbEgmDriver:
    """ABB EGM path correction over UDP (see the module; contract: ``RobotOwnedMotion``)."""

    corrects_before_seam = False  # path correction applies only while EGMMoveL/EGMMoveC run

    def __init__(self, settings: AbbEgmSettings, device: str = "robot") -> None:
        self.settings = settings
        self.device = device
        self._lock = threading.Lock()  # guards everything below the thread and callers share
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listeners: list[FaultListener] = []
        self._state = OwnedLinkState.IDLE
        self._fault_text = ""
        self._expected = False
        self._expected_since_s = 0.0
        self._robot_error_seen = False  # the MCI ERROR now reported was told already
        self._feedback: RobotFeedback | None = None
        self._egm_message: EgmRobotMessage | None = None
        self._correction = ZERO_CORRECTION
        self._correction_set_s = 0.0
        self._counts: collections.Counter[str] = collections.Counter()
        self._late_run = 0
        self._seqno = 0
        self._started_s = 0.0

    # -- what the controller reads --------------------------------------------------------------

    @property
    def address(self) -> str:
        return self.settings.address

    @property
    def state(self) -> OwnedLinkState:
        with self._lock:
            return self._state

    @property
    def fault_text(self) -> str:
        with self._lock:
            return self._fault_text

    def latest_feedback(self) -> RobotFeedback | None:
        with self._lock:
            return self._feedback

    def latest_egm_message(self) -> EgmRobotMessage | None:
        """The last feedback as EGM sent it (planned pose, motor / MCI / RAPID state)."""
        with self._lock:
            return self._egm_message

    def counters(self) -> OwnedLinkCounters:
        with self._lock:
            counts = self._counts
            return OwnedLinkCounters(
                telegrams_received=counts["telegrams_received"],
                answers_sent=counts["answers_sent"],
                late_answers=counts["late_answers"],
                longest_late_run=counts["longest_late_run"],
                garbage_datagrams=counts["garbage_datagrams"],
                refused_senders=counts["refused_senders"],
                robot_late_count=None,  # EGM feedback carries no count of the robot's own
                corrections_refused=counts["corrections_refused"],
            )

    def egm_counters(self) -> EgmCounters:
        with self._lock:
            counts = self._counts
            return EgmCounters(
                feedback_lost=counts["feedback_lost"],
                feedback_out_of_order=counts["feedback_out_of_order"],
                robot_errors=counts["robot_errors"],
                streams_lost=counts["streams_lost"],
            )

    def add_fault_listener(self, listener: FaultListener) -> None:
        with self._lock:
            self._listeners.append(listener)

    # -- what the controller tells it -----------------------------------------------------------

    def set_path_correction(self, correction: PathCorrection) -> None:
        limit_mm = self.settings.max_path_correction_mm
        problem = ""
        if not correction.is_finite():
            problem = "is not finite"
        elif max(abs(correction.lateral_mm), abs(correction.vertical_mm)) > limit_mm:
            problem = f"is beyond the robot's ±{limit_mm} mm"
        if problem:
            with self._lock:
                self._counts["corrections_refused"] += 1
            raise MotionRefused(
                self.device,
                self.address,
                f"path correction lateral {correction.lateral_mm} mm, vertical "
                f"{correction.vertical_mm} mm {problem}",
            )
        now_s = time.monotonic()
        with self._lock:
            self._correction = correction
            self._correction_set_s = now_s

    def expect_stream(self, expected: bool) -> None:
        with self._lock:
            if expected and not self._expected:
                self._expected_since_s = time.monotonic()
            self._expected = expected

    def reset_fault(self) -> None:
        """Clear LOST / STOPPED_WITH_ERROR; an MCI ERROR the robot still reports comes back."""
        with self._lock:
            if self._state in FAULT_STATES:
                self._state = (
                    OwnedLinkState.LISTENING if self._socket is not None else OwnedLinkState.IDLE
                )
                self._fault_text = ""
                self._robot_error_seen = False
                self._expected_since_s = time.monotonic()

    # -- life -----------------------------------------------------------------------------------

    async def start_link(self) -> None:
        if self._thread is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            enable_arrival_stamps(sock)  # an answer's lateness counts from the arrival
            sock.bind((self.settings.sensor_host, self.settings.sensor_port))
            sock.settimeout(POLL_S)
        except OSError as error:
            sock.close()
            raise LinkDown(
                self.device, self.address, f"cannot open the EGM socket: {error}"
            ) from error
        self._loop = asyncio.get_running_loop()
        now_s = time.monotonic()
        with self._lock:
            self._socket = sock
            self._state = OwnedLinkState.LISTENING
            self._fault_text = ""
            self._counts.clear()
            self._feedback = self._egm_message = None  # a new link counts sequences anew
            self._late_run = 0
            self._seqno = 0
            self._started_s = now_s
            self._expected_since_s = now_s
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="egm answers", daemon=True)
        self._thread.start()

    async def stop_link(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()  # at most one POLL_S: the thread checks the flag that often
        with self._lock:
            sock, self._socket = self._socket, None
            self._state = OwnedLinkState.IDLE
        if sock is not None:
            sock.close()

    # -- the answering thread -------------------------------------------------------------------

    def _run(self) -> None:
        ask_for_realtime_or_say(ANSWER_REALTIME_PRIORITY, "EGM answering thread")
        sock = self._socket
        assert sock is not None
        while not self._stop.is_set():
            try:
                data, ancillary, _, sender = sock.recvmsg(65_535, ANCILLARY_BYTES)
            except TimeoutError:
                self._watch(time.monotonic())
                continue
            except OSError as error:
                # An ICMP "unreachable" for an earlier answer (the robot's port closed): the
                # robot is gone for now, the timeout will tell; anything else ends the thread.
                if self._stop.is_set():
                    return
                log.debug("%s at %s: %s", self.device, self.address, error)
                self._watch(time.monotonic())
                continue
            received_s = time.monotonic()
            # When the feedback reached this host, on the monotonic clock: this thread may
            # wake late, and that is the answer's lateness too.
            arrived_wall_s = kernel_arrival_s(ancillary)
            arrived_s = received_s
            if arrived_wall_s is not None:
                arrived_s = min(received_s, received_s - (time.time() - arrived_wall_s))
            try:
                self._take(data, sender, received_s, arrived_s)
            except Exception:  # a bug here must not end the answers: said, and carried on
                log.exception("%s at %s: EGM answer failed", self.device, self.address)
            self._watch(received_s)

    def _from_robot(self, sender: tuple[str, int]) -> bool:
        host, port = sender[:2]
        wanted_port = self.settings.robot_port
        return host == self.settings.robot_host and (wanted_port is None or port == wanted_port)

    def _take(
        self, data: bytes, sender: tuple[str, int], received_s: float, arrived_s: float
    ) -> None:
        """One datagram: refuse, count as garbage, or take the feedback and answer it (late:
        a sample after ``arrived_s``, when it reached this host)."""
        if not self._from_robot(sender):
            with self._lock:
                self._counts["refused_senders"] += 1
            return
        try:
            message = decode_robot(data)
        except EgmCodecError:
            with self._lock:
                self._counts["garbage_datagrams"] += 1
            return
        orientation = zyx_deg_from_quaternion(message.feedback.orientation)
        feedback = RobotFeedback(
            position_mm=message.feedback.position_mm,
            orientation_deg=orientation,
            robot_time_s=message.robot_time_ms / 1000,
            sequence=message.seqno,
            received_at_s=received_s,
        )
        with self._lock:
            self._count_sequence(message.seqno)
            self._feedback = feedback
            self._egm_message = message
            self._counts["telegrams_received"] += 1
            correction, set_s = self._correction, self._correction_set_s
            self._seqno = (self._seqno + 1) & UINT32_MAX
            seqno = self._seqno
            tell = self._after_feedback(message)
        age_ms = min(UINT32_MAX, round((received_s - set_s) * 1000)) if set_s else 0
        answer = encode_path_correction(
            EgmPathCorrectionMessage(
                seqno=seqno,
                sensor_time_ms=round((received_s - self._started_s) * 1000) & UINT32_MAX,
                lateral_mm=correction.lateral_mm,
                vertical_mm=correction.vertical_mm,
                age_ms=age_ms,
            )
        )
        sock = self._socket
        sent = False
        if sock is not None:
            try:
                sock.sendto(answer, sender)
                sent = True
            except OSError as error:  # a full buffer, the robot's port gone: counted, not sent
                log.debug("%s at %s: answer not sent: %s", self.device, self.address, error)
        late = time.monotonic() - arrived_s > self.settings.sample_rate_ms / 1000
        with self._lock:
            if sent:
                self._counts["answers_sent"] += 1
            if late:
                self._counts["late_answers"] += 1
                self._late_run += 1
                self._counts["longest_late_run"] = max(
                    self._counts["longest_late_run"], self._late_run
                )
            else:
                self._late_run = 0
        if tell:
            self._tell(*tell)

    def _count_sequence(self, seqno: int) -> None:
        """Gaps and reorderings in the robot's sequence numbers (under ``_lock``)."""
        last = self._feedback.sequence if self._feedback is not None else None
        if last is None:
            return
        step = (seqno - last) & UINT32_MAX
        if step == 0 or step >= 0x8000_0000:
            self._counts["feedback_out_of_order"] += 1
        else:
            self._counts["feedback_lost"] += step - 1

    def _after_feedback(self, message: EgmRobotMessage) -> tuple[OwnedLinkState, str] | None:
        """The state after a feedback message (under ``_lock``); what to tell, if anything."""
        if message.mci_state is MciState.ERROR:
            if self._robot_error_seen or self._state in FAULT_STATES:
                return None
            self._robot_error_seen = True
            self._counts["robot_errors"] += 1
            self._state = OwnedLinkState.STOPPED_WITH_ERROR
            self._fault_text = (
                f"{self.device} at {self.address}: the robot stopped EGM with an error "
                f"(MCI state ERROR, RAPID {message.rapid_exec_state.name.lower()}; seqno "
                f"{message.seqno}); its event log names the cause"
            )
            return self._state, self._fault_text
        self._robot_error_seen = False
        if self._state is OwnedLinkState.LISTENING:
            self._state = OwnedLinkState.STREAMING
        return None

    def _watch(self, now_s: float) -> None:
        """The stream's timeout: LOST while expected, back to LISTENING while not."""
        timeout_s = self.settings.stream_timeout_ms / 1000
        with self._lock:
            last_s = self._feedback.received_at_s if self._feedback is not None else 0.0
            silent_s = now_s - max(last_s, self._expected_since_s if self._expected else 0.0)
            if silent_s <= timeout_s or self._state in FAULT_STATES:
                return
            if not self._expected:
                if self._state is OwnedLinkState.STREAMING:
                    self._state = OwnedLinkState.LISTENING
                return
            self._state = OwnedLinkState.LOST
            self._counts["streams_lost"] += 1
            last = f"seqno {self._feedback.sequence}" if self._feedback else "none yet"
            self._fault_text = (
                f"{self.device} at {self.address}: no EGM feedback for "
                f"{self.settings.stream_timeout_ms} ms while a seam runs (last {last})"
            )
            tell = (self._state, self._fault_text)
        self._tell(*tell)

    def _tell(self, state: OwnedLinkState, text: str) -> None:
        """The fault listeners, on the loop ``start_link`` ran on (from the thread)."""
        log.warning("%s", text)
        with self._lock:
            listeners = list(self._listeners)
        loop = self._loop
        if loop is None:
            return
        for listener in listeners:
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody to tell
                loop.call_soon_threadsafe(listener, state, text)


__all__ = ["AbbEgmDriver", "EgmCounters"]
