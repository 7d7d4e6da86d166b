"""What wire touches say about where the part is: pure geometry, no I/O.

A touch (``Touch``) is a search's taught contact (``expected_mm``: where the master part was
touched), the contact found on this part (``found_mm``) and the search's direction ``u``. A
search runs perpendicular to its plate, so the plate has moved ``(found − expected) · u``
along ``u``; the touch says nothing about the plate's motion across ``u``.

- ``shift_from_touches``: the least-squares shift ``s`` with ``s · uᵢ = dᵢ`` for every touch,
  the smallest such where the touches leave a direction open (nothing moves where nothing was
  touched). One touch: a 1D shift along its direction; the two plates of a fillet: the 2D
  shift of their corner; three plates: the full 3D shift.
- ``fit_part_frame``: the part's rigid frame on the fixture (a shift and a turn about the
  vertical through ``pivot``) that puts every taught plate through its found contact: the
  moved plate i has the normal ``R·uᵢ`` and passes through ``T(expectedᵢ)``, and the contact
  lies on it: ``(R·uᵢ) · (foundᵢ − T(expectedᵢ)) = 0``. Solved by Gauss-Newton (exact for
  plane plates; a few iterations), least squares over more touches than unknowns; the
  residuals say how well the touches fit one rigid part.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from drivers.codecs.seam_path import Arc, Line, SeamPath, arc_through

Point = tuple[float, float, float]

FIT_ITERATIONS = 8
FIT_STEP_TOLERANCE = 1e-9  # parameters change less than this (mm, rad): done


@dataclass(frozen=True)
class Touch:
    """One search's contact against its taught one (see the module)."""

    name: str
    expected_mm: Point
    found_mm: Point
    direction: Point  # unit

    @property
    def along_mm(self) -> float:
        """How far the plate lies beyond its taught place along the search."""
        return float(
            np.dot(np.subtract(self.found_mm, self.expected_mm), np.asarray(self.direction))
        )


def shift_from_touches(touches: Sequence[Touch]) -> Point:
    """The smallest shift that moves every touched plate as found (see the module)."""
    if not touches:
        return (0.0, 0.0, 0.0)
    directions = np.array([t.direction for t in touches], dtype=float)
    along = np.array([t.along_mm for t in touches], dtype=float)
    shift, *_ = np.linalg.lstsq(directions, along, rcond=1e-9)
    return (float(shift[0]), float(shift[1]), float(shift[2]))


@dataclass(frozen=True)
class PartFrame:
    """Where the part lies against its program: turned by ``turn_deg`` about the vertical
    through ``pivot_mm``, then shifted by ``shift_mm``. ``residuals_mm``: each touch's distance
    from its moved plate after the fit."""

    shift_mm: Point = (0.0, 0.0, 0.0)
    turn_deg: float = 0.0
    pivot_mm: Point = (0.0, 0.0, 0.0)
    residuals_mm: tuple[float, ...] = ()

    def apply(self, point: Sequence[float]) -> Point:
        """A point of the programmed part where this part has it."""
        a = math.radians(self.turn_deg)
        px, py = point[0] - self.pivot_mm[0], point[1] - self.pivot_mm[1]
        return (
            self.pivot_mm[0] + math.cos(a) * px - math.sin(a) * py + self.shift_mm[0],
            self.pivot_mm[1] + math.sin(a) * px + math.cos(a) * py + self.shift_mm[1],
            float(point[2]) + self.shift_mm[2],
        )

    def turn(self, direction: Sequence[float]) -> Point:
        """A direction of the programmed part as this part has it."""
        a = math.radians(self.turn_deg)
        return (
            math.cos(a) * direction[0] - math.sin(a) * direction[1],
            math.sin(a) * direction[0] + math.cos(a) * direction[1],
            float(direction[2]),
        )

    @property
    def max_residual_mm(self) -> float:
        return max((abs(r) for r in self.residuals_mm), default=0.0)

    def moved_path(self, path: SeamPath) -> SeamPath:
        """``path`` (lines and arcs) as this part has it: a rigid motion keeps arcs arcs."""
        pieces: list[Line | Arc] = []
        for piece in path.pieces:
            if isinstance(piece, Arc):
                start, via, end = (self.apply(p) for p in (piece.start, piece.via, piece.end))
                pieces.append(arc_through(start, via, end))
            else:
                pieces.append(Line(self.apply(piece.start), self.apply(piece.end)))
        return SeamPath(tuple(pieces))


def _residuals(params: np.ndarray, touches: Sequence[Touch], pivot: Point) -> np.ndarray:
    frame = PartFrame((params[0], params[1], params[2]), math.degrees(params[3]), pivot)
    values = []
    for touch in touches:
        normal = np.asarray(frame.turn(touch.direction))
        moved = np.asarray(frame.apply(touch.expected_mm))
        values.append(float(np.dot(normal, np.asarray(touch.found_mm) - moved)))
    return np.array(values)


def fit_part_frame(touches: Sequence[Touch], pivot_mm: Point) -> PartFrame:
    """The part's frame from three or more touches (see the module). A direction no touch
    pins down (z, when nothing was touched from above) stays as programmed."""
    params = np.zeros(4)  # tx, ty, tz mm; turn rad
    step_size = (1e-3, 1e-3, 1e-3, 1e-6)
    for _ in range(FIT_ITERATIONS):
        residual = _residuals(params, touches, pivot_mm)
        jacobian = np.empty((len(touches), 4))
        for k, h in enumerate(step_size):
            moved = params.copy()
            moved[k] += h
            jacobian[:, k] = (_residuals(moved, touches, pivot_mm) - residual) / h
        step, *_ = np.linalg.lstsq(jacobian, -residual, rcond=1e-9)
        params = params + step
        if float(np.max(np.abs(step))) < FIT_STEP_TOLERANCE:
            break
    residual = _residuals(params, touches, pivot_mm)
    return PartFrame(
        (float(params[0]), float(params[1]), float(params[2])),
        math.degrees(float(params[3])),
        pivot_mm,
        tuple(float(r) for r in residual),
    )
