"""Throughput and OEE from the production records.

Over a window of planned production time:

- availability = run time / planned time, where run time is planned time minus the time lost to
  faults (raised until cleared, overlaps merged, warnings excluded);
- performance  = planned cycle time x parts processed / run time (the ideal rate against the
  actual one; above 1 means the cell ran faster than planned);
- quality      = good parts / parts processed;
- OEE          = availability x performance x quality.

Parts processed are complete production parts (dry runs and incomplete parts excluded).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any


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
    # Waiting for parts to cool to their interpass temperature: inside the cycle time (a loss
    # of performance, not of availability), counted apart so that it is seen as its own.
    interpass_wait_s: float
    availability: float
    performance: float
    quality: float
    oee: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _merged_seconds(intervals: Iterable[tuple[float, float]]) -> float:
    total, current_start, current_end = 0.0, None, None
    for start, end in sorted(intervals):
        if current_end is None or start > current_end:
            if current_end is not None and current_start is not None:
                total += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_end is not None and current_start is not None:
        total += current_end - current_start
    return total


def throughput(
    parts: list[dict[str, Any]],
    faults: list[dict[str, Any]],
    window_start: float,
    window_end: float,
    planned_cycle_time_s: float,
    seams: list[dict[str, Any]] | None = None,
) -> Throughput:
    """Figures for ``[window_start, window_end]`` from part and fault rows of the store (and
    its seam rows, for the interpass waits)."""
    window_s = max(1e-9, window_end - window_start)
    in_window = [p for p in parts if window_start <= p["started_at"] <= window_end]
    processed = [p for p in in_window if p["status"] == "complete" and p["mode"] == "production"]
    good = sum(1 for p in processed if p["verdict"] == "good")
    bad = sum(1 for p in processed if p["verdict"] == "bad")
    incomplete = sum(1 for p in in_window if p["status"] == "incomplete")
    cycle_times = [p["cycle_time_s"] for p in processed if p["cycle_time_s"]]
    arc_times = [p["arc_time_s"] or 0.0 for p in processed]
    downtime = _merged_seconds(
        (max(f["raised_at"], window_start), min(f["cleared_at"] or window_end, window_end))
        for f in faults
        if f["severity"] != "warning"
        and (f["cleared_at"] or window_end) > window_start
        and f["raised_at"] < window_end
    )
    processed_ids = {p["id"] for p in processed}
    interpass_wait_s = sum(
        _interpass_wait_s(s) for s in seams or () if s["part_id"] in processed_ids
    )
    run_s = max(1e-9, window_s - downtime)
    availability = run_s / window_s
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
        interpass_wait_s=interpass_wait_s,
        availability=availability,
        performance=performance,
        quality=quality,
        oee=availability * performance * quality,
    )


def _interpass_wait_s(seam: dict[str, Any]) -> float:
    summary = json.loads(seam["summary_json"]) if seam.get("summary_json") else {}
    return float((summary.get("temperature") or {}).get("interpass_wait_s") or 0.0)
