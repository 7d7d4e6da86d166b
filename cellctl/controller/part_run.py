"""The part in progress and the acting states' work: ``PartRun``.

Each acting state of the PackML machine (Resetting, Starting, Execute, Completing, Holding,
...) has its work here, run as a task of its own when the state is entered and ended with
"state complete". Starting opens the part's record, closes the clamps and asks for the
robot's drives; Execute runs the weld cycle (``cellctl.weld.cycle``) of the part's seams;
Completing sends the robot home, opens the clamps and closes the record with the part's
verdict. A hold keeps where the seam stands, so that Unhold resumes it; a stop or an abort
closes the part as incomplete. Nothing here decides a fault's reaction: a fault is reported
to the ``FaultReporter`` and the work ends with ``CycleInterrupted``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from cellctl.cell.faults import LINK_FAULTS, FaultCode, robot_fault
from cellctl.cell.packml import Command, Mode, State, StateMachine, Transition
from cellctl.cell.records import ResumeOffer
from cellctl.cell.steps import Activity, Step
from cellctl.config.load import LoadedConfig
from cellctl.config.models import PartProgram
from cellctl.controller.events import CellEvents
from cellctl.controller.links import LinkWatch
from cellctl.controller.reaction import FaultReaction
from cellctl.controller.supervision import Supervisor
from cellctl.motion.moves import Motion, MotionTimeout, RobotStopped, idle
from cellctl.records.store import AsyncStore, StoreError
from cellctl.sensing.arc import ArcTracking
from cellctl.sensing.protocol import NoSensing, SeamSensing
from cellctl.sensing.touch import FoundFrame, TouchSensing
from cellctl.trace.station import Traceability
from cellctl.weld.cycle import CycleInterrupted, SeamProgress, WeldCycle
from cellctl.weld.owned_cycle import OwnedPartCycle, OwnedSeamCycle
from cellctl.weld.owned_robot import OwnedRobot
from cellctl.weld.resume import ResumePoint, ResumeRefused, resume_point
from cellctl.weld.temperature import InputImageThermometer
from cellctl.weld.torch_care import TorchCare
from drivers.codecs.robot_protocol import Pose, RobotState
from drivers.errors import DeviceError
from drivers.plc import PlcDriver
from drivers.power_source import PowerSourceDriver

log = logging.getLogger(__name__)

HOLD_STANDSTILL_TIMEOUT_S = 10.0  # a held robot decelerates on its path within this
DRIVES_ENABLED_TIMEOUT_S = 2.0
HOME_TIMEOUT_S = 60.0


@dataclass
class PartInProgress:
    part_id: int
    program: str
    started_monotonic: float = field(default_factory=time.monotonic)
    seams_done: int = 0
    verdicts: list[str] = field(default_factory=list)
    progress: SeamProgress | None = None  # where to resume after a hold
    # A part reopened after the controller's restart (``cellctl.weld.resume``): the passes
    # of its open seam recorded before the stop, for the cycle to resume after.
    reopened: ResumePoint | None = None
    found_frame: FoundFrame = field(default_factory=FoundFrame)  # by touch, once per part


class DriveEnable:
    """The robot's drive enable request to the PLC, and whether it stands.

    The PLC enables the drives on a rising edge of the request only, and drops them by itself
    on an e-stop, an open door, a light curtain or its heartbeat watchdog. A make-safe that
    runs while a request is on the wire must win: ``epoch`` counts make-safes so that a
    request can tell.
    """

    def __init__(self, plc: PlcDriver, scan_period_s: float) -> None:
        self.plc = plc
        self.scan_period_s = scan_period_s
        self._requested = False
        self.epoch = 0  # make-safes so far

    @property
    def requested(self) -> bool:
        return self._requested

    def dropped(self) -> None:
        self._requested = False

    def reacted(self) -> None:
        self.epoch += 1

    async def request(self, faults: FaultReaction, edge_made: bool = False) -> None:
        """Ask for the drives (a rising edge; ``edge_made``: the falling half already went out).
        ``CycleInterrupted`` when a fault stands or comes while the request is on the wire."""
        if not edge_made:
            self._requested = False
            await self.plc.write_outputs({"robot_enable_request": False})
            await asyncio.sleep(2 * self.scan_period_s)
        # Never ask for drives while a fault stands: a fault raised while this task was
        # waiting has already dropped the enable, and this write must not undo that.
        epoch = self.epoch
        if any(f.severity.makes_safe for f in faults.active):
            raise CycleInterrupted("drives not requested: a fault is active")
        await self.plc.write_outputs({"robot_enable_request": True})
        self._requested = True
        if self.epoch != epoch:
            # A make-safe ran while the request was on the wire; it may have landed after the
            # make-safe's own drop. Drop it again (the fault's reaction owns the cell now).
            self._requested = False
            await self.plc.write_outputs({"robot_enable_request": False})
            raise CycleInterrupted("drives dropped again: a fault came during the request")


class PartRun:
    """Owns the part in progress, the acting states' work, the clamps, the drive enable and
    the weld cycle's task (see the module)."""

    def __init__(
        self,
        *,
        config: LoadedConfig,
        machine: StateMachine,
        plc: PlcDriver,
        power_source: PowerSourceDriver,
        motion: Motion,
        store: AsyncStore,
        sensing: SeamSensing,
        faults: FaultReaction,
        links: LinkWatch,
        events: CellEvents,
        supervisor: Supervisor,
        drives: DriveEnable,
        inputs: Callable[[], dict],
        wait_input: Callable[[str, bool, float], Awaitable[None]],
        trace: Traceability,
    ) -> None:
        self.config = config
        self.settings = config.cell.controller
        self.machine = machine
        self.plc = plc
        self.power_source = power_source
        self.motion = motion
        self.robot = motion.robot
        self.store = store
        self.sensing = sensing
        # Through-arc seam tracking, when the power source's map has arc sensing: one for the
        # controller's life (it listens to the robot's statuses), used by each part's cycle.
        self.arc_tracking = (
            ArcTracking(
                config.cell.arc_sensing,
                power_source,
                motion.robot,
                correction_rate_hz=config.cell.sensor.tracking.correction_rate_hz,
                correction_lead_ms=config.cell.sensor.tracking.correction_lead_ms,
            )
            if power_source.has_arc_sensing
            else None
        )
        self.faults = faults
        self.links = links
        self.events = events
        self.supervisor = supervisor
        self.drives = drives
        self.inputs = inputs
        self.wait_input = wait_input
        self.trace = trace
        self.touch = TouchSensing(motion, power_source)
        self.torch_care = TorchCare(
            config.cell.torch_service, self.touch, store.audit, events.event, plc
        )
        events.listeners.append(self.torch_care)  # collisions, parts and arc time
        self.config_id: int | None = None  # the config version the parts are welded with
        self.part: PartInProgress | None = None
        self.clamped = False
        self.step = Step.NO_PART  # the part's own step; a seam's is its cycle's
        self.cycle: WeldCycle | None = None
        self._owned_seams: OwnedSeamCycle | None = None  # a robot that owns its motion
        self._cycle_task: asyncio.Task[None] | None = None
        self._suspend_requested = False
        self._state_changed = asyncio.Event()
        # (part id, note) of parts whose end the store did not take (see _resetting).
        self._unclosed_parts: list[tuple[int, str]] = []
        # The interrupted part the operator confirmed (``arm_resume``): the next Start reopens
        # it instead of opening a new part. (id, program, where it goes on.)
        self._resume: tuple[int, str, ResumePoint] | None = None

    # -- what others ask -------------------------------------------------------------------------

    @property
    def activity(self) -> Activity:
        """Where the cell is: the seam's step while a seam is in progress (or held), else the
        part's own."""
        progress = self.cycle.progress if self.cycle is not None else None
        seam_in_hand = self.cycle_running() or (self.part is not None and self.part.progress)
        if progress is not None and seam_in_hand:
            label = progress.plan.label if progress.plan else ""
            return Activity(progress.step, progress.seam.name, label or None)
        return Activity(self.step)

    def where(self) -> str:
        return str(self.activity)

    def part_id(self) -> int | None:
        return self.part.part_id if self.part is not None else None

    def cycle_running(self) -> bool:
        return self._cycle_task is not None and not self._cycle_task.done()

    def request_suspend(self, suspend: bool) -> None:
        self._suspend_requested = suspend

    def on_transition(self, transition: Transition) -> None:
        """The state machine moved: whoever waits for a state is woken, and the new state's
        work (if it is an acting state) starts as a task of its own."""
        self._state_changed.set()
        self._state_changed = asyncio.Event()
        work = self.work_of(transition.to_state)
        if work is not None:
            self.supervisor.spawn(
                self.act(transition.to_state, work),
                f"acting state {transition.to_state.label}",
            )

    async def until_state(self, state: State, timeout_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while self.machine.state is not state:
                    await self._state_changed.wait()

    # -- the acting states ------------------------------------------------------------------------

    def work_of(self, state: State) -> Callable[[], Awaitable[None]] | None:
        return {
            State.RESETTING: self._resetting,
            State.STARTING: self._starting,
            State.EXECUTE: self._execute,
            State.COMPLETING: self._completing,
            State.COMPLETE: self._complete,
            State.HOLDING: self._holding,
            State.UNHOLDING: self._unholding,
            State.SUSPENDING: self._suspending,
            State.UNSUSPENDING: self._unsuspending,
            State.STOPPING: self._stopping,
            State.ABORTING: self._aborting,
            State.CLEARING: self._clearing,
        }.get(state)

    async def act(self, state: State, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``state``'s work, then complete the state (a task of the supervisor's)."""
        try:
            await work()
        except CycleInterrupted:
            return  # a fault was raised; its reaction moves the state machine
        except (RobotStopped, MotionTimeout) as error:
            self.faults.raise_fault(_robot_fault(error), str(error), time.monotonic())
            return
        except DeviceError as error:
            # A command of the acting state failed: its device's link is the fault.
            self.faults.raise_fault(
                LINK_FAULTS.get(error.device, FaultCode.STEP_TIMEOUT), str(error), time.monotonic()
            )
            return
        except StoreError as error:
            # A part's record not written (its start, its end): the part may not go on.
            self.faults.record_not_written(error)
            return
        except Exception:
            if state is State.ABORTING and self.machine.state is state:
                # The abort's own work failed: the reaction (arc off and hold again) finds the
                # cell Aborted, where nothing moves, instead of in an acting state for good.
                self.machine.state_complete()
            raise  # an internal error: the supervisor reports it (F180)
        if self.machine.state is state and state not in (State.COMPLETE, State.EXECUTE):
            # Execute completes when its cycle ends; Complete moves on by its own Reset.
            self.machine.state_complete()

    async def _resetting(self) -> None:
        self.step = Step.NO_PART
        self.part = None
        self._suspend_requested = False
        with contextlib.suppress(DeviceError):
            await self.power_source.make_safe()
        await self._close_unclosed_parts()

    async def _close_unclosed_parts(self) -> None:
        """Parts whose end could not be written (a full disk): incomplete now that the store
        takes writes again, rather than in progress until the next start of the controller.
        Still failing: F160 again, and the reset does not complete."""
        while self._unclosed_parts:
            part_id, note = self._unclosed_parts[0]
            row = await self.store.finish_part(part_id, "incomplete", None, note)
            self._unclosed_parts.pop(0)
            self.events.notify("part_done", row)
            self.events.event(f"part {part_id} recorded incomplete: {note}")

    @property
    def resume_armed(self) -> int | None:
        """The part id the next Start reopens (None: a new part)."""
        return self._resume[0] if self._resume is not None else None

    async def arm_resume(self, part_id: int) -> str:
        """The operator confirms that interrupted part ``part_id`` is on the fixture as the
        last stop left it: the next Start reopens it (``cellctl.weld.resume``). Returns what
        will be welded; ``ResumeRefused`` says why not (nothing armed then)."""
        program, point = await self._resumable(part_id)
        self._resume = (part_id, program.name, point)
        seam = program.seams_in_order()[point.seams_done]
        where = f"seam {seam.name}" + (
            f", pass {point.next_pass}" if point.passes else ", from its start"
        )
        self.events.event(f"part {part_id} confirmed for resume: the next Start welds {where}")
        return where

    async def resume_offers(self) -> list[ResumeOffer]:
        """The parts the last stop interrupted that ``arm_resume`` would take now, with where
        each would go on (for the operator's screen; arms nothing). A part reopened since is
        no longer one of them; nor is any while a part is in progress."""
        offers: list[ResumeOffer] = []
        for part_id in self.store.recovered_part_ids:
            row = await self.store.part(part_id)
            if row is None or row["status"] != "incomplete":
                continue  # reopened (resumed) since the start
            try:
                program, point = await self._resumable(part_id)
            except ResumeRefused:
                continue
            seam = program.seams_in_order()[point.seams_done]
            last = point.passes[-1].weld_pass if point.passes else None
            passes = int(last["of"]) if last is not None else max(1, len(seam.passes))
            serial = await self.store.part_serial(part_id)
            offers.append(
                ResumeOffer(part_id, serial or "", program.name, seam.name, point.next_pass, passes)
            )
        return offers

    async def _resumable(self, part_id: int) -> tuple[PartProgram, ResumePoint]:
        """Part ``part_id``'s program and where it goes on, if it may be resumed now;
        ``ResumeRefused`` says why not."""
        if self.part is not None:
            raise ResumeRefused(f"part {self.part.part_id} is in progress")
        if part_id not in self.store.recovered_part_ids:
            raise ResumeRefused(
                f"part {part_id} was not interrupted by the controller's last stop (those: "
                f"{', '.join(map(str, self.store.recovered_part_ids)) or 'none'})"
            )
        if isinstance(self.robot, OwnedRobot):
            raise ResumeRefused("the robot owns its motion: its jobs do not resume a pass")
        row = await self.store.part(part_id)
        assert row is not None
        if row["mode"] != "production":
            raise ResumeRefused(f"part {part_id} was a {row['mode']} part")
        if row["config_id"] != self.config_id:
            raise ResumeRefused(
                f"part {part_id} was welded under config version {row['config_id']}, the "
                f"controller runs version {self.config_id}: its pass tables may differ"
            )
        program = self.config.parts.get(row["part_program"])
        if program is None:
            raise ResumeRefused(f"part program {row['part_program']} is not loaded")
        return program, resume_point(program, await self.store.seams(part_id))

    async def _reopen(self) -> bool:
        """Start: reopen the part armed for resume, if any (True), in production mode."""
        if self._resume is None:
            return False
        (part_id, program, point), self._resume = self._resume, None
        if self.machine.mode is not Mode.PRODUCTION:
            self.events.event(f"part {part_id} not resumed: the cell is in {self.machine.mode}")
            return False
        await self.store.reopen_part(part_id, "resumed after the controller's restart")
        self.part = PartInProgress(part_id, program, seams_done=point.seams_done)
        self.part.verdicts = list(point.verdicts)
        self.part.reopened = point
        self.events.event(f"part {part_id} ({program}) reopened after the controller's restart")
        self.events.notify("part_started", part_id, program)
        return True

    async def _starting(self) -> None:
        if await self._reopen():
            await self._clamp_and_enable()
            return
        # The work order in progress says which part program, if there is one.
        program = self.trace.next_program() or self.config.active_part
        assert self.config_id is not None
        self.part = PartInProgress(
            await self.store.start_part(program.name, self.config_id, str(self.machine.mode)),
            program.name,
        )
        # Who and what make it, on its record before anything is welded.
        await self.trace.part_started(self.part.part_id, program, str(self.machine.mode))
        self.events.event(f"part {self.part.part_id} ({program.name}) started")
        self.events.notify("part_started", self.part.part_id, program.name)
        await self._clamp_and_enable()

    async def _clamp_and_enable(self) -> None:
        self.step = Step.CLAMP
        # The drive enable's falling half of its edge goes out with the clamp request, so that
        # the PLC has seen it long before the clamps are closed.
        self.drives.dropped()
        await self.plc.write_outputs({"clamp_close_request": True, "robot_enable_request": False})
        await self.wait_input("clamps_closed", True, self.settings.cycle.clamp_timeout_ms / 1000)
        self.clamped = True
        await self._enable_drives(edge_made=True)
        self.step = Step.READY

    async def _enable_drives(self, edge_made: bool = False) -> None:
        await self.drives.request(self.faults, edge_made)
        await self.wait_input("robot_enabled", True, DRIVES_ENABLED_TIMEOUT_S)

    async def _execute(self) -> None:
        """Start (or resume) the weld cycle of the current part."""
        assert self.part is not None
        if self.cycle_running():
            # Back from Suspended: the parked cycle goes on by itself. Never two cycles.
            return
        if isinstance(self.robot, OwnedRobot):
            self._execute_owned(self.robot)
            return
        self.cycle = WeldCycle(
            motion=self.motion,
            power_source=self.power_source,
            sensing=self.sensing,
            records=self.store,
            faults=self.faults,
            health=self.links,
            thermometer=InputImageThermometer(self.inputs),
            tell=self.events.event,
            settings=self.settings,
            part=self.config.parts[self.part.program],
            procedures=self.config.procedures,
            part_id=self.part.part_id,
            dry_run=self.machine.mode is Mode.DRY_RUN,
            touch=self.touch,
            found_frame=self.part.found_frame,
            torch_care=self.torch_care,
            arc_tracking=self.arc_tracking,
        )
        resume, self.part.progress = self.part.progress, None
        reopened, self.part.reopened = self.part.reopened, None
        if reopened is not None and reopened.passes:
            resume = self.cycle.progress_after_passes(reopened.seams_done, reopened.passes)
        first_seam = self.part.seams_done
        self._cycle_task = self.supervisor.spawn(
            self._run_cycle(self.cycle, resume, first_seam), "weld cycle"
        )

    def _execute_owned(self, robot: OwnedRobot) -> None:
        """The robot owns its motion: each seam by its robot job (``cellctl.weld.owned_cycle``),
        tracked by the laser when the cell has one (no seam search before the arc yet)."""
        assert self.part is not None
        assert robot.job_io is not None  # attached by the controller
        if self._owned_seams is None:  # once: it listens to the robot's stream faults
            self._owned_seams = OwnedSeamCycle(
                job=robot.job_io,
                robot=robot.link,
                robot_settings=self.config.cell.robot,
                power_source=self.power_source,
                faults=self.faults,
                settings=self.settings,
                sensing=None if isinstance(self.sensing, NoSensing) else self.sensing,
                tracked=robot,
            )
        seams = self._owned_seams
        program = self.config.parts[self.part.program]
        found_frame = self.part.found_frame  # touch sensing's part frame, kept by the part
        self.cycle = OwnedPartCycle(  # type: ignore[assignment]
            seams,
            part=program,
            procedures=self.config.procedures,
            records=self.store,
            part_id=self.part.part_id,
            corrector=lambda seam: seams.corrector_for(
                program, seam, found_frame, self.events.event
            ),
            settings=self.settings,
        )
        resume, self.part.progress = self.part.progress, None
        self._cycle_task = self.supervisor.spawn(
            self._run_cycle(self.cycle, resume, self.part.seams_done),  # type: ignore[arg-type]
            "weld cycle (robot-owned motion)",
        )

    async def _run_cycle(self, cycle: WeldCycle, resume: SeamProgress | None, first: int) -> None:
        """Weld the part's seams from ``first`` (resuming one if given), then complete."""
        assert self.part is not None
        part = self.part
        seams = self.config.parts[part.program].seams_in_order()
        index = resume.index if resume is not None else first
        try:
            while index < len(seams):
                if self._suspend_requested:
                    await self._park_suspended()
                summary = await cycle.weld_seam(index, resume)
                # The record is committed (durably) when weld_seam returns: say so, so that a
                # test rig can hold the store to every seam it was told about.
                self.events.event(
                    f"part {part.part_id} seam {summary.seam} recorded ({summary.verdict})"
                )
                self.events.notify("seam_recorded", part.part_id, summary)
                resume = None
                part.seams_done = index + 1
                part.verdicts.append(summary.verdict)
                index += 1
        except CycleInterrupted:
            return
        if self.machine.state is State.EXECUTE:
            self.machine.state_complete()

    async def _park_suspended(self) -> None:
        self.step = Step.SUSPENDED
        while self._suspend_requested or self.machine.state is not State.EXECUTE:
            if self.machine.state is State.SUSPENDING:
                self.machine.state_complete()
            await self._state_changed.wait()

    async def _suspending(self) -> None:
        # Completed by the cycle when it reaches the next seam boundary (see _park_suspended);
        # with no cycle running there is nothing to wait for.
        if not self.cycle_running():
            self.machine.state_complete()
        await asyncio.sleep(0)
        raise CycleInterrupted("suspending completes at the seam boundary")

    async def _unsuspending(self) -> None:
        self._suspend_requested = False

    async def _completing(self) -> None:
        assert self.part is not None
        self.step = Step.HOME
        if not isinstance(self.robot, OwnedRobot):  # a robot's own job ends clear of the part
            speed = min(self.settings.motion.air_speed_mm_per_s, self.motion.max_speed_mm_per_s)
            await self.robot.move_joint(
                Pose(*self.config.cell.robot.home_pose_mm),
                100 * speed / self.motion.max_speed_mm_per_s,
            )
            await self.motion.until(idle, "home", timeout_s=HOME_TIMEOUT_S)
        self.step = Step.UNCLAMP
        await self.plc.write_outputs({"clamp_close_request": False})
        self.clamped = False
        await self.wait_input("clamps_open", True, self.settings.cycle.clamp_timeout_ms / 1000)
        part = self.part
        verdict = (
            "dry_run"
            if self.machine.mode is Mode.DRY_RUN
            else ("good" if all(v == "good" for v in part.verdicts) else "bad")
        )
        row = await self.store.finish_part(part.part_id, "complete", verdict)
        await self.trace.part_finished()
        self.events.event(
            f"part {part.part_id} complete: {verdict}, cycle {row['cycle_time_s']:.1f} s"
        )
        self.events.notify("part_done", row)
        self.part = None
        self.step = Step.UNLOAD

    async def _complete(self) -> None:
        # The cell resets itself for the next part; the operator's Start begins it.
        self.machine.fire(Command.RESET, cause="auto reset after complete")

    async def _holding(self) -> None:
        """Arc off and robot hold (again, if a fault's reaction already did: it is idempotent),
        the cycle stopped where it stands, kept to resume; then wait for the robot to stand."""
        await self.faults.make_safe()
        await self.interrupt_cycle(keep_progress=True)
        with contextlib.suppress(DeviceError, RobotStopped, MotionTimeout):
            await self.motion.until(
                lambda status: status.state in (RobotState.HELD, RobotState.IDLE),
                "the robot to stand",
                timeout_s=HOLD_STANDSTILL_TIMEOUT_S,
            )

    async def _unholding(self) -> None:
        if not self.inputs().get("robot_enabled"):
            await self._enable_drives()

    async def _stopping(self) -> None:
        await self._stand_down()
        await self._end_part("stopped mid-part")

    async def _aborting(self) -> None:
        await self._stand_down()
        await self._end_part("aborted: " + ", ".join(f.code for f in self.faults.active))

    async def _stand_down(self) -> None:
        """Arc off and hold, the cycle ended, the robot's queue cleared, its drives off."""
        await self.faults.make_safe()
        await self.interrupt_cycle(keep_progress=False)
        with contextlib.suppress(DeviceError):
            await self.robot.stop()
        await self.faults.drop_drives()

    async def _clearing(self) -> None:
        self.step = Step.NO_PART

    async def _end_part(self, note: str) -> None:
        if self.part is not None:
            part, self.part = self.part, None
            try:
                row = await self.store.finish_part(part.part_id, "incomplete", None, note)
                self.events.notify("part_done", row)
            except StoreError as error:
                # Left in progress in the store until the reset after the store is back.
                log.error("part %s not closed in the store: %s", part.part_id, error)
                self._unclosed_parts.append((part.part_id, f"{note}; its end was not recorded"))
                self.faults.record_not_written(error)
            self.events.event(f"part {part.part_id} incomplete: {note}")
        self.clamped = False if self.machine.state is State.ABORTING else self.clamped

    async def finish_at_shutdown(self) -> None:
        """The controller is shutting down mid-part: the part is incomplete (best effort: a
        part the store does not take now is marked at the next start)."""
        if self.part is not None:
            with contextlib.suppress(StoreError):
                await self.store.finish_part(
                    self.part.part_id, "incomplete", None, "controller shut down mid-part"
                )
            self.part = None

    # -- the cycle, for the fault reaction (``cellctl.controller.reaction.Interruptible``) ----

    def cancel_cycle(self) -> None:
        if self.cycle_running():
            assert self._cycle_task is not None
            self._cycle_task.cancel()

    async def interrupt_cycle(self, keep_progress: bool) -> None:
        task = self._cycle_task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, CycleInterrupted, Exception):
                await task
        if self.part is not None and self.cycle is not None:
            progress = self.cycle.progress
            # Resume at the seam that was running, unless it was already recorded.
            if keep_progress and progress is not None and progress.index >= self.part.seams_done:
                self.part.progress = progress
            else:
                self.part.progress = None


def _robot_fault(error: RobotStopped | MotionTimeout) -> FaultCode:
    if isinstance(error, MotionTimeout):
        return FaultCode.STEP_TIMEOUT
    if error.status.state is RobotState.FAULT:
        return robot_fault(error.status.fault_code)
    return FaultCode.DRIVES_OFF
