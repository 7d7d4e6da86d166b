"""Touch sensing through the robot's own job (KUKA RSI, ABB EGM): how well the controller
latches a contact it sees only on its power source's link, and what a search costs.

The simulated cell and the real controller run here (``rigs.cell.running_cell``) at
``TIME_SCALE``, the touch coupon given the job COUPON_FILLET_80 (four touches for the part's
frame, two for the seam's corner), clamped off its taught place by a seeded shift and turn per
part. The job runs its searches; the controller polls ``wire_touching`` and takes the pose from
the robot's stream (``cellctl.weld.owned_touch``). Measured, per backend:

- each contact against the true one (the simulator's wire against the true plates, bisected
  along the job's search line), mm;
- the polls' bracket of the robot's travel around each contact, mm (0.25 mm or more is
  searched again);
- the welded path (the tool point at every physics step) against the true joint, max and RMS;
- time per search: from the sensing voltage on to the search's end read (p50 / p99).
"""

from __future__ import annotations

import asyncio
import math
import random
import tempfile
from pathlib import Path
from typing import Any

from bench.bench_touch import random_placement
from bench.stats import goal, percentile
from drivers.codecs.robot_protocol import Pose
from rigs.cell import running_cell
from rigs.owned import BACKENDS, touch_job
from sim.truth.part import Placement, VisionScenario

PARTS = 2  # per backend
TIME_SCALE = 2.0
GOAL_MM = 0.3  # the issue's: the part placed within 0.3 mm of the truth


def _true_contacts(rig: Any) -> dict[str, tuple[float, float, float] | None]:
    """Where each of the job's searches truly touches (bisected along its line)."""
    contacts: dict[str, tuple[float, float, float] | None] = {}
    job = next(iter(rig.sim.robot.jobs.values()))
    for search in job.searches:

        def point(d: float, s: Any = search) -> tuple[float, float, float]:
            return tuple(a + d * b for a, b in zip(s.start_mm, s.direction, strict=True))  # type: ignore[return-value]

        def touches(d: float, s: Any = search) -> bool:
            return rig.sim.touch.wire_touches(Pose(*point(d), *s.torch_deg))

        low, high = 0.0, search.distance_mm
        if not touches(high):
            contacts[search.name] = None
            continue
        for _ in range(40):
            middle = (low + high) / 2
            low, high = (low, middle) if touches(middle) else (middle, high)
        contacts[search.name] = point(high)
    return contacts


async def _one_part(folder: Path, backend: Any, placement: Placement) -> dict[str, Any]:
    vision = VisionScenario(name="bench", placement=placement)
    async with running_cell(folder, TIME_SCALE, touch_job(folder, backend), vision) as rig:
        samples: list[Any] = []
        rig.sim.robot.on_trajectory_sample = samples.append
        await rig.to_idle()
        record = await rig.weld_part_without_faults(300)
        sensing = rig.controller.part_run._owned_seams.touch
        truth = _true_contacts(rig)
        seam = rig.sim.touch.part.seams[0]
        errors = []
        for sample in samples:
            if sample.path_id == 0:
                continue
            s, lateral, vertical = seam.locate(sample.pose.position_mm)
            if 1.0 <= s <= seam.length_mm - 1.0:
                joint = seam.joint_at(s)
                errors.append(math.hypot(lateral - joint.lateral_mm, vertical - joint.vertical_mm))
    contact_errors = [
        math.dist(t.found_mm, truth[t.name]) for t in sensing.touches if truth[t.name] is not None
    ]
    return {
        "verdict": record["verdict"],
        "contact_error_mm": contact_errors,
        "bracket_mm": list(sensing.brackets_mm),
        "path_max_mm": max(errors),
        "path_rms_mm": math.sqrt(sum(e * e for e in errors) / len(errors)),
        "search_s": [t for _, t in sensing.figures.durations_s],
    }


def main() -> dict[str, Any]:
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, backend in BACKENDS.items():
            rng = random.Random(20)
            results = []
            for index in range(PARTS):
                placement = random_placement(rng)
                folder = Path(tmp) / f"{name}-{index}"
                try:
                    result = asyncio.run(_one_part(folder, backend, placement))
                except AssertionError as error:  # a loaded machine's link timeouts: said
                    print(f"{name} part {index + 1}: failed: {error}", flush=True)
                    continue
                results.append(result)
                print(
                    f"{name} part {index + 1}: contacts within "
                    f"{max(result['contact_error_mm']):.3f} mm of the truth (brackets max "
                    f"{max(result['bracket_mm']):.3f} mm); weld path max "
                    f"{result['path_max_mm']:.3f} mm, RMS {result['path_rms_mm']:.3f} mm; "
                    f"{len(result['search_s'])} searches; {result['verdict']}",
                    flush=True,
                )
            if not results:
                continue
            searches = [t for r in results for t in r["search_s"]]
            contacts = [e for r in results for e in r["contact_error_mm"]]
            worst_path = max(r["path_max_mm"] for r in results)
            figures[name] = {
                "parts": results,
                "contact_error_mm_p50": percentile(contacts, 0.5),
                "contact_error_mm_max": max(contacts),
                "search_s_p50": percentile(searches, 0.5),
                "search_s_p99": percentile(searches, 0.99),
                "path_error_mm_max": worst_path,
            }
            print(
                f"{name}: contact error p50 {figures[name]['contact_error_mm_p50']:.3f} mm, max "
                f"{figures[name]['contact_error_mm_max']:.3f} mm; time per search p50 "
                f"{figures[name]['search_s_p50']:.2f} s, p99 {figures[name]['search_s_p99']:.2f} s"
                f" ({TIME_SCALE:g}x)"
            )
            print(goal(f"{name}: part placed by the job's touches", worst_path <= GOAL_MM,
                       f"weld path within {worst_path:.3f} mm of the true joint "
                       f"(goal {GOAL_MM} mm)"))  # fmt: skip
    return figures
