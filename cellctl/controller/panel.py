"""The PLC scan and the operator's panel: ``PanelScan``.

Every ``plc.scan_period_ms`` the PLC's input image is read; the interlocks are checked against
it (``cellctl.cell.interlocks``: door, e-stop chain, light curtain, pressures, clamps, the
PLC's own heartbeat watchdog) and the rising edges of the panel's buttons become commands:
Start starts a part (or unholds, or unsuspends), Stop stops, Reset acknowledges and walks the
cell back to Idle (Clear, Reset), never further. The stack light shows the state.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Callable
from typing import Any, Protocol

from cellctl.cell.faults import FaultCode
from cellctl.cell.interlocks import CellContext, Interlocks
from cellctl.cell.packml import (
    ACTIVE_STATES,
    Command,
    CommandRefused,
    State,
    StateMachine,
    Transition,
)
from cellctl.controller.events import CellEvents
from cellctl.controller.links import LinkWatch
from cellctl.controller.reaction import FaultReaction
from cellctl.controller.supervision import Supervisor
from cellctl.weld.cycle import CycleInterrupted
from drivers.errors import DeviceError
from drivers.plc import PlcDriver

BUTTONS = ("start_button", "stop_button", "reset_button")
STACK_LIGHT = {  # (red, amber, green) per state; amber in every other
    State.EXECUTE: (False, False, True),
    State.STARTING: (False, False, True),
    State.COMPLETING: (False, False, True),
    State.UNHOLDING: (False, False, True),
    State.UNSUSPENDING: (False, False, True),
    State.ABORTING: (True, False, False),
    State.ABORTED: (True, False, False),
}


class PanelCommands(Protocol):
    """What the panel's buttons do: the controller's own commands (``Controller``)."""

    async def command(self, name: str, by: str = "operator") -> State: ...

    async def acknowledge_faults(self, by: str = "operator") -> int: ...

    async def acknowledge_and_clear(self, by: str) -> None: ...

    async def until_state(self, state: State, timeout_s: float) -> None: ...


class PanelScan:
    """Owns the PLC scan, the input image (``inputs``), the interlocks, the heartbeat echo, the
    buttons' edges and the stack light (see the module).

    ``clamped()`` and ``drives_requested()`` come from the part run: which interlocks apply.
    """

    def __init__(
        self,
        *,
        plc: PlcDriver,
        machine: StateMachine,
        faults: FaultReaction,
        links: LinkWatch,
        events: CellEvents,
        supervisor: Supervisor,
        commands: PanelCommands,
        scan_period_s: float,
        clamped: Callable[[], bool],
        drives_requested: Callable[[], bool],
    ) -> None:
        self.plc = plc
        self.machine = machine
        self.faults = faults
        self.links = links
        self.events = events
        self.supervisor = supervisor
        self.scan_period_s = scan_period_s
        self.clamped = clamped
        self.drives_requested = drives_requested
        self.interlocks = Interlocks()
        self.inputs: dict[str, Any] = {}  # the last input image (empty before the first)
        self.commands = commands
        self._buttons: dict[str, bool] = {}
        # Presses of each button acted on (its command carried out or refused), for whoever
        # waits for a press to have been taken; owned by the scan, like ``_buttons``.
        self.presses_taken: collections.Counter[str] = collections.Counter()
        self._heartbeat_established = False  # see CellContext
        # Whether the PLC has reported the drives on since the part run last asked for them
        # (see check_interlocks); owned by the scan, like the input image.
        self._drives_came_on = False

    # -- the scan ---------------------------------------------------------------------------

    async def run(self) -> None:
        """The scan, on absolute deadlines (until cancelled: the supervisor's task)."""
        deadline = time.monotonic()
        while True:
            deadline += self.scan_period_s
            await asyncio.sleep(max(0.0, deadline - time.monotonic()))
            if time.monotonic() - deadline > self.scan_period_s:
                deadline = time.monotonic()
            if not self.plc.connected:
                continue
            try:
                inputs = await self.plc.read_inputs()
            except DeviceError as error:
                self.links.failed("plc", error)
                if self.links.failed_too_often("plc"):
                    self.faults.raise_fault(FaultCode.PLC_LINK, str(error), time.monotonic())
                continue
            seen = time.monotonic()
            self.links.answered("plc")
            self.inputs = inputs
            self.check_interlocks(inputs, seen)
            await self._handle_buttons(inputs)

    def check_interlocks(self, inputs: dict[str, Any], seen: float) -> None:
        if not self._heartbeat_established:
            beat = self.plc.heartbeat
            self._heartbeat_established = (
                beat.beats_written > 0 and inputs.get("heartbeat_echo") == beat.last_value
            )
        # Drives can only drop once they were on. Between the request going out and the PLC's
        # next scan enabling them, an input image (or one read while the request was on the
        # wire) says "requested, not enabled": that is the drives coming on, not a drop (F103).
        # Drives the PLC never enables are the part run's step timeout (F170).
        requested = self.drives_requested()
        if not requested:
            self._drives_came_on = False
        elif inputs.get("robot_enabled"):
            self._drives_came_on = True
        context = CellContext(
            active=self.machine.state in ACTIVE_STATES,
            clamped=self.clamped(),
            drives_requested=requested and self._drives_came_on,
            heartbeat_established=self._heartbeat_established,
        )
        for code, reason in self.interlocks.check(inputs, context):
            self.faults.raise_fault(code, reason, seen)

    def start_blockers(self) -> list[str]:
        """Why the cycle may not start as far as the panel goes (empty: it may)."""
        if not self.inputs:
            return ["no PLC input image yet"]
        return self.interlocks.start_blockers(self.inputs)

    def causes_present(self) -> set[FaultCode]:
        return self.interlocks.causes_present(self.inputs) if self.inputs else set()

    async def wait_input(self, name: str, value: bool, timeout_s: float) -> None:
        """Until the PLC's input ``name`` reads ``value``; F170 and ``CycleInterrupted``
        after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while bool(self.inputs.get(name)) is not value:
            if time.monotonic() > deadline:
                self.faults.raise_fault(
                    FaultCode.STEP_TIMEOUT, f"PLC input {name} not {value} within {timeout_s:g} s"
                )
                raise CycleInterrupted(name)
            await asyncio.sleep(self.scan_period_s)

    # -- the buttons --------------------------------------------------------------------------

    async def _handle_buttons(self, inputs: dict[str, Any]) -> None:
        for button in BUTTONS:
            pressed = bool(inputs.get(button))
            was = self._buttons.get(button, False)
            self._buttons[button] = pressed
            if pressed and not was:
                try:
                    await self._on_button(button)
                finally:
                    self.presses_taken[button] += 1

    def button_down(self, button: str) -> bool:
        """Whether the last scan saw ``button`` pressed."""
        return self._buttons.get(button, False)

    async def _on_button(self, button: str) -> None:
        """Start starts (or unholds, or unsuspends), Stop stops, Reset acknowledges and walks
        the cell back to Idle (Clear, Reset), never further."""
        commands = self.commands
        state = self.machine.state
        try:
            if button == "stop_button":
                await commands.command(Command.STOP, by="stop button")
            elif button == "start_button":
                follow = {
                    State.IDLE: Command.START,
                    State.HELD: Command.UNHOLD,
                    State.SUSPENDED: Command.UNSUSPEND,
                }
                await commands.command(follow.get(state, Command.START), by="start button")
            elif button == "reset_button":
                await commands.acknowledge_faults("reset button")
                if state is State.ABORTED:
                    await commands.command(Command.CLEAR, by="reset button")
                    await commands.until_state(State.STOPPED, 2.0)
                    await commands.command(Command.RESET, by="reset button")
                elif state in (State.STOPPED, State.COMPLETE):
                    await commands.command(Command.RESET, by="reset button")
                else:
                    await commands.acknowledge_and_clear("reset button")
        except CommandRefused as refused:
            self.events.event(f"{button}: {refused}")

    # -- the stack light ------------------------------------------------------------------------

    def on_transition(self, transition: Transition) -> None:
        self.supervisor.spawn(self.show_state(transition.to_state), "stack light")

    async def show_state(self, state: State) -> None:
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
