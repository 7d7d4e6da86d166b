"""Throughput and OEE from the production records.

Over a window of time:

- planned time = the window minus the planned stops (torch cleaning, tip change, meal break:
  ``cellctl.cell.downtime``), as OEE practice counts them: a planned stop is no loss;
- availability = run time / planned time, where run time is planned time minus the time lost to
  faults (raised until cleared, warnings excluded) and to unplanned standstills with a reason
  (waiting for parts, blocked downstream), overlaps merged, none counted inside a planned stop;
- performance  = ideal cycle time x parts processed / run time (the ideal rate against the
  actual one; above 1 means the cell ran faster than planned);
- quality      = good parts / parts processed;
- OEE          = availability x performance x quality.

Parts processed are complete production parts (dry runs and incomplete parts excluded).
``downtime_by_reason_s`` is the time of each reason in the window (``fault`` for faults), each
on its own (a fault during a meal break counts under both); ``cellctl report`` shows it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from cellctl.cell.downtime import FAULT_REASON


@dataclass(frozen=True)
class Throughput:
    window_s: float
    parts_processed: int
    parts_good: int
    parts_bad: int
    parts_incomplete: int
    parts_per_hour: float
    cycle_time_mean_s: float | None
    cycle_time_min_s: float | None
    cycle_time_max_s: float | None
    arc_on_ratio: float | None  # arc time / cycle time of the processed parts
    fault_downtime_s: float
    planned_stop_s: float  # out of the planned time
    unplanned_downtime_s: float  # faults and unplanned standstills, merged: lost availability
    downtime_by_reason_s: dict[str, float]
    # Waiting for parts to cool to their interpass temperature: inside the cycle time (a loss
    # of performance, not of availability), counted apart so that it is seen as its own.
    interpass_wait_s: float
    availability: float
    performance: float
    quality: float
    oee: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _merged(intervals: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in sorted(intervals):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _merged_seconds(intervals: Iterable[tuple[float, float]]) -> float:
    return sum(end - start for start, end in _merged(intervals))


def _clipped(
    rows: Iterable[dict[str, Any]], start_key: str, end_key: str, start: float, end: float
) -> list[tuple[float, float]]:
    """Each row's span within [start, end] (an open span runs to ``end``)."""
    return [
        (max(row[start_key], start), min(row[end_key] or end, end))
        for row in rows
        if (row[end_key] or end) > start and row[start_key] < end
    ]


def throughput(
    parts: list[dict[str, Any]],
    faults: list[dict[str, Any]],
    window_start: float,
    window_end: float,
    planned_cycle_time_s: float,
    seams: list[dict[str, Any]] | None = None,
    downtimes: list[dict[str, Any]] | None = None,
) -> Throughput:
    """Figures for ``[window_start, window_end]`` from part and fault rows of the store (and
    its seam rows, for the interpass waits; its downtime rows, for the reasons of standstills:
    ``planned_cycle_time_s`` is the ideal cycle time, not a plan of time)."""
    window_s = max(1e-9, window_end - window_start)
    in_window = [p for p in parts if window_start <= p["started_at"] <= window_end]
    processed = [p for p in in_window if p["status"] == "complete" and p["mode"] == "production"]
    good = sum(1 for p in processed if p["verdict"] == "good")
    bad = sum(1 for p in processed if p["verdict"] == "bad")
    incomplete = sum(1 for p in in_window if p["status"] == "incomplete")
    cycle_times = [p["cycle_time_s"] for p in processed if p["cycle_time_s"]]
    arc_times = [p["arc_time_s"] or 0.0 for p in processed]
    fault_spans = _clipped(
        (f for f in faults if f["severity"] != "warning"),
        "raised_at",
        "cleared_at",
        window_start,
        window_end,
    )
    downtime = _merged_seconds(fault_spans)
    reasons = downtimes or []
    planned_spans = _clipped(
        (d for d in reasons if d["planned"]), "started_at", "ended_at", window_start, window_end
    )
    unplanned_spans = _clipped(
        (d for d in reasons if not d["planned"]),
        "started_at",
        "ended_at",
        window_start,
        window_end,
    )
    planned_stop_s = _merged_seconds(planned_spans)
    # Lost time outside the planned stops: |lost ∪ planned| - |planned|.
    lost_s = _merged_seconds([*fault_spans, *unplanned_spans, *planned_spans]) - planned_stop_s
    by_reason = {FAULT_REASON: downtime} if fault_spans else {}
    for reason in dict.fromkeys(d["reason"] for d in reasons):
        spans = _clipped(
            (d for d in reasons if d["reason"] == reason),
            "started_at",
            "ended_at",
            window_start,
            window_end,
        )
        if spans:
            by_reason[reason] = _merged_seconds(spans)
    planned_s = max(1e-9, window_s - planned_stop_s)
    processed_ids = {p["id"] for p in processed}
    interpass_wait_s = sum(
        _interpass_wait_s(s) for s in seams or () if s["part_id"] in processed_ids
    )
    run_s = max(1e-9, planned_s - lost_s)
    availability = run_s / planned_s
    performance = planned_cycle_time_s * len(processed) / run_s
    quality = good / len(processed) if processed else 0.0
    return Throughput(
        window_s=window_s,
        parts_processed=len(processed),
        parts_good=good,
        parts_bad=bad,
        parts_incomplete=incomplete,
        parts_per_hour=len(processed) / window_s * 3600,
        cycle_time_mean_s=sum(cycle_times) / len(cycle_times) if cycle_times else None,
        cycle_time_min_s=min(cycle_times) if cycle_times else None,
        cycle_time_max_s=max(cycle_times) if cycle_times else None,
        arc_on_ratio=sum(arc_times) / sum(cycle_times) if cycle_times else None,
        fault_downtime_s=downtime,
        planned_stop_s=planned_stop_s,
        unplanned_downtime_s=lost_s,
        downtime_by_reason_s=by_reason,
        interpass_wait_s=interpass_wait_s,
        availability=availability,
        performance=performance,
        quality=quality,
        oee=availability * performance * quality,
    )


def _interpass_wait_s(seam: dict[str, Any]) -> float:
    summary = json.loads(seam["summary_json"]) if seam.get("summary_json") else {}
    return float((summary.get("temperature") or {}).get("interpass_wait_s") or 0.0)
