"""Where the cell is in its part: one ``Activity`` beside the PackML state.

The PackML state says what the machine does (Execute, Held, ...); the activity says where in
the part it is: its own steps around the seams (clamping, going home, unclamping), or a seam
and the seam's step (approach, seam finding, arc start, welding, ...). A fault records it, the
operator's screen shows it, and a held seam keeps the step it was held at.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Step(enum.StrEnum):
    """A step of the part (``PART_STEPS``) or of one of its seams (``SEAM_STEPS``)."""

    NO_PART = "no part"
    CLAMP = "clamping"
    READY = "clamped, drives on"
    TEMPERATURE = "part temperature check"  # preheat, or waiting for it to cool (interpass)
    RESCAN = "re-scan of the groove"  # between passes: what is left of it (cellctl.weld.rescan)
    APPROACH = "approach"
    SEAM_FINDING = "seam finding"
    ARC_START = "arc start"
    WELDING = "welding"
    CRATER_FILL = "crater fill"
    ARC_OFF = "arc off"
    RETRACT = "retract"
    RECORD = "record"
    SUSPENDED = "suspended between seams"
    HOME = "to the home position"
    UNCLAMP = "unclamping"
    UNLOAD = "unloading"


SEAM_STEPS = frozenset(
    {
        Step.TEMPERATURE,
        Step.RESCAN,
        Step.APPROACH,
        Step.SEAM_FINDING,
        Step.ARC_START,
        Step.WELDING,
        Step.CRATER_FILL,
        Step.ARC_OFF,
        Step.RETRACT,
        Step.RECORD,
    }
)


@dataclass(frozen=True)
class Activity:
    """Where the cell is: a step, and the seam it belongs to when it is a seam's."""

    step: Step = Step.NO_PART
    seam: str | None = None
    weld_pass: str | None = None  # a multi-pass seam's pass: "pass 3 of 7, fill"

    def __str__(self) -> str:
        if not self.seam:
            return str(self.step)
        weld_pass = f", {self.weld_pass}" if self.weld_pass else ""
        return f"seam {self.seam}{weld_pass}: {self.step}"
