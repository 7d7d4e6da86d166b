"""The weld bead the simulated cell lays: where the arc burned, and the bead's shape there.

Fed with every robot trajectory sample on a weld path while the arc burns (``lay``), it keeps,
per seam and per ``BIN_MM`` of the taught seam, that the bead is there and where its centre
lies (the torch's actual lateral and vertical offset from the taught seam: a bead follows the
torch, not the joint). The sensor renders it (``sim.devices.sensor_render.Bead``) when it looks at a
welded stretch, so that the controller's post-weld check has a bead to measure; its size is
the vision scenario's ``bead`` (``BeadShape``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.codecs.model import StrictModel

BIN_MM = 0.5


class BeadShape(StrictModel):
    """The bead's cross-section: toe-to-toe width and height above the line joining the toes."""

    width_mm: float = 6.0
    height_mm: float = 1.2


@dataclass
class SeamBead:
    # bin index -> (lateral, vertical) of the torch over the taught seam there
    centres: dict[int, tuple[float, float]] = field(default_factory=dict)

    def at(self, s_mm: float) -> tuple[float, float] | None:
        return self.centres.get(int(s_mm // BIN_MM))


class BeadRecord:
    def __init__(self) -> None:
        self.seams: dict[str, SeamBead] = {}

    def lay(self, seam: str, s_mm: float, lateral_mm: float, vertical_mm: float) -> None:
        bead = self.seams.setdefault(seam, SeamBead())
        bead.centres[int(s_mm // BIN_MM)] = (lateral_mm, vertical_mm)

    def at(self, seam: str, s_mm: float) -> tuple[float, float] | None:
        bead = self.seams.get(seam)
        return bead.at(s_mm) if bead is not None else None

    def clear(self) -> None:
        """A new part on the fixture: no bead yet."""
        self.seams.clear()
