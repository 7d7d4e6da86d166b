"""The weld bead the simulated cell lays: where the arc burned, and the bead's shape there.

Fed with every robot trajectory sample on a weld path while the arc burns (``lay``), it keeps,
per seam and per ``BIN_MM`` of the taught seam, that the bead is there and where its centre
lies (the torch's actual lateral and vertical offset from the taught seam: a bead follows the
torch, not the joint). The sensor renders it (``sim.devices.sensor_render.Bead``) when it looks at a
welded stretch, so that the controller's post-weld check has a bead to measure; its size is
the vision scenario's ``bead`` (``BeadShape``).

A weaving torch lays its bead where the weave is centred (the torch's offset less the weave's),
wider by the weave's excursion to either side and flatter, the same metal spread over the
width (``BeadShape.weaved``): the wire fed per millimetre of seam does not change with the
weave.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.codecs.model import StrictModel

BIN_MM = 0.5


class BeadShape(StrictModel):
    """The bead's cross-section: toe-to-toe width and height above the line joining the toes."""

    width_mm: float = 6.0
    height_mm: float = 1.2

    def weaved(self, left_mm: float, right_mm: float) -> tuple[float, float, float]:
        """The bead of a weave ``left_mm`` / ``right_mm`` to either side: (width, height, how
        far its centre lies left of the weave's centre). The cross-section (about width x
        height) stays: the same wire per millimetre, spread wider."""
        width = self.width_mm + left_mm + right_mm
        return width, self.height_mm * self.width_mm / width, (left_mm - right_mm) / 2


@dataclass
class SeamBead:
    # bin index -> (lateral, vertical) of the torch (its weave's centre) over the taught seam
    centres: dict[int, tuple[float, float]] = field(default_factory=dict)
    # bin index -> the weave's (left, right) amplitudes where the torch wove
    weaves: dict[int, tuple[float, float]] = field(default_factory=dict)

    def at(self, s_mm: float) -> tuple[float, float] | None:
        return self.centres.get(int(s_mm // BIN_MM))

    def weave_at(self, s_mm: float) -> tuple[float, float]:
        return self.weaves.get(int(s_mm // BIN_MM), (0.0, 0.0))


class BeadRecord:
    def __init__(self) -> None:
        self.seams: dict[str, SeamBead] = {}

    def lay(
        self,
        seam: str,
        s_mm: float,
        lateral_mm: float,
        vertical_mm: float,
        weave_mm: tuple[float, float] = (0.0, 0.0),
    ) -> None:
        """The torch's weave centre at ``s_mm``, and the weave's (left, right) amplitudes."""
        bead = self.seams.setdefault(seam, SeamBead())
        index = int(s_mm // BIN_MM)
        bead.centres[index] = (lateral_mm, vertical_mm)
        if weave_mm != (0.0, 0.0):
            bead.weaves[index] = weave_mm
        else:
            bead.weaves.pop(index, None)

    def at(self, seam: str, s_mm: float) -> tuple[float, float] | None:
        bead = self.seams.get(seam)
        return bead.at(s_mm) if bead is not None else None

    def weave_at(self, seam: str, s_mm: float) -> tuple[float, float]:
        bead = self.seams.get(seam)
        return bead.weave_at(s_mm) if bead is not None else (0.0, 0.0)

    def clear(self) -> None:
        """A new part on the fixture: no bead yet."""
        self.seams.clear()
