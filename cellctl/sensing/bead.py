"""Post-weld check: the finished bead's width and height in one laser profile, and a verdict.

After the arc, the sensor is run over the seam again (``LaserSensing.check_bead``). In each
profile (sensor frame, mm) the plate faces away from the joint are fitted (the outer third of
the points on each side); without a bead the surface there is the higher of those lines (a
fillet's V, a butt joint's plates). The bead is where the profile stands above it: its toes
are where it leaves the faces, its width the distance between the toes, its height the
furthest the bead's surface stands above the chord between them (a fillet's convexity, a butt
weld's reinforcement). A lap joint's profile has no such baseline; it is not checked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cellctl.sensing.vision.joint import fit_line_robust

BEAD_THRESHOLD_MM = 0.12  # standing this far above the faces is bead, not noise
OUTER_FRACTION = 0.3


@dataclass(frozen=True)
class BeadProfile:
    ok: bool
    width_mm: float = math.nan
    height_mm: float = math.nan
    reason: str = ""


def _toe_x(x: np.ndarray, excess: np.ndarray, toe: int, peak: int) -> float:
    """The x where the flank between the threshold and three times it reaches zero."""
    step = 1 if peak > toe else -1
    flank = [toe]
    i = toe + step
    while i != peak and excess[i] < 3 * BEAD_THRESHOLD_MM:
        flank.append(i)
        i += step
    flank.append(i)
    if len(flank) < 3:
        return float(x[toe])
    slope, intercept = np.polyfit(x[flank], excess[flank], 1)
    if abs(slope) < 1e-6:
        return float(x[toe])
    return float(-intercept / slope)


def measure_bead(x: np.ndarray, z: np.ndarray, joint: str) -> BeadProfile:
    if joint == "lap":
        return BeadProfile(False, reason="lap joints are not checked")
    n = len(x)
    if n < 60:
        return BeadProfile(False, reason=f"only {n} profile points")
    outer = int(n * OUTER_FRACTION)
    left = fit_line_robust(x[:outer], z[:outer])
    right = fit_line_robust(x[-outer:], z[-outer:])

    def line(face, at: np.ndarray) -> np.ndarray:
        dx, dz = face.direction
        return face.centre[1] + (at - face.centre[0]) * (dz / dx if abs(dx) > 1e-9 else 0.0)

    baseline = np.maximum(line(left, x), line(right, x))
    excess = z - baseline
    peak = int(np.argmax(excess))
    if excess[peak] < 2 * BEAD_THRESHOLD_MM:
        return BeadProfile(False, reason="no bead above the plates")
    # The toes: walk out from the peak until the profile is back on the faces.
    below = excess < BEAD_THRESHOLD_MM
    left_toe = peak - int(np.argmax(below[peak::-1])) if below[:peak].any() else 0
    right_toe = peak + int(np.argmax(below[peak:])) if below[peak:].any() else n - 1
    if left_toe <= 0 or right_toe >= n - 1:
        return BeadProfile(False, reason="the bead runs out of the sensor's view")
    # Each toe where the bead's flank, carried on, meets the face (not where it first stands
    # out by the threshold: that would make every bead narrower than it is).
    left_x = _toe_x(x, excess, left_toe, peak)
    right_x = _toe_x(x, excess, right_toe, peak)
    a = np.array([left_x, float(np.interp(left_x, x, baseline))])
    b = np.array([right_x, float(np.interp(right_x, x, baseline))])
    chord = b - a
    width = float(np.hypot(*chord))
    if width <= 0:
        return BeadProfile(False, reason="toes coincide")
    normal = np.array([-chord[1], chord[0]]) / width
    bead = np.column_stack([x[left_toe : right_toe + 1], z[left_toe : right_toe + 1]])
    height = float(np.max((bead - a) @ normal))
    return BeadProfile(True, width, height)
