"""Re-scan between passes: the later passes adapted to the groove the laser measured.

A seam whose table asks for it (``Seam.rescan``, ``PassRescan``) has its groove measured
before each pass after the root (``cellctl.sensing.groove``). Then, within the table's limits:

- a fill pass is **left out** when the groove is already filled to the cap's level (the first
  cap pass's vertical offset, less ``level_tolerance_mm``);
- a fill pass is **added** before the first cap when the groove is still deeper than that (a
  copy of the last fill pass of the table);
- the pass's **offsets** follow the groove: the table's vertical offset is the surface the
  pass expects, so the torch goes to the surface measured where it runs; its lateral offset
  is a share of the groove's width, so it is scaled by the width measured at the new height
  against the width at the planned one, from the groove's measured middle.

An offset that would move further than ``max_offset_change_mm`` from the table's is not
welded: the cycle holds (F129) with what was measured. Pure: the decision only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from cellctl.config.models import PassKind, PassRescan, WeldPass
from cellctl.sensing.groove import OVER_SURFACE_MM, GrooveMeasure


@dataclass(frozen=True)
class RescanDecision:
    """What the re-scan before pass ``index`` (0-based, in the table as it stands) decided."""

    action: Literal["adapt", "skip", "add"]
    weld_pass: WeldPass  # the pass to weld now, its offsets adapted (skip: the one left out)
    record: dict = field(default_factory=dict)  # for the pass's record
    problem: str | None = None  # an offset beyond the table's limit (F129)


def cap_level_mm(passes: list[WeldPass]) -> float | None:
    """The surface the first cap pass expects (None: no cap in the table)."""
    caps = [p for p in passes if p.kind is PassKind.CAP]
    return caps[0].vertical_offset_mm if caps else None


def decide(
    passes: list[WeldPass],
    index: int,
    measure: GrooveMeasure,
    limits: PassRescan,
    *,
    skipped: int,
    added: int,
) -> RescanDecision:
    """The decision before ``passes[index]`` (``skipped`` / ``added``: passes left out and
    added on this seam so far)."""
    weld_pass = passes[index]
    level = cap_level_mm(passes)
    surface = measure.surface_mm
    record: dict = {"measured": measure.as_record(), "cap_level_mm": level}
    if (
        weld_pass.kind is PassKind.FILL
        and level is not None
        and surface >= level - limits.level_tolerance_mm
        and skipped < limits.max_skipped_passes
        and index + 1 < len(passes)
    ):
        record["changed"] = f"left out: the groove is filled to {surface:.1f} mm (cap at {level:g})"
        return RescanDecision("skip", weld_pass, record)
    action: Literal["adapt", "add"] = "adapt"
    first_cap = weld_pass.kind is PassKind.CAP and all(
        p.kind is not PassKind.CAP for p in passes[:index]
    )
    if (
        first_cap
        and level is not None
        and surface < level - limits.level_tolerance_mm
        and added < limits.max_extra_passes
    ):
        fills = [p for p in passes[:index] if p.kind is PassKind.FILL]
        if fills:
            weld_pass = fills[-1]
            action = "add"
            record["changed"] = (
                f"a fill pass added: the groove is at {surface:.1f} mm, the cap expects {level:g}"
            )
    adapted, problem = adapt_offsets(weld_pass, measure, limits)
    record["planned"] = {
        "lateral_offset_mm": weld_pass.lateral_offset_mm,
        "vertical_offset_mm": weld_pass.vertical_offset_mm,
    }
    record["adapted"] = {
        "lateral_offset_mm": adapted.lateral_offset_mm,
        "vertical_offset_mm": adapted.vertical_offset_mm,
    }
    record.setdefault("changed", "offsets" if adapted != weld_pass else "nothing")
    return RescanDecision(action, adapted, record, problem)


def adapt_offsets(
    weld_pass: WeldPass, measure: GrooveMeasure, limits: PassRescan
) -> tuple[WeldPass, str | None]:
    """The pass with its offsets on the measured groove, and what is beyond the limit."""
    planned_lateral, planned_vertical = weld_pass.lateral_offset_mm, weld_pass.vertical_offset_mm
    vertical = measure.surface_mm
    # The share of the width the table meant, at the height the torch goes to now.
    planned_width = measure.width_at(planned_vertical + OVER_SURFACE_MM)
    width = measure.width_at(vertical + OVER_SURFACE_MM)
    if all(math.isfinite(w) and w > 0.5 for w in (planned_width, width)):
        middle = measure.middle_surface_mm if math.isfinite(measure.middle_surface_mm) else 0.0
        lateral = middle + planned_lateral / planned_width * width
    else:
        lateral = planned_lateral  # a full groove: no walls to take its width from
    vertical = measure.surface_at(lateral)
    problems = []
    for name, new, old in (
        ("lateral", lateral, planned_lateral),
        ("vertical", vertical, planned_vertical),
    ):
        if abs(new - old) > limits.max_offset_change_mm:
            problems.append(
                f"the {name} offset would be {new:.1f} mm, the table's {old:g} mm: more than "
                f"{limits.max_offset_change_mm:g} mm apart"
            )
    adapted = weld_pass.model_copy(
        update={"lateral_offset_mm": round(lateral, 2), "vertical_offset_mm": round(vertical, 2)}
    )
    return adapted, "; ".join(problems) or None
