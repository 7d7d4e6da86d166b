"""Move the robot and wait for it: the one way the cell does it (see the package docstring).

``Motion.until`` polls the robot's status until a condition holds. It raises ``RobotStopped``
when the robot stops for good on the way (its own fault, or its drives off: no move will
finish then) and ``MotionTimeout`` when the move takes longer than it can; the caller decides
what fault that is. A status read that fails once is forgiven (the next poll follows at once),
twice in a row is the link's failure: ``poll`` counts both with whoever watches the links.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from cellctl.cell.geometry import Point
from drivers.codecs.robot_protocol import Pose, RobotState, RobotStatus
from drivers.codecs.seam_path import Arc, SeamPath
from drivers.errors import DeviceError
from drivers.robot import Robot

T = TypeVar("T")

ARRIVED_TOLERANCE_MM = 0.05
STOPPED_FOR_GOOD = (RobotState.FAULT, RobotState.DRIVES_OFF)  # no move will finish


class DeviceHealth(Protocol):
    """Who counts a device's failed and answered requests in a row (the controller's link
    watch): a device that stops answering while its link stays open is a lost link too."""

    def failed(self, device: str, error: DeviceError) -> None: ...

    def answered(self, device: str) -> None: ...


class NobodyCounts:
    """``DeviceHealth`` for a rig without a link watch."""

    def failed(self, device: str, error: DeviceError) -> None:
        return None

    def answered(self, device: str) -> None:
        return None


class RobotStopped(Exception):
    """The robot stopped for good while a move was awaited: ``status`` says how (its fault,
    or its drives off)."""

    def __init__(self, status: RobotStatus, what: str) -> None:
        self.status = status
        self.what = what
        how = (
            f"robot fault {status.fault_code}: {status.fault_text}"
            if status.state is RobotState.FAULT
            else "the robot reports its drives off"
        )
        super().__init__(f"{how} ({what})")


class MotionTimeout(Exception):
    """A move did not end in the time it can take."""


async def poll(device: str, read: Callable[[], Awaitable[T]], health: DeviceHealth) -> T:
    """One status read; a failed one is forgiven once (the next follows at once), not twice."""
    for attempt in range(2):
        try:
            answer = await read()
        except DeviceError as error:
            health.failed(device, error)
            if attempt == 1:
                raise
            continue
        health.answered(device)
        return answer
    raise AssertionError("unreachable")


class TorchLean(Protocol):
    """How the torch leans on a path, as the robot turns it in the seam frame of the path it
    runs: the work angle (deg) from the vertical towards the frame's lateral (left of
    travel), the travel angle (deg; positive pushes). A part program's ``TorchAngles`` is one;
    a reversed pass's is mirrored (``cellctl.weld.passes.PassPlan.torch``)."""

    @property
    def work_angle_deg(self) -> float: ...

    @property
    def travel_angle_deg(self) -> float: ...


def torch_pose(point: Point, torch: TorchLean) -> Pose:
    """The tool's pose at ``point`` with the seam's torch angles (work, travel; no roll)."""
    return Pose(*point, torch.work_angle_deg, torch.travel_angle_deg, 0.0)


async def queue_path(
    robot: Robot, path: list[Point], torch: TorchLean, speed_mm_per_s: float, path_id: int
) -> None:
    """Queue ``path`` (from its start, where the tool stands) as one blended path: a line as
    MOVE_LINEAR, an arc as MOVE_CIRCULAR through its middle."""
    if not isinstance(path, SeamPath):
        path = SeamPath.polyline(path)
    for piece in path.pieces:
        end = torch_pose(piece.end, torch)
        if isinstance(piece, Arc):
            await robot.move_circular(piece.via, end, speed_mm_per_s, path_id=path_id)
        else:
            await robot.move_linear(end, speed_mm_per_s, path_id=path_id)


def arrived_at(point: Point) -> Callable[[RobotStatus], bool]:
    """The robot stands, its queue empty, at ``point``."""

    def arrived(status: RobotStatus) -> bool:
        return (
            status.state is RobotState.IDLE
            and status.queue_depth == 0
            and math.dist(status.pose.position_mm, point) <= ARRIVED_TOLERANCE_MM
        )

    return arrived


def at_rest(status: RobotStatus) -> bool:
    """Not moving any more. After STOP the robot reports STOPPED at once while it still
    brakes: its speed must be 0 too."""
    return status.state is not RobotState.MOVING and status.tool_speed_mm_per_s == 0


def idle(status: RobotStatus) -> bool:
    """Standing with nothing queued (a move, a path, done)."""
    return status.state is RobotState.IDLE and status.queue_depth == 0


class Motion:
    """The robot's moves for the cell: queue, then poll until done (see the module).

    ``period_s`` is the status poll's period; a move may take its length at ``slowest_mm_per_s``
    (or at its own speed, if slower) plus ``margin_s`` before it is a ``MotionTimeout``.
    """

    def __init__(
        self,
        robot: Robot,
        *,
        period_s: float,
        margin_s: float,
        slowest_mm_per_s: float,
        health: DeviceHealth | None = None,
    ) -> None:
        self.robot = robot
        self.period_s = period_s
        self.margin_s = margin_s
        self.slowest_mm_per_s = slowest_mm_per_s
        self.health: DeviceHealth = health or NobodyCounts()
        # Not from 1 at every start: a controller restarted mid-part (``cellctl.weld.resume``)
        # must not give a later pass the path id its predecessor gave an earlier one, which
        # the robot's status (and the simulator's record of the passes laid) would take for
        # the same path. From the clock: a restart a second on starts 10 ids further; below
        # 30,000, so that a controller's life reaches the wrap at 65,000 only after 35,000
        # paths.
        self._path_ids = int(time.time() * 10) % 30_000

    @property
    def max_speed_mm_per_s(self) -> float:
        return float(self.robot.settings.limits.max_speed_mm_per_s)

    def next_path_id(self) -> int:
        """A new path id (1..65000, wrapping): moves with one id blend into one path."""
        self._path_ids = self._path_ids % 65_000 + 1
        return self._path_ids

    async def status(self) -> RobotStatus:
        """The robot's status now (one lost answer forgiven; see ``poll``)."""
        return await poll(self.robot.device, self.robot.read_status, self.health)

    async def until(
        self,
        condition: Callable[[RobotStatus], bool],
        what: str,
        *,
        timeout_s: float | None = None,
        period_s: float | None = None,
        each: Callable[[RobotStatus], None] | None = None,
    ) -> RobotStatus:
        """Poll until ``condition(status)``; ``each(status)`` is called with every status (a
        scan measures its frames there). ``RobotStopped``, ``MotionTimeout`` (after
        ``timeout_s``, by default the time of the longest move in the cell)."""
        timeout_s = self.timeout_s() if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout_s
        while True:
            status = await self.status()
            if each is not None:
                each(status)
            if condition(status):
                return status
            if status.state in STOPPED_FOR_GOOD:
                raise RobotStopped(status, what)
            if time.monotonic() > deadline:
                raise MotionTimeout(f"robot: {what} not done in {timeout_s:.0f} s")
            await asyncio.sleep(self.period_s if period_s is None else period_s)

    def timeout_s(self, distance_mm: float = 2000.0, speed_mm_per_s: float | None = None) -> float:
        """How long a move of ``distance_mm`` may take: at ``slowest_mm_per_s``, or at the
        move's own ``speed_mm_per_s`` if that is slower (a scan's crawl), plus the margin."""
        slowest = self.slowest_mm_per_s
        if speed_mm_per_s is not None and 0 < speed_mm_per_s < slowest:
            slowest = speed_mm_per_s
        return self.margin_s + distance_mm / slowest

    async def move_linear(
        self, point: Point, torch: TorchLean, speed_mm_per_s: float, what: str
    ) -> RobotStatus:
        """A straight move of the tool to ``point``, waited for until it stands there."""
        await self.robot.move_linear(torch_pose(point, torch), speed_mm_per_s)
        return await self.until(
            arrived_at(point), what, timeout_s=self.timeout_s(speed_mm_per_s=speed_mm_per_s)
        )

    async def move_joint(
        self, point: Point, torch: TorchLean, speed_mm_per_s: float, what: str
    ) -> RobotStatus:
        """A joint move to ``point`` at ``speed_mm_per_s`` (as a share of the robot's
        maximum), waited for until it stands there."""
        percent = min(100.0, 100 * speed_mm_per_s / self.max_speed_mm_per_s)
        await self.robot.move_joint(torch_pose(point, torch), percent)
        return await self.until(
            arrived_at(point), what, timeout_s=self.timeout_s(speed_mm_per_s=speed_mm_per_s)
        )
