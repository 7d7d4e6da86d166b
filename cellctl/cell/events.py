"""What the controller tells the world outside the cell: a small listener interface.

Plant-level publishers (Sparkplug B today) subscribe to the controller through ``CellListener``
instead of the controller calling each of them. The contract:

- every method is called on the controller's event loop thread, after the controller has
  acted on the event (a fault's reaction is already started, a seam's record is committed);
- a method returns at once: it may queue work or hand it to its own thread, never block or
  await; an exception is logged by the controller and never reaches the cell's control;
- ``start`` is awaited once when the controller starts (after the store is open, before the
  devices connect); ``stop`` once at shutdown, after the cell is safe.

``CellListener`` implements every method as a no-op, so a listener overrides what it needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cellctl.cell.faults import Fault
    from cellctl.weld.monitoring import SeamSummary


@dataclass(frozen=True)
class CellStatus:
    """What a listener needs to know when it starts (to describe the cell from scratch)."""

    cell: str
    state: str
    mode: str
    config_digest: str
    parts_processed: int
    parts_good: int
    parts_bad: int
    parts_incomplete: int
    seams_welded: int


class CellListener:
    async def start(self, status: CellStatus) -> None:
        """The controller is starting; ``status`` is the cell as the records leave it."""

    async def stop(self) -> None:
        """The controller has shut down (arc off, robot held)."""

    def state_changed(self, from_state: str, to_state: str, cause: str, mode: str) -> None:
        """A PackML state change."""

    def part_started(self, part_id: int, program: str) -> None:
        """A part was started (its record exists)."""

    def part_done(self, part: dict[str, Any]) -> None:
        """A part was closed: its store row (status complete/incomplete, verdict, times)."""

    def seam_recorded(self, part_id: int, summary: SeamSummary) -> None:
        """A seam's summary was committed to the store."""

    def fault_raised(self, fault: Fault) -> None:
        """A fault was booked (its reaction, if any, is under way)."""

    def fault_reacted(self, fault: Fault) -> None:
        """Arc off and robot hold were acknowledged: ``fault.reaction_ms`` is known."""

    def fault_cleared(self, fault: Fault) -> None:
        """A fault was acknowledged and its cause is gone."""

    def link_changed(self, device: str, up: bool) -> None:
        """A device's link came up or went down (``plc``, ``power_source``, ``robot``, ...)."""
