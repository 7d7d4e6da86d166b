"""What the production records keep, as the cell's own data types, and the error of a record
that could not be written.

The weld cycle makes a seam's summary, the production store (``cellctl.records``) keeps it,
and the plant interfaces publish it: the type lives here, below all three.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


class RecordNotWritten(RuntimeError):
    """A production record could not be made durable (a full disk, an I/O error, a database
    gone or replaced). The message names the database and the reason; the controller raises
    F160 with it. The store's own ``StoreError`` is one of these."""


@dataclass
class SeamSummary:
    """What the store keeps of one welded (or dry-run) seam."""

    seam: str
    procedure: str
    length_mm: float
    arc_time_s: float
    samples: int
    current_mean_a: float | None
    current_min_a: float | None
    current_max_a: float | None
    voltage_mean_v: float | None
    voltage_min_v: float | None
    voltage_max_v: float | None
    wire_feed_mean_m_per_min: float | None
    wire_feed_min_m_per_min: float | None
    wire_feed_max_m_per_min: float | None
    out_of_band_s: float
    excursions: int
    arc_energy_kj: float
    heat_input_kj_per_mm: float | None
    travel_speed_mm_per_s: float | None
    arc_breaks: int
    restarts: int
    dry_run: bool
    verdict: str  # good | bad | dry_run
    reasons: list[str] = field(default_factory=list)
    tracking: dict[str, float] | None = None  # filled by the vision work
    # Before the pass: the part's temperature and the wait for it to cool (interpass), with
    # the procedure's limits; None when the procedure sets none.
    temperature: dict[str, float] | None = None
    # A pass of a multi-pass seam (``cellctl.weld.passes``): its number, kind, layer and
    # offsets; the root pass's keeps the root path the later passes followed. None: one pass.
    weld_pass: dict | None = None
    # The WPS's revision the seam was welded under (ISO 15609-1), and whether its measured
    # heat input lies inside the range its WPQR covers (None: no qualified range, or no heat
    # input measured).
    procedure_revision: str | None = None
    heat_input_qualified: bool | None = None
    # The arc's current and voltage along the seam for the weld record's plots, thinned to at
    # most a few hundred points: {"t_s": [...], "current_a": [...], "voltage_v": [...]}.
    trace: dict[str, list[float]] | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ResumeOffer:
    """An interrupted part the operator may confirm for resume (``Controller.resumable_parts``),
    as the HMI shows it: its id, its serial ('' if it had none), its part program, and where
    the next Start would weld: seam ``seam`` at pass ``next_pass`` of ``passes`` (pass 1: the
    seam from its start; ``passes`` 1: a seam of one pass)."""

    part_id: int
    serial: str
    program: str
    seam: str
    next_pass: int
    passes: int
