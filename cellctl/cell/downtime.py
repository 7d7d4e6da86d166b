"""Why the cell stands (issue 19): downtime reasons beyond faults, and the watch that asks.

A fault says by itself why the cell stopped (its time, raised until cleared, is fault
downtime). Any other standstill needs a person to say why: the cell waits for parts, its
output is blocked downstream, or the stop is planned (torch cleaning, contact tip change, meal
break). OEE practice (Nakajima; ISO 22400-2's "planned busy time") takes planned stops out of
the time the cell was meant to produce, so they do not lower availability; unplanned ones do.

``StandstillWatch`` is pure (the caller passes the time): it sees the cell produce or not and
opens a standstill when it stops producing with no fault active. Once a standstill has lasted
``ask_after_s`` without a reason, ``reason_needed`` is true and the operator is asked. A reason
given covers the standstill from its start; a second reason in the same standstill starts a
new span then; production (or a fault) ends the span.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

FAULT_REASON = "fault"  # the reason under which reports show fault downtime


class DowntimeReason(enum.StrEnum):
    WAITING_FOR_PARTS = "waiting_for_parts"
    BLOCKED_DOWNSTREAM = "blocked_downstream"
    TORCH_CLEANING = "torch_cleaning"
    TIP_CHANGE = "tip_change"
    MEAL_BREAK = "meal_break"

    @property
    def planned(self) -> bool:
        """A planned stop: out of the planned production time, not a loss of availability."""
        return self in PLANNED_REASONS

    @property
    def text(self) -> str:
        return REASON_TEXTS[self]


PLANNED_REASONS = frozenset(
    {DowntimeReason.TORCH_CLEANING, DowntimeReason.TIP_CHANGE, DowntimeReason.MEAL_BREAK}
)
REASON_TEXTS = {
    DowntimeReason.WAITING_FOR_PARTS: "Waiting for parts",
    DowntimeReason.BLOCKED_DOWNSTREAM: "Blocked downstream",
    DowntimeReason.TORCH_CLEANING: "Planned: torch cleaning",
    DowntimeReason.TIP_CHANGE: "Planned: contact tip change",
    DowntimeReason.MEAL_BREAK: "Planned: meal break",
}


class NotStanding(ValueError):
    """A reason was given while the cell produces or a fault explains the stop."""


@dataclass(frozen=True)
class ReasonGiven:
    """A downtime span to record: ``reason`` from ``started_at`` (open until ended)."""

    reason: DowntimeReason
    started_at: float
    ends_previous_at: float | None  # the span this one replaces ends here (None: no span open)


class StandstillWatch:
    """One cell's standstill and its reason. One owner (the OPC UA server's event loop)."""

    def __init__(self, ask_after_s: float) -> None:
        if ask_after_s <= 0:
            raise ValueError(f"ask_after_s must be above 0, not {ask_after_s}")
        self.ask_after_s = ask_after_s
        self.standing_since: float | None = None
        self.reason: DowntimeReason | None = None
        self._span_started_at: float | None = None

    def observe(self, now: float, producing: bool, faulted: bool) -> float | None:
        """The cell now. Returns the time at which an open reason's span ended (the caller
        closes its record), else None."""
        if producing or faulted:
            ended = now if self.reason is not None else None
            self.standing_since = None
            self.reason = None
            self._span_started_at = None
            return ended
        if self.standing_since is None:
            self.standing_since = now
        return None

    def reason_needed(self, now: float) -> bool:
        return (
            self.standing_since is not None
            and self.reason is None
            and now - self.standing_since >= self.ask_after_s
        )

    def give(self, reason: DowntimeReason, now: float) -> ReasonGiven:
        """The operator says why the cell stands. Raises ``NotStanding`` if it does not."""
        if self.standing_since is None:
            raise NotStanding("the cell is producing or stopped by a fault: no reason to give")
        if self.reason is None:
            given = ReasonGiven(reason, self.standing_since, None)
        else:
            given = ReasonGiven(reason, now, now)
        self.reason = reason
        self._span_started_at = given.started_at
        return given
