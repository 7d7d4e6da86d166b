"""What the plant sees of the cell and may ask of it: a read model, a command protocol and a
listener interface.

- ``CellView``: the cell as it is now, a snapshot the controller makes on request (cheap, never
  changed after): what the operator's screen and MES show.
- ``CellCommands``: what the plant may ask; the same checks as the PLC panel's buttons.
- ``CellListener``: what the controller tells as it happens.

The plant's interfaces (``cellctl.plant``) use only these, never the controller itself.

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

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from cellctl.cell.faults import Fault
from cellctl.cell.packml import Command, Mode, State
from cellctl.cell.records import ResumeOffer, SeamSummary
from cellctl.cell.steps import Activity
from cellctl.config.models import Procedure, Seam
from drivers.codecs.power_source_protocol import PowerSourceStatus
from drivers.link import LinkState


@dataclass(frozen=True)
class CellView:
    """The cell now, for the plant (see the module). ``seam`` and ``procedure`` are the seam
    being welded (or held), or the last one; ``cycle_running`` whether a weld cycle runs."""

    cell: str
    state: State
    mode: Mode
    allowed_commands: tuple[Command, ...]
    activity: Activity
    part_program: str | None
    part_id: int | None
    seam: Seam | None
    procedure: Procedure | None
    cycle_running: bool
    faults: tuple[Fault, ...]
    links: Mapping[str, LinkState]
    power_source: PowerSourceStatus | None  # the last status read, whoever read it
    # Traceability (``cellctl.trace``): serial, welder, qualification, wire_lot, gas_lot
    # (texts, '' when none), order (the work order in progress) and queue (a list of texts).
    trace: Mapping[str, Any] = field(default_factory=dict)

    @property
    def phase(self) -> str:
        """Where the cell is, in words (``activity``)."""
        return str(self.activity)


class CellCommands(Protocol):
    """What the plant may ask of the cell. Each goes through the same checks as the PLC
    panel's buttons; a refusal raises ``CommandRefused`` naming the state and why, an unknown
    fault ``UnknownFault``, a mode the state does not allow ``CommandRefused`` too."""

    def view(self) -> CellView: ...

    async def command(self, name: str, by: str = "operator") -> State: ...

    async def acknowledge_faults(self, by: str = "operator") -> int: ...

    async def acknowledge_fault(self, code: str, by: str = "operator") -> None: ...

    def set_mode(self, mode: str, by: str = "operator") -> None: ...

    async def trace_command(self, method: str, argument: str, by: str) -> str:
        """A traceability command (a serial, a welder's login, a lot, a rework release; see
        ``cellctl.trace.station``): the answer for the caller, or ``TraceRefused``."""
        ...

    async def torch_service(self, what: str, by: str = "operator") -> str:
        """Ask for the torch's ``tcp_check`` or ``service`` cycle before the next part, or
        record a ``tip_changed``; what was done, in words. ``ValueError`` for another ``what``."""
        ...

    async def resumable_parts(self) -> list[ResumeOffer]:
        """The parts the controller's last stop interrupted that the operator may confirm for
        resume now (``ResumePart``), each with where the next Start would weld."""
        ...

    def resume_armed(self) -> int | None:
        """The part id a confirmed resume reopens at the next Start (None: a new part)."""
        ...


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
