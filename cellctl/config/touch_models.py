"""Touch sensing in a part program: the wire-touch searches a seam or the whole part is found by.

A search is taught on the master part: where the tool starts (``start_mm``, with the torch's
angles ``torch_deg``: rx, ry, rz as the robot takes them), the direction it moves in (towards a
plate, perpendicular to it), how far it may go (``distance_mm``) and where along that the
master part was touched (``expect_mm``). On a real part the difference between where it
touches and ``expect_mm`` is how far that plate has moved along the direction.

- A seam's ``sensing.touch`` searches (one: 1D, along that direction; two on the two plates of
  a fillet: 2D, the corner; more: 3D) shift the seam's path (``cellctl.sensing.touch_fit``).
- A part program's ``touch_frame`` searches (three or more) find the part's frame on the
  fixture: a shift and a turn about the vertical through ``pivot_mm``. They must pin down x, y
  and the turn: checked here, so that a program that cannot find its frame is refused at load.
"""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import Field, model_validator

from drivers.codecs.model import StrictModel

MAX_SEARCH_SPEED_MM_PER_S = 50.0  # as the robot protocol's limit
DIRECTION_TOLERANCE = 0.02  # |direction| within this of 1 is taken (and normalised)

PointMm = tuple[float, float, float]
SearchName = Annotated[
    str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
]


class TouchSearch(StrictModel):
    """One wire-touch search (see the module)."""

    name: SearchName
    start_mm: PointMm
    torch_deg: PointMm = (0.0, 0.0, 0.0)  # rx, ry, rz of the tool during the search
    direction: PointMm
    distance_mm: Annotated[float, Field(gt=0, le=200)]
    expect_mm: Annotated[float, Field(gt=0, le=200)]
    speed_mm_per_s: Annotated[float, Field(gt=0, le=MAX_SEARCH_SPEED_MM_PER_S)] | None = None

    @model_validator(mode="after")
    def _sound(self) -> TouchSearch:
        size = math.sqrt(sum(c * c for c in self.direction))
        if abs(size - 1.0) > DIRECTION_TOLERANCE:
            raise ValueError(
                f"direction {list(self.direction)} is not a unit vector (its length is "
                f"{size:.3f}; within {DIRECTION_TOLERANCE} of 1)"
            )
        if self.expect_mm >= self.distance_mm:
            raise ValueError(
                f"expect_mm {self.expect_mm:g} is not within distance_mm {self.distance_mm:g}: "
                "the search would end before the taught contact"
            )
        return self

    @property
    def unit_direction(self) -> PointMm:
        size = math.sqrt(sum(c * c for c in self.direction))
        return (self.direction[0] / size, self.direction[1] / size, self.direction[2] / size)

    def point_along(self, mm: float) -> PointMm:
        d = self.unit_direction
        return (
            self.start_mm[0] + d[0] * mm,
            self.start_mm[1] + d[1] * mm,
            self.start_mm[2] + d[2] * mm,
        )

    @property
    def expected_contact_mm(self) -> PointMm:
        """Where the taught part was touched."""
        return self.point_along(self.expect_mm)

    @property
    def end_mm(self) -> PointMm:
        return self.point_along(self.distance_mm)


class TouchSearches(StrictModel):
    """A seam's touch searches (see the module)."""

    speed_mm_per_s: Annotated[float, Field(gt=0, le=MAX_SEARCH_SPEED_MM_PER_S)] = 10.0
    # Air moves between searches go this far clear of the part: up from each start.
    clearance_mm: Annotated[float, Field(ge=0, le=300)] = 20.0
    searches: Annotated[list[TouchSearch], Field(min_length=1, max_length=12)]

    @model_validator(mode="after")
    def _unique_names(self) -> TouchSearches:
        names = [s.name for s in self.searches]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"search name {twice[0]!r} is used twice")
        return self


class PartFrameTouch(TouchSearches):
    """The searches that find the whole part's frame: a shift and a turn about the vertical
    through ``pivot_mm`` (see the module)."""

    pivot_mm: PointMm = (0.0, 0.0, 0.0)
    searches: Annotated[list[TouchSearch], Field(min_length=3, max_length=12)]

    @model_validator(mode="after")
    def _pins_the_frame(self) -> PartFrameTouch:
        if not frame_is_determined(self.searches, self.pivot_mm):
            raise ValueError(
                "these searches cannot find the part's frame: they must touch at least two "
                "plates facing different horizontal directions, one of them at two places "
                "apart, to pin down x, y and the turn about the vertical"
            )
        return self


def frame_is_determined(searches: list[TouchSearch], pivot_mm: PointMm) -> bool:
    """Whether the searches pin down x, y and the turn about z (the rows of the fit's
    Jacobian, ``cellctl.sensing.touch_fit``, have rank 3 in those columns)."""
    rows = []
    for search in searches:
        n = search.unit_direction
        p = search.expected_contact_mm
        rx, ry = p[0] - pivot_mm[0], p[1] - pivot_mm[1]
        # d(n · moved point)/d(tx, ty, rz) for a turn about z: (nx, ny, -nx·ry + ny·rx).
        rows.append((n[0], n[1], -n[0] * ry + n[1] * rx))
    return _rank(rows) >= 3


def _rank(rows: list[tuple[float, float, float]], tolerance: float = 1e-6) -> int:
    """The rank of a few 3-wide rows (Gaussian elimination with partial pivoting), the columns
    scaled to their largest entry so that a turn's lever arm in mm does not swamp the rest."""
    scale = [max((abs(r[c]) for r in rows), default=0.0) or 1.0 for c in range(3)]
    matrix = [[r[c] / scale[c] for c in range(3)] for r in rows]
    rank = 0
    for column in range(3):
        pivot = max(range(rank, len(matrix)), key=lambda i: abs(matrix[i][column]), default=None)
        if pivot is None or abs(matrix[pivot][column]) < tolerance:
            continue
        matrix[rank], matrix[pivot] = matrix[pivot], matrix[rank]
        for i in range(rank + 1, len(matrix)):
            factor = matrix[i][column] / matrix[rank][column]
            matrix[i] = [a - factor * b for a, b in zip(matrix[i], matrix[rank], strict=True)]
        rank += 1
    return rank
