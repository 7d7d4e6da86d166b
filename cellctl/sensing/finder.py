"""Seam finding, before the arc: where the joint really is at the taught start.

The torch stands back so that the laser line lies ``start_inset_mm`` into the taught seam, and
the sensor looks there; if the joint is not in view, the torch steps sideways across
``search_range_mm``. The joint found shifts the whole path (lateral and vertical, in the seam
frame). Nothing trustworthy anywhere in the range: ``JointNotFound`` with the range and
positions scanned.

Found, the torch goes on to the seam's start along the seam while the sensor reads the first
``lookahead_mm`` of the joint (the pre-scan): tracking needs that before its own first
measurement, and the first millimetres' trend puts the start where it really is.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from cellctl.cell.geometry import (
    Point,
    from_frame,
    in_frame,
    seam_frame,
    sensed_joint,
    shifted,
)
from cellctl.config.models import Seam
from cellctl.config.sensor_models import SensorSettings
from cellctl.motion.moves import Motion, arrived_at, torch_pose
from cellctl.sensing.protocol import JointNotFound
from cellctl.sensing.vision.pipeline import JointFinder, JointMeasurement
from drivers.codecs.robot_protocol import RobotStatus
from drivers.codecs.seam_path import SeamPath
from drivers.sensor import SensorDriver

log = logging.getLogger(__name__)

PRESCAN_SPEED_MM_PER_S = 15.0  # torch to the seam start while the sensor reads ahead
SCAN_STEP_MM = 10.0  # lateral step between seam-finding positions (the view is ±20 mm)
SEARCH_SPEED_MM_PER_S = 50.0  # between search positions (never above the robot's limit)
PRESCAN_START_MM = 4.0  # the first millimetres whose trend puts the start where it is


@dataclass
class FoundSeam:
    """The path to weld (the taught one shifted to the joint), and what the pre-scan read of
    the joint on the way to its start: [(s along the path, lateral, vertical) mm]."""

    path: list[Point]
    prescan: list[tuple[float, float, float]] = field(default_factory=list)


class SeamFinder:
    """Finds one seam's joint with the laser sensor and the robot (see the module)."""

    def __init__(
        self,
        settings: SensorSettings,
        sensor: SensorDriver,
        motion: Motion,
        joint_finder: Callable[[Seam], JointFinder],
    ) -> None:
        self.settings = settings
        self.sensor = sensor
        self.motion = motion
        self.joint_finder = joint_finder
        self.lookahead_mm = settings.lookahead_mm

    async def find(
        self, seam: Seam, taught_path: list[Point], found: Callable[[Seam], None]
    ) -> FoundSeam:
        """Search around the taught start; ``found(seam)`` is called once the joint is found,
        before the pre-scan (the frames from there on are measured as tracking will).
        ``JointNotFound``; the robot's ``RobotStopped`` and ``MotionTimeout`` as they come."""
        finding = self.settings.seam_finding
        frame = seam_frame(taught_path)
        search = seam.sensing.search_range_mm
        offsets = [0.0]
        k = 1
        while k * SCAN_STEP_MM <= search + 1e-9:
            offsets += [k * SCAN_STEP_MM, -k * SCAN_STEP_MM]
            k += 1
        finder = self.joint_finder(seam)
        back = finding.start_inset_mm - self.lookahead_mm
        speed = min(SEARCH_SPEED_MM_PER_S, self.motion.max_speed_mm_per_s)
        reasons: list[str] = []
        frames_taken = 0
        for offset in offsets:
            torch = from_frame(taught_path[0], frame, (back, offset, 0.0))
            await self.motion.move_linear(torch, seam.torch, speed, "the seam search")
            await asyncio.sleep(finding.settle_ms / 1000)
            finder.reset()
            good: list[JointMeasurement] = []
            after = -1
            for _ in range(finding.frames_per_position):
                image = await self.sensor.next_frame(after)
                after = image.frame_number
                frames_taken += 1
                measurement = finder.measure(image.pixels, image.frame_number, image.exposure_s)
                if measurement.ok:
                    good.append(measurement)
                elif measurement.reason:
                    reasons.append(measurement.reason)
            if len(good) < finding.min_good_frames:
                continue
            lat = float(np.median([m.lateral_mm for m in good]))
            vert = float(np.median([m.vertical_mm for m in good]))
            spread = max(abs(m.lateral_mm - lat) + abs(m.vertical_mm - vert) for m in good)
            found_lateral = offset + lat
            if spread > finding.max_spread_mm or abs(found_lateral) > search:
                disagree = spread > finding.max_spread_mm
                reasons.append(
                    f"joint at {found_lateral:+.2f} mm"
                    + (f" (frames disagree by {spread:.2f} mm)" if disagree else "")
                )
                continue
            origin = (0.0, 0.0, 0.0)
            path = shifted(taught_path, from_frame(origin, frame, (0.0, found_lateral, vert)))
            if isinstance(taught_path, SeamPath) and taught_path.curved:
                # The line crossed the curve a chord ahead: shift it to pass where it did.
                s_j, lateral_j, vertical_j = sensed_joint(
                    taught_path, back, (offset, 0.0), self.lookahead_mm, (lat, vert)
                )
                _, across, up = taught_path.frame_at(s_j)
                path = shifted(
                    taught_path,
                    tuple(lateral_j * a + vertical_j * u for a, u in zip(across, up, strict=True)),
                )
            found(seam)
            prescan = await self._prescan_to(path, seam, finder)
            # The joint found was at start_inset_mm; the start itself lies where the first
            # millimetres' trend puts it: shift the path there, and the pre-scan with it.
            at_start = _extrapolate_start(prescan)
            if at_start is not None and math.hypot(*at_start) > 0.005:
                path = shifted(path, from_frame(origin, frame, (0.0, *at_start)))
                prescan = [(s, lat - at_start[0], ver - at_start[1]) for s, lat, ver in prescan]
                await self.motion.move_linear(path[0], seam.torch, speed, "the seam start")
            log.info(
                "seam %s: joint found %+.3f mm lateral, %+.3f mm vertical",
                seam.name,
                found_lateral,
                vert,
            )
            return FoundSeam(path, prescan)
        common = collections.Counter(reasons).most_common(1)
        raise JointNotFound(
            f"no trustworthy joint within ±{search:g} mm of the taught start: scanned lateral "
            f"{min(offsets):+.1f}..{max(offsets):+.1f} mm (view ±20 mm) at {len(offsets)} "
            f"position(s), {frames_taken} frames"
            + (f"; most frames: {common[0][0]}" if common else "")
        )

    async def find_ahead(self, seam: Seam) -> tuple[float, float]:
        """The joint a look-ahead into the seam, seen from a torch standing at its taught
        start (a robot that owns its motion: no search moves), as (lateral, vertical) mm from
        the taught path there: the median of ``frames_per_position`` frames. ``JointNotFound``
        when too few agree or it lies beyond the search range."""
        finding = self.settings.seam_finding
        finder = self.joint_finder(seam)
        finder.reset()
        await asyncio.sleep(finding.settle_ms / 1000)
        good: list[JointMeasurement] = []
        reasons: list[str] = []
        after = -1
        for _ in range(finding.frames_per_position):
            image = await self.sensor.next_frame(after)
            after = image.frame_number
            measurement = finder.measure(image.pixels, image.frame_number, image.exposure_s)
            if measurement.ok:
                good.append(measurement)
            elif measurement.reason:
                reasons.append(measurement.reason)
        if len(good) < finding.min_good_frames:
            common = collections.Counter(reasons).most_common(1)
            raise JointNotFound(
                f"no trustworthy joint {self.lookahead_mm:g} mm into the seam from its start: "
                f"{len(good)} of {finding.frames_per_position} frames"
                + (f"; most frames: {common[0][0]}" if common else "")
            )
        lateral = float(np.median([m.lateral_mm for m in good]))
        vertical = float(np.median([m.vertical_mm for m in good]))
        spread = max(abs(m.lateral_mm - lateral) + abs(m.vertical_mm - vertical) for m in good)
        search = seam.sensing.search_range_mm
        if spread > finding.max_spread_mm or abs(lateral) > search:
            raise JointNotFound(
                f"joint {self.lookahead_mm:g} mm into the seam at {lateral:+.2f} mm "
                f"(frames disagree by {spread:.2f} mm; search range ±{search:g} mm)"
            )
        log.info(
            "seam %s: joint ahead %+.3f mm lateral, %+.3f mm vertical", seam.name, lateral, vertical
        )
        return lateral, vertical

    async def _prescan_to(
        self, path: list[Point], seam: Seam, finder: JointFinder
    ) -> list[tuple[float, float, float]]:
        """Move the torch to ``path[0]`` while measuring: [(s, lateral, vertical)] of the joint
        against ``path``, s along it (the sensor's position), for the first look-ahead."""
        frame = seam_frame(path)
        samples: list[tuple[float, float, float]] = []
        last: list[tuple[float, Point]] = []  # (our time, position) of the previous status
        after = -1

        def measure(status: RobotStatus) -> None:
            nonlocal after
            now = time.monotonic()
            position = status.pose.position_mm
            velocity = (0.0, 0.0, 0.0)  # per second of our clock, from two statuses
            if last and now > last[0][0]:
                seen, where = last[0]
                velocity = tuple(
                    (a - b) / (now - seen) for a, b in zip(position, where, strict=True)
                )  # type: ignore[assignment]
            last[:] = [(now, position)]
            image = self.sensor.latest()
            if image is None or image.frame_number == after:
                return
            after = image.frame_number
            m = finder.measure(image.pixels, image.frame_number, image.exposure_s)
            if not m.ok:
                return
            # Where the torch was at the exposure: back along travel at its speed.
            age = max(0.0, now - image.exposure_s)
            torch = tuple(p - age * v for p, v in zip(position, velocity, strict=True))
            along, off_l, off_v = in_frame(torch, path[0], frame)  # type: ignore[arg-type]
            if isinstance(path, SeamPath) and path.curved:  # a chord ahead, onto the curve
                samples.append(
                    sensed_joint(
                        path,
                        along,
                        (off_l, off_v),
                        self.lookahead_mm,
                        (m.lateral_mm, m.vertical_mm),
                    )
                )
                return
            samples.append((along + self.lookahead_mm, m.lateral_mm + off_l, m.vertical_mm + off_v))

        await self.motion.robot.move_linear(torch_pose(path[0], seam.torch), PRESCAN_SPEED_MM_PER_S)
        await self.motion.until(
            arrived_at(path[0]),
            "the pre-scan to the seam start",
            timeout_s=10 + 2 * self.lookahead_mm / PRESCAN_SPEED_MM_PER_S,
            period_s=0.005,
            each=measure,
        )
        return sorted(samples)


def _extrapolate_start(samples: list[tuple[float, float, float]]) -> tuple[float, float] | None:
    """(lateral, vertical) at s = 0 from a line through the first mm of ``samples``."""
    if len(samples) < 3:
        return None
    data = np.array(samples)
    first = data[data[:, 0] < data[0, 0] + PRESCAN_START_MM]
    if len(first) < 3 or np.ptp(first[:, 0]) < 0.5:
        return None
    lateral = np.polyval(np.polyfit(first[:, 0], first[:, 1], 1), 0.0)
    vertical = np.polyval(np.polyfit(first[:, 0], first[:, 2], 1), 0.0)
    return float(lateral), float(vertical)
