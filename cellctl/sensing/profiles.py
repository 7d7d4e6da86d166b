"""A scan's profiles: the robot moves, and each new laser frame on the way is measured.

The post-weld check (``cellctl.sensing.bead``) and the re-scan between passes
(``cellctl.sensing.groove``) both run the sensor over the work with the arc off and measure
every profile the sensor delivers while the robot moves: ``profiles_until`` is that loop, once.
A frame is measured once (its frame number), however many robot statuses arrive while it is
the latest; frames are counted, so that a scan can say in how many of them it measured.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cellctl.cell.geometry import Point
from cellctl.motion.moves import Motion, arrived_at
from cellctl.sensing.vision.pipeline import JointFinder
from drivers.codecs.robot_protocol import RobotStatus
from drivers.sensor import SensorDriver

SCAN_POLL_PERIOD_S = 0.005  # the robot's status while scanning: a frame's pose to within it
# The air move to a scan's start (never above the robot's limit): the torch is lifted clear,
# and a scan's own crawl there took a minute along a long seam.
TO_SCAN_START_MM_PER_S = 50.0

# What a scan does with one profile: its points (sensor frame: x across, z up, mm) and the
# robot's status when the frame was taken in.
OnProfile = Callable[[np.ndarray, np.ndarray, RobotStatus], None]


async def profiles_until(
    motion: Motion,
    sensor: SensorDriver,
    finder: JointFinder,
    end: Point,
    what: str,
    timeout_s: float,
    on_profile: OnProfile,
) -> int:
    """Until the robot, already sent on its way, arrives at ``end``: every new frame of the
    sensor's (``latest``, each frame number once) made a profile by ``finder`` and handed to
    ``on_profile`` with the robot's status. Returns the number of frames seen.
    ``RobotStopped`` / ``MotionTimeout`` (``what``, after ``timeout_s``) as ``Motion.until``."""
    frames = 0
    after = -1

    def each(status: RobotStatus) -> None:
        nonlocal frames, after
        image = sensor.latest()
        if image is None or image.frame_number == after:
            return
        after = image.frame_number
        frames += 1
        x, z, _ = finder.profile(image.pixels)
        on_profile(x, z, status)

    await motion.until(
        arrived_at(end), what, timeout_s=timeout_s, period_s=SCAN_POLL_PERIOD_S, each=each
    )
    return frames
