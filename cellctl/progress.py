"""A progress bar on standard error for commands that take more than a few seconds.

Drawn only on a terminal, or when asked (``--progress``): a log or a pipe gets nothing, so a
command's output stays clean for scripts. Standard output is never touched.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """``[#####.....]  50%  what is being done``; ``step(what)`` advances by one of ``total``."""

    def __init__(
        self, total: int, enabled: bool | None = None, stream: TextIO | None = None, width: int = 30
    ) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.total = max(1, total)
        self.done = 0
        self.width = width
        self.started = time.monotonic()
        self._last_length = 0

    def step(self, what: str) -> None:
        """Say what starts now; the bar shows the steps finished before it."""
        self._draw(what)
        self.done = min(self.total, self.done + 1)

    def finish(self, what: str = "done") -> None:
        self.done = self.total
        self._draw(f"{what} in {time.monotonic() - self.started:.1f} s")
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, what: str) -> None:
        if not self.enabled:
            return
        fraction = self.done / self.total
        filled = int(self.width * fraction)
        text = f"[{'#' * filled}{'.' * (self.width - filled)}] {100 * fraction:3.0f}%  {what}"
        padding = " " * max(0, self._last_length - len(text))
        self._last_length = len(text)
        self.stream.write(f"\r{text}{padding}")
        self.stream.flush()
