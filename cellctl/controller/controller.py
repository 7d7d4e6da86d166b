"""The cell controller: the PackML state machine driven by the PLC, the operator and faults.

What runs, all on one asyncio loop:

- the PLC scan (every ``plc.scan_period_ms``): read the input image, check the interlocks, turn
  the operator's button presses into commands;
- the device watch: the robot's and power source's status while nothing else polls them, so a
  dead link or a device error is noticed in Idle too;
- the work of the current acting state (Resetting, Starting, Completing, Holding, ...), which
  ends with "state complete";
- in Execute, the weld cycle (``cellctl.weld.cycle``) of the current part.

Faults: ``raise_fault`` books the fault and, for every severity but warning, reacts at once in a
task of its own: arc off and robot hold sent together on their two links (the time from the
cause to both acknowledged is the fault's ``reaction_ms``), the weld cycle cancelled, then the
state machine moved per severity (abort / stop / hold). Nothing moves again until a person has
acknowledged the faults, their causes are gone, and Start (or Unhold) is given: Reset and Clear
never restart motion.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from cellctl.cell.events import CellListener, CellStatus
from cellctl.cell.faults import Fault, FaultBook, Severity
from cellctl.cell.interlocks import CellContext, Interlocks
from cellctl.cell.packml import Command, CommandRefused, Mode, State, StateMachine, Transition
from cellctl.collector import CollectionPauses
from cellctl.config.load import LoadedConfig
from cellctl.controller.supervision import Supervisor
from cellctl.records.store import AsyncStore, StoreError
from cellctl.sensing.protocol import NoSensing, SeamSensing
from cellctl.weld.cycle import POWER_SOURCE_FAULTS, CycleInterrupted, SeamProgress, WeldCycle
from drivers.codecs.robot_protocol import Pose, RobotState
from drivers.errors import DeviceError
from drivers.link import LinkState

log = logging.getLogger(__name__)

# Faults on which the PLC drops the robot's drive enable by itself (e-stop, door, light
# curtain, heartbeat watchdog).
DRIVES_DROPPED_BY_PLC = {"F100", "F101", "F102", "F104"}
LINK_FAULTS = {"plc": "F130", "power_source": "F131", "robot": "F132"}
# Failed requests in a row before a polled device's link is a fault: one garbled or lost
# answer on a noisy line is ridden out, the second is not.
LINK_FAILURES_TO_FAULT = 2
ACTIVE_STATES = frozenset(
    {
        State.STARTING,
        State.EXECUTE,
        State.COMPLETING,
        State.HOLDING,
        State.HELD,
        State.UNHOLDING,
        State.SUSPENDING,
        State.SUSPENDED,
        State.UNSUSPENDING,
    }
)
SAFE_COMMAND_TIMEOUT_S = 0.5
SHUTDOWN_TASK_TIMEOUT_S = 5.0
STACK_LIGHT = {  # (red, amber, green) per state
    State.EXECUTE: (False, False, True),
    State.STARTING: (False, False, True),
    State.COMPLETING: (False, False, True),
    State.UNHOLDING: (False, False, True),
    State.UNSUSPENDING: (False, False, True),
    State.ABORTING: (True, False, False),
    State.ABORTED: (True, False, False),
}


@dataclass
class Event:
    at: float
    text: str


@dataclass
class PartInProgress:
    part_id: int
    program: str
    started_monotonic: float = field(default_factory=time.monotonic)
    seams_done: int = 0
    verdicts: list[str] = field(default_factory=list)
    progress: SeamProgress | None = None  # where to resume after a hold


class Controller:
    """The cell, built by ``cellctl.controller.wiring.build_controller`` from config."""

    def __init__(
        self,
        config: LoadedConfig,
        plc: Any,
        power_source: Any,
        robot: Any,
        store: AsyncStore,
        sensing: SeamSensing | None = None,
    ) -> None:
        self.config = config
        self.settings = config.cell.controller
        self.plc = plc
        self.power_source = power_source
        self.robot = robot
        self.store = store
        self.sensing = sensing or NoSensing()
        self.machine = StateMachine(initial=State.STOPPED)
        self.machine.subscribe(self._on_transition)
        self.faults = FaultBook()
        self.interlocks = Interlocks()
        self.inputs: dict[str, Any] = {}
        self.part: PartInProgress | None = None
        # (part id, note) of parts whose end the store did not take (see _resetting).
        self._unclosed_parts: list[tuple[int, str]] = []
        self.config_id: int | None = None
        self.phase = "idle"
        self.events: collections.deque[Event] = collections.deque(maxlen=200)
        self.reaction_times_ms: list[float] = []
        self.timeline: collections.deque[tuple[float, str]] = collections.deque(maxlen=20_000)
        self.drives_requested = False
        self._safe_epoch = 0  # counts make-safe reactions; see _enable_drives
        self._heartbeat_established = False  # see CellContext
        self.clamped = False
        self.cycle: WeldCycle | None = None
        self._cycle_task: asyncio.Task[None] | None = None
        self._acting_task: asyncio.Task[None] | None = None
        # Every task and thread of ours is watched: an exception nobody expected is F180.
        self.supervisor = Supervisor(self._internal_error)
        self._buttons: dict[str, bool] = {}
        self._failures: dict[str, int] = collections.defaultdict(int)
        self._path_ids = 0
        self._suspend_requested = False
        self._attributing = False
        self._state_changed = asyncio.Event()
        self._closed = False
        self.on_event: Callable[[Event], None] | None = None
        # Plant-level publishers (see cellctl.cell.events); added by the wiring before start().
        self.listeners: list[CellListener] = []

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store, connect every device and start the loops. Never raises for a
        device that is absent: its link stays down (a fault) and keeps reconnecting."""
        self.supervisor.bind(asyncio.get_running_loop())
        self.config_id = await self.store.record_config(self.config.digest, self.config.files)
        await self._audit_config()
        if self.store.recovered_incomplete:
            self._event(
                f"{self.store.recovered_incomplete} part(s) interrupted by the last stop were "
                "marked incomplete"
            )
        if self.listeners:
            await self._start_listeners()
        for device, driver in self._devices().items():
            driver.stats.refusal_listeners.append(self._audit_refused_write)
            link = driver.link if hasattr(driver, "link") else driver
            link.add_state_listener(self._link_listener(device))
        self.sensing.supervise(self.supervisor.thread_failed)
        await asyncio.gather(self.plc.connect(), self.power_source.connect(), self.robot.connect())
        if hasattr(self.sensing, "connect"):  # the laser sensor's link (cellctl.sensing.laser)
            await self.sensing.connect()
        for loop, name in (
            (self._plc_scan_loop, "PLC scan"),
            (self._device_watch_loop, "device watch"),
            (self._health_loop, "health log"),
        ):
            self.supervisor.spawn(loop, name, forever=True)
        self._event(f"controller started: {self.config.cell.cell.name}, state Stopped")

    async def _audit_config(self) -> None:
        """Audit the config this start runs with: "config changed" with the hashes before and
        after when it differs from the last one audited, else "config loaded"."""
        last = await self.store.last_audit(("config loaded", "config changed"))
        before = last["detail"].split("after ")[-1].split()[0] if last else None
        after = self.config.digest
        action = "config loaded" if before == after else "config changed"
        detail = f"before {before or 'none'} after {after}"
        await self.store.audit("controller", action, detail, "ok")
        if action == "config changed":
            self._event(f"config changed: {before or 'none'} -> {after}")

    def _audit_refused_write(self, error: Exception) -> None:
        """A driver refused a write before the wire (not in the register map, a value out of
        range, a pose outside the workspace): nothing was sent; the audit keeps it."""
        log.warning("write refused: %s", error)
        self._spawn(self.store.audit("controller", "write refused", str(error), "refused"), "audit")

    async def shutdown(self) -> None:
        """Arc off and robot hold first, then everything closes. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._event("shutting down: arc off, robot hold")
        await self._make_safe()
        await self._stop_tasks()
        if self.part is not None:
            with contextlib.suppress(Exception):
                await self.store.finish_part(
                    self.part.part_id, "incomplete", None, "controller shut down mid-part"
                )
            self.part = None
        with contextlib.suppress(DeviceError):
            await self.plc.write_outputs({"robot_enable_request": False})
        await asyncio.gather(
            self.robot.close(), self.power_source.close(), self.plc.close(), return_exceptions=True
        )
        if hasattr(self.sensing, "close"):
            await self.sensing.close()
        for listener in self.listeners:
            try:
                await listener.stop()
            except Exception:
                log.exception("listener %s did not stop cleanly", type(listener).__name__)

    async def _stop_tasks(self) -> None:
        """Cancel every task of ours and wait for them, boundedly: shutdown never hangs."""
        await self.supervisor.stop(keep=asyncio.current_task())

    def _devices(self) -> dict[str, Any]:
        return {"plc": self.plc, "power_source": self.power_source, "robot": self.robot}

    # -- commands ---------------------------------------------------------------------------

    async def command(self, name: str, by: str = "operator") -> State:
        """Carry out a PackML command after checking this cell's own conditions for it.

        Raises ``CommandRefused`` naming the state and the reason; changes nothing then.
        """
        command = self.machine.check(name)
        if command is Command.START:
            self._refuse_if(command, self._start_blockers())
        elif command is Command.UNHOLD:
            self._refuse_if(command, self._fault_blockers() + self._start_blockers())
        elif command in (Command.RESET, Command.CLEAR):
            await self._acknowledge_and_clear(by)
            self._refuse_if(command, self._fault_blockers() + self._link_blockers())
        elif command is Command.SUSPEND:
            self._suspend_requested = True
        elif command is Command.UNSUSPEND:
            self._suspend_requested = False
        self._event(f"{command} by {by}")
        self.machine.fire(command, cause=f"{command} by {by}")
        return self.machine.state

    async def acknowledge_faults(self, by: str = "operator") -> int:
        newly = self.faults.acknowledge_all(by)
        for fault in newly:
            if fault.record_id is not None:
                self._spawn(
                    self.store.acknowledge_fault(fault.record_id, fault.acknowledged_at, by),
                    "record acknowledge",
                )
        if newly:
            self._event(f"{len(newly)} fault(s) acknowledged by {by}")
        return len(newly)

    async def acknowledge_fault(self, code: str, by: str = "operator") -> None:
        """Acknowledge one active fault by its code; ``UnknownFault`` if it is not active."""
        fault = self.faults.acknowledge(code, by)
        if fault.record_id is not None and fault.acknowledged_by == by:
            self._spawn(
                self.store.acknowledge_fault(fault.record_id, fault.acknowledged_at, by),
                "record acknowledge",
            )
        self._event(f"fault {code} acknowledged by {by}")

    def set_mode(self, mode: str, by: str = "operator") -> None:
        self.machine.set_mode(mode)
        self._event(f"mode {self.machine.mode} set by {by}")

    def _refuse_if(self, command: Command, reasons: list[str]) -> None:
        if reasons:
            raise CommandRefused(command, self.machine.state, self.machine.mode, "; ".join(reasons))

    def _start_blockers(self) -> list[str]:
        reasons = self._link_blockers()
        if self.faults.active:
            reasons.append("active faults: " + ", ".join(f.code for f in self.faults.active))
        if not self.inputs:
            reasons.append("no PLC input image yet")
        else:
            reasons += self.interlocks.start_blockers(self.inputs)
        return reasons

    def _fault_blockers(self) -> list[str]:
        if not self.faults.active:
            return []
        unacknowledged = [f.code for f in self.faults.unacknowledged()]
        if unacknowledged:
            return [f"faults not acknowledged: {', '.join(unacknowledged)}"]
        return ["causes still present: " + ", ".join(f.describe() for f in self.faults.active)]

    def _link_blockers(self) -> list[str]:
        return [
            f"{device} link {driver.stats.state}"
            for device, driver in self._devices().items()
            if not driver.connected
        ]

    async def _acknowledge_and_clear(self, by: str) -> None:
        await self.acknowledge_faults(by)
        present = self.interlocks.causes_present(self.inputs) if self.inputs else set()
        present |= {
            LINK_FAULTS[d]
            for d, drv in self._devices().items()
            # A link held silent for the device's watchdog is not back yet either.
            if not drv.connected or getattr(getattr(drv, "link", None), "silent", False)
        }
        with contextlib.suppress(DeviceError):
            # The operator's reset is the power source's error reset too; an error that stays
            # (a wire still stuck, gas still missing) keeps its fault.
            status = await self.power_source.read_status()
            if status.error:
                await self.power_source.reset_error()
                status = await self.power_source.read_status()
            if status.error:
                present.add(POWER_SOURCE_FAULTS.get(status.error_code, "F122"))
            if status.gas_flow_ok is False:
                present.add("F124")
        cleared, _ = self.faults.clear(present)
        for fault in cleared:
            if fault.record_id is not None:
                self._spawn(
                    self.store.clear_fault(fault.record_id, fault.cleared_at), "record clear"
                )
            self._notify("fault_cleared", fault)
        if cleared:
            self._event("cleared: " + ", ".join(f.code for f in cleared))

    # -- faults -----------------------------------------------------------------------------

    def raise_fault(self, code: str, detail: str = "", cause_seen: float | None = None) -> None:
        """Book a fault and, unless it is a warning, start its reaction at once."""
        if code == "F103" and not self._attributing:
            self._spawn(
                self._attribute_drives_off(detail, cause_seen or time.monotonic()),
                "drives-off attribution",
            )
            return
        if code in DRIVES_DROPPED_BY_PLC:
            # The PLC has dropped the drive enable itself and wants a new request edge: we
            # are no longer asking for drives (else their absence would read as a new fault).
            self.drives_requested = False
        for device, link_fault in LINK_FAULTS.items():
            if code == link_fault:
                # Whoever found the link dead, its next answer is the link coming back.
                self._failures[device] = max(self._failures[device], LINK_FAILURES_TO_FAULT)
        fault = self.faults.raise_fault(
            code, detail, state=self.machine.state.label, phase=self.phase
        )
        if fault is None:
            return
        if cause_seen is not None:
            fault.cause_seen_monotonic = cause_seen
        self._event(f"FAULT {fault.describe()}")
        self._notify("fault_raised", fault)
        if fault.severity is Severity.WARNING:
            self._spawn(self._record_fault(fault), "record fault")
            return
        self._spawn(self._react(fault), f"reaction to {fault.code}")

    async def _attribute_drives_off(self, detail: str, seen: float) -> None:
        """The robot lost its drives: react at once, then ask the PLC why.

        The PLC drops drive enable the moment a door opens or an e-stop is hit, so the robot
        may report it before our next PLC scan sees the cause. The operator must read the
        cause (door), not the symptom (drives off).
        """
        self._attributing = True
        try:
            safe = asyncio.ensure_future(self._make_safe())
            try:
                inputs = await self.plc.read_inputs()
                self.inputs = inputs
            except DeviceError:
                inputs = self.inputs
            context = CellContext(active=True, clamped=self.clamped, drives_requested=True)
            causes = [(c, r) for c, r in self.interlocks.check(inputs, context) if c != "F103"]
            await safe
            for code, reason in causes or [("F103", detail)]:
                self.raise_fault(code, reason, seen)
        finally:
            self._attributing = False

    async def _react(self, fault: Fault) -> None:
        # Stop the cycle from sending its next command (a setpoint, a move) while arc-off and
        # hold are on their way; its task is awaited after them, in _interrupt_cycle.
        if self._cycle_task is not None and not self._cycle_task.done():
            self._cycle_task.cancel()
        await self._make_safe()
        fault.reaction_ms = (time.monotonic() - fault.cause_seen_monotonic) * 1000
        self.reaction_times_ms.append(fault.reaction_ms)
        self._spawn(self._record_fault(fault), "record fault")
        self._notify("fault_reacted", fault)
        await self._interrupt_cycle(keep_progress=fault.severity is Severity.HOLD)
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

    async def _record_fault(self, fault: Fault) -> None:
        try:
            fault.record_id = await self.store.record_fault(
                fault.code,
                str(fault.severity),
                fault.kind.text,
                fault.detail,
                fault.state,
                fault.phase,
                self.part.part_id if self.part else None,
                fault.raised_at,
                fault.reaction_ms,
            )
        except StoreError as error:
            log.error("fault %s not recorded: %s", fault.code, error)
            self._record_not_written(error)

    async def _make_safe(self) -> None:
        """Arc off and robot hold, sent together; failures are logged, never raised.

        A robot that cannot be told to hold is stopped through the PLC instead: dropping its
        drive enable halts it at once. A power source that cannot be told is left to its own
        interface watchdog, which ends the arc when the controller goes quiet.
        """
        self._safe_epoch += 1
        results = await asyncio.gather(
            asyncio.wait_for(self.power_source.make_safe(), SAFE_COMMAND_TIMEOUT_S),
            asyncio.wait_for(self.robot.hold(), SAFE_COMMAND_TIMEOUT_S),
            return_exceptions=True,
        )
        for device, result in zip(("power source arc off", "robot hold"), results, strict=True):
            if isinstance(result, BaseException):
                self._event(f"{device} not delivered: {result}")
        if isinstance(results[1], BaseException) and self.plc.connected:
            self.drives_requested = False
            try:
                await self.plc.write_outputs({"robot_enable_request": False})
                self._event("robot stopped through the PLC: drive enable dropped")
            except DeviceError as error:
                self._event(f"drive enable not dropped either: {error}")

    async def _interrupt_cycle(self, keep_progress: bool) -> None:
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

    def _link_listener(self, device: str) -> Callable[[LinkState], None]:
        def on_change(state: LinkState) -> None:
            if state is LinkState.DOWN and not self._closed:
                self.raise_fault(LINK_FAULTS[device], f"{device} link down", time.monotonic())
            if state in (LinkState.UP, LinkState.DOWN):
                self._notify("link_changed", device, state is LinkState.UP)
            if state is LinkState.UP and self._failures[device] < LINK_FAILURES_TO_FAULT:
                self._link_back(device)
            # After a lost link, connected is not yet answering (a PLC behind a switch accepts
            # the connection before its program runs): its first answer says it is back
            # (``device_answered``).

        return on_change

    def device_failed(self, device: str, error: DeviceError) -> None:
        """A request to ``device`` failed; counted here, faulted by whoever asked."""
        self._failures[device] += 1
        log.debug("%s request failed: %s", device, error)

    def device_answered(self, device: str) -> None:
        """A request to ``device`` was answered. A device that had stopped answering while
        its connection stayed open (hung, stalled, half-open) is back: say so, as for a
        reconnect."""
        if self._failures[device] >= LINK_FAILURES_TO_FAULT:
            self._link_back(device)
        self._failures[device] = 0

    def _link_back(self, device: str) -> None:
        self._event(f"{device} link up")
        if device == "power_source" and not self._closed:
            # The arc-off of a fault's reaction may never have reached it, and a power source
            # keeps its arc-on command through a lost link (its watchdog latches an error that
            # a reset will not clear while the command stands). Say it again.
            self._spawn(self._power_source_safe_again(), "power source arc off again")

    async def _power_source_safe_again(self) -> None:
        if self._cycle_task is not None and not self._cycle_task.done():
            return  # a weld in progress owns the power source (it cannot be: a lost link stops it)
        try:
            await self.power_source.make_safe()
        except DeviceError as error:
            self._event(f"power source arc off after its link came back not delivered: {error}")

    async def _health_loop(self) -> None:
        """A line in the log every ``health_log_period_s``: what a process that runs for
        months must not grow (tasks, threads, open files), and the longest garbage
        collection since the line before (it stops every thread: see cellctl.collector).
        The soak benchmark reads it."""
        pauses = CollectionPauses()
        pauses.install()
        try:
            await self._log_health(pauses)
        finally:
            pauses.remove()

    async def _log_health(self, pauses: CollectionPauses) -> None:
        while True:
            await asyncio.sleep(self.settings.health_log_period_s)
            tasks = len(asyncio.all_tasks())
            threads = threading.active_count()
            try:
                files = len(os.listdir("/proc/self/fd"))
            except OSError:
                files = -1  # not Linux
            pause_s, generation = pauses.take_longest()
            self._event(
                f"health: {tasks} tasks, {threads} threads, {files} open files "
                f"in {self.machine.state.label}; longest garbage collection "
                f"{pause_s * 1000:.1f} ms (generation {generation})"
            )

    # -- the PLC scan ---------------------------------------------------------------------

    async def _plc_scan_loop(self) -> None:
        period_s = self.config.cell.plc.scan_period_ms / 1000
        deadline = time.monotonic()
        while True:
            deadline += period_s
            await asyncio.sleep(max(0.0, deadline - time.monotonic()))
            if time.monotonic() - deadline > period_s:
                deadline = time.monotonic()
            if not self.plc.connected:
                continue
            try:
                inputs = await self.plc.read_inputs()
            except DeviceError as error:
                self.device_failed("plc", error)
                if self._failures["plc"] >= LINK_FAILURES_TO_FAULT:
                    self.raise_fault("F130", str(error), time.monotonic())
                continue
            seen = time.monotonic()
            self.device_answered("plc")
            self.inputs = inputs
            self._check_interlocks(inputs, seen)
            await self._handle_buttons(inputs)

    def _check_interlocks(self, inputs: dict[str, Any], seen: float) -> None:
        if not self._heartbeat_established:
            beat = self.plc.heartbeat
            self._heartbeat_established = (
                beat.beats_written > 0 and inputs.get("heartbeat_echo") == beat.last_value
            )
        context = CellContext(
            active=self.machine.state in ACTIVE_STATES,
            clamped=self.clamped,
            drives_requested=self.drives_requested,
            heartbeat_established=self._heartbeat_established,
        )
        for code, reason in self.interlocks.check(inputs, context):
            self.raise_fault(code, reason, seen)

    async def _handle_buttons(self, inputs: dict[str, Any]) -> None:
        for button in ("start_button", "stop_button", "reset_button"):
            pressed = bool(inputs.get(button))
            was = self._buttons.get(button, False)
            self._buttons[button] = pressed
            if pressed and not was:
                await self._on_button(button)

    async def _on_button(self, button: str) -> None:
        """Operator's panel: Start starts (or unholds), Stop stops, Reset acknowledges and
        walks the cell back to Idle (Clear, Reset), never further."""
        state = self.machine.state
        try:
            if button == "stop_button":
                await self.command(Command.STOP, by="stop button")
            elif button == "start_button":
                follow = {
                    State.IDLE: Command.START,
                    State.HELD: Command.UNHOLD,
                    State.SUSPENDED: Command.UNSUSPEND,
                }
                await self.command(follow.get(state, Command.START), by="start button")
            elif button == "reset_button":
                await self.acknowledge_faults("reset button")
                if state is State.ABORTED:
                    await self.command(Command.CLEAR, by="reset button")
                    await self._until_state(State.STOPPED, 2.0)
                    await self.command(Command.RESET, by="reset button")
                elif state in (State.STOPPED, State.COMPLETE):
                    await self.command(Command.RESET, by="reset button")
                else:
                    await self._acknowledge_and_clear("reset button")
        except CommandRefused as refused:
            self._event(f"{button}: {refused}")

    async def _until_state(self, state: State, timeout_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while self.machine.state is not state:
                    await self._state_changed.wait()

    # -- watching devices outside the cycle ---------------------------------------------------

    async def _device_watch_loop(self) -> None:
        """Status of robot and power source every few scans while the cycle does not poll."""
        period_s = 5 * self.settings.cycle.status_period_ms / 1000
        while True:
            await asyncio.sleep(period_s)
            if self._cycle_task is not None and not self._cycle_task.done():
                continue
            for device, read in (
                ("power_source", self.power_source.read_status),
                ("robot", self.robot.read_status),
            ):
                driver = self._devices()[device]
                if not driver.connected:
                    continue
                try:
                    status = await read()
                except DeviceError as error:
                    self.device_failed(device, error)
                    if self._failures[device] >= LINK_FAILURES_TO_FAULT:
                        self.raise_fault(LINK_FAULTS[device], str(error), time.monotonic())
                    continue
                self.device_answered(device)
                self._check_status(device, status)

    def _check_status(self, device: str, status: Any) -> None:
        seen = time.monotonic()
        if device == "power_source" and status.error:
            code = POWER_SOURCE_FAULTS.get(status.error_code, "F122")
            self.raise_fault(code, f"error {status.error_code} ({status.error_text})", seen)
        if device == "robot":
            if status.state is RobotState.FAULT:
                self.raise_fault("F140", f"robot fault {status.fault_code}: {status.fault_text}")
            elif (
                status.state is RobotState.DRIVES_OFF
                and self.drives_requested
                and self.machine.state in ACTIVE_STATES
            ):
                self.raise_fault("F103", "the robot reports its drives off", seen)

    # -- state machine: the work of each acting state ------------------------------------------

    def _on_transition(self, transition: Transition) -> None:
        self._event(
            f"state {transition.from_state.label} -> {transition.to_state.label} "
            f"({transition.cause})"
        )
        self._state_changed.set()
        self._state_changed = asyncio.Event()
        self._spawn(
            self.store.record_state_change(
                transition.at,
                transition.from_state.label,
                transition.to_state.label,
                transition.cause,
                str(transition.mode),
            ),
            "record state change",
        )
        self._spawn(self._show_state(transition.to_state), "stack light")
        self._notify(
            "state_changed",
            transition.from_state.label,
            transition.to_state.label,
            transition.cause,
            str(transition.mode),
        )
        work = self._acting_work().get(transition.to_state)
        if work is not None:
            self._acting_task = self.supervisor.spawn(
                self._act(transition.to_state, work), f"acting state {transition.to_state.label}"
            )

    def _acting_work(self) -> dict[State, Callable[[], Awaitable[None]]]:
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
        }

    async def _act(self, state: State, work: Callable[[], Awaitable[None]]) -> None:
        try:
            await work()
        except CycleInterrupted:
            return  # a fault was raised; its reaction moves the state machine
        except DeviceError as error:
            # A command of the acting state failed: its device's link is the fault.
            self.raise_fault(LINK_FAULTS.get(error.device, "F170"), str(error), time.monotonic())
            return
        except StoreError as error:
            # A part's record not written (its start, its end): the part may not go on.
            self._record_not_written(error)
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

    async def _show_state(self, state: State) -> None:
        red, amber, green = STACK_LIGHT.get(state, (False, True, False))
        if self.faults.active:
            red = True
        with contextlib.suppress(DeviceError):
            await self.plc.write_outputs(
                {
                    "cell_state": int(state),
                    "stack_light_red": red,
                    "stack_light_amber": amber,
                    "stack_light_green": green,
                }
            )

    async def _resetting(self) -> None:
        self.phase = "idle"
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
            self._notify("part_done", row)
            self._event(f"part {part_id} recorded incomplete: {note}")

    async def _starting(self) -> None:
        program = self.config.active_part
        self.part = PartInProgress(
            await self.store.start_part(program.name, self.config_id, str(self.machine.mode)),
            program.name,
        )
        self._event(f"part {self.part.part_id} ({program.name}) started")
        self._notify("part_started", self.part.part_id, program.name)
        self.phase = "clamping"
        # The drive enable's falling half of its edge goes out with the clamp request, so that
        # the PLC has seen it long before the clamps are closed.
        self.drives_requested = False
        await self.plc.write_outputs({"clamp_close_request": True, "robot_enable_request": False})
        await self._wait_input("clamps_closed", True, self.settings.cycle.clamp_timeout_ms / 1000)
        self.clamped = True
        await self._enable_drives(edge_made=True)
        self.phase = "ready"

    async def _enable_drives(self, edge_made: bool = False) -> None:
        # The PLC enables the drives on a rising edge of the request only: make one.
        if not edge_made:
            self.drives_requested = False
            await self.plc.write_outputs({"robot_enable_request": False})
            await asyncio.sleep(2 * self.config.cell.plc.scan_period_ms / 1000)
        # Never ask for drives while a fault stands: a fault raised while this task was
        # waiting has already dropped the enable, and this write must not undo that.
        epoch = self._safe_epoch
        if any(f.severity.makes_safe for f in self.faults.active):
            raise CycleInterrupted("drives not requested: a fault is active")
        await self.plc.write_outputs({"robot_enable_request": True})
        self.drives_requested = True
        if self._safe_epoch != epoch:
            # A make-safe ran while the request was on the wire; it may have landed after the
            # make-safe's own drop. Drop it again (the fault's reaction owns the cell now).
            self.drives_requested = False
            await self.plc.write_outputs({"robot_enable_request": False})
            raise CycleInterrupted("drives dropped again: a fault came during the request")
        await self._wait_input("robot_enabled", True, 2.0)

    async def _wait_input(self, name: str, value: bool, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while bool(self.inputs.get(name)) is not value:
            if time.monotonic() > deadline:
                self.raise_fault("F170", f"PLC input {name} not {value} within {timeout_s:g} s")
                raise CycleInterrupted(name)
            await asyncio.sleep(self.config.cell.plc.scan_period_ms / 1000)

    async def _execute(self) -> None:
        """Start (or resume) the weld cycle of the current part."""
        assert self.part is not None
        if self._cycle_task is not None and not self._cycle_task.done():
            # Back from Suspended: the parked cycle goes on by itself. Never two cycles.
            return
        self.cycle = WeldCycle(
            robot=self.robot,
            power_source=self.power_source,
            store=self.store,
            sensing=self.sensing,
            settings=self.settings,
            part=self.config.parts[self.part.program],
            procedures=self.config.procedures,
            part_id=self.part.part_id,
            dry_run=self.machine.mode is Mode.DRY_RUN,
            report_fault=lambda code, detail: self.raise_fault(code, detail, time.monotonic()),
            device_failed=self.device_failed,
            next_path_id=self._next_path_id,
            timeline=self._mark,
        )
        resume, self.part.progress = self.part.progress, None
        first_seam = self.part.seams_done
        self._cycle_task = self.supervisor.spawn(
            self._run_cycle(self.cycle, resume, first_seam), "weld cycle"
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
                self.phase = f"seam {seams[index].name}"
                summary = await cycle.weld_seam(index, resume)
                # The record is committed (durably) when weld_seam returns: say so, so that a
                # test rig can hold the store to every seam it was told about.
                self._event(f"part {part.part_id} seam {summary.seam} recorded ({summary.verdict})")
                self._notify("seam_recorded", part.part_id, summary)
                resume = None
                part.seams_done = index + 1
                part.verdicts.append(summary.verdict)
                index += 1
        except CycleInterrupted:
            return
        if self.machine.state is State.EXECUTE:
            self.machine.state_complete()

    async def _park_suspended(self) -> None:
        self.phase = "suspended between seams"
        while self._suspend_requested or self.machine.state is not State.EXECUTE:
            if self.machine.state is State.SUSPENDING:
                self.machine.state_complete()
            await self._state_changed.wait()

    async def _suspending(self) -> None:
        # Completed by the cycle when it reaches the next seam boundary (see _park_suspended);
        # with no cycle running there is nothing to wait for.
        if self._cycle_task is None or self._cycle_task.done():
            self.machine.state_complete()
        await asyncio.sleep(0)
        raise CycleInterrupted("suspending completes at the seam boundary")

    async def _unsuspending(self) -> None:
        self._suspend_requested = False

    async def _completing(self) -> None:
        assert self.part is not None
        self.phase = "completing"
        home = self.config.cell.robot.home_pose_mm
        speed = 100 * min(
            1.0,
            self.settings.motion.air_speed_mm_per_s
            / self.config.cell.robot.limits.max_speed_mm_per_s,
        )
        await self.robot.move_joint(Pose(*home), speed)
        await self._wait_robot_idle("home")
        await self.plc.write_outputs({"clamp_close_request": False})
        self.clamped = False
        await self._wait_input("clamps_open", True, self.settings.cycle.clamp_timeout_ms / 1000)
        part = self.part
        verdict = (
            "dry_run"
            if self.machine.mode is Mode.DRY_RUN
            else ("good" if all(v == "good" for v in part.verdicts) else "bad")
        )
        row = await self.store.finish_part(part.part_id, "complete", verdict)
        self._event(f"part {part.part_id} complete: {verdict}, cycle {row['cycle_time_s']:.1f} s")
        self._notify("part_done", row)
        self.part = None
        self.phase = "unloading"

    async def _complete(self) -> None:
        # The cell resets itself for the next part; the operator's Start begins it.
        self.machine.fire(Command.RESET, cause="auto reset after complete")

    async def _wait_robot_idle(self, what: str) -> None:
        deadline = time.monotonic() + 60
        while True:
            status = await self.robot.read_status()
            if status.state is RobotState.IDLE and status.queue_depth == 0:
                return
            if status.state in (RobotState.FAULT, RobotState.DRIVES_OFF):
                self.raise_fault("F140", f"robot {status.state.name.lower()} moving {what}")
                raise CycleInterrupted(what)
            if time.monotonic() > deadline:
                self.raise_fault("F170", f"robot did not reach {what} in 60 s")
                raise CycleInterrupted(what)
            await asyncio.sleep(self.settings.cycle.status_period_ms / 1000)

    async def _holding(self) -> None:
        """Arc off and robot hold (again, if a fault's reaction already did: it is idempotent),
        the cycle stopped where it stands, kept to resume; then wait for the robot to stand."""
        self.phase = "holding"
        await self._make_safe()
        await self._interrupt_cycle(keep_progress=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                status = await self.robot.read_status()
            except DeviceError:
                break
            if status.state in (RobotState.HELD, RobotState.IDLE, RobotState.DRIVES_OFF):
                break
            await asyncio.sleep(self.settings.cycle.status_period_ms / 1000)
        self.phase = "held"

    async def _unholding(self) -> None:
        self.phase = "unholding"
        if not self.inputs.get("robot_enabled"):
            await self._enable_drives()

    async def _stopping(self) -> None:
        self.phase = "stopping"
        await self._make_safe()
        await self._interrupt_cycle(keep_progress=False)
        with contextlib.suppress(DeviceError):
            await self.robot.stop()
        await self._end_part("stopped mid-part")
        self.drives_requested = False
        with contextlib.suppress(DeviceError):
            await self.plc.write_outputs({"robot_enable_request": False})
        self.phase = "stopped"

    async def _aborting(self) -> None:
        self.phase = "aborting"
        await self._make_safe()
        await self._interrupt_cycle(keep_progress=False)
        with contextlib.suppress(DeviceError):
            await self.robot.stop()
        self.drives_requested = False
        with contextlib.suppress(DeviceError):
            await self.plc.write_outputs({"robot_enable_request": False})
        await self._end_part("aborted: " + ", ".join(f.code for f in self.faults.active))
        self.phase = "aborted"

    async def _clearing(self) -> None:
        self.phase = "idle"

    async def _end_part(self, note: str) -> None:
        if self.part is not None:
            part, self.part = self.part, None
            try:
                row = await self.store.finish_part(part.part_id, "incomplete", None, note)
                self._notify("part_done", row)
            except StoreError as error:
                # Left in progress in the store until the reset after the store is back.
                log.error("part %s not closed in the store: %s", part.part_id, error)
                self._unclosed_parts.append((part.part_id, f"{note}; its end was not recorded"))
                self._record_not_written(error)
            self._event(f"part {part.part_id} incomplete: {note}")
        self.clamped = False if self.machine.state is State.ABORTING else self.clamped

    # -- small things -------------------------------------------------------------------------

    def _next_path_id(self) -> int:
        self._path_ids = self._path_ids % 65_000 + 1
        return self._path_ids

    def _mark(self, what: str) -> None:
        self.timeline.append((time.monotonic(), what))

    def _event(self, text: str) -> None:
        event = Event(time.time(), text)
        self.events.append(event)
        log.info("%s", text)
        if self.on_event is not None:
            self.on_event(event)

    async def _start_listeners(self) -> None:
        counters = await self.store.counters()
        status = CellStatus(
            cell=self.config.cell.cell.name,
            state=self.machine.state.label,
            mode=str(self.machine.mode),
            config_digest=self.config.digest,
            parts_processed=counters.parts_processed,
            parts_good=counters.parts_good,
            parts_bad=counters.parts_bad,
            parts_incomplete=counters.parts_incomplete,
            seams_welded=counters.seams_welded,
        )
        for listener in self.listeners:
            try:
                await listener.start(status)
            except Exception as error:
                self.supervisor.thread_failed(f"listener {type(listener).__name__} start", error)

    def _notify(self, event: str, *args: Any) -> None:
        """Tell every listener (``cellctl.cell.events``). A listener's exception does not stop
        the others; nobody expected it, so it is an internal error all the same."""
        for listener in self.listeners:
            try:
                getattr(listener, event)(*args)
            except Exception as error:
                self.supervisor.thread_failed(f"listener {type(listener).__name__} {event}", error)

    def _spawn(self, work: Coroutine[Any, Any, Any], name: str) -> None:
        """A task of the controller's, watched: a store write that fails is F160 with its
        reason, anything else unexpected F180."""
        self.supervisor.spawn(
            work, name, expected=(StoreError,), on_expected=self._record_not_written
        )

    def _record_not_written(self, error: BaseException) -> None:
        self.raise_fault("F160", str(error), time.monotonic())

    def _internal_error(self, where: str, error: BaseException) -> None:
        """An exception nobody expected escaped ``where`` (already logged with its traceback):
        the cell does not go on in doubt."""
        if self._closed:
            return
        self.raise_fault("F180", f"internal error in {where}: {error!r}", time.monotonic())

    def snapshot(self) -> dict[str, Any]:
        """The cell as the operator's screen shows it."""
        return {
            "state": self.machine.state.label,
            "mode": str(self.machine.mode),
            "phase": self.phase,
            "part": self.part.program if self.part else None,
            "part_id": self.part.part_id if self.part else None,
            "faults": [
                {
                    "code": f.code,
                    "severity": str(f.severity),
                    "text": f.kind.text,
                    "detail": f.detail,
                    "raised_at": f.raised_at,
                    "acknowledged": f.acknowledged,
                    "reaction_ms": f.reaction_ms,
                }
                for f in self.faults.active
            ],
            "links": {d: str(drv.stats.state) for d, drv in self._devices().items()},
        }
