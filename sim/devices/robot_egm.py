"""The simulated ABB robot's side of EGM path correction: the far end of the controller's
EGM link (``drivers.robot.abb_egm``), over real UDP.

It behaves as a robot running the RAPID template of docs/robots/abb/ (EGMSetupUC with
\\PathCorr, EGMStreamStart, EGMActMove, then EGMMoveL / EGMMoveC):

- the stream: from ``start()`` on it sends an ``EgmRobot`` message every ``sample_rate_ms`` on
  the monotonic clock (absolute deadlines, so it does not drift) to the configured sensor
  address, from its own address (``robot_host:robot_port``), with a sequence number, its time
  in ms, the actual and the planned tool pose, and its motor, EGM (MCI) and RAPID state;
- the job, as the template's routine runs it, on the job signals the PLC wires
  (``drivers.robot.owned.ROBOT_JOB_INPUTS`` / ``ROBOT_JOB_OUTPUTS``): ``start_job(number)``
  moves above its search position (``search_back_mm`` before the seam's start on its line)
  and down onto it, raises ``robot_at_search`` and waits for ``robot_search_done``; it then
  reads the frame offset from the PLC (``robot_offset_x/y/z_mm``: seam finding's shift, since
  a path correction applies only inside EGMMoveL) and shifts the rest of the job by it, runs
  along the seam's line to its start at the pre-scan speed (a plain MoveL), raises
  ``robot_at_seam_start`` and waits for ``set_seam_go(True)`` (the arc is established); runs
  the seam as one EGM move (EGMMoveL per line, EGMMoveC per arc of its ``SeamPath``) at the
  travel speed; raises
  ``robot_at_seam_end`` and waits for the go to drop; lifts clear and raises
  ``robot_job_done``. ``set_hold`` holds on the path (StopMove) and resumes; ``set_stop`` ends
  the job. ``run_job`` runs a list of moves as an EGM move at once (no signals: tests, bench).
  The motion is the simulated robot's physics (``sim.devices.robot_motion.RobotMotion``);
- the corrections: at each sample it takes what the sensor sent since the last one; the last
  ``EgmSensorPathCorr`` sets the absolute lateral (y) / vertical (z) offset from the
  programmed path, in path coordinates, which the physics clamps to
  ``max_path_correction_mm`` and slews at ``max_correction_rate_mm_per_s``, as the robot does;
- the robot's fail-safe: while an EGM move runs, no sensor message for ``comm_timeout_ms``
  (real time: the controller runs in real time) stops the motion on the path and ends the job
  with EGM's communication error (MCI state ERROR, RAPID stopped, ``error`` says
  ``ERR_UDPUC_COMM``, ``robot_job_fault``); the stream goes on (EGMStreamStart), so the
  sensor sees it;
- what it ignores: datagrams that are no ``EgmSensorPathCorr`` (counted ``garbage``), and
  anything from another address than the sensor's (counted ``refused``, never decoded);
- fault injection: ``pull_cable`` (nothing goes out or comes in while pulled) and
  ``drop_sensor_messages`` (the sensor's messages are lost on the way in, the feedback still
  goes out: the robot's comm timeout, seen by the sensor);
- in the simulated cell (``sim.cell``) it is a device like the others: ``start``/``close``
  (async), ``unplug``/``plug_in`` (the cable), ``on_plc_outputs`` (the PLC's job outputs, each
  scan), the tool pose for the laser sensor (``actual_tool_pose``, ``tool_pose_at``,
  ``tool_travel_at``), the ground truth for the tracking score (``on_trajectory_sample``:
  the samples are handed to the event loop once per robot sample) and ``snapshot``.

One thread (``egm robot``) owns the socket and the motion; the public methods hand over through
``_lock``, which guards every field the thread and a caller both touch. The thread does its
socket work (reading, encoding, sending) outside the lock, its own, so that a caller on the
simulator's event loop never waits for it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import logging
import math
import random
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

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
from drivers.codecs.robot_protocol import Pose, ResultCode, RobotState
from drivers.codecs.seam_path import Arc, SeamPath
from drivers.codecs.settings import RobotLimits
from sim.clock import SimClock
from sim.devices.robot_job import (
    PRESCAN_SPEED_MM_PER_S,
    SEARCH_BACK_MM,
    JobPlcSide,
    JobSearch,
    JobStep,
    JobTouches,
    TouchPhase,
    back_along,
    restart_from_mm,
    search_position,
    touch_pose,
)
from sim.devices.robot_motion import RobotMotion, TrajectorySample

log = logging.getLogger(__name__)

COMM_TIMEOUT_ERROR = "ERR_UDPUC_COMM"  # RAPID's error for an EGM communication timeout
EGM_PATH_ID = 1  # the job's path: all its moves blend into one
AGES_KEPT = 100_000  # applied corrections' ages kept for the benchmark (~400 s at 4 ms)
MAX_DATAGRAMS_PER_SAMPLE = 64  # a flood is read in bounded bites, the rest next sample
AIR_SPEED_MM_PER_S = 250.0  # approach and retract, off the seam
PATH_STEP_MM = 2.0  # a restart's backtrack along a curved seam, in chords this long
TORCH_DOWN = (180.0, 0.0, 0.0)  # rx, ry, rz in degrees: the torch points down
# The robot's thread must send on its 4 ms beat though the simulator's event loop is busy: with
# CPython's default 5 ms GIL switch interval it could wait longer than a sample (as RSI's).
EGM_SWITCH_INTERVAL_S = 0.0002


@dataclass(frozen=True, slots=True)
class EgmMove:
    """One move of the taught job: a line (EGMMoveL) to ``to``, or an arc (EGMMoveC) through
    ``via_mm`` to ``to``, at ``speed_mm_per_s``."""

    to: Pose
    speed_mm_per_s: float
    via_mm: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class EgmJob:
    """One robot job as its RAPID routine welds it: a seam taught as a ``SeamPath`` (in the
    robot's base frame), run at ``travel_speed_mm_per_s``, approached from ``clearance_mm``
    above its start and left the same way."""

    number: int
    name: str
    seam: SeamPath
    travel_speed_mm_per_s: float
    clearance_mm: float = 40.0
    search_back_mm: float = SEARCH_BACK_MM  # the search position, before the start
    searches: tuple[JobSearch, ...] = ()  # its touch searches, by number (MoveL, stopped)

    def seam_moves(
        self, offset_mm: tuple[float, float, float] = (0.0, 0.0, 0.0), from_mm: float = 0.0
    ) -> list[EgmMove]:
        """EGMMoveL per line, EGMMoveC (through the arc's middle) per arc of the seam, shifted
        by the frame offset ``offset_mm`` (base frame), from ``from_mm`` along it (a restart)."""
        moves = []
        seam = self.seam.remaining(from_mm) if from_mm > 0 else self.seam
        for piece in seam.pieces:
            via = _plus(piece.via, offset_mm) if isinstance(piece, Arc) else None
            moves.append(
                EgmMove(_torch_at(_plus(piece.end, offset_mm)), self.travel_speed_mm_per_s, via)
            )
        return moves


_JOB_RUNS = (
    JobStep.APPROACH,
    JobStep.AT_SEARCH,
    JobStep.TO_SEAM_START,
    JobStep.AT_SEAM_START,
    JobStep.WELDING,
    JobStep.AT_SEAM_END,
    JobStep.RETRACT,
)


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
    step: JobStep
    job_running: bool
    error: str  # "" or RAPID's error the job stopped with
    last_correction_seqno: int | None
    counters: EgmRobotCounters


class SimulatedEgmRobot(JobPlcSide):
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
        jobs: dict[int, EgmJob] | None = None,
    ) -> None:
        self.settings = settings
        self.jobs = dict(jobs or {})
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
        # Injected by sim.wire.injection (egm_late, egm_loss): the network delays the sensor's
        # messages this much, loses this share of them. Plain floats, each set in one
        # assignment and read once a sample by the thread.
        self.sensor_delay_ms = 0.0
        self.sensor_loss_share = 0.0
        self._loss = random.Random(18)  # the same losses every run (the thread's own)
        # The thread's own: datagrams the injected delay holds back, with when they arrive.
        self._in_flight: collections.deque[tuple[float, bytes, tuple]] = collections.deque()
        self._step = JobStep.IDLE
        self._job: EgmJob | None = None  # None for run_job's moves
        self._seam_go = False
        self._search_done = False
        self._frame_offset_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)  # read at search done
        self._held = False
        self._restart_mm = 0.0  # where a held seam restarts along it (0: from its start)
        self._last_sensor_message_s = 0.0  # monotonic
        self._mci_state = MciState.STOPPED
        self._rapid_state = RapidExecState.STOPPED
        self._error = ""
        self._last_seqno: int | None = None
        self._counts = collections.Counter[str]()
        self._ages_ms: collections.deque[int] = collections.deque(maxlen=AGES_KEPT)
        self._seqno = 0
        self._start_seen = False  # robot_job_start as the last PLC scan had it (edges)
        self.touches = JobTouches()  # the job's touch searches (under _lock)
        # The ground truth's listener (the tracking score) lives on the simulator's event loop;
        # the motion's samples are collected under _lock and handed over once per sample.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._trajectory_listener: Callable[[TrajectorySample], None] | None = None
        self._samples: list[TrajectorySample] = []  # under _lock

    # -- life ----------------------------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        """Where the robot sends from (its port is chosen by the system when not configured)."""
        if self._socket is None:
            raise RuntimeError("the simulated EGM robot is not started")
        return self._socket.getsockname()[:2]

    def describe(self) -> str:
        robot = f"{self.settings.robot_host}:{self.settings.robot_port or 'any'}"
        sensor = f"{self.settings.sensor_host}:{self.settings.sensor_port}"
        return f"ABB EGM robot at udp {robot} -> {sensor}, {len(self.jobs)} jobs"

    async def start(self) -> None:
        """The cell's start: the stream's thread, its samples handed to this event loop."""
        self._loop = asyncio.get_running_loop()
        self.start_thread()

    async def close(self) -> None:
        self.close_thread()

    def start_thread(self) -> None:
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
        sys.setswitchinterval(min(sys.getswitchinterval(), EGM_SWITCH_INTERVAL_S))
        self._thread = threading.Thread(target=self._run, name="egm robot", daemon=True)
        self._thread.start()

    def close_thread(self) -> None:
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
        """Run ``moves`` as one EGM move at once, from where the tool is (EGMActMove, then
        EGMMoveL / EGMMoveC per move), without the job's signals; DONE at the end.

        Raises ``ValueError`` naming the move the robot refuses (outside the workspace, too
        fast, an arc through a straight line), and when a job runs; a refused arc stops what
        was queued before it (as a RAPID program stops on the error).
        """
        with self._lock:
            if self._step in _JOB_RUNS:
                raise ValueError(f"a job is running already ({self._step})")
            self.motion.advance_to(self.clock.now_s())
            self._job = None
            self._error = ""
            self._start_egm_move(moves)

    # -- the PLC's side (drivers.robot.owned.ROBOT_JOB_INPUTS / ROBOT_JOB_OUTPUTS) -------------

    def _job_state(self) -> tuple[JobStep, bool, bool]:
        with self._lock:
            return self._step, self.motion.drives_enabled, self._held

    def start_job(self, number: int) -> bool:
        """A rising edge on robot_job_start with job ``number`` selected; False (and nothing
        moves) for an unknown number, a job running, a fault not cleared, drives off."""
        with self._lock:
            job = self.jobs.get(number)
            if job is None or self._step not in (JobStep.IDLE, JobStep.DONE):
                log.warning("simulated EGM robot: job %s not started (%s)", number, self._step)
                return False
            if not self.motion.drives_enabled:
                return False
            self.motion.advance_to(self.clock.now_s())
            start = search_position(job.seam, job.search_back_mm)
            above = (start[0], start[1], start[2] + job.clearance_mm)
            for point, speed in ((above, AIR_SPEED_MM_PER_S), (start, AIR_SPEED_MM_PER_S / 4)):
                if self.motion.check_move(_torch_at(point), speed) is not ResultCode.OK:
                    log.warning("simulated EGM robot: job %s cannot reach %s", number, point)
                    return False
            self._job = job
            self._error = ""
            self._frame_offset_mm = (0.0, 0.0, 0.0)
            self.touches = JobTouches()
            self._restart_mm = 0.0
            self.motion.queue(_torch_at(above), AIR_SPEED_MM_PER_S, 0)
            self.motion.queue(_torch_at(start), AIR_SPEED_MM_PER_S / 4, 0)
            self._step = JobStep.APPROACH
            self._rapid_state = RapidExecState.RUNNING
            self._mci_state = MciState.STOPPED
            return True

    def set_seam_go(self, go: bool) -> None:
        with self._lock:
            self._seam_go = go

    def set_search_done(self, done: bool, offset_mm: tuple[float, float, float]) -> None:
        """robot_search_done; the frame offset is read on its rising edge (the template's
        routine reads the group inputs once, then shifts its seam by them)."""
        with self._lock:
            if done != self._search_done:  # read on each edge: the drop brings the start's
                self._frame_offset_mm = offset_mm
            self._search_done = done

    def set_touch(self, go: bool, number: int, stop: bool) -> None:
        """The touch search's signals (``JobTouches``: a plain MoveL, stopped by the PLC)."""
        with self._lock:
            self.touches.set_outputs(go, number, stop, self.motion)

    def touch_pose(self) -> Pose:
        """The tool's actual pose now in the part program's torch angles (the wire's contact
        with the true plates): the template's down is 180° about X."""
        with self._lock:
            self.motion.advance_to(self.clock.now_s())
            return touch_pose(self.motion.tool_pose(), TORCH_DOWN[0])

    def _queue_touch(
        self, point: tuple[float, float, float], angles: tuple[float, float, float], speed: float
    ) -> None:
        """A touch search's move, its angles the part program's (under ``_lock``)."""
        rx = angles[0] + TORCH_DOWN[0]
        self.motion.queue(Pose(*point, rx, angles[1], angles[2]), speed, 0)

    @property
    def frame_offset_mm(self) -> tuple[float, float, float]:
        """The frame offset the job took at its search position (base frame, mm)."""
        return self._frame_offset_mm

    def set_hold(self, held: bool) -> None:
        """robot_hold: stop on the path (StopMove) and keep the job; go on when released, or
        (the seam go dropped while it welded) back up for a restart (``sim.devices.robot_job``:
        the EGM move ends, the robot backs up along the seam and waits at the restart)."""
        with self._lock:
            self._held = held
            job = self._job
            if held:
                self.motion.hold()
            elif self._step is JobStep.WELDING and not self._seam_go and job is not None:
                self.motion.advance_to(self.clock.now_s())
                offset = self._frame_offset_mm  # the job's seam is shifted by it
                here = _plus(self.motion.path_pose.position_mm, tuple(-d for d in offset))
                here_mm = job.seam.locate(here)[0]
                self._restart_mm = restart_from_mm(here_mm, self.restart_overlap_mm)
                self.motion.stop()
                self._mci_state = MciState.STOPPED
                speed = job.travel_speed_mm_per_s * 4  # back over the bead, arc off
                for point in back_along(job.seam, here_mm, self._restart_mm, PATH_STEP_MM):
                    self.motion.queue(_torch_at(_plus(point, offset)), speed, 0)
                self._step = JobStep.BACK_TO_RESTART
            else:
                self.motion.resume()
                # StopMove paused the EGM move: its comm timeout counts from the restart.
                self._last_sensor_message_s = time.monotonic()

    def set_stop(self, stop: bool) -> None:
        """robot_stop: stop, drop the path, end the job (ready again). It also clears a job
        fault (the template's ExitCycle: main starts over and resets doJobFault)."""
        with self._lock:
            if stop and (self._step in _JOB_RUNS or self._step is JobStep.FAULT):
                self.motion.stop()
                self._end_job(JobStep.IDLE, MciState.STOPPED)
                self._error = ""

    def set_drives_enabled(self, enabled: bool) -> None:
        """Drive power from the PLC: off stops the arm where it is and faults a running job."""
        with self._lock:
            self.motion.set_drives_enabled(enabled)
            if not enabled and self._step in _JOB_RUNS:
                self._error = "drives off during the job"
                self._end_job(JobStep.FAULT, MciState.STOPPED)

    def pull_cable(self, pulled: bool = True) -> None:
        """Nothing goes out or comes in while pulled (the comm timeout then stops a job)."""
        with self._lock:
            self._cable_pulled = pulled

    def unplug(self) -> None:
        """The cell's cable pull (``sim.cell``): ``pull_cable``."""
        self.pull_cable(True)

    def plug_in(self) -> None:
        self.pull_cable(False)

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
                step=self._step,
                job_running=self._step in _JOB_RUNS,
                error=self._error,
                last_correction_seqno=self._last_seqno,
                counters=EgmRobotCounters(**self._counts),
            )

    def snapshot(self) -> dict[str, Any]:
        """The robot now, as plain data (for the control channel and logs)."""
        status = self.status()
        return {
            "step": str(status.step),
            "job": self._job.name if self._job is not None else None,
            "error": status.error,
            "mci_state": status.mci_state.name.lower(),
            "lateral_correction_mm": round(status.lateral_correction_mm, 3),
            "vertical_correction_mm": round(status.vertical_correction_mm, 3),
            **{name: getattr(status.counters, name) for name in EgmRobotCounters.__slots__},
        }

    # -- what the laser sensor and the tracking score see (any thread) -------------------------

    def actual_tool_pose(self) -> Pose:
        """Where the tool point really is now, the path correction applied."""
        with self._lock:
            self.motion.advance_to(self.clock.now_s())
            return self.motion.tool_pose()

    def _sim_time_at(self, at_real_s: float) -> float:
        return self.clock.now_s() - (time.monotonic() - at_real_s) * self.clock.time_scale

    def tool_pose_at(self, at_real_s: float) -> Pose:
        """Where the tool point was at monotonic ``at_real_s`` (the sensor's exposure)."""
        with self._lock:
            self.motion.advance_to(self.clock.now_s())
            return self.motion.tool_pose_at(self._sim_time_at(at_real_s))

    def tool_travel_at(self, at_real_s: float | None) -> tuple[float, float, float] | None:
        """The tool's direction of travel on its weld path then (None: now); None off one."""
        with self._lock:
            self.motion.advance_to(self.clock.now_s())
            if at_real_s is None:
                return self.motion.tool_travel()
            return self.motion.tool_travel_at(self._sim_time_at(at_real_s))

    @property
    def on_trajectory_sample(self) -> Callable[[TrajectorySample], None] | None:
        return self._trajectory_listener

    @on_trajectory_sample.setter
    def on_trajectory_sample(self, listener: Callable[[TrajectorySample], None] | None) -> None:
        with self._lock:
            self._trajectory_listener = listener
            self.motion.on_trajectory_sample = None if listener is None else self._samples.append

    def _hand_over_samples(self) -> None:
        """Under _lock: the samples made since the last call, to the event loop's listener."""
        listener, loop = self._trajectory_listener, self._loop
        if not self._samples or listener is None or loop is None:
            self._samples.clear()
            return
        batch = list(self._samples)
        self._samples.clear()

        def deliver() -> None:
            for sample in batch:
                listener(sample)

        with contextlib.suppress(RuntimeError):  # the loop has closed
            loop.call_soon_threadsafe(deliver)

    def applied_correction_ages(self) -> list[int]:
        """The age (ms, as the sensor stamped it) of each correction applied so far."""
        with self._lock:
            return list(self._ages_ms)

    # -- the robot's cycle (its own thread) ----------------------------------------------------

    def _run(self) -> None:
        period_s = self.settings.sample_rate_ms / 1000
        deadline = time.monotonic()
        while not self._stop.is_set():
            # The socket's work (reading, encoding, sending) outside _lock: a caller on the
            # simulator's event loop waits for the lock, and this thread, preempted with it
            # held, kept the loop waiting 20-100 ms on a loaded host.
            now_s = time.monotonic()
            arrived = [] if self._cable_pulled else self._receive(now_s)
            with self._lock:
                feedback = self._sample(now_s, arrived)
            if feedback is not None:
                self._send_feedback(feedback)
            deadline += period_s
            now = time.monotonic()
            if now - deadline > period_s:  # a stalled host: skip the samples missed
                with self._lock:
                    self._counts["late_samples"] += 1
                deadline = now
            self._stop.wait(max(0.0, deadline - now))

    def _sample(self, now_s: float, arrived: list[tuple[bytes, tuple]]) -> EgmRobotMessage | None:
        """One sample (under ``_lock``): take what the sensor sent, move, watch the link; the
        feedback to send, or None with the cable pulled."""
        for data, sender in arrived:
            self._take_sensor_message(data, sender, now_s)
        self.motion.advance_to(self.clock.now_s())
        self._advance_job(now_s)
        feedback = None if self._cable_pulled else self._feedback()
        self._hand_over_samples()
        return feedback

    def _receive(self, now_s: float) -> list[tuple[bytes, tuple]]:
        """What reached the robot since the last sample (this thread's own, no lock): what
        arrived now, behind what the network's injected delay held back until now."""
        assert self._socket is not None
        lost = 0
        for _ in range(MAX_DATAGRAMS_PER_SAMPLE):
            try:
                data, sender = self._socket.recvfrom(65_535)
            except BlockingIOError:
                break
            except OSError as error:  # ICMP port unreachable from an earlier send: no sensor
                if error.errno in (errno.ECONNREFUSED, errno.ECONNRESET):
                    continue
                raise
            if self.sensor_loss_share and self._loss.random() < self.sensor_loss_share:
                lost += 1  # lost on the way
                continue
            self._in_flight.append((now_s + self.sensor_delay_ms / 1000, data, sender))
        if lost:
            with self._lock:
                self._counts["dropped"] += lost
        arrived = []
        while self._in_flight and self._in_flight[0][0] <= now_s:
            _, data, sender = self._in_flight.popleft()
            arrived.append((data, sender))
        return arrived

    def _take_sensor_message(self, data: bytes, sender: tuple, now_s: float) -> None:
        """One sensor message as it reaches the robot (under ``_lock``)."""
        sensor = (self.settings.sensor_host, self.settings.sensor_port)
        if self._dropping_sensor_messages:
            self._counts["dropped"] += 1
            return
        if sender[:2] != sensor:
            self._counts["refused"] += 1
            return
        try:
            message = decode_path_correction(data)
        except EgmCodecError:
            self._counts["garbage"] += 1
            return
        if self._last_seqno is not None:
            gap = (message.seqno - self._last_seqno - 1) & 0xFFFF_FFFF
            if gap < 0x8000_0000:  # an old one arriving late is no loss
                self._counts["corrections_lost"] += gap
        self._last_seqno = message.seqno
        self._last_sensor_message_s = now_s
        welding = self._step is JobStep.WELDING
        if welding and self.motion.correct(message.lateral_mm, message.vertical_mm):
            self._counts["corrections_applied"] += 1
            self._ages_ms.append(message.age_ms)
        else:
            self._counts["corrections_ignored"] += 1

    def _advance_job(self, now_s: float) -> None:
        """The job's next step, once the motion or the controller lets it (under ``_lock``)."""
        step, job = self._step, self._job
        at_rest = not self.motion.motion_left() and not self._held
        # (A touch search's move stopped by robot_touch_stop stands STOPPED: it goes on.)
        standing = at_rest and self.motion.state in (RobotState.IDLE, RobotState.STOPPED)
        if (
            step is JobStep.AT_SEARCH
            and job is not None
            and (standing or self.touches.phase is TouchPhase.DONE)
            and self.touches.advance(
                job.searches,
                search_position(job.seam, job.search_back_mm),
                self._queue_touch,
                AIR_SPEED_MM_PER_S,
            )
        ):
            return  # a touch search runs (or waits for its go to drop)
        if step is JobStep.AT_SEARCH and not self.touches.idle:
            return
        if step is JobStep.APPROACH and at_rest:
            self._step = JobStep.AT_SEARCH
        elif step is JobStep.AT_SEARCH and self._search_done and job is not None:
            start = _plus(job.seam[0], self._frame_offset_mm)
            if self.motion.check_move(_torch_at(start), PRESCAN_SPEED_MM_PER_S) is not (
                ResultCode.OK
            ):
                self._error = f"job {job.name}: the shifted seam start {start} is out of reach"
                self._end_job(JobStep.FAULT, MciState.STOPPED)
                return
            self.motion.queue(_torch_at(start), PRESCAN_SPEED_MM_PER_S, 0)
            self._step = JobStep.TO_SEAM_START
        elif step is JobStep.TO_SEAM_START and at_rest and not self._search_done and job:
            # At the start after the pre-scan; search done dropped with the frame offset of
            # the start itself: onto it (a fine MoveL), then at the seam start.
            start = _plus(job.seam[0], self._frame_offset_mm)
            if math.dist(self.motion.tool_pose().position_mm, start) < 1e-3:
                self._step = JobStep.AT_SEAM_START
            elif self.motion.check_move(_torch_at(start), PRESCAN_SPEED_MM_PER_S) is not (
                ResultCode.OK
            ):
                self._error = f"job {job.name}: the shifted seam start {start} is out of reach"
                self._end_job(JobStep.FAULT, MciState.STOPPED)
            else:
                self.motion.queue(_torch_at(start), PRESCAN_SPEED_MM_PER_S, 0)
        elif step is JobStep.BACK_TO_RESTART and at_rest:
            self._step = JobStep.AT_SEAM_START
        elif step is JobStep.AT_SEAM_START and self._seam_go and job is not None:
            try:
                self._start_egm_move(job.seam_moves(self._frame_offset_mm, self._restart_mm))
                self._restart_mm = 0.0
            except ValueError as error:  # a seam the robot cannot run: the job faults
                self._error = f"job {job.name}: {error}"
                self._end_job(JobStep.FAULT, MciState.STOPPED)
        elif step is JobStep.WELDING:
            silent_s = now_s - self._last_sensor_message_s
            if silent_s > self.settings.comm_timeout_ms / 1000 and not self._held:
                self._stop_on_comm_timeout()
            elif at_rest:  # the last EGMMoveL / EGMMoveC reached its fine point
                self._mci_state = MciState.STOPPED
                if job is None:
                    self._end_job(JobStep.DONE, MciState.STOPPED)
                else:
                    self._step = JobStep.AT_SEAM_END
        elif step is JobStep.AT_SEAM_END and not self._seam_go and job is not None:
            end = _plus(job.seam[-1], self._frame_offset_mm)
            self.motion.queue(
                _torch_at((end[0], end[1], end[2] + job.clearance_mm)), AIR_SPEED_MM_PER_S, 0
            )
            self._step = JobStep.RETRACT
        elif step is JobStep.RETRACT and at_rest:
            self._end_job(JobStep.DONE, MciState.STOPPED)

    def _start_egm_move(self, moves: Sequence[EgmMove]) -> None:
        """EGMActMove, then the moves as one path; raises ``ValueError`` for a refused move
        (under ``_lock``)."""
        if not moves:
            raise ValueError("an EGM move needs at least one move")
        for number, move in enumerate(moves, 1):
            result = self.motion.check_move(move.to, move.speed_mm_per_s)
            if result is not ResultCode.OK:
                raise ValueError(f"move {number} refused: {result.name}")
        for number, move in enumerate(moves, 1):
            if move.via_mm is not None:
                result = self.motion.check_arc(move.via_mm, move.to, EGM_PATH_ID)
                if result is not ResultCode.OK:
                    self.motion.stop()
                    self._error = f"move {number} refused: {result.name}"
                    self._end_job(JobStep.FAULT, MciState.STOPPED)
                    raise ValueError(self._error)
            self.motion.queue(move.to, move.speed_mm_per_s, EGM_PATH_ID, move.via_mm)
        self._step = JobStep.WELDING
        self._mci_state = MciState.RUNNING
        self._rapid_state = RapidExecState.RUNNING
        # The sensor has been answering the stream all along; the timeout counts from now.
        self._last_sensor_message_s = time.monotonic()

    def _end_job(self, step: JobStep, mci_state: MciState) -> None:
        self._step = step
        self._mci_state = mci_state
        self._rapid_state = RapidExecState.STOPPED

    def _stop_on_comm_timeout(self) -> None:
        """EGM's own reaction: stop on the path, end the job with the communication error."""
        self.motion.stop()
        self._end_job(JobStep.FAULT, MciState.ERROR)
        self._error = (
            f"{COMM_TIMEOUT_ERROR}: no sensor message for {self.settings.comm_timeout_ms} ms"
        )
        self._counts["comm_timeouts"] += 1
        log.info("simulated EGM robot stopped: %s", self._error)

    def _feedback(self) -> EgmRobotMessage:
        """This sample's ``EgmRobot`` (under ``_lock``)."""
        actual = self.motion.tool_pose()
        planned = self.motion.path_pose
        self._seqno = (self._seqno + 1) & 0xFFFF_FFFF
        return EgmRobotMessage(
            seqno=self._seqno,
            # The robot's clock: simulated time, as its motion runs in it (the controller takes
            # the robot's own travel speed from it, whatever the simulator's time scale).
            robot_time_ms=round(self.clock.now_s() * 1000) & 0xFFFF_FFFF,
            feedback=_egm_pose(actual),
            planned=_egm_pose(planned),
            motor_state=MotorState.ON if self.motion.drives_enabled else MotorState.OFF,
            mci_state=self._mci_state,
            rapid_exec_state=self._rapid_state,
            convergence_met=True,
        )

    def _send_feedback(self, message: EgmRobotMessage) -> None:
        """Encode and send (this thread's own socket work, no lock)."""
        assert self._socket is not None
        try:
            self._socket.sendto(
                encode_robot(message), (self.settings.sensor_host, self.settings.sensor_port)
            )
        except OSError as error:  # nobody listening yet, a full buffer: the next sample goes on
            log.debug("simulated EGM robot could not send: %s", error)
            return
        with self._lock:
            self._counts["feedback_sent"] += 1


def _plus(point: Sequence[float], offset_mm: Sequence[float]) -> tuple[float, float, float]:
    return (
        float(point[0]) + offset_mm[0],
        float(point[1]) + offset_mm[1],
        float(point[2]) + offset_mm[2],
    )


def _torch_at(point: Sequence[float]) -> Pose:
    return Pose(float(point[0]), float(point[1]), float(point[2]), *TORCH_DOWN)


def _egm_pose(pose: Pose) -> EgmPose:
    if not pose.is_finite():  # never on the wire: the physics keeps poses finite
        raise ValueError(f"pose is not finite: {pose}")
    return EgmPose(
        pose.position_mm,
        quaternion_from_zyx_deg(pose.rz_deg, pose.ry_deg, pose.rx_deg),
    )


__all__ = [
    "EgmJob",
    "EgmMove",
    "EgmRobotCounters",
    "EgmRobotStatus",
    "JobStep",
    "SimulatedEgmRobot",
]
