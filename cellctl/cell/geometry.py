"""Seam paths as polylines in millimetres: length, the point at a distance, what remains.

A taught seam path is a list of points. The weld cycle needs to know where along it the torch
is (the robot reports its path position in mm), to restart a seam from a point with an overlap,
and to shift the whole path by what seam finding measured. Pure functions on tuples.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

Point = tuple[float, float, float]


def distance(a: Point, b: Point) -> float:
    return math.dist(a, b)


def length_mm(path: Sequence[Point]) -> float:
    return sum(distance(a, b) for a, b in itertools.pairwise(path))


def point_at(path: Sequence[Point], position_mm: float) -> Point:
    """The point ``position_mm`` along the path (clamped to its ends)."""
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
    position_mm = max(0.0, position_mm)
    result = [point_at(path, position_mm)]
    travelled = 0.0
    for a, b in itertools.pairwise(path):
        travelled += distance(a, b)
        if travelled > position_mm + 1e-9:
            result.append(b)
    return result


def shifted(path: Sequence[Point], offset: Point) -> list[Point]:
    return [(p[0] + offset[0], p[1] + offset[1], p[2] + offset[2]) for p in path]


def above(point: Point, clearance_mm: float) -> Point:
    """The point ``clearance_mm`` above ``point`` (approach and retract positions)."""
    return (point[0], point[1], point[2] + clearance_mm)
