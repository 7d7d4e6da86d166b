"""The weld cycle of one part: its seams in order, each from approach to a durable record.

For every seam (``SeamProgress.step``, a ``cellctl.cell.steps.Step``, says where it stands):

0. RESCAN        a later pass of a seam that asks for it: the groove measured, the pass
                 adapted, left out or one added (``cellctl.weld.rescan``)
0. TEMPERATURE   the part within the procedure's preheat and interpass limits (if it sets
                 any), waiting for it to cool if it is too hot (``cellctl.weld.temperature``)
1. APPROACH      move above the taught start, then down to it
2. SEAM_FINDING  ask the sensing hook where the joint really is (``cellctl.sensing.protocol``)
3. ARC_START     setpoints, arc on; if it does not ignite within the procedure's ignition
                 timeout: arc off, retract the wire, try again, up to ``arc_start.retries``
4. WELDING       run the path at the procedure's travel speed while sampling the arc; an arc
                 break longer than ``arc.break_time_ms`` either restarts with an overlap (if
                 configured) or holds with a fault
5. CRATER_FILL   the procedure's crater parameters for its crater time
6. ARC_OFF       arc off; a wire stuck in the pool is a fault
7. RETRACT       lift the torch clear
8. RECORD        the seam's summary is committed to the store, durably, before the next seam

Nothing here decides what a fault does: the cycle reports it to its ``FaultReporter`` and stops
with ``CycleInterrupted``; the controller's fault reaction (arc off, robot hold, state machine)
takes over and cancels the cycle. After a hold the controller restarts the cycle with the
``SeamProgress`` it was cancelled at, so the seam resumes where its bead ends.

The cycle works through its collaborators: the robot through ``Motion`` (moves and waits, one
lost status forgiven), the power source's driver, the seam sensing, the seam records, the
fault reporter, and the link watch that counts each device's failed requests.

In dry-run mode the arc is never struck: the robot runs every path at its travel speed and the
seams are recorded as dry runs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from cellctl.cell.faults import (
    LINK_FAULTS,
    FaultCode,
    FaultReporter,
    power_source_fault,
    robot_fault,
)
from cellctl.cell.geometry import Point, above, length_mm, point_at, remaining
from cellctl.cell.records import RecordNotWritten, SeamSummary
from cellctl.cell.steps import Step
from cellctl.config.models import (
    ControllerSettings,
    PartProgram,
    Procedure,
    Seam,
    TrackingSource,
)
from cellctl.motion.moves import (
    ARRIVED_TOLERANCE_MM,
    DeviceHealth,
    Motion,
    MotionTimeout,
    RobotStopped,
    TorchLean,
    at_rest,
    poll,
    queue_path,
)
from cellctl.sensing.arc import ArcTracking
from cellctl.sensing.groove import GrooveNotMeasured
from cellctl.sensing.protocol import JointNotFound, SeamSensing, TrackingLost
from cellctl.sensing.touch import (
    FoundFrame,
    NoTouchSearch,
    TouchAborted,
    TouchFitInconsistent,
    TouchNotFound,
    TouchSensing,
)
from cellctl.weld.arc_end import ArcEndLink, fill_crater, switch_arc_off
from cellctl.weld.monitoring import SeamMonitor
from cellctl.weld.passes import (
    PassPlan,
    RootPathMemory,
    pass_path,
    plan_passes,
    seam_of_passes,
)
from cellctl.weld.rescan import decide
from cellctl.weld.resume import rescan_counts, root_path_of, table_after
from cellctl.weld.temperature import (
    NoPartTemperature,
    PartDidNotCool,
    PartThermometer,
    PartTooCold,
    PassTemperatureRecord,
    check_before_pass,
)
from cellctl.weld.torch_care import TcpNotMeasured, TcpOutOfLimits, TorchCare
from drivers.codecs.power_source_protocol import PowerSourceError, PowerSourceStatus
from drivers.codecs.robot_protocol import ResultCode, RobotState, RobotStatus
from drivers.codecs.seam_path import SeamPath
from drivers.codecs.weave import WeaveShape
from drivers.errors import DeviceError, DeviceRejected, FramesRefused
from drivers.power_source import PowerSourceDriver

log = logging.getLogger(__name__)
T = TypeVar("T")


class CycleInterrupted(Exception):
    """A fault was reported; the controller's reaction takes over from here."""


@dataclass
class SeamProgress:
    """Where one seam stands; kept across a hold so the seam can resume."""

    index: int
    seam: Seam
    procedure: Procedure
    monitor: SeamMonitor
    started_at: float = field(default_factory=time.time)
    step: Step = Step.APPROACH
    path: list[Point] | None = None  # the path to weld (after seam finding)
    path_id: int = 0
    weld_position_mm: float = 0.0  # how far along the path the bead reaches
    arc_burning: bool = False
    restarts: int = 0
    tracking: dict[str, float] | None = None
    temperature: PassTemperatureRecord | None = None
    # Multi-pass (cellctl.weld.passes): this pass, what the robot did on the root pass (while
    # it runs), the root path (once it is welded) and the records of the passes done.
    plan: PassPlan | None = None  # None: the seam's one pass
    root: RootPathMemory | None = None
    root_path: list[Point] | None = None
    passes_done: list[SeamSummary] = field(default_factory=list)
    # The seam's passes as they stand (a re-scan may adapt, leave out or add some), and this
    # pass's re-scan: what it measured and changed (None: not re-scanned yet).
    plans: list[PassPlan] = field(default_factory=list)
    rescan: dict | None = None
    passes_skipped: int = 0
    passes_added: int = 0

    @property
    def welded_to_end(self) -> bool:
        return self.step in (Step.CRATER_FILL, Step.ARC_OFF, Step.RETRACT, Step.RECORD)

    @property
    def torch(self) -> TorchLean:
        return self.plan.torch(self.seam) if self.plan else self.seam.torch

    @property
    def weave(self) -> WeaveShape:
        """The weave the robot runs on this pass's path (``PassPlan.weave``)."""
        shape = self.procedure.weave.shape(self.procedure.travel_speed_mm_per_s)
        return self.plan.weave(shape) if self.plan else shape

    @property
    def last_pass(self) -> bool:
        return self.plan is None or self.plan.number == self.plan.count

    @property
    def rescan_due(self) -> bool:
        """A later pass of a seam that re-scans, not re-scanned yet and not begun."""
        return (
            self.seam.rescan is not None
            and self.plan is not None
            and not self.plan.is_root
            and self.rescan is None
            and self.path is None
        )


class SeamRecords(Protocol):
    """Where a seam's record goes (the production store): durable when ``record_seam``
    returns, else ``RecordNotWritten``."""

    async def record_seam(
        self, part_id: int, summary: SeamSummary, started_at: float, finished_at: float
    ) -> int: ...


class WeldCycle:
    """Welds the seams of one part, one ``weld_seam`` call per seam, in order."""

    def __init__(
        self,
        *,
        motion: Motion,
        power_source: PowerSourceDriver,
        sensing: SeamSensing,
        records: SeamRecords,
        faults: FaultReporter,
        health: DeviceHealth,
        thermometer: PartThermometer,
        tell: Callable[[str], None],
        settings: ControllerSettings,
        part: PartProgram,
        procedures: dict[str, Procedure],
        part_id: int,
        dry_run: bool,
        touch: TouchSensing | None = None,
        found_frame: FoundFrame | None = None,
        torch_care: TorchCare | None = None,
        arc_tracking: ArcTracking | None = None,
    ) -> None:
        self.motion = motion
        self.robot = motion.robot
        self.power_source = power_source
        self.sensing = sensing
        self.records = records
        self.faults = faults
        self.health = health
        self.thermometer = thermometer
        self.tell = tell  # an event for the operator's screen and the log
        self.settings = settings
        self.part = part
        self.procedures = procedures
        self.part_id = part_id
        self.dry_run = dry_run
        # Touch sensing (cellctl.sensing.touch) and the part's frame it found, kept by the part
        # in progress across holds.
        self.touch = touch
        self.found_frame = found_frame if found_frame is not None else FoundFrame()
        self.torch_care = torch_care  # the TCP check before a part (cellctl.weld.torch_care)
        # Through-arc seam tracking, for the passes whose table says so (None: a power source
        # without arc sensing; the config check then refuses such passes).
        self.arc_tracking = arc_tracking
        self.sample_period_s = settings.monitoring.sample_period_ms / 1000
        self.progress: SeamProgress | None = None
        self.summaries: list[SeamSummary] = []

    # -- the cycle --------------------------------------------------------------------------

    async def weld_seam(self, index: int, resume: SeamProgress | None = None) -> SeamSummary:
        """Weld seam ``index`` (in order), every pass of it, or resume it from ``resume`` (at
        the pass it was held in: the passes done stay done); returns its record (a seam of
        several passes: their sum, with the verdict of all of them).

        Raises ``CycleInterrupted`` after reporting a fault.
        """
        if resume is not None and resume.index == index:
            self.progress = resume
            # The robot still holds (its queue kept, new moves waiting): clear that first.
            await self._robot(self.robot.stop())
            await self._robot(self.motion.until(at_rest, "robot to stop"))
        else:
            seam = self.part.seams_in_order()[index]
            self.progress = self._pass_progress(index, seam, plan_passes(seam)[0])
            if index == 0 and self.torch_care is not None and not self.dry_run:
                await self._tcp_check_if_due()
        while True:
            if self.progress.rescan_due and not self.dry_run:
                await self._rescan(self.progress)
            await self._weld_seam(self.progress)
            done = self.progress
            if done.last_pass:
                break
            # At once, with no wait between: a hold from here resumes at the next pass.
            assert done.plan is not None
            self.progress = self._pass_progress(
                index, done.seam, done.plans[done.plan.number], done
            )
        if self.progress.plan is None or self.progress.plan.count == 1:
            return self.summaries[-1]
        return seam_of_passes([*self.progress.passes_done, self.summaries[-1]], self.progress.seam)

    def progress_after_passes(self, index: int, passes: list[SeamSummary]) -> SeamProgress:
        """Seam ``index``'s progress at its pass after ``passes`` (their records, read back
        from the store after the controller's restart: ``cellctl.weld.resume``), for
        ``weld_seam(index, resume=...)``: that pass on the root path the root's record keeps,
        the passes recorded never welded again and counted in the seam's verdict."""
        seam = self.part.seams_in_order()[index]
        plans = plan_passes(seam, table_after(seam, passes))
        progress = self._pass_progress(index, seam, plans[len(passes)])
        progress.plans = plans
        progress.root_path = root_path_of(passes)
        progress.passes_done = list(passes)
        progress.passes_skipped, progress.passes_added = rescan_counts(passes)
        assert progress.plan is not None
        log.info("seam %s: resuming at %s, on the stored root path", seam.name, progress.plan.label)
        return progress

    def _pass_progress(
        self, index: int, seam: Seam, plan: PassPlan, before: SeamProgress | None = None
    ) -> SeamProgress:
        """A new pass's progress; ``before``, the pass just recorded (its root path and the
        records of the passes done go on)."""
        procedure = self.procedures[plan.procedure]
        progress = SeamProgress(
            index=index,
            seam=seam,
            procedure=procedure,
            monitor=SeamMonitor(
                seam.name,
                procedure,
                reaction_time_s=self.settings.monitoring.reaction_time_ms / 1000,
                max_sample_gap_s=4 * self.sample_period_s,
                dry_run=self.dry_run,
            ),
            plan=plan,
            plans=before.plans if before is not None else plan_passes(seam),
        )
        if plan.is_root and plan.count > 1:
            progress.root = RootPathMemory()
        if before is not None:
            progress.root_path = before.root_path
            progress.passes_done = [*before.passes_done, self.summaries[-1]]
            progress.passes_skipped = before.passes_skipped
            progress.passes_added = before.passes_added
            log.info("seam %s: %s next, on the root path", seam.name, plan.label)
        return progress

    async def _rescan(self, progress: SeamProgress) -> None:
        """Re-scan before a later pass: measure the groove, then weld this pass with its
        offsets adapted, or leave it out, or add a fill pass before it (``decide``). The
        seam's progress (``self.progress``) is the pass to weld next from here on."""
        seam, plan = progress.seam, progress.plan
        assert seam.rescan is not None
        assert plan is not None
        assert plan.weld_pass is not None
        assert progress.root_path is not None
        progress.step = Step.RESCAN
        try:
            measure = await self.sensing.scan_groove(
                seam, progress.root_path, plan.weld_pass.vertical_offset_mm
            )
        except (DeviceError, RobotStopped, MotionTimeout) as error:
            self._device_fault(error)
        except GrooveNotMeasured as error:
            self._fault(FaultCode.GROOVE_NOT_MEASURED, f"seam {seam.name}, {plan.label}: {error}")
        if measure is None:
            self._fault(
                FaultCode.GROOVE_NOT_MEASURED, f"seam {seam.name}, {plan.label}: no seam sensor"
            )
        left_out: list[dict] = []
        while True:
            table = [p.weld_pass for p in progress.plans if p.weld_pass is not None]
            at = plan.number - 1
            decision = decide(
                table,
                at,
                measure,
                seam.rescan,
                skipped=progress.passes_skipped,
                added=progress.passes_added,
            )
            if decision.problem is not None:
                # Before the table is touched: after the hold it is measured and decided
                # again against the table's own offsets.
                self._fault(
                    FaultCode.GROOVE_BEYOND_PASS_TABLE,
                    f"seam {seam.name}, {plan.label}: {decision.problem} (groove surface "
                    f"{measure.surface_mm:.1f} mm, top {measure.top_mm:.1f} mm over the root)",
                )
            if decision.action == "skip":
                left_out.append({"pass": plan.label, **decision.record})
                del table[at]
            elif decision.action == "add":
                table.insert(at, decision.weld_pass)
            else:
                table[at] = decision.weld_pass
            plans = plan_passes(seam, table)
            replanned = self._pass_progress(progress.index, seam, plans[at])
            replanned.plans = plans
            replanned.root_path = progress.root_path
            replanned.passes_done = progress.passes_done
            replanned.passes_skipped = progress.passes_skipped + (decision.action == "skip")
            replanned.passes_added = progress.passes_added + (decision.action == "add")
            self.progress = progress = replanned
            plan = replanned.plan
            assert plan is not None
            log.info("seam %s: re-scan before %s: %s", seam.name, plan.label, decision.record)
            if decision.action != "skip":
                break
        progress.rescan = {**decision.record, **({"left_out": left_out} if left_out else {})}
        self.tell(f"seam {seam.name}: {plan.label} after the re-scan: {decision.record['changed']}")

    async def _weld_seam(self, progress: SeamProgress) -> None:
        seam, procedure = progress.seam, progress.procedure
        if progress.welded_to_end:
            # Interrupted after the bead was complete (a wire stick at arc off, an arc break in
            # the crater): finish the seam without striking again; the crater is left as it is
            # and the record says so.
            if progress.step is Step.CRATER_FILL:
                progress.step = Step.ARC_OFF
                progress.monitor.notes.append("crater fill interrupted")
            await self._finish_seam(progress)
            return
        taught = seam.taught_path()
        if progress.path is None:
            await self._check_temperature(progress)
            progress.step = Step.APPROACH
            await self._set_weld_parameters(procedure)
            # A later pass runs the root's path with its offsets: no seam finding (the groove
            # is filling up; the root cannot be seen any more).
            planned = self._later_pass_path(progress)
            if planned is None:
                # Touch sensing runs before the approach: the searches go where they were taught,
                # and the torch then approaches the start they found.
                taught = await self._in_part_frame(progress, taught)
                if seam.sensing.seam_finding.by_touch:
                    taught = await self._touch_seam(progress, taught)
                progress.step = Step.APPROACH
            await self._approach(seam, planned[0] if planned else taught[0])
            if planned is not None:
                progress.path = planned
            else:
                progress.step = Step.SEAM_FINDING
                try:
                    progress.path = await self.sensing.find_seam(seam, taught)
                except JointNotFound as error:
                    self._fault(FaultCode.JOINT_NOT_FOUND, f"seam {seam.name}: {error}")
                except (DeviceError, RobotStopped, MotionTimeout) as error:  # during the scan
                    self._device_fault(error)
                if progress.path[0] != taught[0]:
                    await self._move_linear(
                        progress.path[0], self._approach_speed(), "to the joint"
                    )
        else:
            # Resuming on the seam (weld_seam has cleared the robot's hold and queue).
            await self._set_weld_parameters(procedure)
        path = progress.path
        restart_at = max(0.0, progress.weld_position_mm - self._overlap(progress))
        if restart_at > 0:
            await self._move_linear(point_at(path, restart_at), self._approach_speed(), "overlap")
        elif progress.weld_position_mm == 0 and progress.step is not Step.SEAM_FINDING:
            await self._move_linear(path[0], self._approach_speed(), "seam start")
        await self._strike_and_run(progress, from_mm=restart_at)
        await self._finish_seam(progress)

    # -- the torch ---------------------------------------------------------------------------

    async def _tcp_check_if_due(self) -> None:
        """Before a part's first seam: the TCP check, when one is due (after a collision,
        asked for). Out of limits: F155; not measured: F156."""
        assert self.torch_care is not None
        try:
            await self._robot(self.torch_care.before_part())
        except TcpOutOfLimits as error:
            self._fault(FaultCode.TCP_OUT_OF_LIMITS, str(error))
        except (TcpNotMeasured, TouchNotFound, TouchAborted, NoTouchSearch) as error:
            if isinstance(error, TouchAborted):
                self._check_robot(error.status)
            self._fault(FaultCode.TCP_CHECK_FAILED, str(error))

    # -- touch sensing -----------------------------------------------------------------------

    async def _in_part_frame(self, progress: SeamProgress, taught: SeamPath) -> SeamPath:
        """The taught path moved into the part's frame found by touch (found first, once per
        part, when the program has ``touch_frame``)."""
        touch_frame = self.part.touch_frame
        if touch_frame is None:
            return taught
        if self.found_frame.frame is None:
            progress.step = Step.SEAM_FINDING
            touch = self._touch_sensing()
            await self._robot(
                self._touching(touch.find_frame(touch_frame, self.found_frame), "part frame")
            )
            frame = self.found_frame.frame
            assert frame is not None
            self.tell(
                f"part frame found by touch: shift "
                f"({', '.join(f'{c:.2f}' for c in frame.shift_mm)}) mm, turn {frame.turn_deg:.3f}°"
            )
        assert self.found_frame.frame is not None
        return self.found_frame.frame.moved_path(taught)

    async def _touch_seam(self, progress: SeamProgress, path: SeamPath) -> SeamPath:
        """``path`` shifted by what the seam's touch searches find."""
        seam = progress.seam
        searches = seam.sensing.touch
        assert searches is not None  # the config requires them for touch | both
        progress.step = Step.SEAM_FINDING
        touch = self._touch_sensing()
        found, shift = await self._robot(
            self._touching(
                touch.find_seam(searches, path, self.found_frame.frame), f"seam {seam.name}"
            )
        )
        self.tell(
            f"seam {seam.name} found by touch: shift ({', '.join(f'{c:.2f}' for c in shift)}) mm"
        )
        return found

    def _touch_sensing(self) -> TouchSensing:
        if self.touch is None:
            self.touch = TouchSensing(self.motion, self.power_source)
        return self.touch

    async def _touching(self, request: Awaitable[T], what: str) -> T:
        """A touch-sensing step; what goes wrong with the searches is a fault naming them
        (the robot's and the links' failures pass on to ``_robot``)."""
        try:
            return await request
        except TouchNotFound as error:
            self._fault(FaultCode.TOUCH_NOT_FOUND, f"{what}: {error}")
        except TouchAborted as error:
            self._check_robot(error.status)
            self._fault(FaultCode.TOUCH_SEARCH_ABORTED, f"{what}: {error}")
        except TouchFitInconsistent as error:
            self._fault(FaultCode.TOUCH_FIT_INCONSISTENT, f"{what}: {error}")
        except NoTouchSearch as error:
            self._fault(FaultCode.TOUCH_SEARCH_ABORTED, f"{what}: {error}")
        raise AssertionError("unreachable")

    async def _strike_and_run(self, progress: SeamProgress, from_mm: float) -> None:
        """Arc on at ``from_mm`` and run the rest of the path, restarting after arc breaks."""
        path = progress.path
        assert path is not None
        while True:
            progress.step = Step.ARC_START
            if not self.dry_run:
                await self._arc_start(progress)
            progress.step = Step.WELDING
            progress.path_id = self.motion.next_path_id()
            remainder = remaining(path, from_mm)
            # The robot weaves the path itself, from the procedure's weave sent with it.
            weave = progress.weave
            if weave.weaving:
                await self._robot(self.robot.set_weave(progress.path_id, weave))
            # Lines and arcs (MOVE_CIRCULAR), blended into one path by the robot.
            await self._robot(
                queue_path(
                    self.robot,
                    remainder,
                    progress.torch,
                    progress.procedure.travel_speed_mm_per_s,
                    progress.path_id,
                )
            )
            # What tracks the pass (the pass table's ``tracking``): by default the root by the
            # laser, and a later pass nothing (it follows the root's tracked path).
            source = self._tracking_source(progress)
            tracked = source is TrackingSource.LASER
            if tracked:
                await self.sensing.start_tracking(progress.seam, remainder, progress.path_id, weave)
            elif source is TrackingSource.ARC and not self.dry_run:
                await self._start_arc_tracking(progress, remainder, weave, resuming=from_mm > 0)
            try:
                broke_at = await self._monitor_weld(progress, from_mm, length_mm(remainder))
            except TrackingLost as error:
                self._fault(FaultCode.TRACKING_LOST, f"seam {progress.seam.name}: {error}")
            except DeviceError as error:  # the sensor's, seen by the tracking check
                self._device_fault(error)
            finally:
                stats = await self.sensing.stop_tracking() if tracked else None
                if self.arc_tracking is not None and self.arc_tracking.tracking:
                    stats = await self.arc_tracking.stop()
                if stats:
                    progress.tracking = stats
            if broke_at is None:
                return
            # An arc break: restart with an overlap, if allowed and not too often.
            arc = self.settings.arc
            if not arc.restart_on_break or progress.restarts >= arc.max_restarts_per_seam:
                self._fault(
                    FaultCode.ARC_BREAK,
                    f"seam {progress.seam.name}: arc out at {broke_at:.1f} mm "
                    f"of {length_mm(path):.1f} mm",
                )
            progress.restarts += 1
            progress.monitor.restarts += 1
            self.faults.raise_fault(
                FaultCode.ARC_RESTARTED, f"seam {progress.seam.name} restarted at {broke_at:.1f} mm"
            )
            await self._command(self.power_source.reset_error())
            await self._robot(self.robot.stop())
            await self._robot(self.motion.until(at_rest, "robot to stop"))
            from_mm = max(0.0, broke_at - arc.restart_overlap_mm)
            await self._move_linear(point_at(path, from_mm), self._approach_speed(), "overlap")

    def _tracking_source(self, progress: SeamProgress) -> TrackingSource:
        plan = progress.plan
        if plan is None or plan.weld_pass is None:
            return TrackingSource.LASER  # a seam of one pass: its sensing says
        return plan.weld_pass.tracking_source(plan.is_root, progress.seam.sensing.tracking)

    async def _start_arc_tracking(
        self, progress: SeamProgress, path: list[Point], weave: WeaveShape, resuming: bool
    ) -> None:
        """Track the pass by the arc (``cellctl.sensing.arc``); the config check made sure
        its procedure weaves and the power source has arc sensing."""
        if self.arc_tracking is None or not weave.weaving:
            self._fault(
                FaultCode.TRACKING_LOST,
                f"seam {progress.seam.name}: {progress.plan.label if progress.plan else ''} is "
                "to be tracked by the arc, but "
                + ("the power source has no arc sensing" if weave.weaving else "it does not weave"),
            )
        weld_pass = progress.plan.weld_pass if progress.plan else None
        await self.arc_tracking.start(
            progress.seam,
            path,
            progress.path_id,
            weave,
            off_centre=weld_pass is not None and weld_pass.lateral_offset_mm != 0,
            resuming=resuming,
        )

    async def _finish_seam(self, progress: SeamProgress) -> None:
        seam, procedure = progress.seam, progress.procedure
        path = progress.path or seam.taught_path()
        if progress.step in (Step.WELDING, Step.CRATER_FILL):
            progress.step = Step.CRATER_FILL
            if procedure.crater_fill and not self.dry_run:
                await self._crater_fill(progress)
        if progress.step in (Step.CRATER_FILL, Step.ARC_OFF):
            progress.step = Step.ARC_OFF
            if not self.dry_run:
                await self._arc_off(progress)
        if (
            seam.sensing.post_weld_check
            and progress.last_pass
            and not self.dry_run
            and progress.step is Step.ARC_OFF
        ):
            await self._check_bead(progress, path)
        progress.step = Step.RETRACT
        await self._move_linear(
            above(path[-1], seam.approach_clearance_mm), self._air_speed(), "retract"
        )
        progress.step = Step.RECORD
        summary = progress.monitor.summary(length_mm(path))
        summary.tracking = progress.tracking
        summary.temperature = progress.temperature.as_dict() if progress.temperature else None
        if progress.root is not None and progress.root_path is None:
            progress.root_path = progress.root.root_path(path)
        summary.weld_pass = (
            progress.plan.as_record(progress.root_path, progress.rescan) if progress.plan else None
        )
        finished_at = time.time()
        try:
            await self.records.record_seam(self.part_id, summary, progress.started_at, finished_at)
        except RecordNotWritten as error:  # a full disk, a deleted file: no seam unrecorded
            self._fault(FaultCode.RECORD_NOT_WRITTEN, f"seam {seam.name}: {error}")
        self.summaries.append(summary)
        if summary.verdict == "bad":
            self.faults.raise_fault(
                FaultCode.OUT_OF_BAND, f"seam {seam.name}: {'; '.join(summary.reasons)}"
            )

    async def _check_bead(self, progress: SeamProgress, path: list[Point]) -> None:
        """The post-weld check: the bead's figures go on the seam's record; a bead outside
        its bands is a quality remark (W200), as a weld outside its procedure's band is."""
        seam = progress.seam
        try:
            result = await self.sensing.check_bead(seam, path)
        except (DeviceError, RobotStopped, MotionTimeout) as error:
            self._device_fault(error)
        if result is None:
            return
        figures, problems = result
        progress.tracking = {**(progress.tracking or {}), **figures}
        if problems:
            self.faults.raise_fault(
                FaultCode.OUT_OF_BAND, f"seam {seam.name}: bead {'; '.join(problems)}"
            )

    # -- steps ------------------------------------------------------------------------------

    async def _check_temperature(self, progress: SeamProgress) -> None:
        """The part within its preheat and interpass limits before the pass; the torch is
        still clear of it (at the last seam's retract, or home)."""
        limits = progress.procedure.temperature
        if limits is None or self.dry_run:
            return
        progress.step = Step.TEMPERATURE
        seam = progress.seam.name

        def waiting(temperature_c: float) -> None:
            self.tell(
                f"seam {seam}: part at {temperature_c:.1f} °C, above the interpass maximum "
                f"{limits.interpass_max_c:g} °C: waiting for it to cool"
            )

        try:
            progress.temperature = await check_before_pass(limits, self.thermometer, waiting)
        except PartTooCold as error:
            self._fault(FaultCode.PART_TOO_COLD, f"seam {seam}: {error}")
        except PartDidNotCool as error:
            self._fault(FaultCode.PART_DID_NOT_COOL, f"seam {seam}: {error}")
        except NoPartTemperature as error:
            self._fault(FaultCode.NO_PART_TEMPERATURE, f"seam {seam}: {error}")
        record = progress.temperature
        if record.interpass_wait_s:
            self.tell(
                f"seam {seam}: part cooled to {record.before_pass_c:.1f} °C in "
                f"{record.interpass_wait_s:.1f} s; welding"
            )
        log.info(
            "seam %s: part at %.1f °C before the pass (preheat min %g, interpass max %g °C)",
            seam,
            record.before_pass_c,
            limits.preheat_min_c,
            limits.interpass_max_c,
        )

    def _later_pass_path(self, progress: SeamProgress) -> list[Point] | None:
        """A later pass's path: the root path with the pass's offsets (None for the root)."""
        plan = progress.plan
        if plan is None or plan.is_root:
            return None
        assert plan.weld_pass is not None
        assert progress.root_path is not None
        return pass_path(progress.root_path, plan.weld_pass)

    async def _approach(self, seam: Seam, start: Point) -> None:
        above_start = above(start, seam.approach_clearance_mm)
        torch = self.progress.torch if self.progress else seam.torch
        await self._robot(self.motion.move_joint(above_start, torch, self._air_speed(), "approach"))
        await self._move_linear(start, self._approach_speed(), "to the seam start")

    async def _set_weld_parameters(self, procedure: Procedure) -> None:
        if self.dry_run:
            return
        if procedure.job_number is not None:
            await self._command(self.power_source.set_job(procedure.job_number))
        else:
            await self._command(
                self.power_source.set_setpoints(
                    procedure.current_a, procedure.voltage_v, procedure.wire_feed_m_per_min
                ),
            )

    async def _arc_start(self, progress: SeamProgress) -> None:
        start = progress.procedure.arc_start
        tries = start.retries + 1
        for attempt in range(1, tries + 1):
            await self._command(self.power_source.arc_on())
            deadline = time.monotonic() + start.ignition_timeout_ms / 1000
            while time.monotonic() < deadline:
                status = await self._power_status()
                if status.arc_established:
                    progress.arc_burning = True
                    progress.monitor.arc_interrupted()
                    return
                if status.error:
                    break
                await asyncio.sleep(self.sample_period_s)
            # No arc: off, pull the wire back a little, clear a latched error, try again.
            await self._command(self.power_source.arc_off())
            if attempt == tries:
                break
            await self._command(self.power_source.wire_retract(True))
            await asyncio.sleep(start.wire_retract_ms / 1000)
            await self._command(self.power_source.wire_retract(False))
            status = await self._power_status()
            if status.error:
                await self._command(self.power_source.reset_error())
        self._fault(
            FaultCode.ARC_START_FAILED,
            f"seam {progress.seam.name}: no arc after {tries} tr{'y' if tries == 1 else 'ies'}",
        )

    async def _monitor_weld(self, progress: SeamProgress, from_mm: float, run_mm: float):
        """Sample until the robot finishes the path. Returns None, or the path position (mm,
        along the whole seam) where the arc broke for longer than the break time."""
        break_time_s = self.settings.arc.break_time_ms / 1000
        arc_out_since: float | None = None
        speed = progress.procedure.travel_speed_mm_per_s
        timeout_s = run_mm / speed * 1.5 + self.settings.motion.move_timeout_margin_s
        deadline = time.monotonic() + timeout_s
        next_sample = time.monotonic()
        while True:
            if self.dry_run:
                robot = await self._robot_status()
                power = None
            else:
                power, robot = await asyncio.gather(self._power_status(), self._robot_status())
            now = time.monotonic()
            self._check_robot(robot)
            self.sensing.check_tracking()  # TrackingLost once it has coasted too far
            if self.arc_tracking is not None:
                self.arc_tracking.check()
            position = from_mm + self._position_on(robot, progress.path_id)
            if progress.root is not None and robot.path_id == progress.path_id:
                # The root path's memory: the correction the robot applies where it is.
                progress.root.add(
                    position, robot.lateral_correction_mm, robot.vertical_correction_mm
                )
            if power is not None:
                # An arc break is judged by the arc-out time below (restart or hold), not here.
                if power.error and power.error_code != PowerSourceError.ARC_BREAK:
                    self._power_source_fault(power, progress)
                if power.arc_established:
                    arc_out_since = None
                    progress.monitor.add(
                        now,
                        power.actual_current_a,
                        power.actual_voltage_v,
                        power.actual_wire_feed_m_per_min,
                        tool_speed_mm_per_s=robot.tool_speed_mm_per_s,
                    )
                    progress.weld_position_mm = max(progress.weld_position_mm, position)
                else:
                    if arc_out_since is None:
                        arc_out_since = now
                        progress.monitor.arc_interrupted()
                    if now - arc_out_since > break_time_s:
                        progress.monitor.arc_breaks += 1
                        progress.arc_burning = False
                        await self._command(self.power_source.arc_off())
                        await self._robot(self.robot.hold())
                        return progress.weld_position_mm
            else:
                progress.weld_position_mm = max(progress.weld_position_mm, position)
            if self._path_done(robot, progress.path_id):
                progress.weld_position_mm = from_mm + run_mm
                return None
            if now > deadline:
                self._fault(
                    FaultCode.STEP_TIMEOUT,
                    f"seam {progress.seam.name}: path not done in {timeout_s:.0f} s",
                )
            next_sample += self.sample_period_s
            await asyncio.sleep(max(0.0, next_sample - time.monotonic()))

    async def _crater_fill(self, progress: SeamProgress) -> None:
        crater = progress.procedure.crater_fill
        assert crater is not None
        await fill_crater(self._arc_end(progress), crater, progress.monitor)

    async def _arc_off(self, progress: SeamProgress) -> None:
        await switch_arc_off(self._arc_end(progress))
        progress.arc_burning = False

    def _arc_end(self, progress: SeamProgress) -> ArcEndLink:
        """The power source as this cycle talks to it, for the arc's end (``arc_end``)."""

        def still_burning() -> None:
            self._fault(
                FaultCode.STEP_TIMEOUT,
                f"seam {progress.seam.name}: arc still burning after arc off",
            )

        return ArcEndLink(
            power_source=self.power_source,
            status=self._power_status,
            command=self._command,
            error=lambda status: self._power_source_fault(status, progress),
            still_burning=still_burning,
            sample_period_s=self.sample_period_s,
        )

    # -- the robot ---------------------------------------------------------------------------

    async def _move_linear(self, point: Point, speed_mm_per_s: float, what: str) -> None:
        progress = self.progress
        torch = progress.torch if progress else self.part.seams_in_order()[0].torch
        await self._robot(self.motion.move_linear(point, torch, speed_mm_per_s, what))

    def _check_robot(self, status: RobotStatus) -> None:
        if status.state is RobotState.FAULT:
            self._fault(
                robot_fault(status.fault_code),
                f"the robot stopped: robot fault {status.fault_code}: {status.fault_text}",
            )
        if status.state is RobotState.DRIVES_OFF:
            self._fault(FaultCode.DRIVES_OFF, "the robot reports its drives off")

    @staticmethod
    def _position_on(status: RobotStatus, path_id: int) -> float:
        return status.path_position_mm if status.path_id == path_id else 0.0

    @staticmethod
    def _path_done(status: RobotStatus, path_id: int) -> bool:
        return (
            status.path_id == path_id
            and status.state is RobotState.IDLE
            and status.queue_depth == 0
            and status.path_position_mm >= status.path_length_mm - ARRIVED_TOLERANCE_MM
        )

    def _air_speed(self) -> float:
        return min(self.settings.motion.air_speed_mm_per_s, self._robot_max_speed())

    def _approach_speed(self) -> float:
        return self._air_speed() / 2

    def _robot_max_speed(self) -> float:
        return self.motion.max_speed_mm_per_s

    def _overlap(self, progress: SeamProgress) -> float:
        return self.settings.arc.restart_overlap_mm if progress.weld_position_mm > 0 else 0.0

    # -- talking to the devices ---------------------------------------------------------------

    async def _robot(self, request: Awaitable[T]) -> T:
        """A command to the robot, or a wait for it; every way it can fail is a fault (we
        cannot know whether a move happened)."""
        try:
            return await request
        except RobotStopped as stopped:
            self._check_robot(stopped.status)
        except MotionTimeout as error:
            self._fault(FaultCode.STEP_TIMEOUT, str(error))
        except DeviceRejected as error:
            if error.code == ResultCode.DRIVES_OFF:
                # The PLC took the drives away (a door, an e-stop) and the robot refused the
                # next move before the PLC scan saw why: F103, which names the cause it finds.
                self._fault(
                    FaultCode.DRIVES_OFF, f"the robot refused a motion, its drives off: {error}"
                )
            self._fault(FaultCode.ROBOT_REFUSED_MOTION, str(error))
        except DeviceError as error:
            self.health.failed(error.device, error)
            self._fault(LINK_FAULTS[error.device], str(error))
        raise AssertionError("unreachable")

    async def _command(self, request: Awaitable[T]) -> T:
        """A command to the power source; a failure is a fault (we cannot know whether it
        happened)."""
        try:
            return await request
        except DeviceRejected as error:
            self._fault(FaultCode.POWER_SOURCE_ERROR, str(error))
        except DeviceError as error:
            self.health.failed(error.device, error)
            self._fault(LINK_FAULTS[error.device], str(error))
        raise AssertionError("unreachable")

    async def _robot_status(self) -> RobotStatus:
        return await self._robot(self.motion.status())

    async def _power_status(self) -> PowerSourceStatus:
        try:
            return await poll(self.power_source.device, self.power_source.read_status, self.health)
        except DeviceError as error:
            self._fault(LINK_FAULTS[error.device], str(error))
        raise AssertionError("unreachable")

    def _power_source_fault(self, status: PowerSourceStatus, progress: SeamProgress) -> None:
        code = power_source_fault(status.error_code)
        detail = (
            f"seam {progress.seam.name}: power source error {status.error_code} "
            f"({status.error_text})"
        )
        self._fault(code, detail, device_answered=True)

    def _device_fault(self, error: DeviceError | RobotStopped | MotionTimeout) -> None:
        """A device failed outside ``_command`` (seam finding, tracking, the bead scan)."""
        if isinstance(error, RobotStopped):
            self._check_robot(error.status)
        if isinstance(error, MotionTimeout):
            self._fault(FaultCode.STEP_TIMEOUT, str(error))
        if isinstance(error, FramesRefused):
            self._fault(FaultCode.SENSOR_FRAMES_REFUSED, str(error))
        assert isinstance(error, DeviceError)
        self.health.failed(error.device, error)
        self._fault(LINK_FAULTS[error.device], str(error))

    def _fault(self, code: FaultCode, detail: str, device_answered: bool = False) -> None:
        self.faults.raise_fault(code, detail, device_answered=device_answered)
        raise CycleInterrupted(f"{code}: {detail}")
