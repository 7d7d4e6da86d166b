"""The weld bead the simulated cell lays: where the arc burned, pass by pass, and how much metal.

Fed with every robot trajectory sample on a weld path while the arc burns (``lay``), it keeps,
per seam, per pass (one weld path: its path id) and per ``BIN_MM`` of the taught seam, that the
bead is there, where its centre lies (the torch's actual lateral and vertical offset from the
taught seam: a bead follows the torch, not the joint) and how much metal went in there (the
wire fed per millimetre of seam: ``deposit_mm2``). The sensor renders it
(``sim.devices.sensor_render``) when it looks at a welded stretch: on a fillet, a butt or a lap
the last pass's bead, its size the vision scenario's ``bead`` (``BeadShape``), for the
controller's post-weld check; in a V-groove every pass laid there, in order, each filling the
groove where it lands (``sim.truth.v_groove.filled_groove``): the sensor sees the groove fill
up, layer by layer, and the arc meets the same metal (``sim.truth.groove``).

A weaving torch lays its bead where the weave is centred (the torch's offset less the weave's),
wider by the weave's excursion to either side and flatter, the same metal spread over the
width (``BeadShape.weaved``): the wire fed per millimetre of seam does not change with the
weave.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

from drivers.codecs.model import StrictModel

BIN_MM = 0.5
# A torch starting off (or stopping) moves slowly while the wire feeds at full rate: its metal
# is spread as if it moved at least this fast (a start's puddle flows out along the seam).
DEPOSIT_MIN_SPEED_MM_PER_S = 2.0


class BeadShape(StrictModel):
    """The bead's cross-section: toe-to-toe width and height above the line joining the toes;
    and the wire the simulated cell feeds (its metal fills a groove)."""

    width_mm: float = 6.0
    height_mm: float = 1.2
    wire_diameter_mm: float = 1.2

    def weaved(self, left_mm: float, right_mm: float) -> tuple[float, float, float]:
        """The bead of a weave ``left_mm`` / ``right_mm`` to either side: (width, height, how
        far its centre lies left of the weave's centre). The cross-section (about width x
        height) stays: the same wire per millimetre, spread wider."""
        width = self.width_mm + left_mm + right_mm
        return width, self.height_mm * self.width_mm / width, (left_mm - right_mm) / 2

    def deposit_mm2(self, wire_feed_m_per_min: float, travel_mm_per_s: float) -> float:
        """The metal laid per millimetre of seam (mm²: the bead's cross-section) by wire fed at
        ``wire_feed_m_per_min`` while the torch travels at ``travel_mm_per_s``."""
        wire_mm3_per_s = wire_feed_m_per_min * 1000 / 60 * math.pi * self.wire_diameter_mm**2 / 4
        return wire_mm3_per_s / max(travel_mm_per_s, DEPOSIT_MIN_SPEED_MM_PER_S)


@dataclass
class SeamBead:
    """One pass's bead along a seam."""

    # bin index -> (lateral, vertical) of the torch (its weave's centre) over the taught seam
    centres: dict[int, tuple[float, float]] = field(default_factory=dict)
    # bin index -> the weave's (left, right) amplitudes where the torch wove
    weaves: dict[int, tuple[float, float]] = field(default_factory=dict)
    # bin index -> the metal laid there, mm² of cross-section (absent: not known, 0)
    areas: dict[int, float] = field(default_factory=dict)

    def at(self, s_mm: float) -> tuple[float, float] | None:
        return self.centres.get(int(s_mm // BIN_MM))

    def weave_at(self, s_mm: float) -> tuple[float, float]:
        return self.weaves.get(int(s_mm // BIN_MM), (0.0, 0.0))

    def area_at(self, s_mm: float) -> float:
        return self.areas.get(int(s_mm // BIN_MM), 0.0)


@dataclass(frozen=True)
class LaidPass:
    """One pass's bead at one place along a seam: the torch's weave centre (lateral, vertical
    over the taught seam, mm), the weave's (left, right) amplitudes and the metal laid (mm²)."""

    lateral_mm: float
    vertical_mm: float
    weave_mm: tuple[float, float]
    area_mm2: float


class BeadRecord:
    """The beads of the part on the fixture: per seam, its passes in the order they were laid.

    Written by the robot's physics (``lay``, on the simulator's event loop) and read by the
    sensor's camera thread (``at``, ``weave_at``, ``passes_at``): every method under
    ``_lock``."""

    def __init__(self) -> None:
        # seam -> pass (weld path id) -> its bead; dicts keep the order the passes were laid
        self.seams: dict[str, dict[int, SeamBead]] = {}
        self._lock = threading.Lock()

    def lay(
        self,
        seam: str,
        s_mm: float,
        lateral_mm: float,
        vertical_mm: float,
        weave_mm: tuple[float, float] = (0.0, 0.0),
        pass_id: int = 0,
        area_mm2: float = 0.0,
    ) -> None:
        """The torch's weave centre at ``s_mm`` on pass ``pass_id`` (its weld path), the weave's
        (left, right) amplitudes and the metal laid there per mm of seam (the latest sample's)."""
        with self._lock:
            passes = self.seams.setdefault(seam, {})
            bead = passes.get(pass_id)  # (every physics step: no new SeamBead to throw away)
            if bead is None:
                bead = passes[pass_id] = SeamBead()
            index = int(s_mm // BIN_MM)
            bead.centres[index] = (lateral_mm, vertical_mm)
            if weave_mm != (0.0, 0.0):
                bead.weaves[index] = weave_mm
            else:
                bead.weaves.pop(index, None)
            if area_mm2 > 0:
                bead.areas[index] = area_mm2

    def _last(self, seam: str, s_mm: float) -> SeamBead | None:
        """The last pass laid at ``s_mm`` (the bead on top). Under ``_lock``."""
        for bead in reversed((self.seams.get(seam) or {}).values()):
            if bead.at(s_mm) is not None:
                return bead
        return None

    def at(self, seam: str, s_mm: float) -> tuple[float, float] | None:
        """The top bead's centre at ``s_mm`` (None: not welded there)."""
        with self._lock:
            bead = self._last(seam, s_mm)
            return bead.at(s_mm) if bead is not None else None

    def weave_at(self, seam: str, s_mm: float) -> tuple[float, float]:
        with self._lock:
            bead = self._last(seam, s_mm)
            return bead.weave_at(s_mm) if bead is not None else (0.0, 0.0)

    def passes_at(self, seam: str, s_mm: float) -> list[LaidPass]:
        """Every pass laid at ``s_mm``, first to last."""
        return [laid for _, laid in self.passes_with_ids_at(seam, s_mm)]

    def passes_with_ids_at(self, seam: str, s_mm: float) -> list[tuple[int, LaidPass]]:
        """``passes_at`` with each pass's id (its weld path's). Under ``_lock``: the camera's
        thread reads it (a V-groove's layers, ``sim.truth.v_groove.groove_layers``) while the
        loop's physics lays beads."""
        laid = []
        with self._lock:
            for pass_id, bead in (self.seams.get(seam) or {}).items():
                centre = bead.at(s_mm)
                if centre is not None:
                    weave, area = bead.weave_at(s_mm), bead.area_at(s_mm)
                    laid.append((pass_id, LaidPass(*centre, weave, area)))
        return laid

    def clear(self) -> None:
        """A new part on the fixture: no bead yet."""
        with self._lock:
            self.seams.clear()
