"""The true groove under the torch: how far the wire's tip is from the work. Pure.

A through-arc seam tracker (``sim.devices.arc_sensing``) lives on one physical fact: a
constant-voltage arc draws more current the shorter the wire's stick-out, and the stick-out is
the contact-tip-to-work distance less the arc. This module says how far the tip of the wire
is from the true work at the torch's real position: the simulated power source turns that
into current (``sim.devices.power_source.ArcModel``).

The groove's cross-section, in the seam frame of the true joint (lateral: left of travel;
vertical: up from the root; ``sim.truth.part``), for a 60° V-groove (a butt's usual
preparation: each flank 30° from vertical, ``FLANK_HALF_ANGLE_DEG``):

- the root opening: ``gap`` wide, its bottom at the root (the backing, or the root face);
- the flanks: from the root opening's edges up and outwards, ``tan 30°`` mm outwards per mm
  up, to the plate's top (``PLATE_THICKNESS_MM``);
- the plate's top surface beyond them;
- the metal laid by earlier passes (``GrooveFill``): a level bottom at the height it reached
  where the wire is over it (weld metal flows out flat between the flanks).

Only the V-groove is modelled; over other joints ``wire_over_groove`` answers None (the
power source then keeps its fixed-flank approximation, ``sim.cell``).

The arc's length is taken in the seam's cross-section (the torch's tilt is not modelled) as a
soft minimum of the tip's distances to the pieces of the surface (``ARC_SPREAD_MM``): the arc
attaches to all the metal within about that much of its shortest way, so a flank that near
shortens it even where the bottom is as near (on a flat bottom far from the flanks it is the
distance to the bottom). A tip pushed into a flank is inside the metal: that distance counts
negative.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

from sim.truth.part import TruePart, Vector

FLANK_HALF_ANGLE_DEG = 30.0  # a 60° V-groove
PLATE_THICKNESS_MM = 20.0
FILL_BIN_MM = 1.0  # the earlier passes' metal, kept per this much of the seam
ARC_SPREAD_MM = 1.0  # how far beside its shortest way the arc still attaches (the soft minimum)
# Past this from every seam the wire is not over a groove the model knows: nothing to sense.
REACH_MM = 25.0


def _distance_to_segment(p: tuple[float, float], a: tuple[float, float], b: tuple[float, float]):
    ax, ay = a
    dx, dy = b[0] - ax, b[1] - ay
    size2 = dx * dx + dy * dy
    f = 0.0 if size2 == 0 else max(0.0, min(1.0, ((p[0] - ax) * dx + (p[1] - ay) * dy) / size2))
    return math.hypot(p[0] - (ax + f * dx), p[1] - (ay + f * dy))


def v_groove_profile(gap_mm: float, bottom_mm: float) -> list[tuple[float, float]]:
    """The groove's surface as a polyline of (lateral, vertical) mm from the true root, left
    plate's top to the right's: the flanks from the root opening's edges, the level
    ``bottom_mm`` between them (0: the root)."""
    slope = math.tan(math.radians(FLANK_HALF_ANGLE_DEG))  # mm outwards per mm up
    half = gap_mm / 2
    top = PLATE_THICKNESS_MM
    bottom = max(0.0, min(top, bottom_mm))
    edge = half + bottom * slope  # where the bottom meets a flank
    wide = half + top * slope + 50.0
    return [
        (wide, top),
        (half + top * slope, top),
        (edge, bottom),
        (-edge, bottom),
        (-(half + top * slope), top),
        (-wide, top),
    ]


def surface_height_mm(profile: list[tuple[float, float]], lateral_mm: float) -> float:
    """The profile's height at ``lateral_mm`` (its points run from +lateral to -lateral)."""
    for (y0, z0), (y1, z1) in itertools.pairwise(profile):
        if y1 <= lateral_mm <= y0:
            f = 0.0 if y0 == y1 else (y0 - lateral_mm) / (y0 - y1)
            return z0 + f * (z1 - z0)
    return profile[0][1] if lateral_mm > profile[0][0] else profile[-1][1]


def tip_to_work_mm(profile: list[tuple[float, float]], lateral_mm: float, vertical_mm: float):
    """The arc's length from the wire's tip at (lateral, vertical) to the surface: the soft
    minimum (``ARC_SPREAD_MM``) of its distances to the surface's pieces, the nearest one
    negative when the tip is inside the metal (so it is continuous as the tip crosses)."""
    p = (lateral_mm, vertical_mm)
    distances = [_distance_to_segment(p, a, b) for a, b in itertools.pairwise(profile)]
    nearest = min(range(len(distances)), key=distances.__getitem__)
    if vertical_mm < surface_height_mm(profile, lateral_mm):
        distances[nearest] = -distances[nearest]
    low = distances[nearest]
    spread = ARC_SPREAD_MM
    # -spread * log(sum(exp(-d / spread))), shifted by the nearest for the exponentials' sake
    return low - spread * math.log(sum(math.exp(-(d - low) / spread) for d in distances))


@dataclass
class Bead:
    """What one pass laid across one bin of its seam: the lateral span its wire swept (mm
    from the true joint) and the level its metal reached (mm above the true root)."""

    left_mm: float
    right_mm: float
    level_mm: float


@dataclass
class GrooveFill:
    """The metal earlier passes left in each seam's groove, per ``FILL_BIN_MM`` of it.

    A pass lays metal up to where its wire's tip runs (plus ``bead_rise_mm``), across the span
    its wire swept (plus ``bead_half_width_mm`` either side: the bead spreads past the arc):
    the level bottom a later pass meets where its wire is over that span (a split layer's
    second bead leans on the first, beside it). What the pass being welded lays is not under
    its own wire yet (it flows in behind the arc): a path never meets its own metal.
    """

    bead_rise_mm: float = 0.0
    bead_half_width_mm: float = 3.0
    # (seam, bin) -> {path id: its bead there}
    _bins: dict[tuple[str, int], dict[int, Bead]] = field(default_factory=dict)

    def lay(self, seam: str, s_mm: float, lateral_mm: float, level_mm: float, path_id: int):
        beads = self._bins.setdefault((seam, int(s_mm // FILL_BIN_MM)), {})
        level = level_mm + self.bead_rise_mm
        bead = beads.get(path_id)
        if bead is None:
            beads[path_id] = Bead(lateral_mm, lateral_mm, level)
        else:
            bead.left_mm = max(bead.left_mm, lateral_mm)
            bead.right_mm = min(bead.right_mm, lateral_mm)
            bead.level_mm = max(bead.level_mm, level)

    def bottom_mm(self, seam: str, s_mm: float, lateral_mm: float, path_id: int) -> float:
        """The level under a wire on path ``path_id`` at ``s_mm``, ``lateral_mm``: the highest
        metal of the other passes there (0: the root)."""
        beads = self._bins.get((seam, int(s_mm // FILL_BIN_MM)), {})
        half = self.bead_half_width_mm
        return max(
            (
                bead.level_mm
                for laid_by, bead in beads.items()
                if laid_by != path_id and bead.right_mm - half <= lateral_mm <= bead.left_mm + half
            ),
            default=0.0,
        )

    def clear(self) -> None:
        """A new part on the fixture: an empty groove."""
        self._bins.clear()


@dataclass
class WireOverGroove:
    """Where the wire's tip is against the true groove, from the tool point (the tip at the
    procedure's stick-out)."""

    seam: str
    s_mm: float
    lateral_mm: float  # from the true joint
    vertical_mm: float  # from the true root
    tip_to_work_mm: float


def wire_over_groove(
    part: TruePart, tip: Vector, fill: GrooveFill | None = None, path_id: int = 0
) -> WireOverGroove | None:
    """The wire's tip at ``tip`` against the nearest true seam; None when it is over none, or
    over a joint whose groove is not modelled (only ``v_groove_butt`` is)."""
    seam = part.nearest(tip, REACH_MM)
    if seam is None or seam.joint != "v_groove_butt":
        return None
    s, lateral, vertical = seam.locate(tip)
    if not 0.0 <= s <= seam.length_mm:
        return None
    truth = seam.joint_at(s)
    lateral -= truth.lateral_mm
    vertical -= truth.vertical_mm
    bottom = fill.bottom_mm(seam.name, s, lateral, path_id) if fill is not None else 0.0
    distance = tip_to_work_mm(v_groove_profile(truth.gap_mm, bottom), lateral, vertical)
    return WireOverGroove(seam.name, s, lateral, vertical, distance)
