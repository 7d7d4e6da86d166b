"""The cell controller: the PackML state machine driven by the PLC, the operator and faults.

``Controller`` is a facade over pieces that each own one thing, all on one asyncio loop:

===================  =========================================================================
``PanelScan``        the PLC scan: the input image, the interlocks, the heartbeat echo, the
                     panel's buttons, the stack light (``panel``)
``LinkWatch``        the device links: lost ones, failed requests in a row, the device watch
                     outside the cycle, the power source made safe again (``links``)
``FaultReaction``    the fault book and the reaction: arc off and hold, then the state machine
                     per severity (``reaction``)
``PartRun``          the part in progress and every acting state's work, the weld cycle's task,
                     the clamps and the drive enable (``part_run``)
``CellEvents``       the event log and the plant's listeners (``events``)
``HealthLog``        the health line (``health``)
``Supervisor``       every task and thread: nothing dies silently (``supervision``)
===================  =========================================================================

The facade starts and shuts them down, checks and carries out commands (``CellCommands``:
the panel's buttons and the plant's OPC UA methods alike) and makes the plant's read model
(``view``).
"""

from __future__ import annotations

import asyncio
import logging
import time

from cellctl.cell.events import CellView
from cellctl.cell.faults import FaultCode
from cellctl.cell.packml import (
    ACTIVE_STATES,
    Command,
    CommandRefused,
    State,
    StateMachine,
)
from cellctl.cell.records import ResumeOffer
from cellctl.config.load import LoadedConfig
from cellctl.controller.events import CellEvents, listener_status
from cellctl.controller.health import HealthLog
from cellctl.controller.links import LinkWatch
from cellctl.controller.panel import PanelScan
from cellctl.controller.part_run import DriveEnable, PartRun
from cellctl.controller.reaction import FaultReaction
from cellctl.controller.supervision import Supervisor
from cellctl.motion.moves import Motion
from cellctl.records.store import AsyncStore
from cellctl.sensing.protocol import NoSensing, SeamSensing
from cellctl.trace.identity import TraceRefused
from cellctl.trace.station import Traceability
from cellctl.weld.owned_robot import OwnedRobot
from cellctl.weld.resume import ResumeRefused
from cellctl.weld.robot_job import PlcRobotJobIo
from drivers.plc import PlcDriver
from drivers.power_source import PowerSourceDriver

log = logging.getLogger(__name__)


class Controller:
    """The cell, built by ``cellctl.wiring.build_controller`` from config (see the module)."""

    def __init__(
        self,
        config: LoadedConfig,
        *,
        plc: PlcDriver,
        power_source: PowerSourceDriver,
        motion: Motion,
        store: AsyncStore,
        sensing: SeamSensing | None = None,
    ) -> None:
        """``motion`` carries the robot (``motion.robot``); the sensing shares it."""
        self.config = config
        self.settings = config.cell.controller
        self.plc = plc
        self.power_source = power_source
        self.motion = motion
        self.robot = motion.robot
        self.store = store
        cycle = self.settings.cycle
        self.sensing = sensing or NoSensing()
        self.machine = StateMachine(initial=State.STOPPED)
        self.supervisor = Supervisor(self._internal_error)
        self.events = CellEvents(self.supervisor)
        self.drives = DriveEnable(plc, config.cell.plc.scan_period_ms / 1000)
        # The pieces ask each other through the facade's attributes (late: each is built
        # once the one before it is).
        self.reaction = FaultReaction(
            machine=self.machine,
            plc=plc,
            power_source=power_source,
            robot=self.robot,
            store=store,
            events=self.events,
            supervisor=self.supervisor,
            link_fault_seen=lambda device: self.links.link_fault_seen(device),
            interlocks=lambda inputs, context: self.panel.interlocks.check(inputs, context),
            drives=self.drives,
            inputs=lambda: self.panel.inputs,
            clamped=lambda: self.part_run.clamped,
        )
        self.links = LinkWatch(
            {"plc": plc.link, "power_source": power_source.link, "robot": self.robot}
            | self.sensing.links(),
            power_source=power_source,
            robot=self.robot,
            faults=self.reaction,
            events=self.events,
            supervisor=self.supervisor,
            watch_period_s=cycle.status_period_ms / 1000,
            cycle_running=lambda: self.part_run.cycle_running(),
            drives_in_use=lambda: self.drives.requested and self.machine.state in ACTIVE_STATES,
        )
        self.panel = PanelScan(
            plc=plc,
            machine=self.machine,
            faults=self.reaction,
            links=self.links,
            events=self.events,
            supervisor=self.supervisor,
            commands=self,
            scan_period_s=config.cell.plc.scan_period_ms / 1000,
            clamped=lambda: self.part_run.clamped,
            drives_requested=lambda: self.drives.requested,
        )
        if isinstance(self.robot, OwnedRobot):
            # A robot that owns its motion is held, resumed and stopped through the PLC.
            self.robot.attach_job_io(
                PlcRobotJobIo(
                    plc,
                    lambda: getattr(self.panel, "inputs", None),
                    scan_period_s=config.cell.plc.scan_period_ms / 1000,
                )
            )
        self.trace = Traceability(
            config,
            store,
            warn=lambda code, detail: self.reaction.raise_fault(code, detail, time.monotonic()),
            tell=self.events.event,
            spawn=self.supervisor.spawn,
            plc_inputs=lambda: self.panel.inputs,
            plc_write=plc.write_outputs,
            plc_scan_period_s=config.cell.plc.scan_period_ms / 1000,
        )
        self.part_run = PartRun(
            config=config,
            machine=self.machine,
            plc=plc,
            power_source=power_source,
            motion=self.motion,
            store=store,
            sensing=self.sensing,
            faults=self.reaction,
            links=self.links,
            events=self.events,
            supervisor=self.supervisor,
            drives=self.drives,
            inputs=lambda: self.panel.inputs,
            wait_input=self.panel.wait_input,
            trace=self.trace,
        )
        self.reaction.part_run = self.part_run
        # Each change of state, in this order: said and recorded, shown on the stack light,
        # and the new acting state's work started.
        self.machine.subscribe(lambda t: self.events.transition(t, self.store, self.reaction))
        self.machine.subscribe(self.panel.on_transition)
        self.machine.subscribe(self.part_run.on_transition)
        motion.health = self.links  # the robot's failed polls count with its link
        self.health = HealthLog(
            self.events, self.settings.health_log_period_s, lambda: self.machine.state.label
        )
        self._closed = False

    # -- what the rest of the process reads --------------------------------------------------

    @property
    def faults(self) -> FaultReaction:
        """The fault book and the reaction (``active``, ``raise_fault``)."""
        return self.reaction

    def view(self) -> CellView:
        """The cell now, for the plant (``cellctl.cell.events.CellView``)."""
        part = self.part_run.part
        cycle = self.part_run.cycle
        progress = cycle.progress if cycle is not None else None
        return CellView(
            cell=self.config.cell.cell.name,
            state=self.machine.state,
            mode=self.machine.mode,
            allowed_commands=tuple(self.machine.allowed_commands()),
            activity=self.part_run.activity,
            part_program=part.program if part is not None else None,
            part_id=part.part_id if part is not None else None,
            seam=progress.seam if progress is not None else None,
            procedure=progress.procedure if progress is not None else None,
            cycle_running=self.part_run.cycle_running(),
            faults=tuple(self.reaction.active),
            links={device: link.stats.state for device, link in self.links.links.items()},
            power_source=self.power_source.last_status,
            trace=self.trace.snapshot(),
        )

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store, connect every device and start the loops. Never raises for a
        device that is absent: its link stays down (a fault) and keeps reconnecting."""
        self.supervisor.bind(asyncio.get_running_loop())
        self.part_run.config_id = await self.store.record_config(
            self.config.digest, self.config.files
        )
        await self.events.audit_config(self.store, self.config.digest)
        await self.trace.start()
        if self.store.recovered_incomplete:
            self.events.event(
                f"{self.store.recovered_incomplete} part(s) interrupted by the last stop were "
                "marked incomplete"
            )
        if self.events.listeners:
            await self.events.start_listeners(
                await listener_status(self.store, self.config, self.machine)
            )
        for link in self.links.links.values():
            link.stats.refusal_listeners.append(self._audit_refused_write)
        self.links.attach()
        self.sensing.supervise(self.supervisor.thread_failed)
        await asyncio.gather(self.plc.connect(), self.power_source.connect(), self.robot.connect())
        await self.sensing.connect()
        self.supervisor.spawn(self.panel.run, "PLC scan", forever=True)
        self.supervisor.spawn(self.links.watch_devices, "device watch", forever=True)
        self.supervisor.spawn(self.health.run, "health log", forever=True)
        self.events.event(f"controller started: {self.config.cell.cell.name}, state Stopped")

    def _audit_refused_write(self, error: Exception) -> None:
        """A driver refused a write before the wire (not in the register map, a value out of
        range, a pose outside the workspace): nothing was sent; the audit keeps it."""
        log.warning("write refused: %s", error)
        self.reaction.spawn_write(
            self.store.audit("controller", "write refused", str(error), "refused"), "audit"
        )

    async def shutdown(self) -> None:
        """Arc off and robot hold first, then everything closes. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self.links.close()
        self.events.event("shutting down: arc off, robot hold")
        await self.reaction.make_safe()
        await self.supervisor.stop(keep=asyncio.current_task())
        await self.part_run.finish_at_shutdown()
        await self.reaction.drop_drives()
        await asyncio.gather(
            self.robot.close(), self.power_source.close(), self.plc.close(), return_exceptions=True
        )
        await self.sensing.close()
        await self.trace.close()
        await self.events.stop_listeners()

    def _internal_error(self, where: str, error: BaseException) -> None:
        """An exception nobody expected escaped ``where`` (already logged with its traceback):
        the cell does not go on in doubt."""
        if self._closed:
            return
        self.reaction.raise_fault(
            FaultCode.INTERNAL_ERROR, f"internal error in {where}: {error!r}", time.monotonic()
        )

    # -- commands (``cellctl.cell.events.CellCommands``) -------------------------------------

    async def command(self, name: str, by: str = "operator") -> State:
        """Carry out a PackML command after checking this cell's own conditions for it.

        Raises ``CommandRefused`` naming the state and the reason; changes nothing then.
        """
        command = self.machine.check(name)
        if command is Command.START:
            self._refuse_if(command, self._start_blockers())
            # A part reopened for resume has its trace from its first start (cellctl.weld.resume).
            resuming = self.part_run.resume_armed is not None
            missing = [] if resuming else self.trace.start_blockers(str(self.machine.mode))
            if missing:
                # A remark in the fault history too: the panel's Start button has no screen.
                detail = "; ".join(missing)
                self.reaction.raise_fault(FaultCode.TRACE_INCOMPLETE, detail, time.monotonic())
                self._refuse_if(command, missing)
        elif command is Command.UNHOLD:
            self._refuse_if(command, self.reaction.blockers() + self._start_blockers())
        elif command in (Command.RESET, Command.CLEAR):
            await self.acknowledge_and_clear(by)
            self._refuse_if(command, self.reaction.blockers() + self.links.blockers())
        elif command is Command.SUSPEND:
            self.part_run.request_suspend(True)
        elif command is Command.UNSUSPEND:
            self.part_run.request_suspend(False)
        self.events.event(f"{command} by {by}")
        self.machine.fire(command, cause=f"{command} by {by}")
        return self.machine.state

    async def trace_command(self, method: str, argument: str, by: str) -> str:
        """A traceability command of the plant (``TRACE_COMMANDS``): its answer for the
        caller, or ``TraceRefused`` saying why not."""
        trace = self.trace
        handlers = {
            "EnterSerial": lambda: trace.enter_serial(argument, "operator", by),
            "LogInWelder": lambda: trace.log_in(argument, by),
            "LogOutWelder": lambda: trace.log_out(by),
            "SetWireLot": lambda: trace.set_lot("wire", argument, by),
            "SetGasLot": lambda: trace.set_lot("gas", argument, by),
            "ReleaseRework": lambda: trace.release_rework(argument, by),
            "RecordRepair": lambda: trace.record_repair(argument, by),
            "ReleasePart": lambda: trace.decide("release", argument, by),
            "ScrapPart": lambda: trace.decide("scrap", argument, by),
            "AddWorkOrder": lambda: trace.orders.add(argument, by),
            "ResumePart": lambda: self._resume_part_command(argument, by),
        }
        if method not in handlers:
            raise TraceRefused(f"no traceability command {method[:40]!r}")
        return await handlers[method]()

    async def resume_part(self, part_id: int, by: str = "operator") -> str:
        """The operator confirms that part ``part_id``, which the controller's last stop
        interrupted, is on the fixture as it was left: the next Start reopens it and welds on
        from its first pass not recorded (``cellctl.weld.resume``). Audited. Returns what the
        next Start welds; ``ResumeRefused`` says why not."""
        try:
            where = await self.part_run.arm_resume(part_id)
        except ResumeRefused as refused:
            await self.store.audit(by, "ResumePart", f"part {part_id}", f"refused: {refused}")
            raise
        await self.store.audit(by, "ResumePart", f"part {part_id}: {where}", "ok")
        return where

    async def resumable_parts(self) -> list[ResumeOffer]:
        """``CellCommands.resumable_parts``: the interrupted parts ``resume_part`` would take
        now, and where each goes on (``PartRun.resume_offers``)."""
        return await self.part_run.resume_offers()

    def resume_armed(self) -> int | None:
        """``CellCommands.resume_armed``: the part the next Start reopens (None: a new one)."""
        return self.part_run.resume_armed

    async def _resume_part_command(self, argument: str, by: str) -> str:
        """The plant's ``ResumePart``: ``resume_part`` by a part id given as text."""
        if not argument.strip().isdigit():
            raise TraceRefused(f"a part id is a number, not {argument[:40]!r}")
        try:
            where = await self.resume_part(int(argument), by)
        except ResumeRefused as refused:
            raise TraceRefused(str(refused)) from None
        return f"part {int(argument)} resumes at the next Start: {where}"

    async def acknowledge_faults(self, by: str = "operator") -> int:
        return self.reaction.acknowledge_all(by)

    async def acknowledge_fault(self, code: str, by: str = "operator") -> None:
        """Acknowledge one active fault by its code; ``UnknownFault`` if it is not active."""
        self.reaction.acknowledge(code, by)

    def request_tcp_check(self, by: str = "operator") -> None:
        """The operator asks for the torch's TCP check between parts: it runs before the
        next part's first seam (``cellctl.weld.torch_care``)."""
        self.part_run.torch_care.request_tcp_check(f"asked by {by}")

    def request_torch_service(self, by: str = "operator") -> None:
        """The operator asks for the torch's service cycle (ream, spray, cut, TCP check)
        between parts: it runs before the next part's first seam."""
        self.part_run.torch_care.request_service(by)

    async def torch_service(self, what: str, by: str = "operator") -> str:
        """``CellCommands.torch_service``: the operator's torch commands by name."""
        if what == "tcp_check":
            self.request_tcp_check(by)
            return "TCP check before the next part"
        if what == "service":
            self.request_torch_service(by)
            return "service cycle before the next part"
        if what == "tip_changed":
            await self.contact_tip_changed(by)
            return f"contact tip change {self.part_run.torch_care.tip_changes} recorded"
        raise ValueError(f"unknown torch service {what[:40]!r}: tcp_check, service, tip_changed")

    async def contact_tip_changed(self, by: str = "operator") -> None:
        """The operator changed the contact tip: counted and recorded."""
        await self.part_run.torch_care.tip_changed(by)

    def set_mode(self, mode: str, by: str = "operator") -> None:
        self.machine.set_mode(mode)
        self.events.event(f"mode {self.machine.mode} set by {by}")

    async def until_state(self, state: State, timeout_s: float) -> None:
        await self.part_run.until_state(state, timeout_s)

    def _refuse_if(self, command: Command, reasons: list[str]) -> None:
        if reasons:
            raise CommandRefused(command, self.machine.state, self.machine.mode, "; ".join(reasons))

    def _start_blockers(self) -> list[str]:
        reasons = self.links.blockers()
        if self.reaction.active:
            reasons.append("active faults: " + ", ".join(f.code for f in self.reaction.active))
        return reasons + self.panel.start_blockers()

    async def acknowledge_and_clear(self, by: str) -> None:
        """Acknowledge every fault, and clear those whose cause is gone."""
        await self.reaction.acknowledge_and_clear(
            by, lambda: self.panel.causes_present() | self.links.not_back()
        )
