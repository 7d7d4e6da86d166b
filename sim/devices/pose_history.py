"""Where the tool point was a moment ago, for a thread other than the motion's: ``PoseHistory``.

The simulated sensor's camera head exposes on its own clock, in a thread of its own
(``sim.devices.sensor_camera``). To say where the laser line lies at an exposure it needs the
robot's tool point at that instant; asking the simulator's event loop for it (the owner of the
robot's motion) made every frame wait for whatever the loop was doing then (a physics step,
the PLC's and the power source's answers). The motion instead leaves each physics step's tool
point here, and the camera reads it under this history's own lock: between two steps it
interpolates; after the newest (the loop steps the physics every couple of milliseconds, a
trigger falls anywhere between) it extrapolates the last step's velocity, at most
``max_ahead_s`` of simulated time. Further ahead, or with no steps kept (the robot standing
still, or just started), it does not know: the caller asks the loop as before.

Linear extrapolation over a few milliseconds errs by microns on the bench's paths (12 mm/s);
across a weave's turn it errs by at most the weave's lateral speed times the time ahead.
"""

from __future__ import annotations

import collections
import threading

Vector = tuple[float, float, float]

# Physics steps: 1 s of simulated time at 2 ms a step (fewer where requests cut them short).
POSES_KEPT = 512


class PoseHistory:
    """The tool point at each recent physics step (simulated seconds, position mm, the weld
    path's travel direction or None off one). Written by whoever steps the motion (the event
    loop, or a job robot's motion thread), read from any thread: both under ``_lock``."""

    def __init__(self, kept: int = POSES_KEPT) -> None:
        self._lock = threading.Lock()
        self._steps: collections.deque[tuple[float, Vector, Vector | None]] = collections.deque(
            maxlen=kept
        )

    def add(self, sim_s: float, position_mm: Vector, travel: Vector | None) -> None:
        """The tool point after the physics step that ended at ``sim_s``."""
        with self._lock:
            self._steps.append((sim_s, position_mm, travel))

    def at(self, sim_s: float, max_ahead_s: float) -> tuple[Vector, Vector | None] | None:
        """The tool point and travel direction at simulated ``sim_s``; None when the steps
        kept do not say (before the oldest, more than ``max_ahead_s`` after the newest, or
        fewer than two steps to extrapolate from)."""
        with self._lock:
            if len(self._steps) < 2 or sim_s < self._steps[0][0]:
                return None
            earlier = later = None  # the steps either side of sim_s (None: none that side)
            for step in reversed(self._steps):  # from the newest: a trigger is recent
                if step[0] < sim_s:
                    earlier = step
                    break
                later = step
            if later is None:  # ahead of the newest: from the last two steps' velocity
                earlier, later = self._steps[-2], self._steps[-1]
            elif earlier is None:  # at the oldest step itself
                return later[1], later[2]
        t0, p0, travel0 = earlier
        t1, p1, travel1 = later
        if sim_s > t1 + max_ahead_s or t1 <= t0:
            return None
        f = (sim_s - t0) / (t1 - t0)  # beyond 1: ahead of the newest step, extrapolated
        if f > 1 and t1 - t0 > max_ahead_s:
            return None  # the last two steps lie apart (it stood between): no velocity
        position = (
            p0[0] + f * (p1[0] - p0[0]),
            p0[1] + f * (p1[1] - p0[1]),
            p0[2] + f * (p1[2] - p0[2]),
        )
        return position, (travel0 if f < 1 else travel1)
