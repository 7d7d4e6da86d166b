"""The torch's measured TCP error applied to every pose the robot is told and reports.

A bent torch neck puts the wire's tip off the robot's tool centre point by a vector the TCP
check measures (``cellctl.weld.torch_care``). The neck is bent in the tool's frame: the
offset turns with the torch, so it is kept in the tool's frame (``offset_mm``) and turned into
the base frame by each pose's own orientation (``Pose.tool_to_base``) where it is applied.
``ToolOffsetRobot`` wraps the robot interface: every pose it sends is moved by minus that
offset (so that the real tip goes where the cell meant), and every pose the robot reports is
moved back by it (so that the cell sees where the tip is). Everything else (the link,
corrections, weave, status listeners) passes through to the robot unchanged: corrections are
offsets in the seam frame, and the status listeners (the seam tracker's torch estimate)
follow the torch's body, not its tip.

The offset is set only by the TCP check, between parts, on the controller's event loop.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from drivers.codecs.robot_protocol import Pose, RobotStatus, SearchResult
from drivers.codecs.weave import WeaveShape
from drivers.robot import Robot

Vector = tuple[float, float, float]


def _moved(pose: Pose, offset: Vector, sign: float) -> Pose:
    """``pose`` moved by ``sign`` times ``offset`` (tool frame), turned by its orientation."""
    if offset == (0.0, 0.0, 0.0):
        return pose
    dx, dy, dz = pose.tool_to_base(offset)
    return dataclasses.replace(
        pose,
        x_mm=pose.x_mm + sign * dx,
        y_mm=pose.y_mm + sign * dy,
        z_mm=pose.z_mm + sign * dz,
    )


class ToolOffsetRobot:
    """A ``Robot`` whose poses carry the torch's TCP offset (see the module)."""

    def __init__(self, robot: Robot) -> None:
        self.inner = robot
        self.offset_mm: Vector = (0.0, 0.0, 0.0)  # in the tool's frame

    def __getattr__(self, name: str) -> Any:
        # The link (connect, close, state, listeners, stats, settings ...) is the robot's own.
        return getattr(self.inner, name)

    def _out(self, pose: Pose) -> Pose:
        return _moved(pose, self.offset_mm, -1.0)

    def _in(self, pose: Pose) -> Pose:
        return _moved(pose, self.offset_mm, 1.0)

    async def move_linear(self, pose: Pose, speed_mm_per_s: float, path_id: int = 0) -> None:
        await self.inner.move_linear(self._out(pose), speed_mm_per_s, path_id)

    async def move_circular(
        self, via_mm: Vector, pose: Pose, speed_mm_per_s: float, path_id: int = 0
    ) -> None:
        # The tool turns on the way to the end's orientation: the via point takes the end's
        # (on a seam, an arc's angles are its end's; the offset is a millimetre or two).
        via = self._out(dataclasses.replace(pose, x_mm=via_mm[0], y_mm=via_mm[1], z_mm=via_mm[2]))
        via = via.position_mm
        await self.inner.move_circular(via, self._out(pose), speed_mm_per_s, path_id)

    async def move_joint(self, pose: Pose, speed_percent: float) -> None:
        await self.inner.move_joint(self._out(pose), speed_percent)

    async def set_weave(self, path_id: int, shape: WeaveShape) -> None:
        await self.inner.set_weave(path_id, shape)

    async def search(
        self,
        start: Pose,
        direction: Vector,
        speed_mm_per_s: float,
        distance_mm: float,
        search_id: int,
    ) -> None:
        await self.inner.search(  # type: ignore[attr-defined]
            self._out(start), direction, speed_mm_per_s, distance_mm, search_id
        )

    async def read_search(self, search_id: int) -> SearchResult:
        result: SearchResult = await self.inner.read_search(search_id)  # type: ignore[attr-defined]
        return dataclasses.replace(result, pose=self._in(result.pose))

    async def read_status(self) -> RobotStatus:
        status = await self.inner.read_status()
        return dataclasses.replace(status, pose=self._in(status.pose))

    @property
    def last_status(self) -> RobotStatus | None:
        status = getattr(self.inner, "last_status", None)
        return None if status is None else dataclasses.replace(status, pose=self._in(status.pose))
