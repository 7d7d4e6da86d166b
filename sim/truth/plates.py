"""The true plates of the part, as solid material: what a wire and a gas nozzle can touch.

Each seam brings its plates, laid in its seam frame about the true root (``TrueSeam``: the
taught seam with the scenario's deviations and the part's placement), from the seam's start to
its end (the plates' end faces are there). In (lateral, vertical) about the root, with the
sensor renderer's shapes (``sim.devices.sensor_render.profile_pieces``):

- fillet (a T-joint): the wall on the −lateral side, ``WALL_MM`` thick and ``WALL_HEIGHT_MM``
  high, standing on the base plate, ``BASE_MM`` thick, reaching ``PLATE_REACH_MM`` either side;
- V-groove butt: two plates ``V_GROOVE_PLATE_MM`` thick, their bevels opening upwards at
  ``V_GROOVE_HALF_ANGLE_DEG`` from the root (the plates' underside) with the root gap;
- square butt: two plates ``SQUARE_BUTT_PLATE_MM`` thick below the root line, the gap between;
- lap: the lower plate below the root, the upper plate (``LAP_UPPER_PLATE_MM``) on the
  −lateral side above it.

Pure geometry: ``solid_at`` answers whether a point of the cell lies inside a plate.
"""

from __future__ import annotations

import math

from sim.truth.part import TruePart, TrueSeam, Vector

PLATE_REACH_MM = 60.0  # how far the plates reach from the joint, either side
WALL_MM = 8.0
WALL_HEIGHT_MM = 60.0
BASE_MM = 8.0
V_GROOVE_PLATE_MM = 10.0  # as the sensor renderer's
V_GROOVE_HALF_ANGLE_DEG = 30.0
SQUARE_BUTT_PLATE_MM = 4.0
LAP_UPPER_PLATE_MM = 3.0
LAP_LOWER_PLATE_MM = 6.0
NEAR_SEAM_MM = PLATE_REACH_MM + WALL_HEIGHT_MM  # farther from a seam than this: no plate of it


def _in_profile(joint: str, lateral: float, vertical: float, gap: float, mismatch: float) -> bool:
    """Whether (lateral, vertical) about the root lies in the joint's plates (see the module)."""
    if abs(lateral) > PLATE_REACH_MM:
        return False
    if joint == "fillet":
        in_wall = -WALL_MM < lateral < 0 and 0 <= vertical < WALL_HEIGHT_MM
        in_base = -BASE_MM < vertical < 0
        return in_wall or in_base
    if joint == "v_groove_butt":
        if not 0 < vertical < V_GROOVE_PLATE_MM:
            return False
        opening = gap / 2 + vertical * math.tan(math.radians(V_GROOVE_HALF_ANGLE_DEG))
        return abs(lateral) > opening
    if joint == "square_butt":
        offset = mismatch / 2 if lateral > 0 else -mismatch / 2
        return abs(lateral) > gap / 2 and -SQUARE_BUTT_PLATE_MM < vertical - offset < 0
    if joint == "lap":
        in_lower = -LAP_LOWER_PLATE_MM < vertical < 0
        in_upper = lateral < 0 and 0 <= vertical < LAP_UPPER_PLATE_MM + mismatch
        return in_lower or in_upper
    raise ValueError(f"unknown joint type {joint!r}")


def _boxes(joint: str, gap: float, mismatch: float) -> list[tuple[float, float, float, float]]:
    """Boxes (lateral min, max, vertical min, max) about the root that hold every plate of
    the joint (a V-groove's bevels filled in): the material lies inside them."""
    r = PLATE_REACH_MM
    if joint == "fillet":
        return [(-WALL_MM, 0.0, 0.0, WALL_HEIGHT_MM), (-r, r, -BASE_MM, 0.0)]
    if joint == "v_groove_butt":
        return [(-r, -gap / 2, 0.0, V_GROOVE_PLATE_MM), (gap / 2, r, 0.0, V_GROOVE_PLATE_MM)]
    if joint == "square_butt":
        m = abs(mismatch) / 2
        return [
            (-r, -gap / 2, -SQUARE_BUTT_PLATE_MM - m, m),
            (gap / 2, r, -SQUARE_BUTT_PLATE_MM - m, m),
        ]
    if joint == "lap":
        return [
            (-r, r, -LAP_LOWER_PLATE_MM, 0.0),
            (-r, 0.0, 0.0, LAP_UPPER_PLATE_MM + abs(mismatch)),
        ]
    raise ValueError(f"unknown joint type {joint!r}")


def seam_clearance_mm(seam: TrueSeam, point: Vector) -> float:
    """A lower bound of how far ``point`` lies from ``seam``'s plates (0 inside or at them):
    its distance, in the seam frame, to boxes that hold the plates. (On a curved seam the frame's
    distances are near the true ones; callers keep a margin.)"""
    s, lateral, vertical = seam.locate(point)
    joint = seam.joint_at(min(max(s, 0.0), seam.length_mm))
    lat, vert = lateral - joint.lateral_mm, vertical - joint.vertical_mm
    ds = max(0.0, -s, s - seam.length_mm)
    best = math.inf
    for l0, l1, v0, v1 in _boxes(seam.joint, joint.gap_mm, joint.mismatch_mm):
        dl = max(0.0, l0 - lat, lat - l1)
        dv = max(0.0, v0 - vert, vert - v1)
        best = min(best, math.sqrt(ds * ds + dl * dl + dv * dv))
    return best


def clearance_mm(part: TruePart, point: Vector) -> float:
    """A lower bound of how far ``point`` lies from any plate of the part."""
    best = math.inf
    for seam in part.seams:
        assert seam.path is not None
        taught = seam.placement.undo(point) if seam.placement is not None else point
        far = seam.path.distance_to_box(taught) - NEAR_SEAM_MM
        if far > 0:
            best = min(best, far)
            continue
        best = min(best, seam_clearance_mm(seam, point))
    return best


def seam_solid_at(seam: TrueSeam, point: Vector) -> bool:
    """Whether ``point`` (cell, mm) lies inside one of ``seam``'s plates."""
    s, lateral, vertical = seam.locate(point)
    if not 0.0 <= s <= seam.length_mm:
        return False  # beyond the plates' end faces
    if abs(lateral) > NEAR_SEAM_MM or abs(vertical) > NEAR_SEAM_MM:
        return False
    joint = seam.joint_at(s)
    return _in_profile(
        seam.joint,
        lateral - joint.lateral_mm,
        vertical - joint.vertical_mm,
        joint.gap_mm,
        joint.mismatch_mm,
    )


def solid_at(part: TruePart, point: Vector) -> bool:
    """Whether ``point`` (cell, mm) lies inside any plate of the part."""
    for seam in part.seams:
        assert seam.path is not None
        taught = seam.placement.undo(point) if seam.placement is not None else point
        if seam.path.distance_to_box(taught) > NEAR_SEAM_MM:
            continue
        if seam_solid_at(seam, point):
            return True
    return False
