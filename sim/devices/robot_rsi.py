"""The simulated KUKA robot with RSI: its taught jobs, its job signals, and the RSI Ethernet cycle.

The robot owns its motion here. Through the PLC (``sim.devices.plc`` wires the signals of
``drivers.robot.owned.ROBOT_JOB_INPUTS`` / ``ROBOT_JOB_OUTPUTS`` to this) the controller selects
a job by number and starts it; the job then runs as a KRL program with RSI on would:

1. RSI on, the job moves (air speed) above its search position (``search_back_mm`` before the
   seam's taught start on its line) and down onto it, raises ``robot_at_search`` and waits
   for ``robot_search_done`` (seam finding shifts the path through RKorr meanwhile: RSI
   corrects the robot standing); then it runs along the seam's line to its start at the
   pre-scan speed (the laser reads the first look-ahead), raises ``robot_at_seam_start`` and
   waits for ``robot_seam_go`` (the arc is established);
2. it runs the taught seam at the procedure's travel speed, the correction on top;
3. at the end it raises ``robot_at_seam_end`` and waits for ``robot_seam_go`` to drop (crater
   filled, arc off), lifts clear, switches RSI off and raises ``robot_job_done``.

At its search position the job also runs its touch searches on ``robot_touch_go``
(``sim.devices.robot_job.JobTouches``: the part program's, numbered; stopped where they are by
``robot_touch_stop``); the wire's contact with the true plates is the power source's input
(``touch_pose``: the tool's pose in the part program's torch angles, KUKA's down being C = 180).

``robot_hold`` holds on the path (and resumes); ``robot_stop`` ends the job. Drive power from the
PLC works as on the serial robot.

The RSI cycle runs on a thread of its own, on the monotonic clock: every ``cycle_ms`` it sends
one ``<Rob>`` telegram (``drivers.codecs.kuka_rsi``) to the sensor's address and takes answers
until the next cycle's deadline. An answer that echoes this cycle's IPOC in time applies its
``RKorr``; none in time is a late answer (the last correction is held, as ``HOLDON`` does).
More than ``late_answer_limit`` late answers in a row and RSI stops the robot with the error
``RSI: late packets exceeded``: the job faults, the stream ends. Garbage and datagrams from any
address but the sensor's are counted and ignored.

RKorr (absolute; base or tool frame) is clamped per axis to the POSCORR limit, turned into the
base frame and slewed at the robot's ``max_correction_rate_mm_per_s``; the applied offset rides
on top of the programmed motion (``RobotMotion``, which runs the job's moves uncorrected) while
RSI is on, standing or moving, as RSI superimposes its correction on the interpolator's path.

Fault injection at the wire (``answer_delay_ms``: the network delays every answer, or only
the next ``late_answers_left``;
``loss_share``: that share of datagrams is lost, either way; ``unplug``: the cable is pulled,
nothing goes out or comes in). ``sim.wire.injection`` names them ``rsi_late``, ``rsi_loss``,
``link_cut robot``.

Threads: ``_lock`` guards the motion, the job and the counters; the RSI thread takes it once
per cycle, the PLC's side (the event loop) for each signal change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import select
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from drivers.codecs.arrival_time import ANCILLARY_BYTES, enable_arrival_stamps, kernel_arrival_s
from drivers.codecs.kuka_rsi import (
    CartesianPose,
    RobotTelegram,
    RsiCodecError,
    decode_sensor_telegram,
    encode_robot_telegram,
    tool_to_base,
)
from drivers.codecs.robot_protocol import Pose, RobotState
from drivers.codecs.seam_path import PathError, SeamPath, build_path
from drivers.codecs.settings import KukaRsiSettings, RobotSettings
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
    job_searches,
    restart_from_mm,
    search_position,
    touch_pose,
)
from sim.devices.robot_motion import RobotMotion, TrajectorySample

log = logging.getLogger(__name__)

RSI_LATE_ERROR = "RSI: late packets exceeded"
TORCH_ORIENTATION_DEG = (180.0, 0.0, 0.0)  # rx, ry, rz: the torch points down (KUKA C=180)
AIR_SPEED_MM_PER_S = 250.0
PATH_STEP_MM = 2.0  # a curved seam is taught as chords this long
IPOC_START = 1_000_000  # the robot's IPOC: milliseconds of its clock since its boot
# The RSI thread must send on its 4 ms beat though the simulator's event loop is busy: with
# CPython's default 5 ms GIL switch interval it could wait longer than a cycle.
RSI_SWITCH_INTERVAL_S = 0.0002


class JobError(Exception):
    """A part program the simulated robot cannot teach a job from."""


@dataclass(frozen=True)
class TaughtJob:
    """One robot job: the seam it welds, taught from the part program."""

    number: int
    name: str
    path: SeamPath
    travel_speed_mm_per_s: float
    clearance_mm: float
    search_back_mm: float = SEARCH_BACK_MM  # the search position, before the start
    searches: tuple[JobSearch, ...] = ()  # its touch searches, by number


def load_taught_jobs(
    part_file: Path,
    settings: RobotSettings,
    procedures_dir: Path,
    search_back_mm: float = SEARCH_BACK_MM,
) -> dict[int, TaughtJob]:
    """The jobs a part program's seams name (``robot_job``), by the job numbers of ``settings``."""
    try:
        data = yaml.safe_load(part_file.read_text(encoding="utf-8")) or {}
        jobs: dict[int, TaughtJob] = {}
        for seam in data.get("seams") or []:
            name = seam.get("robot_job")
            if name is None:
                continue
            number = settings.jobs.get(name)
            if number is None:
                raise JobError(f"{part_file}: seam {seam.get('name')}: no job number for {name}")
            if "path" in seam:
                path = build_path(seam["path"]["start"], seam["path"]["segments"])
            else:
                path = SeamPath.polyline(seam["path_mm"])
            procedure = yaml.safe_load(
                (procedures_dir / f"{seam['procedure']}.yaml").read_text(encoding="utf-8")
            )
            jobs[number] = TaughtJob(
                number,
                name,
                path,
                float(procedure["travel_speed_mm_per_s"]),
                float(seam.get("approach_clearance_mm", 40.0)),
                search_back_mm,
                job_searches(data, seam),
            )
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError, PathError) as error:
        raise JobError(f"{part_file}: {error}") from error
    return jobs


@dataclass
class RsiRobotCounters:
    telegrams_sent: int = 0
    answers_on_time: int = 0
    late_answers: int = 0  # cycles without a valid answer before the next one
    longest_late_run: int = 0
    stale_answers: int = 0  # answers with another cycle's IPOC (too late for theirs)
    garbage_datagrams: int = 0
    refused_senders: int = 0


class SimulatedRsiRobot(JobPlcSide):
    """A KUKA robot with RSI on UDP (see the module). ``start``/``close`` the RSI thread."""

    def __init__(
        self,
        settings: RobotSettings,
        clock: SimClock,
        jobs: dict[int, TaughtJob],
        bind_host: str | None = None,
    ) -> None:
        assert settings.kuka_rsi is not None, "interface kuka_rsi needs its section"
        self.settings = settings
        self.rsi: KukaRsiSettings = settings.kuka_rsi
        self.clock = clock
        self.jobs = jobs
        self.motion = RobotMotion(settings.limits, settings.home_pose_mm, clock.now_s())
        self._bind_host = bind_host or self.rsi.robot_host
        self._lock = threading.Lock()  # the motion, the job, the counters, the injections
        self.counters = RsiRobotCounters()
        self.step = JobStep.IDLE
        self.job: TaughtJob | None = None
        self.stop_error = ""  # the robot's message when RSI stopped it
        self.seam_go = False
        self.search_done = False
        # The frame offset the PLC held at robot_search_done's rising edge (base frame, mm):
        # the job's seam is shifted by it (the controller leaves it zero on RSI: RKorr).
        self.frame_offset_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
        self.held = False
        self.touches = JobTouches()  # the job's touch searches (under _lock)
        self._restart_mm = 0.0  # where a held seam restarts along it (0: from its start)
        self._start_seen = False  # robot_job_start as the last PLC scan had it (edges)
        self.answer_delay_ms = 0.0  # injected: the network delays answers this much
        self.late_answers_left: int | None = None  # injected: only so many (None: every one)
        self.loss_share = 0.0  # injected: this share of datagrams, either way, is lost
        self._loss = random.Random(18)  # the same losses every run
        self.unplugged = False  # injected: the cable is pulled
        # RSI's correction in the base frame: what the last answer asked, what is applied.
        self._target_offset_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
        self._offset_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
        self._ipoc = IPOC_START
        self._late_run = 0
        self._rsi_on = False
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._sensor_ip = ""
        # The ground truth's listener (the tracking score) lives on the simulator's event loop;
        # the RSI thread makes the samples and hands them over in one batch per cycle.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._trajectory_listener: Callable[[TrajectorySample], None] | None = None
        self._samples: list[TrajectorySample] = []  # under _lock

    # -- life ---------------------------------------------------------------------------------

    @property
    def address(self) -> str:
        port = self._socket.getsockname()[1] if self._socket else self.rsi.robot_port
        return f"udp {self._bind_host}:{port} -> {self.rsi.sensor_host}:{self.rsi.sensor_port}"

    def describe(self) -> str:
        return f"KUKA RSI robot at {self.address}, {len(self.jobs)} jobs"

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.start_thread()

    def start_thread(self) -> None:
        if self._thread is not None:
            return
        self._sensor_ip = socket.gethostbyname(self.rsi.sensor_host)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        enable_arrival_stamps(sock)  # judged by arrival, not by our reading
        sock.bind((self._bind_host, self.rsi.robot_port or 0))
        sock.setblocking(False)
        self._socket = sock
        self._stopping.clear()
        sys.setswitchinterval(min(sys.getswitchinterval(), RSI_SWITCH_INTERVAL_S))
        self._thread = threading.Thread(target=self._run, name="sim RSI robot", daemon=True)
        self._thread.start()

    async def close(self) -> None:
        self.close_thread()

    def close_thread(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping.set()
            thread.join(timeout=1.0)  # it wakes every cycle
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    # -- what the sensor and the score see (any thread) --------------------------------------

    @property
    def on_trajectory_sample(self) -> Callable[[TrajectorySample], None] | None:
        return self._trajectory_listener

    @on_trajectory_sample.setter
    def on_trajectory_sample(self, listener: Callable[[TrajectorySample], None] | None) -> None:
        self._trajectory_listener = listener
        self.motion.on_trajectory_sample = None if listener is None else self._samples.append

    def _hand_over_samples(self) -> None:
        """Called under _lock: this cycle's samples, with the RSI offset, to the event loop."""
        listener, loop = self._trajectory_listener, self._loop
        if not self._samples or listener is None or loop is None:
            self._samples.clear()
            return
        batch = [replace(sample, pose=self._with_offset(sample.pose)) for sample in self._samples]
        self._samples.clear()

        def deliver() -> None:
            for sample in batch:
                listener(sample)

        with contextlib.suppress(RuntimeError):  # the loop has closed
            loop.call_soon_threadsafe(deliver)

    def _sim_time_at(self, at_real_s: float) -> float:
        return self.clock.now_s() - (time.monotonic() - at_real_s) * self.clock.time_scale

    def tool_pose_at(self, at_real_s: float) -> Pose:
        """Where the tool was at ``at_real_s`` (monotonic), the RSI offset of now on it."""
        with self._lock:
            self._advance()
            return self._with_offset(self.motion.tool_pose_at(self._sim_time_at(at_real_s)))

    def tool_travel_at(self, at_real_s: float | None) -> tuple[float, float, float] | None:
        with self._lock:
            self._advance()
            if at_real_s is None:
                return self.motion.tool_travel()
            return self.motion.tool_travel_at(self._sim_time_at(at_real_s))

    def unplug(self) -> None:
        """The Ethernet cable is pulled: no telegram goes out, none comes in."""
        self.unplugged = True

    def plug_in(self) -> None:
        self.unplugged = False

    # -- the PLC's side -----------------------------------------------------------------------

    def _job_state(self) -> tuple[JobStep, bool, bool]:
        with self._lock:
            return self.step, self.motion.drives_enabled, self.held

    def start_job(self, number: int) -> bool:
        """A rising edge on robot_job_start with ``number`` selected; False if refused."""
        with self._lock:
            job = self.jobs.get(number)
            if job is None or self.step not in (JobStep.IDLE, JobStep.DONE):
                log.warning("simulated RSI robot: job %s not started (step %s)", number, self.step)
                return False
            if not self.motion.drives_enabled:
                return False
            self.job = job
            self.stop_error = ""
            self.motion.stop()
            self._target_offset_mm = self._offset_mm = (0.0, 0.0, 0.0)
            self._late_run = 0
            self.frame_offset_mm = (0.0, 0.0, 0.0)
            self.touches = JobTouches()
            self._restart_mm = 0.0
            search = search_position(job.path, job.search_back_mm)
            above = (search[0], search[1], search[2] + job.clearance_mm)
            self.motion.queue(_pose(above), AIR_SPEED_MM_PER_S, 0)
            self.motion.queue(_pose(search), AIR_SPEED_MM_PER_S / 4, 0)
            self.step = JobStep.APPROACH
            self._rsi_on = True  # RSI_ON before the approach: the found offset moves it
            return True

    def set_seam_go(self, go: bool) -> None:
        with self._lock:
            self.seam_go = go

    def set_search_done(self, done: bool, offset_mm: tuple[float, float, float]) -> None:
        with self._lock:
            if done and not self.search_done:
                self.frame_offset_mm = offset_mm  # read on the rising edge, as the job does
            self.search_done = done

    def set_touch(self, go: bool, number: int, stop: bool) -> None:
        with self._lock:
            self.touches.set_outputs(go, number, stop, self.motion)

    def touch_pose(self) -> Pose:
        """The tool's actual pose now in the part program's torch angles (the wire's contact
        with the true plates, ``sim.devices.touch``): KUKA's down is C = 180."""
        with self._lock:
            self._advance()
            return touch_pose(self._actual_pose(), TORCH_ORIENTATION_DEG[0])

    def _queue_touch(
        self, point: tuple[float, float, float], angles: tuple[float, float, float], speed: float
    ) -> None:
        """A touch search's move, its angles the part program's (under _lock)."""
        rx = angles[0] + TORCH_ORIENTATION_DEG[0]
        self.motion.queue(Pose(*point, rx, angles[1], angles[2]), speed, 0)

    def _shifted(self, point: Any) -> tuple[float, float, float]:
        """A taught point shifted by the frame offset (under _lock)."""
        return tuple(float(p) + d for p, d in zip(point, self.frame_offset_mm, strict=True))  # type: ignore[return-value]

    def set_hold(self, held: bool) -> None:
        """robot_hold: brake on the path; released, go on, or (the seam go dropped while it
        welded) back up for a restart (``sim.devices.robot_job``)."""
        with self._lock:
            self.held = held
            if held:
                self.motion.hold()
            elif self.step is JobStep.WELDING and not self.seam_go and self.job is not None:
                self._back_up_for_restart(self.job)
            else:
                self.motion.resume()

    def _back_up_for_restart(self, job: TaughtJob) -> None:
        """Under _lock: the rest of the seam dropped, back along it by the restart overlap,
        then AT_SEAM_START again (the offset RSI applies rides on top, as on the seam)."""
        self.motion.advance_to(self.clock.now_s())
        here_mm = job.path.locate(self.motion.tool_pose().position_mm)[0]
        self._restart_mm = restart_from_mm(here_mm, self.restart_overlap_mm)
        self.motion.stop()
        speed = job.travel_speed_mm_per_s * 4  # back over the bead, arc off
        for point in back_along(job.path, here_mm, self._restart_mm, PATH_STEP_MM):
            self.motion.queue(_pose(self._shifted(point)), speed, 0)
        self.step = JobStep.BACK_TO_RESTART

    def set_stop(self, stop: bool) -> None:
        """robot_stop: stop, drop the path, end the job (ready again). It also clears a job
        fault, as the KRL template's stop does (RSI_OFF, the program back to its start)."""
        with self._lock:
            if stop and self.step not in (JobStep.IDLE, JobStep.DONE):
                self.motion.stop()
                self.step = JobStep.IDLE
                self._rsi_on = False

    def set_drives_enabled(self, enabled: bool) -> None:
        with self._lock:
            self.motion.set_drives_enabled(enabled)
            if not enabled and self.step not in (JobStep.IDLE, JobStep.DONE):
                self.step = JobStep.FAULT
                self._rsi_on = False

    def actual_tool_pose(self) -> Pose:
        with self._lock:
            self._advance()
            return self._actual_pose()

    @property
    def offset_mm(self) -> tuple[float, float, float]:
        """The RSI correction applied now (base frame, mm)."""
        return self._offset_mm

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            counters = dict(vars(self.counters))
            return {
                "step": str(self.step),
                "job": self.job.name if self.job else None,
                "stop_error": self.stop_error,
                "rsi_on": self._rsi_on,
                "ipoc": self._ipoc,
                **counters,
            }

    # -- the job (under _lock) ----------------------------------------------------------------

    def _advance(self) -> None:
        self.motion.advance_to(self.clock.now_s())
        job = self.job
        # (A touch search's move stopped by robot_touch_stop stands STOPPED: it goes on.)
        standing = self.motion.state is RobotState.IDLE or (
            self.motion.state is RobotState.STOPPED and self.touches.phase is TouchPhase.SEARCHING
        )
        if job is None or self.motion.motion_left() or not standing:
            return
        if self.step is JobStep.AT_SEARCH and self.touches.advance(
            job.searches,
            search_position(job.path, job.search_back_mm),
            self._queue_touch,
            AIR_SPEED_MM_PER_S,
        ):
            return  # a touch search runs (or waits for its go to drop)
        if self.step is JobStep.APPROACH:
            self.step = JobStep.AT_SEARCH
        elif self.step is JobStep.AT_SEARCH and self.search_done:
            self.motion.queue(_pose(self._shifted(job.path[0])), PRESCAN_SPEED_MM_PER_S, 0)
            self.step = JobStep.TO_SEAM_START
        elif self.step in (JobStep.TO_SEAM_START, JobStep.BACK_TO_RESTART):
            self.step = JobStep.AT_SEAM_START
        elif self.step is JobStep.AT_SEAM_START and self.seam_go:
            rest = job.path.remaining(self._restart_mm) if self._restart_mm else job.path
            for point in rest.sampled(PATH_STEP_MM)[1:]:
                self.motion.queue(
                    _pose(self._shifted(point)), job.travel_speed_mm_per_s, 1 + job.number
                )
            self._restart_mm = 0.0
            self.step = JobStep.WELDING
        elif self.step is JobStep.WELDING:
            self.step = JobStep.AT_SEAM_END
        elif self.step is JobStep.AT_SEAM_END and not self.seam_go:
            end = self.motion.tool_pose()  # the programmed end: the offset rides on top
            self.motion.queue(
                _pose((end.x_mm, end.y_mm, end.z_mm + job.clearance_mm)), AIR_SPEED_MM_PER_S, 0
            )
            self.step = JobStep.RETRACT
        elif self.step is JobStep.RETRACT:
            self.step = JobStep.DONE
            self._rsi_on = False  # RSI_OFF at the end of the job

    def _apply_rkorr(self, rkorr: CartesianPose) -> None:
        """RKorr (absolute; base or tool frame) as the offset the robot now slews towards."""
        limit = self.rsi.max_correction_mm  # the POSCORR object's limits, per axis
        offset = tuple(max(-limit, min(limit, v)) for v in rkorr.position_mm)
        if self.rsi.correction_frame == "tool":
            offset = tool_to_base(offset, _kuka_orientation(self.motion.tool_pose()))  # type: ignore[arg-type]
        self._target_offset_mm = offset  # type: ignore[assignment]

    def _slew_offset(self, dt_s: float) -> None:
        """The applied offset moves towards its target no faster than the robot allows."""
        step_mm = self.settings.limits.max_correction_rate_mm_per_s * dt_s
        self._offset_mm = tuple(  # type: ignore[assignment]
            applied + min(step_mm, max(-step_mm, target - applied))
            for applied, target in zip(self._offset_mm, self._target_offset_mm, strict=True)
        )

    def _actual_pose(self) -> Pose:
        """The programmed motion's pose with the RSI offset on it: where the tool really is."""
        return self._with_offset(self.motion.tool_pose())

    def _with_offset(self, pose: Pose) -> Pose:
        dx, dy, dz = self._offset_mm
        return Pose(
            pose.x_mm + dx, pose.y_mm + dy, pose.z_mm + dz, pose.rx_deg, pose.ry_deg, pose.rz_deg
        )

    # -- the RSI thread -----------------------------------------------------------------------

    def _run(self) -> None:
        cycle_s = self.rsi.cycle_ms / 1000
        deadline = time.monotonic()
        while not self._stopping.is_set():
            awaiting = self._send_telegram()
            sent_s = time.monotonic()
            # The sensor has one cycle from when the telegram left. A telegram this simulator
            # sent late (its event loop held the lock) moves the beat on, as it would not on a
            # real robot, rather than shortening the sensor's time to answer.
            deadline = max(deadline + cycle_s, sent_s + cycle_s)
            answered = self._take_answers(awaiting, deadline)
            if awaiting is not None:
                self._judge(answered)

    def _send_telegram(self) -> int | None:
        """Send this cycle's telegram (when RSI is on); its IPOC, or None if none went out."""
        with self._lock:
            self._advance()
            # The IPOC is the robot's clock in ms: simulated time, as its motion runs in it
            # (a cycle at 2x is 8 robot ms), so speeds the controller works out from it are
            # the robot's own.
            self._ipoc = max(self._ipoc + 1, IPOC_START + round(self.clock.now_s() * 1000))
            if not self._rsi_on or self.unplugged:
                self._hand_over_samples()
                return None
            self._slew_offset(self.rsi.cycle_ms / 1000)
            self._hand_over_samples()
            pose = self._actual_pose()
            telegram = RobotTelegram(
                ipoc=self._ipoc,
                actual=CartesianPose(*pose.position_mm, *_kuka_orientation(pose)),
                late_count=self.counters.late_answers,
            )
            self.counters.telegrams_sent += 1
        data = encode_robot_telegram(telegram, self.rsi.precision)
        assert self._socket is not None
        if self.loss_share and self._loss.random() < self.loss_share:
            return telegram.ipoc  # lost on the way: the robot waits for its answer all the same
        try:
            self._socket.sendto(data, (self._sensor_ip, self.rsi.sensor_port))
        except OSError as error:  # nobody listens yet (ICMP refused): a lost telegram
            log.debug("simulated RSI robot: telegram not sent: %s", error)
        return telegram.ipoc

    def _take_answers(self, awaiting: int | None, deadline: float) -> bool:
        """Read answers until ``deadline``; True once one for ``awaiting`` came in time.

        The robot's network stack takes an answer when it arrives, so an answer is judged by
        the kernel's arrival stamp (SO_TIMESTAMPNS), not by when this thread got round to
        reading it: this simulator's own scheduling is not the sensor's lateness. Past the
        deadline, what has arrived is still read once, then judged the same way.
        """
        sock = self._socket
        assert sock is not None
        answered = False
        deadline_wall_s = time.time() + (deadline - time.monotonic())
        while True:
            left_s = deadline - time.monotonic()
            try:
                readable, _, _ = select.select([sock], [], [], max(0.0, left_s))
            except (OSError, ValueError):
                return answered
            if not readable:
                if left_s <= 0:
                    return answered
                continue
            try:
                data, ancillary, _, sender = sock.recvmsg(65_535, ANCILLARY_BYTES)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                continue  # ICMP from a telegram nobody took
            arrived_wall_s = kernel_arrival_s(ancillary) or time.time()
            with self._lock:
                if self.unplugged:
                    continue
                if self.loss_share and self._loss.random() < self.loss_share:
                    continue  # lost on the way back
                if sender != (self._sensor_ip, self.rsi.sensor_port):
                    self.counters.refused_senders += 1
                    continue
                try:
                    answer = decode_sensor_telegram(data)
                except RsiCodecError:
                    self.counters.garbage_datagrams += 1
                    continue
                # The network's injected delay: the answer reaches the robot this much later
                # (only the next ``late_answers_left`` answers, where that is set).
                delay_ms = self.answer_delay_ms
                if delay_ms and self.late_answers_left is not None:
                    if self.late_answers_left <= 0:
                        delay_ms = 0.0
                    elif answer.ipoc == awaiting:
                        self.late_answers_left -= 1
                late = arrived_wall_s + delay_ms / 1000 > deadline_wall_s
                if late or answer.ipoc != awaiting or answered:
                    self.counters.stale_answers += 1
                    continue
                answered = True
                self._apply_rkorr(answer.correction)

    def _judge(self, answered: bool) -> None:
        with self._lock:
            if answered:
                self.counters.answers_on_time += 1
                self._late_run = 0
                return
            self.counters.late_answers += 1
            self._late_run += 1
            self.counters.longest_late_run = max(self.counters.longest_late_run, self._late_run)
            if self._late_run > self.rsi.late_answer_limit and self._rsi_on:
                limit = self.rsi.late_answer_limit
                self.stop_error = f"{RSI_LATE_ERROR} ({self._late_run} in a row, limit {limit})"
                log.warning("simulated RSI robot: %s; stopping", self.stop_error)
                self.motion.stop()
                self.step = JobStep.FAULT
                self._rsi_on = False


def _pose(point: tuple[float, float, float] | Any) -> Pose:
    return Pose(float(point[0]), float(point[1]), float(point[2]), *TORCH_ORIENTATION_DEG)


def _kuka_orientation(pose: Pose) -> tuple[float, float, float]:
    """KUKA's A, B, C (about Z, Y, X) from our pose's rotations about X, Y, Z."""
    return (pose.rz_deg, pose.ry_deg, pose.rx_deg)
