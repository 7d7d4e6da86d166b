"""A V-groove coupon for through-arc seam tracking, welded in the simulated cell.

Its true joint drifts ``DRIFT_MM`` sideways from the taught line over the coupon's length.
Two passes: the root (tracked by the laser, or not at all with the laser off: then it runs
the taught line) and a weaving fill on the root's path, ``FILL_VERTICAL_MM`` up, tracked as
the caller says (``arc`` or ``none``). The simulator's truth scores the fill's torch (its
weave's centre) against the true joint. Shared by tests/test_arc_tracking_cell.py and
``python -m bench arc_tracking``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from cellctl.cli.demo import allow_desk_stalls
from cellctl.config.models import CellConfig
from cellctl.testing import free_port
from rigs.cell import REPO, running_cell
from sim.devices.sensor import TrackingScore
from sim.truth.part import VisionScenario

COUPON_MM = 160.0
DRIFT_MM = 3.0
FILL_VERTICAL_MM = 3.5
FILL_PROCEDURE = "mag-boom-fill"  # a trapezoid weave, 2.5 mm, 1.2 Hz, 100 ms dwells
FILL_TRAVEL_MM_PER_S = 5.5  # its travel speed
# The joint turns away from the taught line: DRIFT_MM sideways at the coupon's end. Its root
# is a thin one (the simulator lays a 0.8 mm wire's metal, crowned 0.5 mm: 9 mm², standing
# 3 mm in the groove, sim.truth.v_groove), so that the fill FILL_VERTICAL_MM up weaves within
# a quarter of a millimetre of the flanks, where arc sensing reads them best.
DRIFTING = VisionScenario.model_validate(
    {
        "name": "drifting",
        "deviations": [
            {"kind": "rotation", "angle_deg": math.degrees(math.atan(DRIFT_MM / COUPON_MM))}
        ],
        "bead": {"wire_diameter_mm": 0.8, "height_mm": 0.5},
    }
)


def coupon(
    tmp_path: Path,
    root_tracking: str,
    fill_tracking: str,
    laser: bool,
    fill_lateral_mm: float = 0.0,
    time_scale: float | None = None,
):
    """The cell config's edit: the coupon's part program in the rig's private config; the laser
    sensor on (seam finding and tracking the root) or off. With ``time_scale``, every
    wall-clock limit gets room for a stall of the machine, as ``cellctl demo`` gives it
    (``allow_desk_stalls``): these runs measure tracking, not link supervision, and share a
    loaded machine (the arc's coasting is left as configured)."""

    def edit(cell: dict) -> None:
        cell["controller"]["cycle"]["active_part"] = "arc-coupon"
        cell["sensor"]["enabled"] = laser
        # The simulator shares this process and its GIL with the controller: its robot
        # forgives a correction stream paused a few hundred ms on a loaded machine (as the
        # laser tracking tests do; the shipped 100 ms holds with the simulator in a process of
        # its own).
        cell["robot"]["correction_watchdog_ms"] = 500
        if laser:
            cell["sensor"]["source"] = f"127.0.0.1:{free_port()}"
            cell["sensor"]["calibration_file"] = str(REPO / "config" / "sensor-calibration.yaml")
        program = {
            "name": "arc-coupon",
            "planned_cycle_time_s": 120,
            "seams": [
                {
                    "name": "butt",
                    "order": 1,
                    "joint": "v_groove_butt",
                    "procedure": "mag-vgroove-root",
                    "path_mm": [[300.0, -COUPON_MM / 2, 8.0], [300.0, COUPON_MM / 2, 8.0]],
                    "torch": {"work_angle_deg": 0.0, "travel_angle_deg": 5.0},
                    "sensing": {
                        "seam_finding": laser,
                        "search_range_mm": 8,
                        "tracking": root_tracking == "laser",
                    },
                    "passes": [
                        {"kind": "root", "layer": 1, "tracking": root_tracking},
                        {
                            "kind": "fill",
                            "layer": 2,
                            "procedure": FILL_PROCEDURE,
                            "lateral_offset_mm": fill_lateral_mm,
                            "vertical_offset_mm": FILL_VERTICAL_MM,
                            "tracking": fill_tracking,
                        },
                    ],
                }
            ],
        }
        (tmp_path / "config" / "parts" / "arc-coupon.yaml").write_text(yaml.safe_dump(program))
        cell["parts"].append("parts/arc-coupon.yaml")
        if time_scale is not None:
            effective = CellConfig.model_validate(cell)
            allow_desk_stalls(cell, effective, time_scale, FILL_TRAVEL_MM_PER_S)

    return edit


async def weld_coupon(
    tmp_path: Path,
    time_scale: float,
    *,
    root_tracking: str = "none",
    fill_tracking: str = "arc",
    laser: bool = False,
    fill_lateral_mm: float = 0.0,
    timeout_s: float = 120.0,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, float]]:
    """Weld the coupon: the part's row, the fill pass's record, and the fill's torch against
    the truth (lateral and vertical, its pass offsets taken off)."""
    edit = coupon(tmp_path, root_tracking, fill_tracking, laser, fill_lateral_mm, time_scale)
    async with running_cell(tmp_path, time_scale, edit, DRIFTING) as rig:
        groove = rig.sim.arc_over_groove
        assert groove is not None
        score = TrackingScore(groove.part)
        if rig.sim.tracking_score is not None:
            laser_score = rig.sim.tracking_score  # it lays the bead the sensor sees too

            def both(sample) -> None:
                laser_score.add(sample)
                score.add(sample)

            rig.sim.robot.on_trajectory_sample = both
        else:
            rig.sim.robot.on_trajectory_sample = score.add
        await rig.to_idle()
        part = await rig.weld_part_without_faults(timeout_s)
        rows = await rig.controller.store.seams(part["id"])
    records = [json.loads(row["summary_json"]) for row in rows]
    fill = score.seams[-1]
    lateral = np.array(fill.lateral_mm) - fill_lateral_mm
    vertical = np.array(fill.vertical_mm) - FILL_VERTICAL_MM
    figures = {
        "samples": len(lateral),
        "lateral_rms_mm": float(np.sqrt(np.mean(lateral**2))),
        "lateral_p95_mm": float(np.percentile(np.abs(lateral), 95)),
        "lateral_max_mm": float(np.abs(lateral).max()),
        "vertical_rms_mm": float(np.sqrt(np.mean(vertical**2))),
        # The taught line against the true joint at the same samples: where the fill would
        # have run untracked (the root's path, the root itself untracked).
        "taught_rms_mm": float(np.sqrt(np.mean(np.square(fill.taught_mm)))),
        "taught_max_mm": float(max(fill.taught_mm)),
    }
    return part, records[-1], figures
