"""Multi-pass welding against the simulator's truth (``python -m bench passes``).

A straight V-groove (plate-v60), a bent fillet (the hinge boss part's stiffener, two blended
corners) and a full circle (the hinge boss's fillet) are each welded in three passes, with
the procedures' weave and without it, at 1x real time in two processes as ``bench vision``
welds (its ``weld``, a pass table added to the part program). The simulator scores every
pass's torch (its weave's centre) against the true seam at every physics step:

- the root, tracked by the laser: RMS and max of the torch against the true joint;
- each later pass, on the root's path with its offsets (``cellctl.weld.passes``): its
  placement against the truth's pass plan (the true joint plus the pass's offsets): the
  mean's distance from it and the RMS about it.

Goals (issue 17): root RMS <= 0.10 mm and max <= 0.25 mm; each later pass's RMS about its
planned place <= 0.3 mm.
"""

from __future__ import annotations

import math

from bench.bench_vision import weld
from bench.stats import goal

SCENARIO = "offset"  # the part 2.5 mm aside and 0.6 mm high: the later passes must follow
# (name, part program, seam, its pass table after the root)
CASES = [
    (
        "straight",
        "plate-v60",
        "root",
        [
            {"kind": "fill", "layer": 2, "procedure": "mag-boom-fill", "lateral_offset_mm": -1.0,
             "vertical_offset_mm": 4.0, "reversed": True},
            {"kind": "cap", "layer": 3, "procedure": "mag-boom-cap", "lateral_offset_mm": 1.0,
             "vertical_offset_mm": 8.0},
        ],
    ),
    (
        "bent",
        "boom-hinge-boss",
        "stiffener-bent",
        [
            {"kind": "fill", "layer": 2, "lateral_offset_mm": 1.5, "vertical_offset_mm": 1.0,
             "reversed": True},
            {"kind": "cap", "layer": 3, "lateral_offset_mm": -1.0, "vertical_offset_mm": 2.5},
        ],
    ),
    (
        "circle",
        "boom-hinge-boss",
        "boss-fillet",
        [
            {"kind": "fill", "layer": 2, "lateral_offset_mm": 1.5, "vertical_offset_mm": 1.0},
            {"kind": "cap", "layer": 3, "lateral_offset_mm": -1.0, "vertical_offset_mm": 2.5},
        ],
    ),
]  # fmt: skip


def with_passes(seam_name: str, later: list[dict]):
    """The program with only ``seam_name``, welded in the root and ``later`` passes."""

    def edit(program: dict) -> None:
        seam = next(s for s in program["seams"] if s["name"] == seam_name)
        seam["order"] = 1
        seam["passes"] = [{"kind": "root", "layer": 1}, *later]
        program["seams"] = [seam]

    return edit


def placement(score: dict, record: dict) -> dict[str, float]:
    """A later pass's torch against the truth's pass plan (the true joint + its offsets),
    from the truth's figures (means and RMS about the joint)."""
    lateral, vertical = record["lateral_offset_mm"], record["vertical_offset_mm"]
    lateral_mean, vertical_mean = score["lateral_mean_mm"], score["vertical_mean_mm"]
    square = (
        score["lateral_rms_mm"] ** 2
        - 2 * lateral * lateral_mean
        + lateral**2
        + score["vertical_rms_mm"] ** 2
        - 2 * vertical * vertical_mean
        + vertical**2
    )
    return {
        "mean_off_mm": math.hypot(lateral_mean - lateral, vertical_mean - vertical),
        "rms_mm": math.sqrt(max(0.0, square)),
    }


def main() -> dict:
    figures: dict = {}
    print(f"Multi-pass at 1x, scenario {SCENARIO} (torch vs the true seam / the pass plan, mm)")
    print(f"  {'seam':<9} {'weave':<6} {'pass':<10} {'RMS':>7} {'max':>7} {'mean off':>9}")
    roots: list[dict] = []
    later: list[dict] = []
    runs = 0
    for name, part, seam, passes in CASES:
        for weave in (True, False):
            label = f"{name}/{'weave' if weave else 'plain'}"
            runs += 1
            try:
                result = weld(
                    SCENARIO, part, True, weave=weave,
                    program_edit=with_passes(seam, passes), timeout_s=600,
                )  # fmt: skip
            except Exception as error:
                print(f"  {label}: FAILED: {error}")
                figures[label] = {"error": str(error)}
                continue
            scores = result["scores"]
            records = [r["weld_pass"] for r in result["records"]]
            rows = []
            root = scores[0]
            roots.append(root)
            rows.append({"pass": "1 root", "rms_mm": root["rms_mm"], "max_mm": root["max_mm"]})
            for score, record in zip(scores[1:], records[1:], strict=False):
                placed = placement(score, record)
                later.append(placed)
                rows.append({"pass": f"{record['number']} {record['kind']}", **placed})
            figures[label] = {"passes": rows, "scores": scores, "records": records}
            for row in rows:
                print(
                    f"  {name:<9} {'on' if weave else 'off':<6} {row['pass']:<10} "
                    f"{row['rms_mm']:7.3f} {row.get('max_mm', math.nan):7.3f} "
                    f"{row.get('mean_off_mm', math.nan):9.3f}"
                )
    welded = f"{len(roots)} of {runs} welded"
    worst_rms = max((r["rms_mm"] for r in roots), default=math.nan)
    worst_max = max((r["max_mm"] for r in roots), default=math.nan)
    worst_pass = max((p["rms_mm"] for p in later), default=math.nan)
    every = len(roots) == runs
    print(
        goal(
            "root RMS", every and worst_rms <= 0.10, f"worst {worst_rms:.3f} mm (<= 0.10), {welded}"
        )
    )
    print(
        goal(
            "root max", every and worst_max <= 0.25, f"worst {worst_max:.3f} mm (<= 0.25), {welded}"
        )
    )
    print(goal("later passes on plan", every and worst_pass <= 0.3,
               f"worst RMS about the plan {worst_pass:.3f} mm (<= 0.3), {welded}"))  # fmt: skip
    return figures
