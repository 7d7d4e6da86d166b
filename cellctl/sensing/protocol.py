"""The hook where seam sensing plugs into the weld cycle.

Before the arc, the cycle asks ``find_seam`` where the joint really is (the taught start plus
what the sensor finds); while the arc burns, ``start_tracking`` runs the closed loop that
streams path corrections to the robot, and ``stop_tracking`` ends it and returns its figures
for the seam record. ``NoSensing`` is the cell without a sensor: the taught path, unchanged.

The vision work implements ``SeamSensing`` with the laser-line sensor; the cycle does not
change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from cellctl.cell.geometry import Point
from cellctl.config.models import Seam


class JointNotFound(Exception):
    """Seam finding scanned its whole range and found no trustworthy joint."""


class TrackingLost(Exception):
    """Tracking coasted for its allowed distance without a trustworthy measurement."""


InternalErrorReport = Callable[[str, BaseException], None]


class SeamSensing(Protocol):
    def supervise(self, report: InternalErrorReport) -> None:
        """Report an exception that escapes a thread of the sensing's own (``report(where,
        error)``, callable from any thread): the controller raises F180 for it."""
        ...

    async def find_seam(self, seam: Seam, taught_path: list[Point]) -> list[Point]:
        """The path to weld: the taught one shifted to the joint found. ``JointNotFound``."""
        ...

    async def start_tracking(self, seam: Seam, path: list[Point], path_id: int) -> None:
        """Begin correcting the robot's path while it runs ``path`` as ``path_id``."""
        ...

    def check_tracking(self) -> None:
        """Raise ``TrackingLost`` if tracking has been lost (called while the path runs)."""
        ...

    async def stop_tracking(self) -> dict[str, float] | None:
        """End tracking; its statistics for the seam record (None when not tracking)."""
        ...

    async def check_bead(
        self, seam: Seam, path: list[Point]
    ) -> tuple[dict[str, float], list[str]] | None:
        """Scan the finished bead (arc off): its figures and what is wrong with it."""
        ...


class NoSensing:
    """A cell without a seam sensor: weld the taught path as it is."""

    def supervise(self, report: InternalErrorReport) -> None:
        return None  # no threads of its own

    async def find_seam(self, seam: Seam, taught_path: list[Point]) -> list[Point]:
        return list(taught_path)

    async def start_tracking(self, seam: Seam, path: list[Point], path_id: int) -> None:
        return None

    def check_tracking(self) -> None:
        return None

    async def stop_tracking(self) -> dict[str, float] | None:
        return None

    async def check_bead(
        self, seam: Seam, path: list[Point]
    ) -> tuple[dict[str, float], list[str]] | None:
        return None
