"""A robot that owns its motion: the interface every vendor sensor-interface backend meets.

An industrial robot (KUKA with RSI, ABB with EGM) runs its own taught job and its own arc
package. The cell controller does not stream its motion as it does on our serial link
(``drivers.robot.serial``); it

1. selects and starts the job, and watches the job's signals, through the cell PLC
   (``RobotJobIo``, signals named in ``drivers.codecs.robot_job``, which the simulated PLC
   shares);
2. reads the robot's actual pose from the vendor's real-time stream and answers that stream
   with a path correction (``RobotOwnedMotion``), in the robot's cycle, from a thread of the
   backend's own: a stalled asyncio loop must never make an answer late.

The two halves are separate on purpose: on a real cell they are separate wires (the PLC's
fieldbus to the robot's I/O, and a UDP link to the robot's sensor interface).

``RobotOwnedMotion`` contract (every backend: ``drivers.robot.kuka_rsi.KukaRsiDriver``, the ABB
EGM driver):

- ``start_link()`` opens the backend's UDP socket on the configured local address and starts
  its answering thread; it raises ``drivers.errors.LinkDown`` naming the device and address if
  the socket cannot be opened. ``stop_link()`` stops the thread and closes the socket; safe to
  call twice, and after a failed start. Between the two the backend answers every telegram the
  robot sends, whether or not anybody set a correction (then: zero correction).
- The stream is the robot's, not ours: the robot sends only while its job has the sensor
  interface on (KUKA: between ``RSI_ON`` and ``RSI_OFF``; ABB: while ``EGMRunPose``/``EGMMoveL``
  runs). So a silent stream is a fault only while the controller says it expects one:
  ``expect_stream(True)`` from the seam-start signal to the seam-end signal. While expected, no
  telegram for the backend's stream timeout makes the state ``LOST``; a robot that says (or
  shows) it stopped on the interface makes it ``STOPPED_WITH_ERROR``. Both are told once to
  the fault listeners (on the event loop ``start_link`` ran on), with a text naming the device,
  its address and what happened. They stay until ``reset_fault()`` (an operator's reset).
- ``latest_feedback()`` is the last telegram's sample (``RobotFeedback``): immutable, safe to
  read from any thread; ``None`` before the first telegram.
- ``set_path_correction(correction)`` sets the correction that every following answer carries,
  from any thread, never blocking. Its ``lateral_mm`` / ``vertical_mm`` are in the seam frame
  (``drivers.codecs.seam_path.frame_of``: lateral horizontal left of travel, vertical up); the
  backend turns it into its own frame (KUKA: base or tool frame, from ``seam_frame`` and the
  robot's actual orientation; EGM path correction: path coordinates directly). Corrections are
  absolute offsets from the taught path, never increments: a lost or late answer cannot add
  up to an error. A value beyond the configured limit, NaN or infinity raises
  ``drivers.robot.serial.MotionRefused`` and the previous correction stays.
- ``counters()`` is a snapshot of ``OwnedLinkCounters`` (telegrams, answers, late answers, the
  longest run of late ones, garbage datagrams, refused senders).
- Datagrams that do not decode are counted (``garbage_datagrams``) and never answered;
  datagrams from an address other than the configured robot's are counted
  (``refused_senders``) and never answered, decoded or acted upon.
- The backend never moves the robot by itself and never switches an arc: on any fault it keeps
  answering (if the robot still sends) with the correction it had, and the controller's fault
  reaction takes the arc off and holds the robot through ``RobotJobIo``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from drivers.codecs.robot_job import ROBOT_JOB_INPUTS, ROBOT_JOB_OUTPUTS, RobotJobSignals

Vector = tuple[float, float, float]
# The seam frame at the torch, in the robot's base frame: unit vectors along the travel, to the
# lateral (left of travel, horizontal) and vertical (up, perpendicular to travel) sides.
SeamFrame = tuple[Vector, Vector, Vector]


class OwnedLinkState(enum.StrEnum):
    """Where a robot-owned-motion link is (``RobotOwnedMotion.state``)."""

    IDLE = "idle"  # not started (before start_link, after stop_link)
    LISTENING = "listening"  # socket open, no stream now (the job has its interface off)
    STREAMING = "streaming"  # telegrams arrive and are answered
    LOST = "lost"  # the stream stopped while expected: a link fault (F132)
    STOPPED_WITH_ERROR = "stopped_with_error"  # the robot stopped on its interface (F135)


FAULT_STATES = (OwnedLinkState.LOST, OwnedLinkState.STOPPED_WITH_ERROR)


@dataclass(frozen=True, slots=True)
class RobotFeedback:
    """One sample of the robot's own stream, as it arrived.

    ``position_mm`` / ``orientation_deg``: the tool point's actual pose in the robot's base
    frame (orientation as KUKA's A, B, C: rotations about Z, Y, X in degrees; EGM's quaternion
    is turned into the same). ``robot_time_s``: the robot's own clock for this sample (RSI: the
    IPOC in ms / 1000; EGM: the header's time). ``sequence``: the telegram's counter (RSI IPOC,
    EGM seqno). ``received_at_s``: ``time.monotonic()`` when the backend took it from the
    socket. ``robot_late_count``: the robot's own count of late answers, where the telegram
    carries one (RSI ``<Delay D=...>``), else ``None``.
    """

    position_mm: Vector
    orientation_deg: Vector
    robot_time_s: float
    sequence: int
    received_at_s: float
    robot_late_count: int | None = None


@dataclass(frozen=True, slots=True)
class PathCorrection:
    """A correction of the taught path at the torch, in the seam frame, mm.

    ``seam_frame`` is the seam frame at the torch in the robot's base frame: backends that
    correct in Cartesian frames (RSI) need it, path-coordinate backends (EGM) ignore it. Without
    it a Cartesian backend keeps the last frame it was given.
    """

    lateral_mm: float
    vertical_mm: float
    seam_frame: SeamFrame | None = None

    def is_finite(self) -> bool:
        return math.isfinite(self.lateral_mm) and math.isfinite(self.vertical_mm)


ZERO_CORRECTION = PathCorrection(0.0, 0.0)


@dataclass(frozen=True, slots=True)
class OwnedLinkCounters:
    """A robot-owned-motion link's counters since ``start_link`` (a snapshot)."""

    telegrams_received: int = 0  # valid telegrams from the robot
    answers_sent: int = 0
    late_answers: int = 0  # answers sent after the robot's cycle had passed (our own measure)
    longest_late_run: int = 0  # most late answers in a row
    garbage_datagrams: int = 0  # datagrams that did not decode
    refused_senders: int = 0  # datagrams from an address that is not the robot's
    robot_late_count: int | None = None  # the robot's own count, where its telegram has one
    corrections_refused: int = 0  # set_path_correction calls refused (limit, NaN)

    @property
    def late_share(self) -> float:
        """Late answers as a share of answers sent (0 before the first)."""
        return self.late_answers / self.answers_sent if self.answers_sent else 0.0


FaultListener = Callable[[OwnedLinkState, str], None]


class RobotOwnedMotion(Protocol):
    """The real-time half of a robot that owns its motion (see the module's contract)."""

    device: str
    # Whether a path correction set while the job stands at the seam start moves the robot
    # there, before the arc (RSI: RKorr applies from RSI_ON; EGM: only while EGMMoveL /
    # EGMMoveC run). Without it the found offset is slewed in once the seam runs.
    corrects_before_seam: bool

    @property
    def address(self) -> str:
        """Where the robot is and where we listen, for every message."""
        ...

    @property
    def state(self) -> OwnedLinkState: ...

    @property
    def fault_text(self) -> str:
        """Why the link is LOST or STOPPED_WITH_ERROR ('' otherwise)."""
        ...

    async def start_link(self) -> None: ...

    async def stop_link(self) -> None: ...

    def expect_stream(self, expected: bool) -> None: ...

    def reset_fault(self) -> None: ...

    def latest_feedback(self) -> RobotFeedback | None: ...

    def set_path_correction(self, correction: PathCorrection) -> None: ...

    def counters(self) -> OwnedLinkCounters: ...

    def add_fault_listener(self, listener: FaultListener) -> None: ...


class RobotJobIo(Protocol):
    """The robot job's signals through the cell PLC.

    - ``signals()`` is the last scanned input image's robot job inputs (never waits; the PLC
      scan keeps it fresh). Raises ``drivers.errors.LinkDown`` when the PLC link is down.
    - ``start_job(number)`` writes ``robot_job_number``, then raises ``robot_job_start`` and
      holds it until the robot shows the job runs (``robot_ready`` drops), then drops it; it
      refuses (``drivers.errors.WriteRefused``) a number outside 1..65535 and raises a timeout
      of the implementation's own when the job does not start.
    - ``set_seam_go(True)`` once the arc is established at the seam start lets the job run the
      seam; ``set_seam_go(False)`` after the crater fill and arc off at the seam end lets it
      retract. (The power source stays on the controller's link: the robot's job waits for
      these instead of switching an arc itself.)
    - ``set_hold(True)`` holds the robot on its path (the arc package keeps its state, the job
      waits); ``set_hold(False)`` lets it go on. ``stop_job()`` sets ``robot_stop``: the robot
      stops and ends the job. All idempotent; the fault reaction may send them again.
    - Every write raises a ``drivers.errors.DeviceError`` naming the PLC on failure.
    """

    def signals(self) -> RobotJobSignals: ...

    async def start_job(self, number: int) -> None: ...

    async def set_seam_go(self, go: bool) -> None: ...

    async def set_hold(self, held: bool) -> None: ...

    async def stop_job(self) -> None: ...


__all__ = [
    "FAULT_STATES",
    "ROBOT_JOB_INPUTS",
    "ROBOT_JOB_OUTPUTS",
    "ZERO_CORRECTION",
    "FaultListener",
    "OwnedLinkCounters",
    "OwnedLinkState",
    "PathCorrection",
    "RobotFeedback",
    "RobotJobIo",
    "RobotJobSignals",
    "RobotOwnedMotion",
    "SeamFrame",
]
