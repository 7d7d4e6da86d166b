"""The garbage collector's pauses, in a process with a 250 Hz correction stream.

CPython's cyclic collector holds the GIL for a whole collection: no other thread runs, so
the correction stream and the sensor's reader stop for as long as it takes. A full
collection goes through every object the process keeps, and the controller keeps half a
million from its start (modules, config, drivers, the OPC UA address space): 90 ms measured.

- ``freeze_what_lives_on()`` puts everything built so far out of the collector's sight for
  good (``gc.freeze``): a full collection then only goes through what came later.
- ``CollectionPauses`` measures each collection, so the health log can say the longest.
"""

from __future__ import annotations

import gc
import time


def freeze_what_lives_on() -> None:
    """Collect once, then freeze what is left: call it when start-up has built what lives as
    long as the process, before anything that cannot wait out that one collection runs."""
    gc.collect()
    gc.freeze()


class CollectionPauses:
    """The longest garbage collection since it was last read (``gc.callbacks``)."""

    def __init__(self) -> None:
        self._started_at = 0.0
        # (seconds, generation), swapped whole. No lock: a collection may start in any
        # thread at any allocation, also while that thread holds one, and the callback would
        # wait on it for ever. The GIL keeps one assignment whole.
        self._longest: tuple[float, int] = (0.0, -1)

    def install(self) -> None:
        if self._on_collection not in gc.callbacks:
            gc.callbacks.append(self._on_collection)

    def remove(self) -> None:
        if self._on_collection in gc.callbacks:
            gc.callbacks.remove(self._on_collection)

    def take_longest(self) -> tuple[float, int]:
        """(seconds, generation) of the longest collection since the last call; (0, -1)
        when there was none."""
        longest, self._longest = self._longest, (0.0, -1)
        return longest

    def _on_collection(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started_at = time.perf_counter()
            return
        took_s = time.perf_counter() - self._started_at
        if took_s > self._longest[0]:
            self._longest = (took_s, int(info["generation"]))
