"""The controller's events: its log, and telling the plant's listeners (``CellEvents``)."""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cellctl.cell.events import CellListener, CellStatus
from cellctl.controller.supervision import Supervisor

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

    async def stop_listeners(self) -> None:
        for listener in self.listeners:
            try:
                await listener.stop()
            except Exception:
                log.exception("listener %s did not stop cleanly", type(listener).__name__)
