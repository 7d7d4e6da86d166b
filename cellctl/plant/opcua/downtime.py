"""The server's downtime desk (issue 19): watches the cell stand, asks for a reason through the
``Downtime`` variables, takes it through the ``RecordDowntimeReason`` method and records it.

The cell produces while a cycle runs or its state is one of starting, executing or completing;
it is stopped by a fault while a fault that makes it safe is active (that time is fault
downtime already). Any other time it stands: after ``downtime_reason_after_s`` without a reason
``Downtime.ReasonNeeded`` turns true and the HMI asks the operator. The reason's span starts
where the standstill did and ends when the cell produces again or a fault stops it.

One owner: the OPC UA server's event loop (``observe`` from the publish loop, ``give`` from a
method call); the store is only awaited, never touched from another thread.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from cellctl.cell.downtime import DowntimeReason, NotStanding, StandstillWatch
from cellctl.cell.events import CellView
from cellctl.cell.packml import State
from cellctl.records.store import AsyncStore

log = logging.getLogger(__name__)

PRODUCING_STATES = frozenset({State.STARTING, State.EXECUTE, State.COMPLETING})


class UnknownReason(ValueError):
    pass


def parse_reason(word: str) -> DowntimeReason:
    word = word.strip()
    if word not in DowntimeReason._value2member_map_:
        known = ", ".join(r.value for r in DowntimeReason)
        raise UnknownReason(f"unknown downtime reason {word[:40]!r} ({known})")
    return DowntimeReason(word)


class DowntimeDesk:
    def __init__(self, store: AsyncStore, ask_after_s: float) -> None:
        self.store = store
        self.watch = StandstillWatch(ask_after_s)
        self._open_id: int | None = None  # the store row of the reason now given

    async def start(self, now: float) -> None:
        """A span a previous controller left open ended, at the latest, now."""
        closed = await self.store.close_open_downtime(now)
        if closed:
            log.info("%d downtime span(s) left open by the last run closed", closed)

    async def observe(self, view: CellView, now: float) -> None:
        producing = view.cycle_running or view.state in PRODUCING_STATES
        faulted = any(fault.severity.makes_safe for fault in view.faults)
        ended_at = self.watch.observe(now, producing, faulted)
        if ended_at is not None and self._open_id is not None:
            row, self._open_id = self._open_id, None
            await self.store.end_downtime(row, ended_at)

    async def give(self, word: str, by: str, view: CellView, now: float) -> DowntimeReason:
        """Record ``word`` as why the cell stands (as ``view`` shows it now, not as the last
        publish saw it). Raises ``UnknownReason`` or ``NotStanding`` (nothing recorded then)."""
        reason = parse_reason(word)
        await self.observe(view, now)
        given = self.watch.give(reason, now)
        if given.ends_previous_at is not None and self._open_id is not None:
            await self.store.end_downtime(self._open_id, given.ends_previous_at)
            self._open_id = None
        self._open_id = await self.store.start_downtime(
            str(reason), reason.planned, given.started_at, by
        )
        return reason

    def values(self, now: float) -> dict[str, Any]:
        """The ``Downtime`` variables that change with the cell (published live)."""
        since = self.watch.standing_since
        return {
            "Downtime.StandingSinceUnixS": math.nan if since is None else since,
            "Downtime.ReasonNeeded": self.watch.reason_needed(now),
            "Downtime.Reason": "" if self.watch.reason is None else str(self.watch.reason),
            "Downtime.Reasons": [r.value for r in DowntimeReason],
        }


__all__ = ["DowntimeDesk", "NotStanding", "UnknownReason", "parse_reason"]
