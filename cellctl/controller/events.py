"""The controller's events: its log, and telling the plant's listeners (``CellEvents``)."""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from cellctl.cell.events import CellListener, CellStatus
from cellctl.cell.packml import StateMachine, Transition
from cellctl.config.load import LoadedConfig
from cellctl.controller.supervision import Supervisor
from cellctl.records.store import AsyncStore

log = logging.getLogger(__name__)

EVENT_LOG_SIZE = 200  # the newest events kept for the screen and a test's failure message


@dataclass(frozen=True)
class Event:
    at: float  # time.time()
    text: str


class CellEvents:
    """What happened in the cell, for people (a line each: logged, kept, and handed to
    ``on_event``, which ``cellctl run`` prints) and for the plant's listeners
    (``cellctl.cell.events.CellListener``: Sparkplug B).

    Owned by the event loop. A listener's exception does not stop the others and never
    reaches the cell's control; nobody expected it, so it goes to the supervisor (F180).
    """

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        self.log: collections.deque[Event] = collections.deque(maxlen=EVENT_LOG_SIZE)
        self.on_event: Callable[[Event], None] | None = None
        self.listeners: list[CellListener] = []  # added by the wiring before start

    def event(self, text: str) -> None:
        event = Event(time.time(), text)
        self.log.append(event)
        log.info("%s", text)
        if self.on_event is not None:
            self.on_event(event)

    def notify(self, event: str, *args: Any) -> None:
        """Call ``event`` on every listener (one of ``CellListener``'s methods)."""
        for listener in self.listeners:
            try:
                getattr(listener, event)(*args)
            except Exception as error:
                self.supervisor.thread_failed(f"listener {type(listener).__name__} {event}", error)

    async def start_listeners(self, status: CellStatus) -> None:
        for listener in self.listeners:
            try:
                await listener.start(status)
            except Exception as error:
                self.supervisor.thread_failed(f"listener {type(listener).__name__} start", error)

    def transition(self, transition: Transition, store: AsyncStore, writes: RecordWriter) -> None:
        """A change of state: said, recorded (a write that fails is F160) and told."""
        self.event(
            f"state {transition.from_state.label} -> {transition.to_state.label} "
            f"({transition.cause})"
        )
        writes.spawn_write(
            store.record_state_change(
                transition.at,
                transition.from_state.label,
                transition.to_state.label,
                transition.cause,
                str(transition.mode),
            ),
            "record state change",
        )
        self.notify(
            "state_changed",
            transition.from_state.label,
            transition.to_state.label,
            transition.cause,
            str(transition.mode),
        )

    async def audit_config(self, store: AsyncStore, digest: str) -> None:
        """Audit the config this start runs with: "config changed" with the hashes before and
        after when it differs from the last one audited, else "config loaded"."""
        last = await store.last_audit(("config loaded", "config changed"))
        before = last["detail"].split("after ")[-1].split()[0] if last else None
        action = "config loaded" if before == digest else "config changed"
        await store.audit("controller", action, f"before {before or 'none'} after {digest}", "ok")
        if action == "config changed":
            self.event(f"config changed: {before or 'none'} -> {digest}")

    async def stop_listeners(self) -> None:
        for listener in self.listeners:
            try:
                await listener.stop()
            except Exception:
                log.exception("listener %s did not stop cleanly", type(listener).__name__)


class RecordWriter(Protocol):
    """Who starts a store write as a task of its own (the fault reaction: a failed one is
    F160)."""

    def spawn_write(self, work: Coroutine[Any, Any, Any], name: str) -> None: ...


async def listener_status(store: AsyncStore, config: LoadedConfig, machine: StateMachine):
    """The cell as the records leave it, for a listener that starts (``CellStatus``)."""
    counters = await store.counters()
    return CellStatus(
        cell=config.cell.cell.name,
        state=machine.state.label,
        mode=str(machine.mode),
        config_digest=config.digest,
        parts_processed=counters.parts_processed,
        parts_good=counters.parts_good,
        parts_bad=counters.parts_bad,
        parts_incomplete=counters.parts_incomplete,
        seams_welded=counters.seams_welded,
    )
