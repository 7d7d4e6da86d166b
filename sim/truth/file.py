"""The true seams written to a file, for ``cellctl replay`` to score a simulated run against.

The controller never imports the simulator; what it may read is a file the rig wrote. This is
that file (``cellsim all --truth-file PATH``, or ``write_truth`` from a test rig): JSON, per
seam of the true part, its taught line (start, end in the part frame) and the true joint's
deviation from it, sampled along the taught line::

    {"format": 1, "scenario": "sine-5mm", "seams": [
      {"name": "seam1", "joint": "fillet", "start_mm": [x, y, z], "end_mm": [x, y, z],
       "s_mm": [...], "lateral_mm": [...], "vertical_mm": [...]}]}

A seam that bends or curves has its taught path too, as points (``"path_mm": [[x, y, z],
...]``: the vertices, and arcs sampled every PATH_STEP_MM); ``s_mm`` is then the distance
along that path, and the deviations are in the path's frame where they are.

Lateral and vertical are in the taught seam's frame (lateral = up × travel, vertical = travel ×
lateral), as ``sim.truth.part.TrueSeam.joint_at`` gives them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from sim.truth.part import TruePart, TrueSeam

TRUTH_FORMAT = 1
STEP_MM = 0.25
MARGIN_MM = 60.0  # beyond the ends, as far as a seam is looked up (TruePart.nearest)
# A curved seam's points: a chord of 0.5 mm strays 0.0014 mm from an arc of R 22 mm.
PATH_STEP_MM = 0.5


def truth_document(part: TruePart, scenario: str) -> dict:
    seams = []
    for seam in part.seams:
        positions = np.arange(-MARGIN_MM, seam.length_mm + MARGIN_MM + STEP_MM / 2, STEP_MM)
        joints = [seam.joint_at(float(s)) for s in positions]
        seams.append(
            {
                "name": seam.name,
                "joint": seam.joint,
                "start_mm": list(seam.start),
                "end_mm": list(seam.end),
                **_path_points(seam),
                "s_mm": [round(float(s), 4) for s in positions],
                "lateral_mm": [round(j.lateral_mm, 5) for j in joints],
                "vertical_mm": [round(j.vertical_mm, 5) for j in joints],
            }
        )
    return {"format": TRUTH_FORMAT, "scenario": scenario, "seams": seams}


def _path_points(seam: TrueSeam) -> dict[str, list[list[float]]]:
    """A seam that is not one straight line: its taught path as points (``path_mm``: every
    vertex, arcs every PATH_STEP_MM), which ``cellctl replay`` joins by lines. A straight
    seam's file stays as it was (start and end say it all)."""
    path = seam.path
    if path is None or (len(path) == 2 and not path.curved):
        return {}
    return {"path_mm": [[round(c, 4) for c in p] for p in path.sampled(PATH_STEP_MM)]}


def write_truth(part: TruePart, path: Path, scenario: str = "") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(truth_document(part, scenario)), encoding="utf-8")
    return path
