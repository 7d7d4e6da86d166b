"""The welding robot, whatever its interface, as the controller commands it (``Robot``).

``RobotDriver`` (``drivers.robot.serial``) speaks our own serial protocol to a manipulator
whose motion the PC streams. Real robots' sensor interfaces plug in beside it, meeting the
same ``Robot`` contract.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from drivers.codecs.robot_protocol import Pose, RobotStatus, SearchResult
from drivers.codecs.settings import RobotSettings
from drivers.codecs.weave import WeaveShape
from drivers.link import DeviceLink
from drivers.robot.serial import MotionRefused, RobotDriver

StatusListener = Callable[[RobotStatus, float], None]


class Robot(DeviceLink, Protocol):
    """A welding robot on a supervised link (``drivers.link.DeviceLink``).

    Motion (every call raises a ``drivers.errors.DeviceError`` naming the robot on failure;
    ``MotionRefused`` before anything is sent for a target outside the workspace, a speed
    beyond the limits, a NaN):

    - ``move_linear`` / ``move_joint`` queue a move and return once the robot has taken it, not
      when it arrives (read the status for that). Moves with the same nonzero ``path_id`` blend
      into one continuous path; ``move_circular`` queues an arc through a via point on it.
    - ``hold`` decelerates to a standstill on the path and keeps what is queued; ``resume`` goes
      on from there; ``stop`` decelerates, clears the queue and a robot fault. All three are
      idempotent: the fault reaction may send them again.
    - ``read_status`` is the robot's state, pose, path progress and fault now. Every status the
      robot reports (to whoever asked) also goes to the status listeners, with the monotonic
      time the robot sampled it: the seam tracker's torch estimate listens there.
    - ``set_weave`` tells the robot how a path weaves (``drivers.codecs.weave``), before the
      path's first move; the robot makes the weave itself, on top of path and correction.
      Idempotent.
    - ``send_correction`` streams a path correction (seam frame, mm) from any thread, never
      waiting: a correction that cannot go out now is dropped, the next one supersedes it.
    """

    settings: RobotSettings
    last_sample: tuple[RobotStatus, float] | None

    async def move_linear(self, pose: Pose, speed_mm_per_s: float, path_id: int = 0) -> None: ...

    async def move_circular(
        self,
        via_mm: tuple[float, float, float],
        pose: Pose,
        speed_mm_per_s: float,
        path_id: int = 0,
    ) -> None: ...

    async def move_joint(self, pose: Pose, speed_percent: float) -> None: ...

    async def set_weave(self, path_id: int, shape: WeaveShape) -> None: ...

    async def hold(self) -> None: ...

    async def resume(self) -> None: ...

    async def stop(self) -> None: ...

    async def read_status(self) -> RobotStatus: ...

    def add_status_listener(self, listener: StatusListener) -> None: ...

    def send_correction(self, lateral_mm: float, vertical_mm: float) -> None: ...


class TouchSearchRobot(Robot, Protocol):
    """A robot that runs touch-sensing searches (wire touch, before the arc).

    - ``search`` starts a straight search move from ``start`` (where the tool stands idle)
      along the unit ``direction`` at ``speed_mm_per_s`` for at most ``distance_mm``; the robot
      stops at the first contact its touch-sense input sees and latches the tool pose then. It
      returns once the robot has taken the search; never retried.
    - ``read_search`` says how search ``search_id`` ended (``SearchOutcome``) and where.

    On the serial protocol these are SEARCH and SEARCH_RESULT_REQ; a robot-owned backend runs
    its own job's search instruction.
    """

    async def search(
        self,
        start: Pose,
        direction: tuple[float, float, float],
        speed_mm_per_s: float,
        distance_mm: float,
        search_id: int,
    ) -> None: ...

    async def read_search(self, search_id: int) -> SearchResult: ...


__all__ = ["MotionRefused", "Robot", "RobotDriver", "StatusListener", "TouchSearchRobot"]
