"""Simulated time: physics runs ``time_scale`` times faster than the wall clock.

Only physical processes scale (motion, arc ignition, clamp travel). Link-level timing (Modbus
timeouts, the PLC's heartbeat watchdog, the robot's correction watchdog) stays in real time,
because the controller on the other end of the wire runs in real time.
"""

from __future__ import annotations

import asyncio
import time


class SimClock:
    def __init__(self, time_scale: float = 1.0) -> None:
        if not 0 < time_scale <= 1000:
            raise ValueError(f"time_scale must be in (0, 1000], got {time_scale}")
        self.time_scale = time_scale
        self._start_real_s = time.monotonic()

    def now_s(self) -> float:
        """Simulated seconds since the clock was made."""
        return (time.monotonic() - self._start_real_s) * self.time_scale

    def real_s(self, sim_s: float) -> float:
        """Wall-clock seconds that ``sim_s`` simulated seconds take."""
        return sim_s / self.time_scale

    async def sleep(self, sim_s: float) -> None:
        await asyncio.sleep(max(0.0, sim_s / self.time_scale))
