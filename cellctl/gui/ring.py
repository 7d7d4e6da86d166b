"""Fixed-size ring buffers of (x, y) samples for live plots: appends are O(1) and allocate
nothing; ``view()`` gives the samples in order, for one ``setData`` per frame."""

from __future__ import annotations

import numpy as np


class RingBuffer:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        # float64 x: pyqtgraph's clip-to-view searches are slow on float32 (see PITFALLS).
        self._x = np.zeros(capacity, dtype=np.float64)
        self._y = np.zeros(capacity, dtype=np.float64)
        self._next = 0
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def append(self, x: float, y: float) -> None:
        self._x[self._next] = x
        self._y[self._next] = y
        self._next = (self._next + 1) % self.capacity
        self._count = min(self._count + 1, self.capacity)

    def clear(self) -> None:
        self._next = 0
        self._count = 0

    def view(self) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) oldest first; copies only when the buffer has wrapped."""
        if self._count < self.capacity:
            return self._x[: self._count], self._y[: self._count]
        order = np.r_[self._next : self.capacity, 0 : self._next]
        return self._x[order], self._y[order]

    def last_x(self) -> float | None:
        if not self._count:
            return None
        return float(self._x[(self._next - 1) % self.capacity])
