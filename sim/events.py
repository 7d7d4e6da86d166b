"""The simulated cell's ground-truth event log: what each device did and heard, and when.

Every simulated device records into one ``EventLog``: the commands it received (a robot move,
an arc-on write, a clamp request) and the moments its own state changed (motion done, arc
established, arc out, clamps closed). Times are ``time.monotonic()``, which on Linux is one
clock for every process on the machine, so a benchmark can set the controller's own records
beside these. Benchmarks read it to measure what the controller cannot see about itself: how
long the cell waited on it, and how long from a fault's cause to the safe commands.
"""

from __future__ import annotations

import collections
import itertools
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class SimEvent:
    at: float  # time.monotonic()
    device: str  # plc | power_source | robot | field
    kind: str  # "command" (heard from the controller), "done" (its own state), "inject"
    what: str


class EventLog:
    def __init__(self, capacity: int = 200_000) -> None:
        self.events: collections.deque[SimEvent] = collections.deque(maxlen=capacity)

        self.recorded = 0  # ever, including those the capacity has dropped

    def record(self, device: str, kind: str, what: str) -> None:
        self.events.append(SimEvent(time.monotonic(), device, kind, what))
        self.recorded += 1

    def after(self, seen: int) -> list[SimEvent]:
        """The events recorded since ``recorded`` was ``seen`` (cheap: only the new ones)."""
        new = min(self.recorded - seen, len(self.events))
        return list(itertools.islice(reversed(self.events), new))[::-1]

    def since(self, start: float) -> list[SimEvent]:
        return [e for e in self.events if e.at >= start]
