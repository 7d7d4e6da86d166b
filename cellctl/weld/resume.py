"""Resuming a part the controller's last stop interrupted, from its durable records.

A multi-pass seam on a heavy part takes long; a controller that stops between two of its
passes (a crash, a power loss, a kill) must not cost the part. Every pass's record is durable
before the next pass starts (``cellctl.weld.cycle``), and the root pass's record keeps the root
path the later passes run (``cellctl.weld.passes``): the store holds all the cycle needs to go
on at the next pass.

**How a part is reopened.** At its start the controller marks every part its last stop left in
progress ``incomplete`` (``ProductionStore``): nothing resumes by itself, since nobody knows
what happened to the part on the fixture meanwhile (taken off, another put on, a repair). The
operator who has looked at the part confirms it by its part id (``Controller.resume_part``,
audited): the controller checks that it is one of the parts the last stop interrupted, welded
in production under the config now loaded (the same pass tables), with this cell's motion
(not a robot that owns its motion), and arms it. The operator's next Start reopens that part
(its record back ``in_progress``, same id, same trace: serial, welder, lots as at its first
start; no new serial is asked for) instead of opening a new one. A reset, a mode change or
another part's confirmation disarms it.

**Where it resumes** (``resume_point``): the seams in order; a seam whose passes are all
recorded is done (its verdict from all of them, ``seam_of_passes``), and the first seam that
is not is where the cycle goes on: at its first pass with no record. Its passes recorded
before the stop are never welded again; the next one runs the root path from the root pass's
record, with the table as it stood (a re-scan that left a pass out or added one is read back
from the records: it only ever changes the pass it decides for, the table's tail stays). A
pass the stop cut short has no record: it is welded again from its start, over the bead it
left (the operator saw it before confirming). The seam's verdict, and so the part's, comes
from all its passes, those before the stop included.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from cellctl.cell.records import SeamSummary
from cellctl.config.models import PartProgram, PassKind, Seam, WeldPass
from cellctl.weld.passes import seam_of_passes

_SUMMARY_FIELDS = {f.name for f in dataclasses.fields(SeamSummary)}


class ResumeRefused(Exception):
    """The part cannot be resumed; the message says why, for the operator."""


@dataclass(frozen=True)
class ResumePoint:
    """Where a reopened part goes on: ``seams_done`` seams welded (their verdicts), then seam
    ``seams_done`` from its pass after ``passes`` (the records of its passes welded; empty:
    the seam from its start)."""

    seams_done: int
    verdicts: list[str]
    passes: list[SeamSummary] = field(default_factory=list)

    @property
    def next_pass(self) -> int:
        """The 1-based number of the pass the cycle welds next (1: the seam from its start)."""
        return len(self.passes) + 1


def summary_of(row: dict[str, Any]) -> SeamSummary:
    """A seam record (a row of the store's ``seams``) as the cycle made it."""
    data = json.loads(row["summary_json"])
    return SeamSummary(**{k: v for k, v in data.items() if k in _SUMMARY_FIELDS})


def resume_point(program: PartProgram, seam_rows: list[dict[str, Any]]) -> ResumePoint:
    """Where ``program``'s part goes on after the records ``seam_rows`` (its ``seams`` rows,
    in the order written). ``ResumeRefused`` if they do not fit the program (a record of a
    seam it has not, passes out of order): the part was welded to another program."""
    by_seam: dict[str, list[SeamSummary]] = {}
    for row in seam_rows:
        summary = summary_of(row)
        by_seam.setdefault(summary.seam, []).append(summary)
    seams = program.seams_in_order()
    unknown = set(by_seam) - {seam.name for seam in seams}
    if unknown:
        raise ResumeRefused(
            f"its records name seams that part program {program.name} has not: "
            + ", ".join(sorted(unknown))
        )
    verdicts: list[str] = []
    for index, seam in enumerate(seams):
        passes = by_seam.get(seam.name, [])
        numbers = [(p.weld_pass or {}).get("number", 1) for p in passes]
        if numbers != list(range(1, len(passes) + 1)):
            raise ResumeRefused(f"seam {seam.name}: its passes were recorded as {numbers}")
        if not passes:
            return ResumePoint(index, verdicts)
        last = passes[-1].weld_pass
        if last is None or last["number"] == last["of"]:
            summary = passes[0] if len(passes) == 1 else seam_of_passes(passes, seam)
            verdicts.append(summary.verdict)
            continue
        if passes[0].weld_pass is None or "root_path_mm" not in passes[0].weld_pass:
            raise ResumeRefused(f"seam {seam.name}: its root pass's record keeps no root path")
        return ResumePoint(index, verdicts, passes)
    raise ResumeRefused("every seam of it is recorded to its last pass: nothing to weld")


def root_path_of(passes: list[SeamSummary]) -> list[tuple[float, float, float]]:
    """The root path the root pass really took, from its record."""
    record = passes[0].weld_pass
    assert record is not None
    return [(float(x), float(y), float(z)) for x, y, z in record["root_path_mm"]]


def table_after(seam: Seam, passes: list[SeamSummary]) -> list[WeldPass]:
    """The seam's pass table as it stood when its last recorded pass was welded: the passes
    recorded (from their records; they are not welded again) and the configured table's tail
    (a re-scan changes only the pass it decides for, so the passes after it are the table's)."""
    last = passes[-1].weld_pass
    assert last is not None
    count, done = int(last["of"]), int(last["number"])
    tail = seam.passes[len(seam.passes) - (count - done) :] if count > done else []
    if count - done > len(seam.passes) - 1:
        raise ResumeRefused(
            f"seam {seam.name}: recorded as pass {done} of {count}, but its table has "
            f"{len(seam.passes)} passes"
        )
    welded = [
        WeldPass(
            kind=PassKind(p.weld_pass["kind"]),
            layer=p.weld_pass["layer"],
            procedure=p.procedure,
            lateral_offset_mm=p.weld_pass["lateral_offset_mm"],
            vertical_offset_mm=p.weld_pass["vertical_offset_mm"],
            reversed=p.weld_pass["reversed"],
        )
        for p in passes
        if p.weld_pass is not None
    ]
    return [*welded, *tail]


def rescan_counts(passes: list[SeamSummary]) -> tuple[int, int]:
    """(passes left out, passes added) by the re-scans of ``passes``, as their records say."""
    skipped = added = 0
    for p in passes:
        rescan = (p.weld_pass or {}).get("rescan") or {}
        skipped += len(rescan.get("left_out", []))
        added += str(rescan.get("changed", "")).startswith("a fill pass added")
    return skipped, added
