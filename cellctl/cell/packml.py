"""The cell's PackML state machine (ANSI/ISA-TR88.00.02) and its modes.

The transitions are a table (``TRANSITIONS``), not code: each row says which command takes the
machine from which states to which state. Acting states (Starting, Completing, Holding, ...)
leave by ``state_complete()`` once their work is done ("SC" in the standard). A command that the
table does not allow in the current state is refused with ``CommandRefused``, which names the
state and what is allowed there, never silently ignored.

State numbers are PackTags' ``StateCurrent`` values, which PLCs and MES systems expect.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass


class State(enum.IntEnum):
    CLEARING = 1
    STOPPED = 2
    STARTING = 3
    IDLE = 4
    SUSPENDED = 5
    EXECUTE = 6
    STOPPING = 7
    ABORTING = 8
    ABORTED = 9
    HOLDING = 10
    HELD = 11
    UNHOLDING = 12
    SUSPENDING = 13
    UNSUSPENDING = 14
    RESETTING = 15
    COMPLETING = 16
    COMPLETE = 17

    @property
    def label(self) -> str:
        return self.name.capitalize()


class Command(enum.StrEnum):
    RESET = "reset"
    START = "start"
    STOP = "stop"
    HOLD = "hold"
    UNHOLD = "unhold"
    SUSPEND = "suspend"
    UNSUSPEND = "unsuspend"
    ABORT = "abort"
    CLEAR = "clear"


class Mode(enum.StrEnum):
    """PackML unit modes of this cell."""

    PRODUCTION = "production"  # the weld cycle, arc on
    MANUAL = "manual"  # no cycle: jog, gas test, wire inch, under an operator's hand
    DRY_RUN = "dry_run"  # the full cycle with the arc never struck, to prove a part program


S = State
# Every state a Stop may come from: all but the stopping and aborting branches.
_STOPPABLE = frozenset(S) - {S.STOPPING, S.STOPPED, S.ABORTING, S.ABORTED, S.CLEARING}
_ABORTABLE = frozenset(S) - {S.ABORTING, S.ABORTED}

# command -> (states it is allowed in, state it leads to)
TRANSITIONS: dict[Command, tuple[frozenset[State], State]] = {
    Command.RESET: (frozenset({S.STOPPED, S.COMPLETE}), S.RESETTING),
    Command.START: (frozenset({S.IDLE}), S.STARTING),
    Command.HOLD: (frozenset({S.EXECUTE, S.SUSPENDED}), S.HOLDING),
    Command.UNHOLD: (frozenset({S.HELD}), S.UNHOLDING),
    Command.SUSPEND: (frozenset({S.EXECUTE}), S.SUSPENDING),
    Command.UNSUSPEND: (frozenset({S.SUSPENDED}), S.UNSUSPENDING),
    Command.STOP: (_STOPPABLE, S.STOPPING),
    Command.ABORT: (_ABORTABLE, S.ABORTING),
    Command.CLEAR: (frozenset({S.ABORTED}), S.CLEARING),
}

# acting state -> the wait state it reaches when its work is done ("SC", state complete)
STATE_COMPLETE: dict[State, State] = {
    S.RESETTING: S.IDLE,
    S.STARTING: S.EXECUTE,
    S.EXECUTE: S.COMPLETING,
    S.COMPLETING: S.COMPLETE,
    S.HOLDING: S.HELD,
    S.UNHOLDING: S.EXECUTE,
    S.SUSPENDING: S.SUSPENDED,
    S.UNSUSPENDING: S.EXECUTE,
    S.STOPPING: S.STOPPED,
    S.ABORTING: S.ABORTED,
    S.CLEARING: S.STOPPED,
}

# States in which a part is in the cell's hands: the interlocks that guard a part apply.
ACTIVE_STATES = frozenset(
    {
        S.STARTING,
        S.EXECUTE,
        S.COMPLETING,
        S.HOLDING,
        S.HELD,
        S.UNHOLDING,
        S.SUSPENDING,
        S.SUSPENDED,
        S.UNSUSPENDING,
    }
)

# Modes may change only where the machine is at rest.
MODE_CHANGE_STATES = frozenset({S.STOPPED, S.IDLE, S.ABORTED})
# Commands that make sense in each mode (Manual has no cycle to start).
MODE_COMMANDS: dict[Mode, frozenset[Command]] = {
    Mode.PRODUCTION: frozenset(Command),
    Mode.DRY_RUN: frozenset(Command),
    Mode.MANUAL: frozenset(Command) - {Command.START},
}


class CommandRefused(Exception):
    """A command that is not allowed now; the message names the state and what is allowed."""

    def __init__(self, command: str, state: State, mode: Mode, reason: str) -> None:
        self.command = command
        self.state = state
        self.mode = mode
        super().__init__(f"{command} refused in state {state.label} ({mode} mode): {reason}")


@dataclass(frozen=True)
class Transition:
    at: float  # time.time()
    from_state: State
    to_state: State
    cause: str  # the command, "state complete", or a fault's code
    mode: Mode


Listener = Callable[[Transition], None]


class StateMachine:
    """The PackML state and mode of the cell. Not thread-safe; one event loop owns it."""

    def __init__(self, initial: State = S.STOPPED, mode: Mode = Mode.PRODUCTION) -> None:
        self.state = initial
        self.mode = mode
        self.since = time.time()
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        """``listener`` is called after every change of state, in order."""
        self._listeners.append(listener)

    def allowed_commands(self) -> list[Command]:
        return [
            command
            for command, (sources, _) in TRANSITIONS.items()
            if self.state in sources and command in MODE_COMMANDS[self.mode]
        ]

    def check(self, command: Command | str) -> Command:
        """The command, if allowed now; else ``CommandRefused``. Changes nothing."""
        try:
            command = Command(command)
        except ValueError:
            raise CommandRefused(
                str(command), self.state, self.mode, f"unknown command (known: {_known()})"
            ) from None
        sources, _ = TRANSITIONS[command]
        if command not in MODE_COMMANDS[self.mode]:
            raise CommandRefused(command, self.state, self.mode, f"not used in {self.mode} mode")
        if self.state not in sources:
            allowed = ", ".join(self.allowed_commands()) or "none (wait for it to finish)"
            raise CommandRefused(command, self.state, self.mode, f"allowed now: {allowed}")
        return command

    def fire(self, command: Command | str, cause: str | None = None) -> State:
        """Carry out ``command`` (refusing it if not allowed); returns the new state."""
        command = self.check(command)
        self._move(TRANSITIONS[command][1], cause or str(command))
        return self.state

    def state_complete(self) -> State:
        """The acting state has done its work: move to the state that follows it."""
        following = STATE_COMPLETE.get(self.state)
        if following is None:
            raise CommandRefused(
                "state complete", self.state, self.mode, "a wait state waits for a command"
            )
        self._move(following, "state complete")
        return self.state

    def set_mode(self, mode: Mode | str) -> None:
        try:
            mode = Mode(mode)
        except ValueError:
            known = ", ".join(m.value for m in Mode)
            raise CommandRefused(
                f"set mode {mode}", self.state, self.mode, f"unknown mode (known: {known})"
            ) from None
        if self.state not in MODE_CHANGE_STATES:
            at_rest = ", ".join(s.label for s in sorted(MODE_CHANGE_STATES))
            raise CommandRefused(
                f"set mode {mode}", self.state, self.mode, f"modes change only in {at_rest}"
            )
        self.mode = mode

    def _move(self, to_state: State, cause: str) -> None:
        transition = Transition(time.time(), self.state, to_state, cause, self.mode)
        self.state = to_state
        self.since = transition.at
        for listener in self._listeners:
            listener(transition)


def _known() -> str:
    return ", ".join(c.value for c in Command)
