"""The simulated ABB robot's side of EGM path correction: the far end of the controller's
EGM link (``drivers.robot.abb_egm``), over real UDP.

It behaves as a robot running the RAPID template of docs/robots/abb/ (EGMSetupUC with
\\PathCorr, EGMStreamStart, EGMActMove, then EGMMoveL / EGMMoveC):

- the stream: from ``start()`` on it sends an ``EgmRobot`` message every ``sample_rate_ms`` on
  the monotonic clock (absolute deadlines, so it does not drift) to the configured sensor
  address, from its own address (``robot_host:robot_port``), with a sequence number, its time
  in ms, the actual and the planned tool pose, and its motor, EGM (MCI) and RAPID state;
- the motion: ``run_job`` queues a taught path (lines and arcs, ``EgmMove``) on the simulated
  robot's physics (``sim.devices.robot_motion.RobotMotion``), as EGMMoveL / EGMMoveC would;
- the corrections: at each sample it takes what the sensor sent since the last one; the last
  ``EgmSensorPathCorr`` sets the absolute lateral (y) / vertical (z) offset from the
  programmed path, in path coordinates, which the physics clamps to
  ``max_path_correction_mm`` and slews at ``max_correction_rate_mm_per_s``, as the robot does;
- the robot's fail-safe: while an EGM move runs, no sensor message for ``comm_timeout_ms``
  (real time: the controller runs in real time) stops the motion on the path and ends the job
  with EGM's communication error (MCI state ERROR, RAPID stopped, ``error`` says
  ``ERR_UDPUC_COMM``); the stream goes on (EGMStreamStart), so the sensor sees it;
- what it ignores: datagrams that are no ``EgmSensorPathCorr`` (counted ``garbage``), and
  anything from another address than the sensor's (counted ``refused``, never decoded);
- fault injection: ``pull_cable`` (nothing goes out or comes in while pulled) and
  ``drop_sensor_messages`` (the sensor's messages are lost on the way in, the feedback still
  goes out: the robot's comm timeout, seen by the sensor).

One thread (``egm robot``) owns the socket and the motion; the public methods hand over through
``_lock``, which guards every field the thread and a caller both touch.
"""

from __future__ import annotations

import collections
import errno
import logging
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from drivers.codecs.abb_egm import (
    EgmCodecError,
    EgmPose,
    EgmRobotMessage,
    MciState,
    MotorState,
    RapidExecState,
    decode_path_correction,
    encode_robot,
    quaternion_from_zyx_deg,
)
from drivers.codecs.abb_egm_settings import AbbEgmSettings
from drivers.codecs.robot_protocol import Pose, ResultCode
from drivers.codecs.settings import RobotLimits
from sim.clock import SimClock
from sim.devices.robot_motion import RobotMotion

log = logging.getLogger(__name__)

COMM_TIMEOUT_ERROR = "ERR_UDPUC_COMM"  # RAPID's error for an EGM communication timeout
EGM_PATH_ID = 1  # the job's path: all its moves blend into one
AGES_KEPT = 100_000  # applied corrections' ages kept for the benchmark (~400 s at 4 ms)
MAX_DATAGRAMS_PER_SAMPLE = 64  # a flood is read in bounded bites, the rest next sample


@dataclass(frozen=True, slots=True)
class EgmMove:
    """One move of the taught job: a line (EGMMoveL) to ``to``, or an arc (EGMMoveC) through
    ``via_mm`` to ``to``, at ``speed_mm_per_s``."""

    to: Pose
    speed_mm_per_s: float
    via_mm: tuple[float, float, float] | None = None


@dataclass(frozen=True, slots=True)
class EgmRobotCounters:
    feedback_sent: int = 0
    corrections_applied: int = 0  # path corrections taken while an EGM move ran
    corrections_ignored: int = 0  # valid ones with no EGM move running
    corrections_lost: int = 0  # gaps in the sensor's sequence numbers
    garbage: int = 0  # datagrams from the sensor that are no EgmSensorPathCorr
    refused: int = 0  # datagrams from any other address
    dropped: int = 0  # lost on the way in by fault injection (drop_sensor_messages)
    late_samples: int = 0  # samples sent more than a period late (a stalled host)
    comm_timeouts: int = 0


@dataclass(frozen=True, slots=True)
class EgmRobotStatus:
    """The simulated robot now (a snapshot)."""

    pose: Pose  # the actual tool point, correction applied
    lateral_correction_mm: float  # applied now (clamped, slewed)
    vertical_correction_mm: float
    mci_state: MciState
    rapid_exec_state: RapidExecState
    job_running: bool
    error: str  # "" or RAPID's error the job stopped with
    last_correction_seqno: int | None
    counters: EgmRobotCounters


class SimulatedEgmRobot:
    """An ABB robot with EGM path correction on UDP (see the module).

    ``motion`` is its physics (``trajectory`` is the ground truth); ``applied_ages_ms`` holds
    the age of every correction applied (a copy, under the lock: ``applied_correction_ages``).
    """

    def __init__(
        self,
        settings: AbbEgmSettings,
        limits: RobotLimits,
        clock: SimClock,
        home_pose_mm: tuple[float, float, float] = (0.0, 0.0, 400.0),
    ) -> None:
        self.settings = settings
        self.clock = clock
        # The robot's own clamp and slew are EGM's configured ones.
        self.motion = RobotMotion(
            limits.model_copy(
                update={
                    "max_path_correction_mm": settings.max_path_correction_mm,
                    "max_correction_rate_mm_per_s": settings.max_correction_rate_mm_per_s,
                }
            ),
            home_pose_mm,
            clock.now_s(),
        )
        self._lock = threading.Lock()  # guards everything below that the thread and callers share
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._cable_pulled = False
        self._dropping_sensor_messages = False
        self._job_running = False
        self._egm_moving = False  # an EGM move runs: corrections apply, comm timeout armed
        self._last_sensor_message_s = 0.0  # monotonic
        self._mci_state = MciState.STOPPED
        self._rapid_state = RapidExecState.STOPPED
        self._error = ""
        self._last_seqno: int | None = None
        self._counts = collections.Counter[str]()
        self._ages_ms: collections.deque[int] = collections.deque(maxlen=AGES_KEPT)
        self._seqno = 0
        self._started_s = time.monotonic()

    # -- life ----------------------------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        """Where the robot sends from (its port is chosen by the system when not configured)."""
        if self._socket is None:
            raise RuntimeError("the simulated EGM robot is not started")
        return self._socket.getsockname()[:2]

    def start(self) -> None:
        """Bind the robot's address and start streaming."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((self.settings.robot_host, self.settings.robot_port or 0))
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._socket = sock
        self._stop.clear()
        self._started_s = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="egm robot", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop streaming and close the socket; safe to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    # -- what the job and the test do ---------------------------------------------------------

    def run_job(self, moves: Sequence[EgmMove]) -> None:
        """Run a taught path as one EGM move (EGMActMove, then EGMMoveL / EGMMoveC per move).

        Raises ``ValueError`` naming the move the robot refuses (outside the workspace, too
        fast, an arc through a straight line), and when a job runs; a refused arc stops what
        was queued before it (as a RAPID program stops on the error).
        """
        if not moves:
            raise ValueError("a job needs at least one move")
        with self._lock:
            if self._job_running:
                raise ValueError("a job is running already")
            self.motion.advance_to(self.clock.now_s())
            for number, move in enumerate(moves, 1):
                result = self.motion.check_move(move.to, move.speed_mm_per_s)
                if result is not ResultCode.OK:
                    raise ValueError(f"move {number} refused: {result.name}")
            for number, move in enumerate(moves, 1):
                if move.via_mm is not None:
                    result = self.motion.check_arc(move.via_mm, move.to, EGM_PATH_ID)
                    if result is not ResultCode.OK:
                        self.motion.stop()
                        raise ValueError(f"move {number} refused: {result.name}")
                self.motion.queue(move.to, move.speed_mm_per_s, EGM_PATH_ID, move.via_mm)
            self._job_running = self._egm_moving = True
            self._mci_state = MciState.RUNNING
            self._rapid_state = RapidExecState.RUNNING
            self._error = ""
            # The sensor has been answering the stream all along; the timeout counts from now.
            self._last_sensor_message_s = time.monotonic()

    def pull_cable(self, pulled: bool = True) -> None:
        """Nothing goes out or comes in while pulled (the comm timeout then stops a job)."""
        with self._lock:
            self._cable_pulled = pulled

    def drop_sensor_messages(self, dropping: bool = True) -> None:
        """Lose every sensor message on the way in (counted ``dropped``) while dropping."""
        with self._lock:
            self._dropping_sensor_messages = dropping

    def status(self) -> EgmRobotStatus:
        with self._lock:
            status = self.motion.status(0)
            lateral, vertical = status.lateral_correction_mm, status.vertical_correction_mm
            return EgmRobotStatus(
                pose=status.pose,
                lateral_correction_mm=lateral,
                vertical_correction_mm=vertical,
                mci_state=self._mci_state,
                rapid_exec_state=self._rapid_state,
                job_running=self._job_running,
                error=self._error,
                last_correction_seqno=self._last_seqno,
                counters=EgmRobotCounters(**self._counts),
            )

    def applied_correction_ages(self) -> list[int]:
        """The age (ms, as the sensor stamped it) of each correction applied so far."""
        with self._lock:
            return list(self._ages_ms)

    # -- the robot's cycle (its own thread) ----------------------------------------------------

    def _run(self) -> None:
        period_s = self.settings.sample_rate_ms / 1000
        deadline = time.monotonic()
        while not self._stop.is_set():
            with self._lock:
                self._sample()
            deadline += period_s
            now = time.monotonic()
            if now - deadline > period_s:  # a stalled host: skip the samples missed
                with self._lock:
                    self._counts["late_samples"] += 1
                deadline = now
            self._stop.wait(max(0.0, deadline - now))

    def _sample(self) -> None:
        """One sample: read what the sensor sent, move, watch the link, send feedback."""
        now_s = time.monotonic()
        if not self._cable_pulled:
            self._read_sensor(now_s)
        self.motion.advance_to(self.clock.now_s())
        if self._egm_moving:
            if now_s - self._last_sensor_message_s > self.settings.comm_timeout_ms / 1000:
                self._stop_on_comm_timeout()
            elif not self.motion.motion_left():
                # The last EGMMoveL / EGMMoveC reached its fine point: the job ends.
                self._egm_moving = self._job_running = False
                self._mci_state = MciState.STOPPED
                self._rapid_state = RapidExecState.STOPPED
        if not self._cable_pulled:
            self._send_feedback(now_s)

    def _read_sensor(self, now_s: float) -> None:
        sensor = (self.settings.sensor_host, self.settings.sensor_port)
        assert self._socket is not None
        for _ in range(MAX_DATAGRAMS_PER_SAMPLE):
            try:
                data, sender = self._socket.recvfrom(65_535)
            except BlockingIOError:
                return
            except OSError as error:  # ICMP port unreachable from an earlier send: no sensor
                if error.errno in (errno.ECONNREFUSED, errno.ECONNRESET):
                    continue
                raise
            if self._dropping_sensor_messages:
                self._counts["dropped"] += 1
                continue
            if sender[:2] != sensor:
                self._counts["refused"] += 1
                continue
            try:
                message = decode_path_correction(data)
            except EgmCodecError:
                self._counts["garbage"] += 1
                continue
            if self._last_seqno is not None:
                gap = (message.seqno - self._last_seqno - 1) & 0xFFFF_FFFF
                if gap < 0x8000_0000:  # an old one arriving late is no loss
                    self._counts["corrections_lost"] += gap
            self._last_seqno = message.seqno
            self._last_sensor_message_s = now_s
            if self._egm_moving and self.motion.correct(message.lateral_mm, message.vertical_mm):
                self._counts["corrections_applied"] += 1
                self._ages_ms.append(message.age_ms)
            else:
                self._counts["corrections_ignored"] += 1

    def _stop_on_comm_timeout(self) -> None:
        """EGM's own reaction: stop on the path, end the job with the communication error."""
        self.motion.stop()
        self._egm_moving = self._job_running = False
        self._mci_state = MciState.ERROR
        self._rapid_state = RapidExecState.STOPPED
        self._error = (
            f"{COMM_TIMEOUT_ERROR}: no sensor message for {self.settings.comm_timeout_ms} ms"
        )
        self._counts["comm_timeouts"] += 1
        log.info("simulated EGM robot stopped: %s", self._error)

    def _send_feedback(self, now_s: float) -> None:
        actual = self.motion.tool_pose()
        planned = self.motion.path_pose
        self._seqno = (self._seqno + 1) & 0xFFFF_FFFF
        message = EgmRobotMessage(
            seqno=self._seqno,
            robot_time_ms=int((now_s - self._started_s) * 1000) & 0xFFFF_FFFF,
            feedback=_egm_pose(actual),
            planned=_egm_pose(planned),
            motor_state=MotorState.ON if self.motion.drives_enabled else MotorState.OFF,
            mci_state=self._mci_state,
            rapid_exec_state=self._rapid_state,
            convergence_met=True,
        )
        assert self._socket is not None
        try:
            self._socket.sendto(
                encode_robot(message), (self.settings.sensor_host, self.settings.sensor_port)
            )
        except OSError as error:  # nobody listening yet, a full buffer: the next sample goes on
            log.debug("simulated EGM robot could not send: %s", error)
            return
        self._counts["feedback_sent"] += 1


def _egm_pose(pose: Pose) -> EgmPose:
    if not pose.is_finite():  # never on the wire: the physics keeps poses finite
        raise ValueError(f"pose is not finite: {pose}")
    return EgmPose(
        pose.position_mm,
        quaternion_from_zyx_deg(pose.rz_deg, pose.ry_deg, pose.rx_deg),
    )


__all__ = ["EgmMove", "EgmRobotCounters", "EgmRobotStatus", "SimulatedEgmRobot"]
