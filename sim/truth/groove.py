"""The true groove under the torch: how far the wire's tip is from the work. Pure.

A through-arc seam tracker (``sim.devices.arc_sensing``) lives on one physical fact: a
constant-voltage arc draws more current the shorter the wire's stick-out, and the stick-out is
the contact-tip-to-work distance less the arc. This module says how far the tip of the wire
is from the true work at the torch's real position: the simulated power source turns that
into current (``sim.devices.power_source.ArcModel``).

The groove is the part's V-groove (``sim.truth.v_groove``: its preparation, and the metal the
passes laid in it, the one model the laser's renderer draws too). Under the wire, in the seam
frame of the true joint (lateral: left of travel; vertical: up from the root):

- the flanks: from the root faces' tops up and outwards to the plates' top, the root faces
  below them;
- the plate's top surface beyond them;
- a level bottom at the height the metal of the earlier passes reaches under the wire (the
  filled groove's surface there, ``fill_bottom_mm``; 0, the root, before the root pass); the
  pass being welded is not under its own wire yet (its metal flows in behind the arc).

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
from dataclasses import dataclass

from sim.truth.bead import BeadRecord, BeadShape
from sim.truth.part import TruePart, Vector
from sim.truth.v_groove import DEFAULT_SHAPE, GrooveShape, filled_groove, groove_layers
from sim.truth.v_groove import surface_height_mm as filled_height_mm

ARC_SPREAD_MM = 1.0  # how far beside its shortest way the arc still attaches (the soft minimum)
# Past this from every seam the wire is not over a groove the model knows: nothing to sense.
REACH_MM = 25.0
# The earlier passes' metal under the wire, taken every this much of the seam: its surface
# is worked out once there (``filled_groove``, a few ms), not at every physics step.
FILL_STEP_MM = 2.0


def _distance_to_segment(p: tuple[float, float], a: tuple[float, float], b: tuple[float, float]):
    ax, ay = a
    dx, dy = b[0] - ax, b[1] - ay
    size2 = dx * dx + dy * dy
    f = 0.0 if size2 == 0 else max(0.0, min(1.0, ((p[0] - ax) * dx + (p[1] - ay) * dy) / size2))
    return math.hypot(p[0] - (ax + f * dx), p[1] - (ay + f * dy))


def v_groove_profile(
    gap_mm: float, bottom_mm: float, shape: GrooveShape = DEFAULT_SHAPE
) -> list[tuple[float, float]]:
    """The groove's surface as a polyline of (lateral, vertical) mm from the true root, left
    plate's top to the right's: the flanks and root faces of ``shape`` from the root
    opening's edges, the level ``bottom_mm`` between them (0: the root)."""
    slope = shape.slope  # mm outwards per mm up
    half = gap_mm / 2
    top, face = shape.plate_thickness_mm, shape.root_face_mm
    bottom = max(0.0, min(top, bottom_mm))
    outer = half + shape.bevel_width_mm  # the bevel's top edge
    wide = outer + 50.0
    if bottom < face:  # the bottom meets the root faces, below the bevels
        inner = [(half, face), (half, bottom), (-half, bottom), (-half, face)]
    else:
        edge = half + (bottom - face) * slope  # where the bottom meets a flank
        inner = [(edge, bottom), (-edge, bottom)]
    return [(wide, top), (outer, top), *inner, (-outer, top), (-wide, top)]


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


def fill_bottom_mm(
    shape: GrooveShape,
    gap_mm: float,
    mismatch_mm: float,
    layers: tuple,
    lateral_mm: float,
) -> float:
    """How high the metal of ``layers`` (``sim.truth.v_groove.GrooveLayer``) stands at
    ``lateral_mm`` from the true root: the filled groove's surface there (the laser's renderer
    draws the same one), 0 with none laid."""
    if not layers:
        return 0.0
    (surface,) = filled_groove(gap_mm, mismatch_mm, layers, shape)
    return filled_height_mm(surface, lateral_mm)


@dataclass
class WireOverGroove:
    """Where the wire's tip is against the true groove, from the tool point (the tip at the
    procedure's stick-out)."""

    seam: str
    s_mm: float
    lateral_mm: float  # from the true joint
    vertical_mm: float  # from the true root
    tip_to_work_mm: float
    bottom_mm: float = 0.0  # how high the earlier passes' metal stands under the wire


def wire_over_groove(
    part: TruePart,
    tip: Vector,
    beads: BeadRecord | None = None,
    bead_shape: BeadShape | None = None,
    path_id: int = 0,
) -> WireOverGroove | None:
    """The wire's tip at ``tip`` against the nearest true seam, on pass ``path_id`` (its weld
    path), over the metal the other passes in ``beads`` laid (taken every FILL_STEP_MM); None
    when it is over no seam, or over a joint whose groove is not modelled (only
    ``v_groove_butt`` is)."""
    seam = part.nearest(tip, REACH_MM)
    if seam is None or seam.joint != "v_groove_butt":
        return None
    s, lateral, vertical = seam.locate(tip)
    if not 0.0 <= s <= seam.length_mm:
        return None
    truth = seam.joint_at(s)
    lateral -= truth.lateral_mm
    vertical -= truth.vertical_mm
    bottom = 0.0
    if beads is not None:
        at = min(seam.length_mm, (math.floor(s / FILL_STEP_MM) + 0.5) * FILL_STEP_MM)
        there = seam.joint_at(at)
        layers = groove_layers(
            beads, bead_shape or BeadShape(), seam.name, at, there.lateral_mm, path_id or None
        )
        bottom = fill_bottom_mm(
            seam.groove, round(there.gap_mm, 2), round(there.mismatch_mm, 2), layers, lateral
        )
    profile = v_groove_profile(truth.gap_mm, bottom, seam.groove)
    return WireOverGroove(
        seam.name, s, lateral, vertical, tip_to_work_mm(profile, lateral, vertical), bottom
    )
