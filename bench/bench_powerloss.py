"""Power loss: kill -9 of the real controller at 200 random moments of production (see
``sim.scenario.powerloss``): store integrity, acknowledged seams lost (goal 0), interrupted
parts marked incomplete, and how long the cell took to be safe with nobody in charge.

`python -m bench powerloss`; POWERLOSS_ROUNDS overrides the 200 rounds.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from bench.stats import goal, percentile
from sim.scenario.powerloss import run_power_loss

REPO = Path(__file__).resolve().parent.parent
ROUNDS = int(os.environ.get("POWERLOSS_ROUNDS", "200"))


def main() -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-powerloss-") as name:
        try:
            report = asyncio.run(
                run_power_loss(REPO / "config" / "cell.yaml", Path(name), ROUNDS, seed=200)
            )
        except RuntimeError:
            log = Path(name) / "controller.log"
            print("the rig stopped; the controller's log ends:")
            print("\n".join(log.read_text().splitlines()[-30:]) if log.exists() else "(none)")
            raise
    safe = report.safe_after_kill_s
    print(f"kill -9 of `cellctl run` in {report.rounds} rounds at 20x (bracket-a12):")
    print(f"  killed while the arc burned: {report.kills_while_arc_on}, "
          f"while the robot moved: {report.kills_while_moving}")  # fmt: skip
    print(f"  seams whose commit was acknowledged: {report.seams_acknowledged}, "
          f"lost: {len(report.seams_lost)}")  # fmt: skip
    print(f"  parts interrupted: {report.parts_interrupted}, not marked incomplete: "
          f"{len(report.parts_not_marked_incomplete)}")  # fmt: skip
    print(f"  integrity_check failures: {len(report.integrity_failures)}")
    print(f"  safe without the controller (arc out, robot still) after the kill: "
          f"p50 {percentile(safe, 0.5) * 1e3:.0f} ms, max {max(safe) * 1e3:.0f} ms")  # fmt: skip
    print(goal("no acknowledged seam lost, store intact, every interrupted part incomplete",
               not report.problems, f"{len(report.problems)} problem(s)"))  # fmt: skip
    for problem in report.problems[:10]:
        print(f"    {problem}")
    return {
        "rounds": report.rounds,
        "kills_while_arc_on": report.kills_while_arc_on,
        "kills_while_moving": report.kills_while_moving,
        "seams_acknowledged": report.seams_acknowledged,
        "seams_lost": len(report.seams_lost),
        "parts_interrupted": report.parts_interrupted,
        "problems": report.problems,
        "safe_after_kill_ms_max": max(safe) * 1e3,
    }
