"""Where the robot's weave had the torch at a frame's exposure: ``WeaveEstimate``.

The robot weaves the path itself, laid out along the path position (``drivers.codecs.weave``),
so the weave's offset at an exposure is the pattern at the torch's path position then. That
position must be better than the torch estimate's (``torch``): across the seam the weave moves
faster than the torch along it (a 1.5 mm triangle at 2 Hz, 12 mm/s sideways, at 4.5 mm/s of
travel), so an error along the path comes back several times larger across it.

The torch estimate carries the newest status forward at the speed of the last two; each
status's moment is known only to a fraction of a round trip (when the answer was read), and
that jitter is all of the error. Here the position is a least-squares line through the last
statuses of the path at one steady speed: the jitter averages out, and at a steady speed the
line is exact. Outside a steady stretch (the path starting, a hold) there is no line, and the
torch estimate's position is used, as it is for everything else.
"""

from __future__ import annotations

import collections
import threading

import numpy as np

from drivers.codecs.robot_protocol import RobotState, RobotStatus

FIT_STATUSES = 12  # the most statuses the line goes through (about a quarter second)
MIN_STATUSES = 4  # fewer than this at one speed: no line
STEADY_RATIO = 0.02  # statuses whose speeds differ by more than this are not one stretch


class WeaveEstimate:
    """The torch's path position for the weave, from the robot's status stream.

    Statuses arrive on the event loop (``on_status``); the sensor's reader thread asks
    (``position_mm``). The statuses are replaced and read under ``_lock``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (sampled_at monotonic s, path_id, path position mm, reported speed mm/s), newest last
        self._statuses: collections.deque[tuple[float, int, float, float]] = collections.deque(
            maxlen=FIT_STATUSES
        )

    def on_status(self, status: RobotStatus, sampled_at: float) -> None:
        with self._lock:
            if self._statuses and sampled_at <= self._statuses[-1][0]:
                return  # not newer than what is known
            if status.state is not RobotState.MOVING:
                self._statuses.clear()  # standing, braking or starting: no steady stretch
                return
            self._statuses.append(
                (sampled_at, status.path_id, status.path_position_mm, status.tool_speed_mm_per_s)
            )

    def position_mm(self, at_s: float, path_id: int) -> float | None:
        """The torch's position along ``path_id`` at monotonic ``at_s`` from the line through
        the last steady statuses; None when there is no such stretch."""
        with self._lock:
            statuses = list(self._statuses)
        if not statuses or statuses[-1][1] != path_id:
            return None
        speed = statuses[-1][3]
        steady = []
        for sample in reversed(statuses):
            if sample[1] != path_id or abs(sample[3] - speed) > STEADY_RATIO * speed:
                break
            steady.append(sample)
        if len(steady) < MIN_STATUSES:
            return None
        t = np.array([s[0] for s in steady])
        s = np.array([s[2] for s in steady])
        t_mean = t.mean()
        dt = t - t_mean
        slope = float(dt @ (s - s.mean())) / float(dt @ dt) if float(dt @ dt) > 0 else 0.0
        return float(s.mean() + slope * (at_s - t_mean))
