"""The health line: what a controller that runs for months must not grow (``HealthLog``)."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable

from cellctl.collector import CollectionPauses
from cellctl.controller.events import CellEvents


class HealthLog:
    """A line in the event log every ``period_s``: tasks, threads and open files, the state,
    and the longest garbage collection since the line before (it stops every thread: see
    ``cellctl.collector``). The soak benchmark reads it."""

    def __init__(self, events: CellEvents, period_s: float, state: Callable[[], str]) -> None:
        self.events = events
        self.period_s = period_s
        self.state = state

    async def run(self) -> None:
        """Until cancelled (the supervisor's task)."""
        pauses = CollectionPauses()
        pauses.install()
        try:
            while True:
                await asyncio.sleep(self.period_s)
                self.events.event(self.line(pauses))
        finally:
            pauses.remove()

    def line(self, pauses: CollectionPauses) -> str:
        tasks = len(asyncio.all_tasks())
        threads = threading.active_count()
        try:
            files = len(os.listdir("/proc/self/fd"))
        except OSError:
            files = -1  # not Linux
        pause_s, generation = pauses.take_longest()
        return (
            f"health: {tasks} tasks, {threads} threads, {files} open files in {self.state()}; "
            f"longest garbage collection {pause_s * 1000:.1f} ms (generation {generation})"
        )
