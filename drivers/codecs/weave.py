"""The torch's weave: where the robot puts the torch across the seam at a path position. Pure.

The robot weaves itself from parameters sent with the path (``robot_protocol.Weave``), as a
manipulator's own controller does; the controller computes the same offsets from the same
parameters to take the weave out of what the laser sensor, bolted to the torch, measures.
Both ends import this one module, so they cannot disagree.

The weave is laid out along the path, not in time: one cycle every ``pitch_mm`` of path
position (the procedure's frequency at its travel speed: pitch = v / f), its dwells as
lengths of path (dwell time x v). So the weave at a path position is a pure function of that
position, the same pattern whatever the robot's speed does (acceleration, a hold, a resume),
and whoever knows where the torch is along the path knows where the weave has put it.

Offsets are in the seam frame of the path (``robot_protocol``: lateral horizontal and positive
to the left of travel, vertical up, along = in the direction of travel). The weave direction
is the lateral axis turned by ``plane_angle_deg`` about the travel axis, towards vertical.

One cycle, phase p in [0, 1) from the centre (a side pattern's ``u`` runs +1 at the left
amplitude, -1 at the right one):

=========  ============================================================================
triangle   centre -> left -> right -> centre, straight lines at one speed; no dwell
sine       u = sin(2 pi p); no dwell
trapezoid  the triangle with a dwell at the left and/or right end (at least one)
l          for fillets: the first leg along the weave direction (``amplitude_left_mm``),
           back through the corner, the second leg at 90 degrees to it, towards vertical
           (``amplitude_right_mm``); dwells at the legs' ends
circle     a circle in the plane of weave direction and travel: u = sin(2 pi p) across,
           the mean amplitude x cos(2 pi p) along
=========  ============================================================================

The amplitude fades in over the first half pitch of the path and out over its last, so the
torch starts and ends on the path (the crater filled on the seam's centre line).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

MAX_PITCH_MM = 1000.0
# The weave sync's extremes: where the pattern's side coordinate u is beyond this (the
# dwells, and the last fifth of the stroke towards a side).
WEAVE_SYNC_ZONE = 0.8


class WeavePattern(enum.IntEnum):
    """The weave pattern, as its wire code."""

    NONE = 0
    TRIANGLE = 1
    SINE = 2
    TRAPEZOID = 3
    L = 4
    CIRCLE = 5


SIDE_PATTERNS = frozenset({WeavePattern.TRIANGLE, WeavePattern.TRAPEZOID, WeavePattern.L})
DWELL_PATTERNS = frozenset({WeavePattern.TRAPEZOID, WeavePattern.L})


@dataclass(frozen=True, slots=True)
class WeaveShape:
    """One path's weave, laid out along the path (see the module docstring)."""

    pattern: WeavePattern
    amplitude_left_mm: float = 0.0
    amplitude_right_mm: float = 0.0
    pitch_mm: float = 0.0  # path length of one cycle
    dwell_left_mm: float = 0.0  # path length the torch stays at the left end (trapezoid, l)
    dwell_right_mm: float = 0.0
    plane_angle_deg: float = 0.0

    @property
    def weaving(self) -> bool:
        return self.pattern is not WeavePattern.NONE

    def problems(self, max_amplitude_mm: float = math.inf) -> list[str]:
        """What makes this weave impossible to run; empty when it can run."""
        if not self.weaving:
            return []
        values = (
            self.amplitude_left_mm,
            self.amplitude_right_mm,
            self.pitch_mm,
            self.dwell_left_mm,
            self.dwell_right_mm,
            self.plane_angle_deg,
        )
        if not all(math.isfinite(v) for v in values):
            return ["a weave parameter is not a finite number"]
        problems = []
        if not 0 < self.pitch_mm <= MAX_PITCH_MM:
            problems.append(f"pitch {self.pitch_mm:g} mm is not in (0, {MAX_PITCH_MM:g}]")
        sides = (("left", self.amplitude_left_mm), ("right", self.amplitude_right_mm))
        for side, amplitude in sides:
            if not 0 <= amplitude <= max_amplitude_mm:
                problems.append(
                    f"{side} amplitude {amplitude:g} mm is not in 0..{max_amplitude_mm:g} mm"
                )
        if self.amplitude_left_mm + self.amplitude_right_mm <= 0:
            problems.append("both amplitudes are 0")
        if self.dwell_left_mm < 0 or self.dwell_right_mm < 0:
            problems.append("a dwell is negative")
        dwell = self.dwell_left_mm + self.dwell_right_mm
        if dwell > 0 and self.pattern not in DWELL_PATTERNS:
            problems.append(f"{self.pattern.name.lower()} has no dwell (trapezoid and l do)")
        if dwell >= 0.9 * self.pitch_mm > 0:
            problems.append(
                f"the dwells ({dwell:g} mm of path) leave too little of the {self.pitch_mm:g} mm "
                "pitch to move"
            )
        if not -90 <= self.plane_angle_deg <= 90:
            problems.append(f"plane angle {self.plane_angle_deg:g}° is not in -90..90°")
        return problems

    def mirrored(self) -> WeaveShape:
        """The same weave on the same plates, run the other way along the seam (a reversed
        pass). Turned 180 degrees about vertical, the path's left of travel is the plates'
        other side, so the sides swap: amplitudes and dwells. The weave direction mirrors too:
        -a for the plane angle; for ``l``, whose two legs are 90 degrees apart, 90 - a, so that
        the first leg runs where the second ran (and the other way round). A negative plane
        angle on ``l`` has no mirror in -90..90 (``problems`` of the result says so). A circle
        keeps its sense of turning: the pattern has no setting for the other."""
        if not self.weaving:
            return self
        plane_deg = (
            90.0 - self.plane_angle_deg if self.pattern is WeavePattern.L else -self.plane_angle_deg
        )
        return WeaveShape(
            pattern=self.pattern,
            amplitude_left_mm=self.amplitude_right_mm,
            amplitude_right_mm=self.amplitude_left_mm,
            pitch_mm=self.pitch_mm,
            dwell_left_mm=self.dwell_right_mm,
            dwell_right_mm=self.dwell_left_mm,
            plane_angle_deg=plane_deg,
        )

    def envelope(self, s_mm: float, path_length_mm: float) -> float:
        """0..1: the amplitude's fade in over the first half pitch, out over the last."""
        ramp = self.pitch_mm / 2
        if ramp <= 0:
            return 0.0
        inward = max(0.0, min(s_mm, path_length_mm - s_mm))
        return min(1.0, inward / ramp)

    def offset_mm(self, s_mm: float, path_length_mm: float) -> tuple[float, float, float]:
        """(lateral, vertical, along) of the torch from the path at path position ``s_mm`` of
        a path ``path_length_mm`` long."""
        if not self.weaving or self.pitch_mm <= 0:
            return (0.0, 0.0, 0.0)
        scale = self.envelope(s_mm, path_length_mm)
        if scale == 0:
            return (0.0, 0.0, 0.0)
        phase = (s_mm / self.pitch_mm) % 1.0
        angle = math.radians(self.plane_angle_deg)
        d1 = (math.cos(angle), math.sin(angle))  # the weave direction (lateral, vertical)
        along = 0.0
        if self.pattern is WeavePattern.CIRCLE:
            u = math.sin(2 * math.pi * phase)
            mean = (self.amplitude_left_mm + self.amplitude_right_mm) / 2
            along = mean * math.cos(2 * math.pi * phase) * scale
        elif self.pattern is WeavePattern.SINE:
            u = math.sin(2 * math.pi * phase)
        else:
            u = self._side_u(phase)
        if self.pattern is WeavePattern.L and u < 0:
            d2 = (-d1[1], d1[0])  # the second leg: 90° on, towards vertical
            across = -u * self.amplitude_right_mm * scale
            return (across * d2[0], across * d2[1], 0.0)
        across = u * (self.amplitude_left_mm if u >= 0 else self.amplitude_right_mm) * scale
        return (across * d1[0], across * d1[1], along)

    def _side_u(self, phase: float) -> float:
        """Triangle, trapezoid and l: centre -> left (dwell) -> right (dwell) -> centre."""
        dwell_left = self.dwell_left_mm / self.pitch_mm
        dwell_right = self.dwell_right_mm / self.pitch_mm
        quarter = (1.0 - dwell_left - dwell_right) / 4  # a quarter of the moving part
        p = phase
        if p < quarter:
            return p / quarter
        p -= quarter
        if p < dwell_left:
            return 1.0
        p -= dwell_left
        if p < 2 * quarter:
            return 1.0 - p / quarter
        p -= 2 * quarter
        if p < dwell_right:
            return -1.0
        p -= dwell_right
        return -1.0 + min(1.0, p / quarter)

    def extreme_side(self, s_mm: float) -> int:
        """The robot's weave sync at path position ``s_mm``: +1 while the torch is in the
        left extreme of its weave, -1 in the right, 0 between (and without a weave). An
        extreme is the dwell, and the outer ``1 - WEAVE_SYNC_ZONE`` of the stroke towards it
        (all of it for a pattern without dwell), whatever the amplitude's fade."""
        if not self.weaving or self.pitch_mm <= 0:
            return 0
        phase = (s_mm / self.pitch_mm) % 1.0
        if self.pattern in (WeavePattern.SINE, WeavePattern.CIRCLE):
            u = math.sin(2 * math.pi * phase)
        else:
            u = self._side_u(phase)
        if u >= WEAVE_SYNC_ZONE:
            return 1
        if u <= -WEAVE_SYNC_ZONE:
            return -1
        return 0

    def peak_speed_ratio(self) -> float:
        """The weave's fastest speed across the seam per mm/s of travel speed (how much faster
        than the travel the torch moves sideways at the weave's steepest)."""
        if not self.weaving or self.pitch_mm <= 0:
            return 0.0
        amplitude = max(self.amplitude_left_mm, self.amplitude_right_mm)
        if self.pattern in (WeavePattern.SINE, WeavePattern.CIRCLE):
            return 2 * math.pi * amplitude / self.pitch_mm
        moving = self.pitch_mm - self.dwell_left_mm - self.dwell_right_mm
        return amplitude / (moving / 4)


NO_WEAVE = WeaveShape(WeavePattern.NONE)
