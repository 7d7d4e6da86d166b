"""Where the torch is along the path being welded, between the robot's status reports.

The robot reports its position along the path (``RobotStatus.path_position_mm``) when asked, a
few dozen times a second; the sensor's frames come at 125 a second and the corrections at 250.
``TorchEstimate`` listens to every status the robot reports, to whoever asked (the robot's own
status stream: ``drivers.robot.Robot.add_status_listener``), and extrapolates from the newest
at the torch's speed. That speed is per second of the controller's clock, taken from the last
two statuses, never from the speed the robot reports: a simulator may run faster than real
time, and a real robot's interpolation lags its report the same way.
"""

from __future__ import annotations

import threading

from drivers.codecs.robot_protocol import RobotState, RobotStatus


class TorchEstimate:
    """The torch's position along a path at a moment, from the robot's last two statuses.

    Statuses arrive on the event loop (``on_status``); the sensor's reader thread and the
    correction stream ask from theirs (``position_mm``). The two statuses are one pair under
    ``_lock``: replaced together, read together.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (sampled_at monotonic s, status), the newest last; None before there is one.
        self._older: tuple[float, RobotStatus] | None = None
        self._newer: tuple[float, RobotStatus] | None = None

    def on_status(self, status: RobotStatus, sampled_at: float) -> None:
        """A status the robot sampled at ``sampled_at`` (time.monotonic())."""
        with self._lock:
            if self._newer is not None and sampled_at <= self._newer[0]:
                return  # not newer than what is known (two readers' answers crossed)
            self._older, self._newer = self._newer, (sampled_at, status)

    def position_mm(self, at_s: float, path_id: int) -> float:
        """The torch's position along path ``path_id`` at monotonic time ``at_s``: the newest
        status's, carried forward at the torch's speed while it moves; 0 before that path has
        started, and never past its end."""
        with self._lock:
            older, newer = self._older, self._newer
        if newer is None or newer[1].path_id != path_id:
            return 0.0
        sampled_at, status = newer
        position = status.path_position_mm
        if status.state is RobotState.MOVING:
            position += _speed_mm_per_s(older, newer) * max(0.0, at_s - sampled_at)
        return min(position, status.path_length_mm)


def _speed_mm_per_s(
    older: tuple[float, RobotStatus] | None, newer: tuple[float, RobotStatus]
) -> float:
    """Along the path per second of our clock, from two statuses of the same path; the
    reported speed when there is only one."""
    at, status = newer
    if older is None or older[1].path_id != status.path_id or at - older[0] <= 0:
        return status.tool_speed_mm_per_s
    return (status.path_position_mm - older[1].path_position_mm) / (at - older[0])
