"""The true V-groove: its preparation, and the metal the passes leave in it. Pure.

The one model of a V-groove in the simulator: the sensor's renderer draws it
(``sim.devices.sensor_render``) and the arc meets it (``sim.truth.groove``: the wire's tip over
the fill's surface), so the laser and the arc see the same groove fill up.

**The preparation** (``GrooveShape``, from the part program: ``sim.truth.part``): two plates
``plate_thickness_mm`` thick, each edge a root face ``root_face_mm`` high standing straight up
from the plates' underside, then a bevel to the top, ``groove_angle_deg`` the included angle
between the two bevels (ISO 9692-1's V or Y preparation: 60° and a root face of 0-2 mm are
usual). In the seam frame of the true root (lateral across the seam, vertical up, both mm):
the root is the middle of the plates' underside; the root gap is ``gap_mm`` wide between the
root faces; a mismatch raises the right plate by ``mismatch_mm / 2`` and lowers the left.

**The fill** (``filled_groove``): each pass's metal (``GrooveLayer``: its cross-section, where
its centre lies, the width and crown of its surface) runs into the groove where it lands: its
surface is its crown (a parabola over its centre) raised until the metal between it and the
surface below is the pass's cross-section; where the crown stands below that surface (a wall,
a bead laid before) it leaves it as it was. So a root fills the groove's bottom from root face
to root face (bridging the gap: its metal closes it from below), a split layer's beads lean on
their wall and on each other, and a groove overfilled shows a cap standing over the plates.
The passes come from the simulator's bead record (``groove_layers``: ``sim.truth.bead``).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from sim.truth.bead import BeadRecord, BeadShape

PROFILE_EXTENT_MM = 40.0  # how far each plate reaches from the joint, in the laser plane
GROOVE_FILL_STEP_MM = 0.2  # the filled surface's sampling across the groove
DEFAULT_GAP_MM = 1.5  # the root gap a scenario does not say otherwise about


@dataclass(frozen=True)
class GrooveShape:
    """A V-groove's preparation (see the module): plate thickness, included angle, root face."""

    plate_thickness_mm: float = 10.0
    groove_angle_deg: float = 60.0
    root_face_mm: float = 0.0

    def __post_init__(self) -> None:
        if self.plate_thickness_mm <= 0:
            raise ValueError(f"plate thickness {self.plate_thickness_mm} mm: must be above 0")
        if not 0 <= self.root_face_mm < self.plate_thickness_mm:
            raise ValueError(
                f"root face {self.root_face_mm} mm: must be 0 or more and below the plate "
                f"thickness {self.plate_thickness_mm} mm"
            )
        if not 0 < self.groove_angle_deg < 180:
            raise ValueError(f"groove angle {self.groove_angle_deg}°: must be in (0, 180)")

    @property
    def slope(self) -> float:
        """How far a bevel runs outwards per mm up (tan of half the included angle)."""
        return math.tan(math.radians(self.groove_angle_deg / 2))

    @property
    def bevel_width_mm(self) -> float:
        """How far each bevel runs outwards from its root face to the plate's top."""
        return (self.plate_thickness_mm - self.root_face_mm) * self.slope

    def top_width_mm(self, gap_mm: float) -> float:
        """The groove's width at the plates' top."""
        return gap_mm + 2 * self.bevel_width_mm

    def edges(self, gap_mm: float, mismatch_mm: float) -> tuple[np.ndarray, np.ndarray]:
        """The two plates' surfaces across the seam (N, 2) of (lateral, vertical) from the
        true root, each from the outside to its underside in the gap: the left's from its far
        top to the root, the right's from the root to its far top (left to right overall, the
        metal on the right of each walk)."""
        e, t, rf = PROFILE_EXTENT_MM, self.plate_thickness_mm, self.root_face_mm
        g, m, w = gap_mm / 2, mismatch_mm / 2, self.bevel_width_mm
        left = [[-e, t - m], [-g - w, t - m], [-g, rf - m]] + ([[-g, -m]] if rf > 0 else [])
        right = ([[g, m]] if rf > 0 else []) + [[g, rf + m], [g + w, t + m], [e, t + m]]
        return np.array(left, float), np.array(right, float)

    def bare_surface(self, gap_mm: float, mismatch_mm: float, x_mm: np.ndarray) -> np.ndarray:
        """The unwelded groove's surface height at ``x_mm``: the plates' tops, the bevels,
        the root faces, and in the root gap the plates' underside (where the root pass's
        metal bridges the gap). A root face is a step at the gap's edge: the samples
        ``corners`` gives draw it straight up."""
        t, rf, w = self.plate_thickness_mm, self.root_face_mm, self.bevel_width_mm
        g, m = gap_mm / 2, mismatch_mm / 2
        left = np.interp(x_mm, [-g - w, -g], [t - m, rf - m])
        right = np.interp(x_mm, [g, g + w], [rf + m, t + m])
        return np.where(x_mm < -g, left, np.where(x_mm > g, right, min(-m, m)))

    def corners(self, gap_mm: float) -> list[float]:
        """The lateral places where the bare surface bends (a root face's step twice, a hair
        apart): sampled exactly, so that its faces are drawn where they are."""
        g, w = gap_mm / 2, self.bevel_width_mm
        step = [-g - 1e-6, g + 1e-6] if self.root_face_mm > 0 else []
        return [-g - w, -g, g, g + w, *step]


DEFAULT_SHAPE = GrooveShape()


@dataclass(frozen=True)
class GrooveLayer:
    """One pass's metal in a V-groove at one place: its cross-section (mm²), the lateral offset
    of its centre from the root (seam frame, mm), and its crown: the width and height of the
    parabola its surface takes (the bead's, wider and flatter for a weave)."""

    area_mm2: float
    centre_lateral_mm: float
    width_mm: float
    crown_mm: float


@functools.lru_cache(maxsize=512)
def filled_groove(
    gap_mm: float,
    mismatch_mm: float,
    layers: tuple[GrooveLayer, ...],
    shape: GrooveShape = DEFAULT_SHAPE,
) -> list[np.ndarray]:
    """A V-groove of ``shape`` with ``layers`` laid in it, first to last (see the module): one
    polyline (N, 2) of (lateral, vertical) from the left plate's far top to the right's (the
    root pass bridges the gap), the metal below it.

    Kept for the frames that follow (a frame a few hundredths of a millimetre on sees the same
    passes): callers round what they ask for. The arrays returned must not be changed."""
    e, t = PROFILE_EXTENT_MM, shape.plate_thickness_mm
    g, w = gap_mm / 2, shape.bevel_width_mm
    reach = g + w + 6.0 + max((layer.width_mm for layer in layers), default=0.0)
    # The groove's corners among the samples (its walls drawn exactly), none twice.
    x = np.arange(-reach, reach + GROOVE_FILL_STEP_MM / 2, GROOVE_FILL_STEP_MM)
    x = np.unique(np.round(np.concatenate([x, shape.corners(gap_mm)]), 9))
    z = shape.bare_surface(gap_mm, mismatch_mm, x)
    for layer in layers:
        if layer.area_mm2 <= 0 or layer.width_mm <= 0:
            continue
        u = (x - layer.centre_lateral_mm) / (layer.width_mm / 2)
        crown = layer.crown_mm * (1 - u**2)
        low, high = float(z.min()) - layer.crown_mm, float(z.max()) + layer.area_mm2
        z = np.maximum(z, _level_for(layer.area_mm2, crown - z, x, low, high) + crown)
    surface = np.column_stack([x, z])
    kept = _straight_runs_out(surface)
    left, right = [-e, t - mismatch_mm / 2], [e, t + mismatch_mm / 2]
    return [np.vstack([left, kept, right])]


def surface_height_mm(surface: np.ndarray, lateral_mm: float) -> float:
    """The height of a ``filled_groove`` surface at ``lateral_mm`` (the higher side of a
    step)."""
    x, z = surface[:, 0], surface[:, 1]
    i = int(np.searchsorted(x, lateral_mm, side="left"))
    if 0 < i < len(x) and x[i] - x[i - 1] < 1e-5:  # on a root face's step
        return float(max(z[i], z[i - 1]))
    return float(np.interp(lateral_mm, x, z))


def groove_layers(
    beads: BeadRecord,
    bead_shape: BeadShape,
    seam: str,
    s_mm: float,
    root_lateral_mm: float,
    leave_out_pass: int | None = None,
) -> tuple[GrooveLayer, ...]:
    """The passes laid ``s_mm`` along ``seam``, first to last, as a V-groove's layers
    (centres from the true root at ``root_lateral_mm`` over the taught seam), without pass
    ``leave_out_pass`` (the one being welded: its metal flows in behind the arc). Rounded as
    ``filled_groove``'s cache wants them: the metal to 0.5 mm², the rest to 0.05 mm (a surface
    a few hundredths of a millimetre off, below a camera pixel's 0.06 mm), so that the frames
    along a seam the tracking wavers over share their groove: working one out takes a few ms,
    and a scan at 10 mm/s meets a new place every 0.5 mm (``sim.truth.bead.BIN_MM``)."""
    layers = []
    for pass_id, laid in beads.passes_with_ids_at(seam, s_mm):
        if pass_id == leave_out_pass:
            continue
        width_mm, crown_mm, shift_mm = bead_shape.weaved(*laid.weave_mm)
        centre_mm = laid.lateral_mm + shift_mm - root_lateral_mm
        layers.append(
            GrooveLayer(
                _to(laid.area_mm2, 0.5),
                _to(centre_mm, 0.05),
                _to(width_mm, 0.05),
                _to(crown_mm, 0.05),
            )
        )
    return tuple(layers)


def _to(value: float, step: float) -> float:
    """``value`` rounded to a multiple of ``step`` (and to 1e-9: equal keys for equal values)."""
    return round(round(value / step) * step, 9)


def _level_for(
    area_mm2: float, crown_over_surface_mm: np.ndarray, x_mm: np.ndarray, low: float, high: float
) -> float:
    """The level a crown is raised by for ``area_mm2`` of metal between it and the surface
    (``crown_over_surface_mm``: how far the crown at level 0 stands above it at ``x_mm``).
    The metal grows with the level: two rounds of 64 levels at once bracket it, and it is
    interpolated within the last bracket (to far below a micrometre)."""
    for _ in range(2):
        levels = np.linspace(low, high, 65)
        metal = np.trapezoid(
            np.clip(levels[:, None] + crown_over_surface_mm[None, :], 0, None), x_mm, axis=1
        )
        k = int(np.clip(np.searchsorted(metal, area_mm2), 1, len(levels) - 1))
        low, high = float(levels[k - 1]), float(levels[k])
        below, above = float(metal[k - 1]), float(metal[k])
    f = 0.0 if above - below < 1e-12 else (area_mm2 - below) / (above - below)
    return low + min(1.0, max(0.0, f)) * (high - low)


def _straight_runs_out(points: np.ndarray) -> np.ndarray:
    """``points`` without those on the line through their neighbours (a bevel's, a plate's
    straight runs, left unwelded): fewer faces to test for shadows. A bead's crown keeps
    every point (its curve is what the sensor sees)."""
    a, b, c = points[:-2], points[1:-1], points[2:]
    off = np.abs(_cross(c - a, b - a))
    keep = np.concatenate([[True], off > 1e-9, [True]])
    return points[keep]


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """z of the cross product of (..., 2) vectors in the (x, z) plane."""
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]
