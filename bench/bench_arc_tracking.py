"""Through-arc seam tracking against the truth, with and without the laser
(``python -m bench arc_tracking``).

The arc coupon (``rigs.arc_coupon``: a V-groove whose joint drifts 3 mm sideways over 160 mm;
a root, then a weaving fill on the root's path) welded in the simulated cell, the controller
and the simulator in one process, four ways:

1. laser off, fill tracked by the arc: arc sensing alone (the issue's goal: RMS <= 0.5 mm);
2. laser off, fill untracked: what the arc has to correct (the drift itself);
3. laser on the root (found and tracked), fill on the root's path, untracked: the laser alone;
4. laser on the root, fill tracked by the arc: both, each on its pass.

Figures: the fill's torch (its weave's centre) against the true joint, lateral RMS, 95th
percentile and maximum (mm), and the height's RMS; the arc's weave periods used. The time
scale is ``BENCH_ARC_TIME_SCALE`` (default 1: real time; the simulator's power source then
samples the current at 500 Hz); ``BENCH_ARC_CASES`` (comma-separated names) runs a few.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from pathlib import Path

from rigs.arc_coupon import weld_coupon

GOAL_RMS_MM = 0.5
# On a loaded machine a link may time out (F131) and abort the part: it is welded again (the
# figures then say how many attempts failed).
ATTEMPTS = 3
CASES = {
    "arc_alone": {"root_tracking": "none", "fill_tracking": "arc", "laser": False},
    "untracked": {"root_tracking": "none", "fill_tracking": "none", "laser": False},
    "laser_root_only": {"root_tracking": "laser", "fill_tracking": "none", "laser": True},
    "laser_root_arc_fill": {"root_tracking": "laser", "fill_tracking": "arc", "laser": True},
}


async def _run(time_scale: float) -> dict:
    results: dict = {"time_scale": time_scale}
    wanted = os.environ.get("BENCH_ARC_CASES", ",".join(CASES)).split(",")
    for name, case in CASES.items():
        if name not in wanted:
            continue
        timeout_s = 600.0 / time_scale + 60.0
        failures = []
        for _attempt in range(ATTEMPTS):
            folder = Path(tempfile.mkdtemp(prefix=f"bench-arc-{name}-"))
            try:
                part, fill, figures = await weld_coupon(
                    folder, time_scale, timeout_s=timeout_s, **case
                )
                break
            except AssertionError as error:  # a fault (on a loaded machine: a link timeout)
                failures.append(str(error).splitlines()[0][:300])
                print(f"{name}: attempt failed: {failures[-1]}", flush=True)
        else:
            results[name] = {"failed": failures}
            continue
        tracking = fill.get("tracking") or {}
        figures = {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}
        figures["verdict"] = part["verdict"]
        figures["failed_attempts"] = len(failures)
        for key in ("arc_periods", "arc_periods_used", "arc_periods_missed"):
            if key in tracking:
                figures[key] = tracking[key]
        results[name] = figures
        print(f"{name}: {json.dumps(figures)}", flush=True)
    arc = results.get("arc_alone", {})
    if "lateral_rms_mm" in arc:
        results["goal_arc_alone_rms_le_0_5_mm"] = arc["lateral_rms_mm"] <= GOAL_RMS_MM
        untracked = results.get("untracked", {})
        if "lateral_rms_mm" in untracked:
            results["arc_alone_over_untracked_rms"] = round(
                arc["lateral_rms_mm"] / untracked["lateral_rms_mm"], 3
            )
    return results


def main() -> dict:
    time_scale = float(os.environ.get("BENCH_ARC_TIME_SCALE", "1"))
    return asyncio.run(_run(time_scale))


if __name__ == "__main__":
    print(json.dumps(main(), indent=1))
