"""Re-scan between passes: what is left of a groove, measured by the laser with the arc off.

Before a later pass of a multi-pass seam the sensor is run along the root path, lifted
(``GrooveScan``); each profile is taken into the seam frame of the root path there (lateral
across the groove, vertical up, both from the root) and measured (``measure_groove``): the
plates' top, the surface of the passes laid so far at the groove's middle (the root path),
and the groove's width, with its middle, just above that surface and just below the top.
The medians over the profiles are the scan's ``GrooveMeasure``; ``cellctl.weld.rescan``
adapts the passes to it.
"""

from __future__ import annotations

import collections
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from cellctl.cell.geometry import Point
from cellctl.config.models import Seam
from cellctl.motion.moves import Motion, queue_path
from cellctl.sensing.profiles import TO_SCAN_START_MM_PER_S, profiles_until
from cellctl.sensing.vision.pipeline import JointFinder
from drivers.codecs.robot_protocol import RobotStatus
from drivers.codecs.seam_path import SeamPath
from drivers.sensor import SensorDriver

GROOVE_SCAN_SPEED_MM_PER_S = 10.0  # slowly: a profile every few tenths of a mm
GROOVE_SCAN_LIFT_MM = 3.0  # the scan's tool point over the surface the pass expects
GROOVE_MIN_PROFILES = 10  # fewer measured profiles: the groove was not measured
GROOVE_MIDDLE_MM = 0.5  # the surface at the middle: the profile within this of the root path
OVER_SURFACE_MM = 1.0  # the groove's width just above the surface ...
UNDER_TOP_MM = 0.5  # ... and just below the plates' top
OUTER_FRACTION = 0.2  # the profile's outer fifth each side: the plates' top
# The surface across the groove is kept at these lateral offsets from the root path (mm).
SURFACE_GRID_MM = tuple(round(-12.0 + 0.5 * i, 1) for i in range(49))


class GrooveNotMeasured(Exception):
    """Too few profiles of the groove measured (the text says how many, and why not)."""


@dataclass(frozen=True)
class GrooveProfile:
    """One profile of a groove, in the seam frame of the root path (mm from the root)."""

    ok: bool
    top_mm: float = math.nan
    surface_mm: float = math.nan
    width_surface_mm: float = math.nan  # OVER_SURFACE_MM above the surface
    middle_surface_mm: float = math.nan  # the middle of that width (lateral)
    width_top_mm: float = math.nan  # UNDER_TOP_MM below the top
    surface_across_mm: tuple[float, ...] = ()  # at SURFACE_GRID_MM (NaN: not seen there)
    reason: str = ""


@dataclass(frozen=True)
class GrooveMeasure:
    """What a re-scan measured of the groove (medians over ``profiles`` profiles)."""

    profiles: int
    frames: int
    top_mm: float
    surface_mm: float
    width_surface_mm: float
    middle_surface_mm: float
    width_top_mm: float
    surface_across_mm: tuple[float, ...] = field(default=(), repr=False)

    def surface_at(self, lateral_mm: float) -> float:
        """The surface's height ``lateral_mm`` from the root path (the middle's beyond what
        was seen)."""
        grid = np.array(SURFACE_GRID_MM)
        heights = np.array(self.surface_across_mm, float)
        seen = np.isfinite(heights)
        if not seen.any():
            return self.surface_mm
        return float(np.interp(lateral_mm, grid[seen], heights[seen]))

    def width_at(self, height_mm: float) -> float:
        """The groove's width at ``height_mm`` over the root: between the two measured
        widths (its walls are straight), carried on beyond them."""
        low, high = self.surface_mm + OVER_SURFACE_MM, self.top_mm - UNDER_TOP_MM
        if not math.isfinite(self.width_top_mm):
            return math.nan  # a full groove: no walls above its surface
        if high - low < 0.5 or not math.isfinite(self.width_surface_mm):
            return self.width_top_mm
        slope = (self.width_top_mm - self.width_surface_mm) / (high - low)
        return max(0.0, self.width_surface_mm + slope * (height_mm - low))

    def as_record(self) -> dict[str, float]:
        """What the pass's record keeps of it."""
        record: dict = {"profiles": self.profiles, "frames": self.frames}
        for name in ("top_mm", "surface_mm", "width_surface_mm", "middle_surface_mm"):
            value = getattr(self, name)
            record[name] = round(value, 3) if math.isfinite(value) else None  # None: full
        record["width_top_mm"] = (
            round(self.width_top_mm, 3) if math.isfinite(self.width_top_mm) else None
        )
        return record


def _crossings(lateral: np.ndarray, vertical: np.ndarray, height_mm: float) -> tuple[float, float]:
    """Where the profile, walked out from the middle (lateral 0) each way, first reaches
    ``height_mm``: the groove's walls at that height (NaN where it never does)."""
    above = vertical >= height_mm
    left = lateral[(lateral < 0) & above]
    right = lateral[(lateral > 0) & above]
    return (
        float(left.max()) if len(left) else math.nan,
        float(right.min()) if len(right) else math.nan,
    )


def measure_groove(
    x_mm: np.ndarray,
    z_mm: np.ndarray,
    work_angle_deg: float,
    sensor_height_mm: float,
    root_ahead_mm: tuple[float, float] = (0.0, 0.0),
) -> GrooveProfile:
    """A profile (sensor frame: ``x``, ``z``) of a groove seen by a sensor whose origin stands
    ``sensor_height_mm`` over the root path where the torch is, tilted by the torch's
    ``work_angle_deg``; ``root_ahead_mm``: where the root path crosses the laser line
    (lateral, vertical from the torch's root point: a root path that bends within the
    look-ahead), which the profile is measured from."""
    if len(x_mm) < 40:
        return GrooveProfile(False, reason=f"only {len(x_mm)} profile points")
    a = math.radians(work_angle_deg)
    lateral = math.cos(a) * x_mm + math.sin(a) * z_mm - root_ahead_mm[0]
    vertical = -math.sin(a) * x_mm + math.cos(a) * z_mm + sensor_height_mm - root_ahead_mm[1]
    order = np.argsort(lateral)
    lateral, vertical = lateral[order], vertical[order]
    outer = max(3, int(len(lateral) * OUTER_FRACTION))
    top = float(np.median(np.concatenate([vertical[:outer], vertical[-outer:]])))
    middle = np.abs(lateral) < GROOVE_MIDDLE_MM
    if not middle.any():
        return GrooveProfile(False, top, reason="nothing seen at the groove's middle")
    surface = float(np.median(vertical[middle]))
    # The walls where the groove is still open above the surface (a full groove has none:
    # its widths are NaN, and a pass keeps the table's lateral offset).
    left = right = top_left = top_right = math.nan
    if surface + OVER_SURFACE_MM < top - UNDER_TOP_MM:
        left, right = _crossings(lateral, vertical, surface + OVER_SURFACE_MM)
    if surface < top - UNDER_TOP_MM:
        top_left, top_right = _crossings(lateral, vertical, top - UNDER_TOP_MM)
    grid = np.array(SURFACE_GRID_MM)
    across = np.interp(grid, lateral, vertical)
    across[(grid < lateral[0]) | (grid > lateral[-1])] = np.nan
    return GrooveProfile(
        True,
        top,
        surface,
        right - left,
        (left + right) / 2,
        top_right - top_left,
        tuple(across.tolist()),
    )


def groove_of(profiles: list[GrooveProfile], frames: int) -> GrooveMeasure:
    """The medians of the profiles measured; ``GrooveNotMeasured`` for fewer than
    GROOVE_MIN_PROFILES."""
    good = [p for p in profiles if p.ok]
    if len(good) < GROOVE_MIN_PROFILES:
        reasons = collections.Counter(p.reason for p in profiles if not p.ok)
        why = f"; most often: {reasons.most_common(1)[0][0]}" if reasons else ""
        raise GrooveNotMeasured(
            f"the groove measured in {len(good)} of {frames} frames (at least "
            f"{GROOVE_MIN_PROFILES} needed){why}"
        )

    def median(name: str) -> float:
        """The median of the profiles that measured it (NaN: none did)."""
        values = [v for v in (getattr(p, name) for p in good) if math.isfinite(v)]
        return float(np.median(values)) if values else math.nan

    return GrooveMeasure(
        profiles=len(good),
        frames=frames,
        top_mm=median("top_mm"),
        surface_mm=median("surface_mm"),
        width_surface_mm=median("width_surface_mm"),
        middle_surface_mm=median("middle_surface_mm"),
        width_top_mm=median("width_top_mm"),
        surface_across_mm=_median_across([p.surface_across_mm for p in good]),
    )


def _median_across(rows: list[tuple[float, ...]]) -> tuple[float, ...]:
    """The median at each grid point of what was seen there (NaN where nothing was)."""
    with warnings.catch_warnings():  # a grid point no profile saw: NaN, said once here
        warnings.simplefilter("ignore", RuntimeWarning)
        return tuple(np.nanmedian(np.array(rows), axis=0).tolist())


class GrooveScan:
    """Runs the sensor along a root path (arc off, lifted) and measures the groove."""

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

    async def scan(self, seam: Seam, root_path: list[Point], height_mm: float) -> GrooveMeasure:
        """Measure the groove along ``root_path``, the sensor's origin ``height_mm`` over it
        (the torch lifted by as much): ``GrooveNotMeasured`` if too few profiles could be."""
        along = SeamPath.polyline(root_path)
        lift = GROOVE_SCAN_LIFT_MM + height_mm
        total = along.length_mm

        def lifted(s: float) -> Point:
            point = along.extended_point(s)
            _, _, up = along.frame_at(min(max(s, 0.0), total))
            return tuple(p + lift * u for p, u in zip(point, up, strict=True))  # type: ignore[return-value]

        # The laser, lookahead_mm ahead of the torch, from the seam's start to its end.
        first, last = -self.lookahead_mm, total - self.lookahead_mm
        scan = [lifted(first)]
        scan += [lifted(s) for s in along.starts_mm[1:] if first < s < last]
        scan.append(lifted(last))
        to_start = min(TO_SCAN_START_MM_PER_S, self.motion.max_speed_mm_per_s)
        await self.motion.move_linear(scan[0], seam.torch, to_start, "the groove scan's start")
        speed = min(GROOVE_SCAN_SPEED_MM_PER_S, self.motion.max_speed_mm_per_s)
        finder = self.joint_finder(seam)
        taught = seam.taught_path()
        profiles: list[GrooveProfile] = []

        def measure(x: np.ndarray, z: np.ndarray, status: RobotStatus) -> None:
            lateral_mm, height_mm = self._root_ahead(taught, along, status.pose.position_mm)
            profiles.append(
                measure_groove(x, z, seam.torch.work_angle_deg, height_mm, (lateral_mm, 0.0))
            )

        # Path id 0: moves of their own (no weld path: the simulator does not score it).
        await queue_path(self.motion.robot, scan, seam.torch, speed, 0)
        frames = await profiles_until(
            self.motion,
            self.sensor,
            finder,
            scan[-1],
            "the groove scan",
            10 + 2 * total / speed,
            measure,
        )
        return groove_of(profiles, frames)

    def _root_ahead(self, taught: SeamPath, along: SeamPath, tool: Point) -> tuple[float, float]:
        """Where the root path crosses the laser line of the torch at ``tool``: the root's
        lateral offset from the line's centre, and how high the sensor's origin stands over
        it. The sensor is bolted to the torch, which is turned to the taught seam: its line
        lies ``lookahead_mm`` ahead along the taught seam's direction, across it; the root
        path, tracked, bends away from that (the joint did), most where the scan starts on
        its extension before the seam."""
        travel, lateral, up = taught.frame_at(taught.locate(tool)[0])
        origin = [p + self.lookahead_mm * t for p, t in zip(tool, travel, strict=True)]
        root = along.extended_point(along.locate(origin)[0])
        d = [r - o for r, o in zip(root, origin, strict=True)]
        return (
            sum(c * n for c, n in zip(d, lateral, strict=True)),
            -sum(c * u for c, u in zip(d, up, strict=True)),
        )
