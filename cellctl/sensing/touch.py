"""Touch sensing with the wire, before the arc: the searches of a part program, run.

One search (``TouchSensing.touch``): the torch goes above the search's start, down to it, the
power source puts its sensing voltage on the wire, and the robot runs its search move
(``drivers.robot.TouchSearchRobot``: it stops at the first contact its touch-sense input sees
and latches the pose). The sensing voltage comes off, and the torch goes back to the start and
up clear. The contact against the search's taught one is a ``Touch``
(``cellctl.sensing.touch_fit``).

- ``find_frame``: a part program's ``touch_frame`` searches give the part's frame on the
  fixture (shift and turn); every seam's path is then moved with it (``PartFrame``).
- ``find_seam``: a seam's own searches (run in the part's frame, when one was found) shift its
  path: 1D, 2D (a fillet's corner) or 3D.

What goes wrong is raised for the weld cycle to report: ``TouchNotFound`` (the whole distance
without contact: F152, naming the search), ``TouchAborted`` (the robot stopped the search:
its status says why), ``TouchFitInconsistent`` (the frame's touches do not fit one rigid part).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, field

from cellctl.config.touch_models import PartFrameTouch, TouchSearch, TouchSearches
from cellctl.motion.moves import Motion, arrived_at
from cellctl.sensing.touch_fit import PartFrame, Touch, fit_part_frame, shift_from_touches
from drivers.codecs.robot_protocol import Pose, RobotStatus, SearchOutcome, SearchResult
from drivers.codecs.seam_path import SeamPath
from drivers.power_source import PowerSourceDriver

log = logging.getLogger(__name__)

SEARCH_MARGIN_S = 3.0  # a search may take its distance at its speed plus this
MAX_FRAME_RESIDUAL_MM = 0.5  # a touch farther than this from the fitted part: not one part
SEARCH_POLL_S = 0.01  # how often a running search's result is asked for
SEARCH_TIMES_KEPT = 1000


class TouchNotFound(Exception):
    """A search ran its whole distance without contact."""

    def __init__(self, search: TouchSearch, result: SearchResult) -> None:
        self.search = search
        super().__init__(
            f"touch search {search.name!r} found nothing within its {search.distance_mm:g} mm "
            f"(taught contact at {search.expect_mm:g} mm)"
        )


class TouchAborted(Exception):
    """The robot stopped a search before contact or its end: ``status`` says why."""

    def __init__(self, search: TouchSearch, status: RobotStatus) -> None:
        self.search = search
        self.status = status
        super().__init__(
            f"touch search {search.name!r} stopped by the robot ({status.state.name.lower()}, "
            f"{status.fault_text})"
        )


class NoTouchSearch(Exception):
    """The robot's interface has no touch search."""


class TouchFitInconsistent(Exception):
    """The touches of a frame do not fit one rigid part."""


@dataclass
class FoundFrame:
    """The part's frame once found by touch (None before, or without ``touch_frame``): kept
    by the part in progress, so that a seam resumed after a hold uses the same frame. Owned
    by the controller's event loop."""

    frame: PartFrame | None = None
    touches: list[Touch] = field(default_factory=list)


@dataclass
class TouchFigures:
    """What the searches of the controller's life took (for the bench and the health line)."""

    searches: int = 0
    search_time_s: float = 0.0
    # (search, seconds from the sensing voltage on to the result read) of the last searches
    durations_s: list[tuple[str, float]] = field(default_factory=list)

    def count(self, search: str, took_s: float) -> None:
        """One search more, of ``search``'s name, taking ``took_s`` (the last
        ``SEARCH_TIMES_KEPT`` kept)."""
        self.searches += 1
        self.search_time_s += took_s
        self.durations_s.append((search, took_s))
        del self.durations_s[:-SEARCH_TIMES_KEPT]


class TouchSensing:
    """Runs touch searches with the robot and the power source (see the module)."""

    def __init__(self, motion: Motion, power_source: PowerSourceDriver) -> None:
        self.motion = motion
        self.robot = motion.robot
        self.power_source = power_source
        self.figures = TouchFigures()
        self._search_ids = 0

    def _next_search_id(self) -> int:
        self._search_ids = self._search_ids % 65_000 + 1
        return self._search_ids

    async def touch(
        self,
        search: TouchSearch,
        group: TouchSearches,
        frame: PartFrame | None = None,
    ) -> Touch:
        """Run one search (in ``frame``, the part's found frame, when given); its ``Touch``.
        ``TouchNotFound``, ``TouchAborted``, and whatever the robot or power source raise."""
        if not hasattr(getattr(self.robot, "inner", self.robot), "search"):
            raise NoTouchSearch(f"the robot ({type(self.robot).__name__}) runs no touch search")
        frame = frame or PartFrame()
        start = frame.apply(search.start_mm)
        direction = frame.turn(search.unit_direction)
        expected = frame.apply(search.expected_contact_mm)
        angles = (search.torch_deg[0], search.torch_deg[1], search.torch_deg[2] + frame.turn_deg)
        above = (start[0], start[1], start[2] + group.clearance_mm)
        air_speed = min(self.motion.max_speed_mm_per_s, 250.0)
        await self._move_to(above, angles, air_speed, f"above touch search {search.name}")
        await self._move_to(start, angles, air_speed / 2, f"to touch search {search.name}")
        speed = search.speed_mm_per_s or group.speed_mm_per_s
        search_id = self._next_search_id()
        started = time.monotonic()
        await self.power_source.touch_sense(True)
        try:
            await self.robot.search(  # type: ignore[attr-defined]
                Pose(*start, *angles), direction, speed, search.distance_mm, search_id
            )
            result = await self._search_result(search_id, search, speed)
        finally:
            await self.power_source.touch_sense(False)
        self.figures.count(search.name, time.monotonic() - started)
        if result.outcome is SearchOutcome.NOT_FOUND:
            raise TouchNotFound(search, result)
        if result.outcome is not SearchOutcome.CONTACT:
            raise TouchAborted(search, await self.motion.status())
        found = result.pose.position_mm
        log.info(
            "touch %s: contact at (%.3f, %.3f, %.3f) mm, %.3f mm from the taught",
            search.name,
            *found,
            math.dist(found, expected),
        )
        # Back off the plate along the search, then up clear.
        await self._move_to(start, angles, air_speed / 2, f"back from touch {search.name}")
        await self._move_to(above, angles, air_speed, f"clear of touch {search.name}")
        return Touch(search.name, expected, found, direction)

    async def _move_to(
        self, point: tuple[float, float, float], angles: tuple[float, float, float], speed, what
    ) -> None:
        await self.robot.move_linear(Pose(*point, *angles), speed)
        await self.motion.until(arrived_at(point), what)

    async def _search_result(self, search_id: int, search: TouchSearch, speed: float):
        deadline = time.monotonic() + search.distance_mm / speed + SEARCH_MARGIN_S
        while True:
            result = await self.robot.read_search(search_id)  # type: ignore[attr-defined]
            if result.outcome is not SearchOutcome.RUNNING:
                return result
            if time.monotonic() > deadline:
                await self.robot.stop()
                status = await self.motion.status()
                raise TouchAborted(search, status)
            await asyncio.sleep(SEARCH_POLL_S)

    async def find_frame(self, touch_frame: PartFrameTouch, found: FoundFrame) -> PartFrame:
        """The part's frame from its ``touch_frame`` searches, kept in ``found``.
        ``TouchFitInconsistent`` when a touch lies off the fitted part."""
        touches = [await self.touch(s, touch_frame) for s in touch_frame.searches]
        frame = fit_part_frame(touches, touch_frame.pivot_mm)
        if frame.max_residual_mm > MAX_FRAME_RESIDUAL_MM:
            worst = max(
                zip(touches, frame.residuals_mm, strict=True), key=lambda pair: abs(pair[1])
            )
            raise TouchFitInconsistent(
                f"touch {worst[0].name!r} lies {abs(worst[1]):.2f} mm off the part fitted to "
                f"all {len(touches)} touches (limit {MAX_FRAME_RESIDUAL_MM} mm)"
            )
        found.frame, found.touches = frame, touches
        log.info(
            "part frame by touch: shift (%.3f, %.3f, %.3f) mm, turn %.4f°",
            *frame.shift_mm,
            frame.turn_deg,
        )
        return frame

    async def find_seam(
        self, searches: TouchSearches, path: SeamPath, frame: PartFrame | None
    ) -> tuple[SeamPath, tuple[float, float, float]]:
        """``path`` shifted by what the seam's searches find (in ``frame``), and the shift."""
        touches = [await self.touch(s, searches, frame) for s in searches.searches]
        shift = shift_from_touches(touches)
        return path.shifted(shift), shift
