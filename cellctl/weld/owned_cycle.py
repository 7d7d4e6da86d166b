"""One seam welded by a robot that owns its motion (``robot.interface: kuka_rsi | abb_egm``).

The robot runs its own taught job for the seam (``robot_job`` in the part program, numbered in
``robot.jobs``); the controller does not move it. What the controller does, in order:

1. sets the procedure on the power source, selects the job and starts it through the PLC
   (``cellctl.weld.robot_job``); the job approaches its search position before the seam's
   start with its sensor interface on and raises ``robot_at_search`` (F143 if not in time,
   F135 if the job faults);
2. seam finding there (``cellctl.weld.owned_search``: the laser's find and pre-scan, or the
   ``PathCorrector``'s offset); the shift goes to the robot as the held path correction
   (RSI) or as a frame offset the job reads (EGM), the tracking's corrections on top of it
   (docs/architecture.md, "A robot that owns its motion", says why); the job goes on to the
   seam's start and raises ``robot_at_seam_start``;
3. expects the real-time stream from now on (a lost stream is F132, the robot stopping on its
   interface F135: ``RobotOwnedMotion``'s fault listener raises them);
4. strikes the arc (the power source stays on the controller's link), then raises
   ``robot_seam_go``: the job runs the seam;
5. while the seam runs: every correction period the robot's actual pose (the stream's last
   sample) is projected on the taught path, which gives the path position; the corrector's
   correction there goes to the robot in the seam frame there; every sample period the arc
   is sampled into the seam's monitor, as on the serial cycle;
6. at ``robot_at_seam_end``: crater fill, arc off, ``robot_seam_go`` dropped; the job lifts
   clear and raises ``robot_job_done``; the seam's record is written.

Faults are reported to the ``FaultReporter`` and end the seam with ``CycleInterrupted``; the
controller's reaction takes the arc off and holds the robot through its I/O (``robot_hold``);
this cycle never decides a hold. After Unhold the part run gives the seam back with where it
stood (``SeamProgress``) and ``resume_seam`` takes it up: the seam go dropped, then the hold,
the job backs up ``arc.restart_overlap_mm`` along the seam and stands at the restart, where
the arc strikes again over the bead, as on the serial cycle (docs/robots/*/README.md, "A held
seam, taken up again", say what the robot's job must do for it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from cellctl.cell.faults import FaultCode, FaultReporter, power_source_fault
from cellctl.cell.records import RecordNotWritten, SeamSummary
from cellctl.cell.steps import Step
from cellctl.config.models import ControllerSettings, PartProgram, Procedure, Seam
from cellctl.sensing.protocol import SeamSensing, TrackingLost
from cellctl.sensing.touch import FoundFrame
from cellctl.weld.arc_end import ArcEndLink, fill_crater, switch_arc_off
from cellctl.weld.cycle import CycleInterrupted, SeamProgress, SeamRecords
from cellctl.weld.monitoring import SeamMonitor
from cellctl.weld.owned_robot import OwnedRobot
from cellctl.weld.owned_search import OwnedSeamSearch, settle_on
from cellctl.weld.owned_touch import OwnedTouchSensing, TouchCorrector
from cellctl.weld.robot_job import PlcRobotJobIo, RobotJobFaulted, RobotJobTimeout
from drivers.codecs.power_source_protocol import PowerSourceStatus
from drivers.codecs.seam_path import SeamPath
from drivers.codecs.settings import RobotSettings
from drivers.errors import DeviceError
from drivers.power_source import PowerSourceDriver
from drivers.robot.owned import (
    OwnedLinkState,
    PathCorrection,
    RobotFeedback,
    RobotOwnedMotion,
)
from drivers.robot.serial import MotionRefused

log = logging.getLogger(__name__)

AIR_SPEED_FOR_TIMEOUTS_MM_PER_S = 50.0  # the slowest approach a job may make, for timeouts
CORRECTION_PERIOD_S = 0.004  # one RSI cycle: a fresher correction would wait for the next
MAX_PATH_ID = 65535  # path ids the tracking knows seams by: 1..65535, one per tracked seam


class PathCorrector(Protocol):
    """Where the seam really is, as (lateral, vertical) mm offsets from the taught path in the
    seam frame: ``find`` before the arc (the joint at the start; ``JointNotFound`` if none),
    ``correction_at`` while it burns (the whole offset at a path position, the found one
    included)."""

    async def find(self, seam: Seam, taught: SeamPath) -> tuple[float, float]: ...

    def correction_at(self, position_mm: float) -> tuple[float, float]: ...


@dataclass
class HeldOffset:
    """A cell without tracking: the offset found at the start (none: the taught path), held."""

    lateral_mm: float = 0.0
    vertical_mm: float = 0.0

    async def find(self, seam: Seam, taught: SeamPath) -> tuple[float, float]:
        return (self.lateral_mm, self.vertical_mm)

    def correction_at(self, position_mm: float) -> tuple[float, float]:
        return (self.lateral_mm, self.vertical_mm)


@dataclass
class LessOffset:
    """A corrector's offsets less the one the job took as its frame offset (EGM, a seam found
    without the laser): the path correction carries only the rest along the seam."""

    inner: PathCorrector
    taken_mm: tuple[float, float]

    async def find(self, seam: Seam, taught: SeamPath) -> tuple[float, float]:
        lateral, vertical = await self.inner.find(seam, taught)
        return (lateral - self.taken_mm[0], vertical - self.taken_mm[1])

    def correction_at(self, position_mm: float) -> tuple[float, float]:
        lateral, vertical = self.inner.correction_at(position_mm)
        return (lateral - self.taken_mm[0], vertical - self.taken_mm[1])


@dataclass(frozen=True)
class _FoundSeam:
    """What seam finding gave for the seam in hand, kept for a resume after a hold: the path
    the job runs (EGM: shifted by the frame offset it took), the offset held on it, and the
    corrector that streams while it runs."""

    seam: str
    path: SeamPath
    held_mm: tuple[float, float]
    corrector: PathCorrector


class TravelSpeed:
    """The robot's speed along the seam from two samples of its stream, by its own clock (the
    telegrams' robot time): heat input needs the robot's travel speed, as on the serial link,
    and the controller's clock would not give it when the simulator runs faster than real."""

    def __init__(self) -> None:
        self._last: RobotFeedback | None = None

    def speed_mm_per_s(self, feedback: RobotFeedback | None) -> float | None:
        last, self._last = self._last, feedback
        if feedback is None or last is None:
            return None
        dt_s = feedback.robot_time_s - last.robot_time_s
        if dt_s <= 0:
            self._last = last  # the same sample again: keep the older one
            return None
        return math.dist(feedback.position_mm, last.position_mm) / dt_s


def path_position(taught: SeamPath, feedback: RobotFeedback, hint_mm: float | None) -> float:
    """The robot's actual pose projected on the taught path: the path position, mm."""
    return taught.locate(feedback.position_mm, hint_mm)[0]


class OwnedSeamCycle:
    """Welds one seam at a time with a robot that runs its own job (see the module)."""

    def __init__(
        self,
        *,
        job: PlcRobotJobIo,
        robot: RobotOwnedMotion,
        robot_settings: RobotSettings,
        power_source: PowerSourceDriver,
        faults: FaultReporter,
        settings: ControllerSettings,
        sensing: SeamSensing | None = None,
        tracked: OwnedRobot | None = None,
    ) -> None:
        """``sensing`` with ``tracked`` (the controller's view of this robot): the laser
        tracking corrects the seams whose program says so (see ``_track``)."""
        self.sensing = sensing
        self.tracked = tracked
        self.job = job
        self.robot = robot
        self.robot_settings = robot_settings
        self.power_source = power_source
        self.faults = faults
        self.settings = settings
        self.sample_period_s = settings.monitoring.sample_period_ms / 1000
        self.step = Step.APPROACH  # where the seam in hand stands (the operator's screen)
        self.position_mm = 0.0  # the last path position the correction stream worked out
        self.corrections_sent = 0
        self.tracking_figures: dict[str, float] | None = None  # the last tracked seam's
        self.found_mm = (0.0, 0.0)  # the last seam's offset found before the arc
        self.touch: OwnedTouchSensing | None = None  # the last seam found by touch's
        self._found: _FoundSeam | None = None  # the seam in hand's, from its search
        self.weld_position_mm = 0.0  # how far along the seam in hand the bead reaches
        self._path_id = 0  # the last tracked seam's path id
        robot.add_fault_listener(self._on_link_fault)
        self.search = OwnedSeamSearch(
            job=job, robot=robot, sensing=sensing, wait=self._wait, fault=self._fault
        )

    def corrector_for(
        self,
        part: PartProgram,
        seam: Seam,
        found: FoundFrame,
        tell: Callable[[str], None] = lambda text: None,
    ) -> PathCorrector:
        """A seam's corrector: found by touch through its job (``cellctl.weld.owned_touch``,
        the part's frame kept in ``found``) when its program says so, else none held."""
        if not seam.sensing.seam_finding.by_touch:
            return HeldOffset()
        corrector = TouchCorrector(
            job=self.job,
            robot=self.robot,
            power_source=self.power_source,
            part=part,
            seam=seam,
            found=found,
            fault=self._fault,
            tell=tell,
        )
        self.touch = corrector.sensing  # the last seam's touches and their figures
        return corrector

    # -- faults -------------------------------------------------------------------------------

    def _on_link_fault(self, state: OwnedLinkState, text: str) -> None:
        """The stream's faults, on the event loop: the reaction (arc off, hold) is the
        controller's; the seam in progress then fails on its next check."""
        code = (
            FaultCode.ROBOT_INTERFACE_STOP
            if state is OwnedLinkState.STOPPED_WITH_ERROR
            else FaultCode.ROBOT_LINK
        )
        self.faults.raise_fault(code, f"{self.robot.device} at {self.robot.address}: {text}")

    def _fault(self, code: FaultCode, detail: str) -> None:
        self.faults.raise_fault(code, detail)
        raise CycleInterrupted(detail)

    def _job_fault(self, detail: str) -> None:
        """The job's fault signal, seen while this cycle has the seam in hand: F135, booked
        once (the device watch does not book it again as the robot's fault, F140)."""
        if self.tracked is not None:
            self.tracked.job_fault_booked()
        self._fault(FaultCode.ROBOT_INTERFACE_STOP, detail)

    def _check_link(self) -> None:
        state = self.robot.state
        if state is OwnedLinkState.STOPPED_WITH_ERROR:
            raise CycleInterrupted(self.robot.fault_text)  # reported by _on_link_fault
        if state is OwnedLinkState.LOST:
            raise CycleInterrupted(self.robot.fault_text)

    async def _wait(self, condition, what: str, timeout_s: float) -> None:  # type: ignore[no-untyped-def]
        try:
            await self.job.wait_for(condition, what, timeout_s)
        except RobotJobTimeout as error:
            self._fault(FaultCode.ROBOT_JOB_SIGNAL_LATE, str(error))
        except RobotJobFaulted as error:
            self._job_fault(f"{error}: {self.robot.fault_text}")
        except DeviceError as error:
            self._fault(FaultCode.PLC_LINK, str(error))

    # -- the seam -----------------------------------------------------------------------------

    async def weld_seam(
        self,
        seam: Seam,
        procedure: Procedure,
        corrector: PathCorrector,
        monitor: SeamMonitor | None = None,
    ) -> SeamSummary:
        """Weld ``seam`` by its robot job (see the module); its summary for the record (of
        ``monitor``, when given: the part's progress keeps it across a hold)."""
        assert seam.robot_job is not None  # the config check requires it
        number = self.robot_settings.jobs[seam.robot_job]
        taught = seam.taught_path()
        monitor = monitor or self.new_monitor(seam, procedure)
        self.weld_position_mm = 0.0
        try:
            if not self.job.signals().ready:
                self._fault(FaultCode.ROBOT_NOT_READY, f"robot not ready for job {number}")
            self.step = Step.APPROACH
            await self._set_weld_parameters(procedure)
            self.robot.set_path_correction(PathCorrection(0.0, 0.0, taught.frame_at(0.0)))
            try:
                await self.job.start_job(number)
            except RobotJobTimeout as error:
                self._fault(FaultCode.ROBOT_JOB_SIGNAL_LATE, f"seam {seam.name}: {error}")
            # Seam finding at the job's search position, up to the job standing at the start
            # (cellctl.weld.owned_search): the path the job runs (EGM: shifted by the frame
            # offset it took) and the correction held on it.
            self.step = Step.SEAM_FINDING
            found_seam = await self.search.search(seam, taught, corrector, self._approach_s(seam))
            self.found_mm = found_seam.found_mm
            if found_seam.by_laser:  # the found offset held (the part run's corrector has none)
                corrector = HeldOffset(*found_seam.held_mm)
            elif found_seam.frame_offset_mm != (0.0, 0.0, 0.0):  # EGM: the job took the start's
                corrector = LessOffset(corrector, found_seam.found_mm)
            self._found = _FoundSeam(seam.name, found_seam.path, found_seam.held_mm, corrector)
            self.robot.expect_stream(True)
            await self._weld_from_start_point(seam, procedure, monitor, 0.0)
        except DeviceError as error:
            self._fault(FaultCode.POWER_SOURCE_LINK, f"seam {seam.name}: {error}")
        finally:
            self.robot.expect_stream(False)
        return monitor.summary(taught.length_mm)

    async def resume_seam(
        self,
        seam: Seam,
        procedure: Procedure,
        corrector: PathCorrector,
        monitor: SeamMonitor,
        held_at: Step,
    ) -> SeamSummary:
        """Take up ``seam``, held at step ``held_at`` with its bead laid to
        ``weld_position_mm`` (the robot still held through its I/O), the way the serial
        cycle does: the arc restarts ``arc.restart_overlap_mm`` back over the bead.

        Through the job's signals: the seam go dropped and the hold released, the job backs
        up along the seam by its restart overlap (the robot's arc package's backtrack, set to
        the same distance) and raises ``robot_at_seam_start``; then the found offset again,
        the arc, the go, and the rest of the seam as ever. Held with the bead done (crater
        fill, arc off), it only ends the job; held before the arc, the job starts afresh.
        """
        assert seam.robot_job is not None
        number = self.robot_settings.jobs[seam.robot_job]
        taught = seam.taught_path()
        signals = self.job.signals()
        if signals.job_fault:
            # The job ended on its fault: it cannot take the seam up where the bead ends.
            detail = (
                f"seam {seam.name} was interrupted at {held_at} and its job {number} ended on "
                f"a fault; a robot job does not resume a seam it ended: check the seam, "
                "stop and reset the cell"
            )
            self._fault(FaultCode.ROBOT_JOB_SIGNAL_LATE, detail)
        welded_mm = self.weld_position_mm
        try:
            if held_at in (Step.CRATER_FILL, Step.ARC_OFF, Step.RETRACT, Step.RECORD):
                if held_at is Step.CRATER_FILL:
                    monitor.notes.append("crater fill interrupted")
                self.step = Step.ARC_OFF
                await self._arc_off(seam)
                self.step = Step.RETRACT
                await self.job.set_seam_go(False)
                await self._release_hold()
                await self._wait(lambda s: s.job_done, f"job {number} done", self._approach_s(seam))
                self.step = Step.RECORD
                return monitor.summary(taught.length_mm)
            if welded_mm <= 0.0:
                # No bead yet: the job starts over (it stands where it was held).
                await self._stop_job(number)
                return await self.weld_seam(seam, procedure, corrector, monitor)
            self.step = Step.APPROACH
            await self._set_weld_parameters(procedure)
            await self.job.set_seam_go(False)
            await self._release_hold()
            await self._wait(
                lambda s: s.at_seam_start,
                f"job {number} back at its restart",
                self._approach_s(seam),
            )
            self.robot.expect_stream(True)
            restart_mm = max(0.0, welded_mm - self.settings.arc.restart_overlap_mm)
            # As on the serial cycle, a hold taken up again is no defect of the seam: the
            # record does not count it as an arc break's restart.
            log.info(
                "seam %s held at %.1f mm, restarts at %.1f mm (overlap %g mm)",
                seam.name,
                welded_mm,
                restart_mm,
                self.settings.arc.restart_overlap_mm,
            )
            if self._found is None or self._found.seam != seam.name:
                # No search of this seam in this run of the controller: its taught path.
                self._found = _FoundSeam(seam.name, taught, (0.0, 0.0), corrector)
            await self._weld_from_start_point(seam, procedure, monitor, restart_mm)
        except DeviceError as error:
            self._fault(FaultCode.POWER_SOURCE_LINK, f"seam {seam.name}: {error}")
        finally:
            self.robot.expect_stream(False)
        return monitor.summary(taught.length_mm)

    async def _weld_from_start_point(
        self, seam: Seam, procedure: Procedure, monitor: SeamMonitor, from_mm: float
    ) -> None:
        """The job stands at its seam start (or a restart ``from_mm`` along the seam): the
        found offset on, the arc, the go, the seam to its end, crater, arc off, job done."""
        number = self.robot_settings.jobs[seam.robot_job or ""]
        assert self._found is not None
        assert self._found.seam == seam.name
        taught, found, corrector = self._found.path, self._found.held_mm, self._found.corrector
        self._correct(taught, found, from_mm)
        if self.robot.corrects_before_seam:
            await settle_on(self.robot, taught, found, CORRECTION_PERIOD_S, self._check_link)
        # else: the robot takes the held offset once the seam runs and slews onto it at its
        # rate limit (EGM): no use waiting for it to stand there before the arc.
        self.step = Step.ARC_START
        await self._arc_start(seam, procedure, monitor)
        self.step = Step.WELDING
        self.position_mm = from_mm
        await self.job.set_seam_go(True)
        run_s = (
            taught.length_mm - from_mm
        ) / procedure.travel_speed_mm_per_s * 1.5 + self.settings.motion.move_timeout_margin_s
        tracking = await self._track(seam, taught, found)
        try:
            await self._run_seam(taught, corrector, procedure, monitor, run_s, tracking)
        finally:
            if tracking:
                self.tracking_figures = await self._untrack()
        self.weld_position_mm = taught.length_mm
        if procedure.crater_fill:
            self.step = Step.CRATER_FILL
            await self._crater_fill(procedure, monitor)
        self.step = Step.ARC_OFF
        await self._arc_off(seam)
        self.step = Step.RETRACT
        await self.job.set_seam_go(False)
        await self._wait(lambda s: s.job_done, f"job {number} done", self._approach_s(seam))
        self.step = Step.RECORD

    def new_monitor(self, seam: Seam, procedure: Procedure) -> SeamMonitor:
        return SeamMonitor(
            seam.name,
            procedure,
            reaction_time_s=self.settings.monitoring.reaction_time_ms / 1000,
            max_sample_gap_s=4 * self.sample_period_s,
        )

    @staticmethod
    def _approach_s(seam: Seam) -> float:
        """Time a job may take to reach its seam start (or lift clear), at the slowest."""
        return (seam.approach_clearance_mm * 4 + 500) / AIR_SPEED_FOR_TIMEOUTS_MM_PER_S

    async def _release_hold(self) -> None:
        """robot_hold off, through the controller's view of the robot when there is one (it
        keeps the held state its status reports)."""
        if self.tracked is not None:
            await self.tracked.resume()
        else:
            await self.job.set_hold(False)

    async def _stop_job(self, number: int) -> None:
        """End the job where it stands (robot_stop) and wait until it is ready again."""
        await self.job.stop_job()
        await self._release_hold()
        await self._wait(lambda s: s.ready, f"job {number} stopped, robot ready", 5.0)

    async def _track(self, seam: Seam, taught: SeamPath, found: tuple[float, float]) -> bool:
        """The laser tracking on this seam, if there is a sensor and the seam's program asks:
        the tracked robot's statuses feed its torch estimate, its corrections go out through
        the stream on top of the held offset. True when it tracks."""
        self.tracking_figures = None
        if self.sensing is None or self.tracked is None or not seam.sensing.tracking:
            return False
        # A new path id per tracked seam: the tracking's torch estimate keeps the last seam's
        # statuses, and with the same id it would take the torch for standing at that seam's end.
        self._path_id = self._path_id % MAX_PATH_ID + 1
        path_id = self._path_id
        self.tracked.track(path_id, taught, found)
        try:
            await self.sensing.start_tracking(seam, taught, path_id)  # type: ignore[arg-type]
        except DeviceError as error:
            await self.tracked.untrack()
            self._fault(FaultCode.SENSOR_LINK, f"seam {seam.name}: {error}")
        return True

    async def _untrack(self) -> dict[str, float] | None:
        assert self.sensing is not None
        assert self.tracked is not None
        try:
            return await self.sensing.stop_tracking()
        finally:
            await self.tracked.untrack()

    def _correct(self, taught: SeamPath, offset: tuple[float, float], position_mm: float) -> None:
        """The offset at ``position_mm`` to the robot, in the seam frame there."""
        s_mm = min(max(position_mm, 0.0), taught.length_mm)
        try:
            self.robot.set_path_correction(
                PathCorrection(offset[0], offset[1], taught.frame_at(s_mm))
            )
        except MotionRefused as error:
            self._fault(FaultCode.ROBOT_REFUSED_MOTION, str(error))
        self.corrections_sent += 1

    async def _run_seam(
        self,
        taught: SeamPath,
        corrector: PathCorrector,
        procedure: Procedure,
        monitor: SeamMonitor,
        timeout_s: float,
        tracking: bool = False,
    ) -> None:
        """Stream corrections (the corrector's, or the laser tracking's when it tracks) and
        sample the arc until the job reaches the seam's end."""
        stream = (
            None
            if tracking
            else asyncio.create_task(self._stream(taught, corrector), name="owned corrections")
        )
        deadline = time.monotonic() + timeout_s
        travel = TravelSpeed()
        break_s = self.settings.arc.break_time_ms / 1000
        arc_out_since: float | None = None
        try:
            while True:
                self._check_link()
                if stream is not None and stream.done():
                    stream.result()  # a refused correction: its fault is reported
                if tracking:
                    assert self.sensing is not None
                    try:
                        self.sensing.check_tracking()
                    except TrackingLost as error:
                        self._fault(FaultCode.TRACKING_LOST, str(error))
                    except DeviceError as error:
                        self._fault(FaultCode.SENSOR_LINK, str(error))
                signals = self.job.signals()
                if signals.job_fault:
                    self._job_fault("the robot's job reports a fault")
                if signals.at_seam_end:
                    return
                if time.monotonic() > deadline:
                    self._fault(
                        FaultCode.ROBOT_JOB_SIGNAL_LATE, f"no seam end within {timeout_s:.0f} s"
                    )
                power = await self.power_source.read_status()
                now = time.monotonic()
                if power.error:
                    self._fault(
                        FaultCode.POWER_SOURCE_ERROR, f"power source error {power.error_code}"
                    )
                feedback = self.robot.latest_feedback()
                speed = travel.speed_mm_per_s(feedback)
                if power.arc_established:
                    arc_out_since = None
                    if feedback is not None:  # where the bead reaches: a hold resumes there
                        self.weld_position_mm = max(
                            self.weld_position_mm,
                            path_position(taught, feedback, self.weld_position_mm),
                        )
                    monitor.add(
                        now,
                        power.actual_current_a,
                        power.actual_voltage_v,
                        power.actual_wire_feed_m_per_min,
                        tool_speed_mm_per_s=speed,
                    )
                else:
                    arc_out_since = arc_out_since or now
                    if now - arc_out_since > break_s:
                        monitor.arc_breaks += 1
                        self._fault(FaultCode.ARC_BREAK, f"arc out at {self.position_mm:.1f} mm")
                await asyncio.sleep(self.sample_period_s)
        finally:
            if stream is not None:
                stream.cancel()
                with contextlib.suppress(asyncio.CancelledError, CycleInterrupted):
                    await stream

    async def _stream(self, taught: SeamPath, corrector: PathCorrector) -> None:
        """Every correction period: path position from the actual pose, its correction out."""
        last_sequence = None
        while True:
            feedback = self.robot.latest_feedback()
            if feedback is not None and feedback.sequence != last_sequence:
                last_sequence = feedback.sequence
                self.position_mm = path_position(taught, feedback, self.position_mm)
                self._correct(taught, corrector.correction_at(self.position_mm), self.position_mm)
            await asyncio.sleep(CORRECTION_PERIOD_S)

    # -- the power source (as the serial cycle drives it) ------------------------------------

    async def _set_weld_parameters(self, procedure: Procedure) -> None:
        if procedure.job_number is not None:
            await self.power_source.set_job(procedure.job_number)
        else:
            await self.power_source.set_setpoints(
                procedure.current_a, procedure.voltage_v, procedure.wire_feed_m_per_min
            )

    async def _arc_start(self, seam: Seam, procedure: Procedure, monitor: SeamMonitor) -> None:
        start = procedure.arc_start
        tries = start.retries + 1
        for attempt in range(1, tries + 1):
            self._check_link()
            await self.power_source.arc_on()
            deadline = time.monotonic() + start.ignition_timeout_ms / 1000
            while time.monotonic() < deadline:
                status = await self.power_source.read_status()
                if status.arc_established:
                    monitor.arc_interrupted()
                    return
                if status.error:
                    break
                await asyncio.sleep(self.sample_period_s)
            await self.power_source.arc_off()
            if attempt == tries:
                break
            await self.power_source.wire_retract(True)
            await asyncio.sleep(start.wire_retract_ms / 1000)
            await self.power_source.wire_retract(False)
            if (await self.power_source.read_status()).error:
                await self.power_source.reset_error()
        self._fault(FaultCode.ARC_START_FAILED, f"seam {seam.name}: no arc after {tries} tries")

    async def _crater_fill(self, procedure: Procedure, monitor: SeamMonitor) -> None:
        crater = procedure.crater_fill
        assert crater is not None
        await fill_crater(self._arc_end(), crater, monitor)

    async def _arc_off(self, seam: Seam) -> None:
        def still_burning() -> None:
            self._fault(FaultCode.STEP_TIMEOUT, f"seam {seam.name}: arc burns after arc off")

        await switch_arc_off(self._arc_end(still_burning))

    def _arc_end(self, still_burning: Callable[[], None] | None = None) -> ArcEndLink:
        """The power source for the arc's end (``arc_end``), as the serial cycle has it: a
        lost link raises ``DeviceError`` (``weld_seam`` reports it), an error is its fault."""

        def error(status: PowerSourceStatus) -> None:
            self._fault(
                power_source_fault(status.error_code),
                f"power source error {status.error_code} ({status.error_text})",
            )

        async def command(request: Awaitable[Any]) -> Any:
            return await request

        return ArcEndLink(
            power_source=self.power_source,
            status=self.power_source.read_status,
            command=command,
            error=error,
            still_burning=still_burning or (lambda: None),
            sample_period_s=self.sample_period_s,
        )


class OwnedPartCycle:
    """The seams of one part, each by its robot job, in order (what ``PartRun`` runs when the
    robot owns its motion, in place of ``cellctl.weld.cycle.WeldCycle``): ``weld_seam``
    welds one and commits its record durably before it returns.

    A seam held mid-way is taken up again after Unhold (``OwnedSeamCycle.resume_seam``): the
    job backs up by the restart overlap and the arc restarts there, as on the serial cycle. A
    seam whose job ended on a fault cannot be: it is reported (F143) and the part ends
    incomplete.
    """

    def __init__(
        self,
        seams: OwnedSeamCycle,
        *,
        part: PartProgram,
        procedures: dict[str, Procedure],
        records: SeamRecords,
        part_id: int,
        corrector: Callable[[Seam], PathCorrector],
        settings: ControllerSettings,
    ) -> None:
        self.seams = seams
        self.part = part
        self.procedures = procedures
        self.records = records
        self.part_id = part_id
        self.corrector = corrector
        self.settings = settings
        self.progress: SeamProgress | None = None
        self.summaries: list[SeamSummary] = []

    async def weld_seam(self, index: int, resume: SeamProgress | None = None) -> SeamSummary:
        """Weld seam ``index`` by its job, or take it up where ``resume`` (the progress kept
        across a hold) left it (``OwnedSeamCycle.resume_seam``); its record is durable when
        this returns."""
        seam = self.part.seams_in_order()[index]
        procedure = self.procedures[seam.procedure]
        if resume is not None and resume.index == index:
            progress = self.progress = resume
            self.seams.weld_position_mm = resume.weld_position_mm
            welding = self.seams.resume_seam(
                seam, procedure, self.corrector(seam), progress.monitor, progress.step
            )
        else:
            progress = self.progress = SeamProgress(
                index=index,
                seam=seam,
                procedure=procedure,
                monitor=self.seams.new_monitor(seam, procedure),
            )
            welding = self.seams.weld_seam(seam, procedure, self.corrector(seam), progress.monitor)
        watcher = asyncio.create_task(self._show_steps(progress), name="owned seam steps")
        tracked = self.seams.tracked
        if tracked is not None:
            tracked.seam_in_hand = True  # its job's faults are this cycle's to book
        try:
            summary = await welding
            found = self.seams.found_mm
            summary.tracking = {
                **(self.seams.tracking_figures or {}),
                "found_lateral_mm": found[0],
                "found_vertical_mm": found[1],
            }
        finally:
            if tracked is not None:
                tracked.seam_in_hand = False
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        progress.step = Step.RECORD
        try:
            await self.records.record_seam(self.part_id, summary, progress.started_at, time.time())
        except RecordNotWritten as error:
            self.seams.faults.raise_fault(
                FaultCode.RECORD_NOT_WRITTEN, f"seam {seam.name}: {error}"
            )
            raise CycleInterrupted(str(error)) from None
        self.summaries.append(summary)
        if summary.verdict == "bad":
            self.seams.faults.raise_fault(
                FaultCode.OUT_OF_BAND, f"seam {seam.name}: {'; '.join(summary.reasons)}"
            )
        return summary

    async def _show_steps(self, progress: SeamProgress) -> None:
        """The seam cycle's step and the bead's reach onto the progress the part run shows
        (and keeps across a hold)."""
        while True:
            progress.step = self.seams.step
            progress.weld_position_mm = self.seams.weld_position_mm
            await asyncio.sleep(self.seams.sample_period_s)
