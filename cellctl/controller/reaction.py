"""The fault reaction: ``FaultReaction`` books faults and makes the cell safe.

``raise_fault`` books the fault and, for every severity but warning, reacts at once in a task
of its own: arc off and robot hold sent together on their two links (the time from the cause
to both acknowledged is the fault's ``reaction_ms``), the weld cycle cancelled, then the state
machine moved per severity (abort / stop / hold). A robot that cannot be told to hold is
stopped through the PLC instead: dropping its drive enable halts it at once. A power source
that cannot be told is left to its own interface watchdog, which ends the arc when the
controller goes quiet. Nothing moves again until a person has acknowledged the faults, their
causes are gone, and Start (or Unhold) is given: Reset and Clear never restart motion.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

from cellctl.cell.faults import (
    DRIVES_DROPPED_BY_PLC,
    LINK_FAULTS,
    Fault,
    FaultBook,
    FaultCode,
    Severity,
    power_source_fault,
)
from cellctl.cell.interlocks import CellContext
from cellctl.cell.packml import Command, State, StateMachine
from cellctl.controller.events import CellEvents
from cellctl.controller.supervision import Supervisor
from cellctl.records.store import AsyncStore, StoreError
from drivers.errors import DeviceError
from drivers.plc import PlcDriver
from drivers.power_source import PowerSourceDriver
from drivers.robot import Robot

log = logging.getLogger(__name__)

SAFE_COMMAND_TIMEOUT_S = 0.5


class Interruptible(Protocol):
    """The part run, as the reaction sees it: its weld cycle can be stopped where it stands."""

    def cancel_cycle(self) -> None:
        """Stop the cycle from sending its next command (at once, without waiting)."""

    async def interrupt_cycle(self, keep_progress: bool) -> None:
        """Stop the cycle and wait for it; keep where the seam stands to resume, or not."""

    def part_id(self) -> int | None:
        """The part in progress, for a fault's record."""

    def where(self) -> str:
        """Where the cell is, for a fault's record (``cellctl.cell.steps.Activity``)."""


class DrivesRequest(Protocol):
    """The robot's drive enable request (owned by the part run)."""

    def dropped(self) -> None:
        """The request is off now (the reaction or the PLC took it away)."""

    def reacted(self) -> None:
        """A make-safe has run: a request on the wire meanwhile must not stand."""

    @property
    def requested(self) -> bool: ...


class FaultReaction:
    """Owns the fault book and the reaction to a fault (see the module).

    ``FaultReporter`` for every part of the cell that finds a fault.
    """

    def __init__(
        self,
        *,
        machine: StateMachine,
        plc: PlcDriver,
        power_source: PowerSourceDriver,
        robot: Robot,
        store: AsyncStore,
        events: CellEvents,
        supervisor: Supervisor,
        link_fault_seen: Callable[[str], None],
        interlocks: Callable[[dict, CellContext], list[tuple[FaultCode, str]]],
        drives: DrivesRequest,
        inputs: Callable[[], dict],
        clamped: Callable[[], bool],
    ) -> None:
        self.machine = machine
        self.plc = plc
        self.power_source = power_source
        self.robot = robot
        self.store = store
        self.events = events
        self.supervisor = supervisor
        self.link_fault_seen = link_fault_seen  # the link watch: its next answer is news
        self.interlocks = interlocks  # the panel's interlocks against an input image
        self.drives = drives
        self.inputs = inputs
        self.clamped = clamped
        self.book = FaultBook()
        self.part_run: Interruptible | None = None  # set by the controller once built
        self._attributing = False

    @property
    def active(self) -> list[Fault]:
        return self.book.active

    # -- raising --------------------------------------------------------------------------------

    def raise_fault(
        self,
        code: FaultCode | str,
        detail: str = "",
        cause_seen: float | None = None,
        *,
        device_answered: bool = False,
    ) -> None:
        """Book a fault and, unless it is a warning, start its reaction at once (see
        ``cellctl.cell.faults.FaultReporter`` for ``device_answered``)."""
        code = FaultCode(code)
        if code is FaultCode.DRIVES_OFF and not self._attributing:
            self.supervisor.spawn(
                self._attribute_drives_off(detail, cause_seen or time.monotonic()),
                "drives-off attribution",
            )
            return
        if code in DRIVES_DROPPED_BY_PLC:
            # The PLC has dropped the drive enable itself and wants a new request edge: we
            # are no longer asking for drives (else their absence would read as a new fault).
            self.drives.dropped()
        for device, link_fault in LINK_FAULTS.items():
            # A device that answers with its own link error has a working link: marking it
            # dead made each answer of the device watch "link up" again (an event a scan).
            if code is link_fault and not device_answered:
                self.link_fault_seen(device)
        part_run = self.part_run
        fault = self.book.raise_fault(
            code,
            detail,
            state=self.machine.state.label,
            phase=part_run.where() if part_run is not None else "",
        )
        if fault is None:
            return
        if cause_seen is not None:
            fault.cause_seen_monotonic = cause_seen
        self.events.event(f"FAULT {fault.describe()}")
        self.events.notify("fault_raised", fault)
        if fault.severity is Severity.WARNING:
            self.spawn_record(fault)
            return
        self.supervisor.spawn(self._react(fault), f"reaction to {fault.code}")

    def spawn_record(self, fault: Fault) -> None:
        self.supervisor.spawn(self._record(fault), "record fault")

    async def _attribute_drives_off(self, detail: str, seen: float) -> None:
        """The robot lost its drives: react at once, then ask the PLC why.

        The PLC drops drive enable the moment a door opens or an e-stop is hit, so the robot
        may report it before our next PLC scan sees the cause. The operator must read the
        cause (door), not the symptom (drives off).
        """
        self._attributing = True
        try:
            safe = asyncio.ensure_future(self.make_safe())
            try:
                inputs = await self.plc.read_inputs()
            except DeviceError:
                inputs = self.inputs()
            context = CellContext(active=True, clamped=self.clamped(), drives_requested=True)
            found = self.interlocks(inputs, context)
            causes = [(c, r) for c, r in found if c is not FaultCode.DRIVES_OFF]
            await safe
            for code, reason in causes or [(FaultCode.DRIVES_OFF, detail)]:
                self.raise_fault(code, reason, seen)
        finally:
            self._attributing = False

    async def _react(self, fault: Fault) -> None:
        part_run = self.part_run
        # Stop the cycle from sending its next command (a setpoint, a move) while arc-off and
        # hold are on their way; its task is awaited after them, in interrupt_cycle.
        if part_run is not None:
            part_run.cancel_cycle()
        await self.make_safe()
        fault.reaction_ms = (time.monotonic() - fault.cause_seen_monotonic) * 1000
        self.spawn_record(fault)
        self.events.notify("fault_reacted", fault)
        if part_run is not None:
            await part_run.interrupt_cycle(keep_progress=fault.severity is Severity.HOLD)
        state = self.machine.state
        if fault.severity is Severity.HOLD and state in (State.EXECUTE, State.SUSPENDED):
            self.machine.fire(Command.HOLD, cause=fault.code)
        elif fault.severity in (Severity.HOLD, Severity.STOP) and state not in (
            State.STOPPING,
            State.STOPPED,
            State.ABORTING,
            State.ABORTED,
            State.CLEARING,
            State.IDLE,
            State.HELD,
            State.HOLDING,
        ):
            self.machine.fire(Command.STOP, cause=fault.code)
        elif fault.severity is Severity.ABORT and state not in (State.ABORTING, State.ABORTED):
            self.machine.fire(Command.ABORT, cause=fault.code)

    async def _record(self, fault: Fault) -> None:
        part_run = self.part_run
        try:
            fault.record_id = await self.store.record_fault(
                fault.code,
                str(fault.severity),
                fault.kind.text,
                fault.detail,
                fault.state,
                fault.phase,
                part_run.part_id() if part_run is not None else None,
                fault.raised_at,
                fault.reaction_ms,
            )
        except StoreError as error:
            log.error("fault %s not recorded: %s", fault.code, error)
            self.raise_fault(FaultCode.RECORD_NOT_WRITTEN, str(error), time.monotonic())

    # -- making safe ------------------------------------------------------------------------------

    async def make_safe(self) -> None:
        """Arc off and robot hold, sent together; failures are logged, never raised (see the
        module for what stands in for a command that could not be delivered)."""
        self.drives.reacted()
        results = await asyncio.gather(
            asyncio.wait_for(self.power_source.make_safe(), SAFE_COMMAND_TIMEOUT_S),
            asyncio.wait_for(self.robot.hold(), SAFE_COMMAND_TIMEOUT_S),
            return_exceptions=True,
        )
        for device, result in zip(("power source arc off", "robot hold"), results, strict=True):
            if isinstance(result, BaseException):
                self.events.event(f"{device} not delivered: {result}")
        if isinstance(results[1], BaseException) and self.plc.connected:
            await self.drop_drives("robot stopped through the PLC: drive enable dropped")

    async def drop_drives(self, said: str = "") -> None:
        """Take the robot's drive enable away through the PLC (the robot halts at once)."""
        self.drives.dropped()
        try:
            await self.plc.write_outputs({"robot_enable_request": False})
            if said:
                self.events.event(said)
        except DeviceError as error:
            self.events.event(f"drive enable not dropped: {error}")

    # -- acknowledging and clearing ----------------------------------------------------------------

    def acknowledge_all(self, by: str) -> int:
        newly = self.book.acknowledge_all(by)
        for fault in newly:
            self._record_acknowledge(fault, by)
        if newly:
            self.events.event(f"{len(newly)} fault(s) acknowledged by {by}")
        return len(newly)

    def acknowledge(self, code: str, by: str) -> None:
        """Acknowledge one active fault by its code; ``UnknownFault`` if it is not active."""
        fault = self.book.acknowledge(code, by)
        if fault.acknowledged_by == by:
            self._record_acknowledge(fault, by)
        self.events.event(f"fault {code} acknowledged by {by}")

    def _record_acknowledge(self, fault: Fault, by: str) -> None:
        if fault.record_id is not None:
            self.spawn_write(
                self.store.acknowledge_fault(fault.record_id, fault.acknowledged_at, by),
                "record acknowledge",
            )

    def clear(self, still_present: set[FaultCode]) -> None:
        """Clear every acknowledged fault whose cause is gone."""
        cleared, _ = self.book.clear(still_present)
        for fault in cleared:
            if fault.record_id is not None:
                self.spawn_write(
                    self.store.clear_fault(fault.record_id, fault.cleared_at), "record clear"
                )
            self.events.notify("fault_cleared", fault)
        if cleared:
            self.events.event("cleared: " + ", ".join(f.code for f in cleared))

    def spawn_write(self, work, name: str) -> None:
        self.supervisor.spawn(
            work, name, expected=(StoreError,), on_expected=self.record_not_written
        )

    def record_not_written(self, error: BaseException) -> None:
        self.raise_fault(FaultCode.RECORD_NOT_WRITTEN, str(error), time.monotonic())

    async def acknowledge_and_clear(
        self, by: str, causes_present: Callable[[], set[FaultCode]]
    ) -> None:
        """Acknowledge every fault, and clear those whose cause is gone: ``causes_present()``
        (the interlocks', the links') and the power source's own errors, which the operator's
        reset also resets at the machine."""
        self.acknowledge_all(by)
        present = causes_present()
        try:
            # An error that stays (a wire still stuck, gas still missing) keeps its fault.
            status = await self.power_source.read_status()
            if status.error:
                await self.power_source.reset_error()
                status = await self.power_source.read_status()
            if status.error:
                present.add(power_source_fault(status.error_code))
            if status.gas_flow_ok is False:
                present.add(FaultCode.GAS_FLOW)
        except DeviceError:
            pass  # its link's fault stays (it is among the causes present)
        self.clear(present)

    def blockers(self) -> list[str]:
        """Why the cell may not go on as far as the faults go (empty: none stands)."""
        if not self.book.active:
            return []
        unacknowledged = [f.code for f in self.book.unacknowledged()]
        if unacknowledged:
            return [f"faults not acknowledged: {', '.join(unacknowledged)}"]
        return ["causes still present: " + ", ".join(f.describe() for f in self.book.active)]
