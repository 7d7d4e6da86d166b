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
from typing import TYPE_CHECKING, Protocol

import numpy as np

from cellctl.cell.geometry import Point
from cellctl.config.models import Seam
from drivers.codecs.weave import NO_WEAVE, WeaveShape
from drivers.link import DeviceLink

if TYPE_CHECKING:
    from cellctl.sensing.groove import GrooveMeasure


class JointNotFound(Exception):
    """Seam finding scanned its whole range and found no trustworthy joint."""


class TrackingLost(Exception):
    """Tracking coasted for its allowed distance without a trustworthy measurement."""


InternalErrorReport = Callable[[str, BaseException], None]


class TrackingObserver(Protocol):
    """Who shows tracking to people (the OPC UA server): told of every correction sent and
    of the laser profile now and then. Both calls must be cheap and never raise; the
    correction comes from the correction stream's thread, the profile from the sensor's
    reader thread."""

    def publish_tracking(
        self, lateral_mm: float, vertical_mm: float, position_mm: float | None = None
    ) -> None: ...

    def publish_profile(
        self, y_mm: np.ndarray, z_mm: np.ndarray, joint: tuple[float, float] | None
    ) -> None: ...


class SeamSensing(Protocol):
    def links(self) -> dict[str, DeviceLink]:
        """The device links the sensing owns, by device name (the laser sensor's): the
        controller watches them like the others."""
        ...

    async def connect(self) -> None:
        """Start its links (returns at once when there are none)."""
        ...

    async def close(self) -> None:
        """End tracking and close its links."""
        ...

    def show_to(self, observer: TrackingObserver) -> None:
        """Tell ``observer`` of the corrections and profiles from now on."""
        ...

    def supervise(self, report: InternalErrorReport) -> None:
        """Report an exception that escapes a thread of the sensing's own (``report(where,
        error)``, callable from any thread): the controller raises F180 for it."""
        ...

    async def find_seam(self, seam: Seam, taught_path: list[Point]) -> list[Point]:
        """The path to weld: the taught one shifted to the joint found. ``JointNotFound``."""
        ...

    async def start_tracking(
        self, seam: Seam, path: list[Point], path_id: int, weave: WeaveShape = NO_WEAVE
    ) -> None:
        """Begin correcting the robot's path while it runs ``path`` as ``path_id``, which the
        robot weaves as ``weave`` (the sensor on the torch swings with it)."""
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

    async def scan_groove(
        self, seam: Seam, root_path: list[Point], height_mm: float
    ) -> GrooveMeasure | None:
        """Measure what is left of the groove along ``root_path`` (arc off, the sensor
        ``height_mm`` over the root path): None without a sensor; ``GrooveNotMeasured``
        (``cellctl.sensing.groove``) when the profiles do not show it."""
        ...


class NoSensing:
    """A cell without a seam sensor: weld the taught path as it is."""

    def links(self) -> dict[str, DeviceLink]:
        return {}

    async def connect(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def show_to(self, observer: TrackingObserver) -> None:
        return None  # nothing to show

    def supervise(self, report: InternalErrorReport) -> None:
        return None  # no threads of its own

    async def find_seam(self, seam: Seam, taught_path: list[Point]) -> list[Point]:
        return taught_path

    async def start_tracking(
        self, seam: Seam, path: list[Point], path_id: int, weave: WeaveShape = NO_WEAVE
    ) -> None:
        return None

    def check_tracking(self) -> None:
        return None

    async def stop_tracking(self) -> dict[str, float] | None:
        return None

    async def check_bead(
        self, seam: Seam, path: list[Point]
    ) -> tuple[dict[str, float], list[str]] | None:
        return None

    async def scan_groove(
        self, seam: Seam, root_path: list[Point], height_mm: float
    ) -> GrooveMeasure | None:
        return None  # no laser: nothing measured (config check refuses a re-scan without it)
