"""Post-weld check: the finished bead's width and height in each laser profile, and a verdict.

After the arc, the sensor is run over the seam again (``BeadScan``, torch lifted). In each
profile (sensor frame, mm) the plate faces away from the joint are fitted (the outer third of
the points on each side); without a bead the surface there is the higher of those lines (a
fillet's V, a butt joint's plates). The bead is where the profile stands above it: its toes
are where it leaves the faces, its width the distance between the toes, its height the
furthest the bead's surface stands above the chord between them (a fillet's convexity, a butt
weld's reinforcement). A lap joint's profile has no such baseline; it is not checked.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cellctl.cell.geometry import Point, from_frame, length_mm, seam_frame
from cellctl.config.models import Seam
from cellctl.motion.moves import Motion, torch_pose
from cellctl.sensing.profiles import TO_SCAN_START_MM_PER_S, profiles_until
from cellctl.sensing.vision.joint import fit_line_robust
from cellctl.sensing.vision.pipeline import JointFinder
from drivers.codecs.robot_protocol import RobotStatus
from drivers.sensor import SensorDriver

BEAD_SCAN_SPEED_MM_PER_S = 30.0
BEAD_SCAN_LIFT_MM = 2.0  # the torch's tip clears the bead
BEAD_MIN_COVERAGE = 0.7  # of the scan's frames (the ends of the seam are in them too)
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


class BeadScan:
    """Runs the sensor over a finished seam (arc off, torch lifted) and judges its bead."""

    def __init__(
        self,
        sensor: SensorDriver,
        motion: Motion,
        lookahead_mm: float,
        joint_finder: Callable[[Seam], JointFinder],
    ) -> None:
        self.sensor = sensor
        self.motion = motion
        self.lookahead_mm = lookahead_mm
        self.joint_finder = joint_finder

    async def check(self, seam: Seam, path: list[Point]) -> tuple[dict[str, float], list[str]]:
        """The bead's figures for the seam's record, and what is out of its bands (W200)."""
        frame = seam_frame(path)
        start, end = (
            from_frame(q, frame, (-self.lookahead_mm, 0.0, BEAD_SCAN_LIFT_MM))
            for q in (path[0], path[-1])
        )
        speed = min(TO_SCAN_START_MM_PER_S, self.motion.max_speed_mm_per_s)
        await self.motion.move_linear(start, seam.torch, speed, "the bead scan's start")
        finder = self.joint_finder(seam)
        widths: list[float] = []
        heights: list[float] = []

        def measure(x: np.ndarray, z: np.ndarray, status: RobotStatus) -> None:
            bead = measure_bead(x, z, str(seam.joint))
            if bead.ok:
                widths.append(bead.width_mm)
                heights.append(bead.height_mm)

        await self.motion.robot.move_linear(torch_pose(end, seam.torch), BEAD_SCAN_SPEED_MM_PER_S)
        frames = await profiles_until(
            self.motion,
            self.sensor,
            finder,
            end,
            "the bead scan",
            10 + 2 * length_mm(path) / BEAD_SCAN_SPEED_MM_PER_S,
            measure,
        )
        return judge_bead(seam, frames, widths, heights)


def judge_bead(
    seam: Seam, frames: int, widths: list[float], heights: list[float]
) -> tuple[dict[str, float], list[str]]:
    """The scan's figures and what is wrong: out of the seam's bands, or too few frames."""
    figures: dict[str, float] = {"bead_frames": frames, "bead_measured": len(widths)}
    problems: list[str] = []
    if not widths:
        problems.append(f"not found in {frames} frames")
        figures["bead_ok"] = 0.0
        return figures, problems
    figures.update(
        bead_width_mm=round(float(np.median(widths)), 3),
        bead_width_min_mm=round(float(np.min(widths)), 3),
        bead_width_max_mm=round(float(np.max(widths)), 3),
        bead_height_mm=round(float(np.median(heights)), 3),
        bead_height_min_mm=round(float(np.min(heights)), 3),
        bead_height_max_mm=round(float(np.max(heights)), 3),
    )
    for name, band, low, high in (
        ("width", seam.sensing.bead_width_mm, np.min(widths), np.max(widths)),
        ("height", seam.sensing.bead_height_mm, np.min(heights), np.max(heights)),
    ):
        if band is not None and not (band.min <= low and high <= band.max):
            problems.append(
                f"{name} {low:.2f}..{high:.2f} mm outside {band.min:g}..{band.max:g} mm"
            )
    if len(widths) < BEAD_MIN_COVERAGE * frames:
        problems.append(f"measured in only {len(widths)} of {frames} frames")
    figures["bead_ok"] = 0.0 if problems else 1.0
    return figures, problems
