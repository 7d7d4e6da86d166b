"""The simulated power source's arc sensing: the welding current per weave period.

The decision (docs/architecture.md, "Through-arc seam tracking"): the power source samples
its current itself, at its own pace, in phase with the weave, and reports one result per weave
period; the controller reads that result over Modbus RTU (input registers 10-15 of
``power_source.registers``) and never sees the raw samples. A period's result:

- the mean current while the torch was in the left extreme of the weave, and in the right;
- the mean over the whole period (the height channel);
- the number of samples it averaged, and the period's length (ms, the machine's clock);
- a period counter, so that the controller knows a new period from one it has read, and how
  many it missed (it wraps at 65536).

The weave's phase comes from the robot's weave sync (``WeaveSide``), the two digital signals
that manipulators put out to a power source's robot interface while the torch is in the left
or the right extreme of its weave (the dwell, or the last part of the stroke of a pattern
without one). Detecting the extremes from the current alone would be circular: a torch
centred on the groove makes no difference between the sides, so the extremes could not be
told from the middle.

A period ends when the torch enters the left extreme after having been in the right one; the
samples in between are the period's. A result is published only for a period that saw both
extremes with at least ``MIN_SAMPLES_PER_SIDE`` samples in each.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

MIN_SAMPLES_PER_SIDE = 3


class WeaveSide(enum.IntEnum):
    """The robot's weave sync: where the weave has the torch now."""

    BETWEEN = 0
    LEFT = 1
    RIGHT = -1


@dataclass(frozen=True)
class WeavePeriod:
    """One weave period's currents (A), as the registers carry them."""

    count: int  # 1, 2, ... (wrapping at 65536 on the wire)
    left_current_a: float
    right_current_a: float
    mean_current_a: float
    samples: int
    period_ms: float


@dataclass
class WeavePeriodMeter:
    """Sums the current samples of the period under way; publishes each completed one."""

    last: WeavePeriod | None = None
    _count: int = 0
    _sum_a: float = 0.0
    _n: int = 0
    _left: tuple[float, int] = (0.0, 0)
    _right: tuple[float, int] = (0.0, 0)
    _duration_s: float = 0.0
    _side: WeaveSide = WeaveSide.BETWEEN
    _seen_right: bool = False
    _started: bool = False  # a period runs once the first left extreme has begun

    def reset(self) -> None:
        """The arc is out or the weave stopped: the period under way is dropped (the last
        result stays readable)."""
        self._clear()
        self._started = False
        self._side = WeaveSide.BETWEEN

    def _clear(self) -> None:
        self._sum_a, self._n, self._duration_s = 0.0, 0, 0.0
        self._left, self._right = (0.0, 0), (0.0, 0)
        self._seen_right = False

    def sample(self, current_a: float, side: WeaveSide, dt_s: float) -> None:
        """One current sample ``dt_s`` after the last, with the weave sync at ``side``."""
        entering_left = side is WeaveSide.LEFT and self._side is not WeaveSide.LEFT
        self._side = side
        if entering_left:
            if self._started and self._seen_right:
                self._publish()
            self._clear()
            self._started = True
        if not self._started:
            return
        self._sum_a += current_a
        self._n += 1
        self._duration_s += dt_s
        if side is WeaveSide.LEFT:
            self._left = (self._left[0] + current_a, self._left[1] + 1)
        elif side is WeaveSide.RIGHT:
            self._right = (self._right[0] + current_a, self._right[1] + 1)
            self._seen_right = True

    def _publish(self) -> None:
        (left_sum, left_n), (right_sum, right_n) = self._left, self._right
        if left_n < MIN_SAMPLES_PER_SIDE or right_n < MIN_SAMPLES_PER_SIDE:
            return  # too few samples to tell the sides apart: no result for this period
        self._count += 1
        self.last = WeavePeriod(
            count=self._count,
            left_current_a=left_sum / left_n,
            right_current_a=right_sum / right_n,
            mean_current_a=self._sum_a / self._n,
            samples=self._n,
            period_ms=self._duration_s * 1000,
        )
