"""Seam paths as polylines in millimetres, and the seam frame the robot corrects in.

A taught seam path is a list of points, or a ``drivers.codecs.seam_path.SeamPath`` of lines
and arcs (a sequence of its vertices too), which every function here takes as well. The weld
cycle needs to know where along it the torch is (the robot reports its path position in mm),
to restart a seam from a point with an overlap,
and to shift the whole path by what seam finding measured. The seam frame (travel, lateral,
vertical) is the frame of every path correction and of what the sensor measures. Pure
functions on tuples.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from drivers.codecs.seam_path import SeamPath, frame_of

Point = tuple[float, float, float]


def distance(a: Point, b: Point) -> float:
    return math.dist(a, b)


def length_mm(path: Sequence[Point]) -> float:
    if isinstance(path, SeamPath):
        return path.length_mm
    return sum(distance(a, b) for a, b in itertools.pairwise(path))


def point_at(path: Sequence[Point], position_mm: float) -> Point:
    """The point ``position_mm`` along the path (clamped to its ends)."""
    if isinstance(path, SeamPath):
        return path.point_at(position_mm)
    if position_mm <= 0:
        return path[0]
    travelled = 0.0
    for a, b in itertools.pairwise(path):
        segment = distance(a, b)
        if travelled + segment >= position_mm:
            f = (position_mm - travelled) / segment
            return (a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1]), a[2] + f * (b[2] - a[2]))
        travelled += segment
    return path[-1]


def remaining(path: Sequence[Point], position_mm: float) -> list[Point]:
    """The path from ``position_mm`` to its end, starting with the point at that position."""
    if isinstance(path, SeamPath):
        return path.remaining(position_mm)  # type: ignore[return-value]
    position_mm = max(0.0, position_mm)
    result = [point_at(path, position_mm)]
    travelled = 0.0
    for a, b in itertools.pairwise(path):
        travelled += distance(a, b)
        if travelled > position_mm + 1e-9:
            result.append(b)
    return result


def shifted(path: Sequence[Point], offset: Point) -> list[Point]:
    if isinstance(path, SeamPath):
        return path.shifted(offset)  # type: ignore[return-value]
    return [(p[0] + offset[0], p[1] + offset[1], p[2] + offset[2]) for p in path]


def above(point: Point, clearance_mm: float) -> Point:
    """The point ``clearance_mm`` above ``point`` (approach and retract positions)."""
    return (point[0], point[1], point[2] + clearance_mm)


def seam_frame(path: list[Point]) -> tuple[Point, Point, Point]:
    """(travel, lateral, vertical) unit vectors of the path's first segment, as the robot
    defines its correction frame: lateral = up × travel, vertical = travel × lateral. (A
    ``SeamPath``'s frame follows its tangent: this is the one at its start.)"""
    if isinstance(path, SeamPath):
        return path.frame_at(0.0)
    return frame_of(tuple(b - a for a, b in zip(path[0], path[1], strict=True)))  # type: ignore[arg-type]


def in_frame(point: Point, origin: Point, frame: tuple[Point, Point, Point]) -> Point:
    """``point`` as (along, lateral, vertical) mm from ``origin`` in ``frame`` (``seam_frame``)."""
    d = (point[0] - origin[0], point[1] - origin[1], point[2] - origin[2])
    return tuple(sum(a * b for a, b in zip(d, axis, strict=True)) for axis in frame)  # type: ignore[return-value]


def from_frame(origin: Point, frame: tuple[Point, Point, Point], offset: Point) -> Point:
    """The point (along, lateral, vertical) mm from ``origin`` in ``frame``."""
    return tuple(
        o + sum(c * axis[i] for c, axis in zip(offset, frame, strict=True))
        for i, o in enumerate(origin)
    )  # type: ignore[return-value]


def sensed_joint(
    path: SeamPath,
    s_torch_mm: float,
    torch_offset_mm: tuple[float, float],
    lookahead_mm: float,
    measured_mm: tuple[float, float],
) -> Point:
    """Where the sensor saw the joint, against a curved ``path``: (s, lateral, vertical).

    The torch stands ``s_torch_mm`` along the path, offset (lateral, vertical) from it in the
    frame there; the sensor on it looks ``lookahead_mm`` ahead along the path's tangent at the
    torch (a chord, not the arc), its laser plane across that tangent, and measured the joint
    at ``measured_mm`` (lateral, vertical) from its origin. On a straight path this is
    (s_torch + lookahead, offset + measured), what tracking adds up there.
    """
    travel, lateral, up = path.frame_at(s_torch_mm)
    base = path.extended_point(s_torch_mm)
    reach = (lookahead_mm, torch_offset_mm[0] + measured_mm[0], torch_offset_mm[1] + measured_mm[1])
    joint = from_frame(base, (travel, lateral, up), reach)
    return path.locate(joint, s_torch_mm + lookahead_mm)
