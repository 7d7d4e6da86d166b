"""Small helpers for benchmark figures: percentiles and a goal line."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The ``fraction`` (0..1) percentile by the nearest-rank method."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def summary_ms(samples_s: Sequence[float]) -> dict[str, float]:
    """p50, p99 and max of samples given in seconds, in milliseconds."""
    return {
        "p50_ms": percentile(samples_s, 0.50) * 1e3,
        "p99_ms": percentile(samples_s, 0.99) * 1e3,
        "max_ms": max(samples_s) * 1e3 if samples_s else math.nan,
        "n": len(samples_s),
    }


def goal(label: str, met: bool, detail: str) -> str:
    return f"  [{'PASS' if met else 'MISS'}] {label}: {detail}"
