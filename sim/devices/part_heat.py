"""The part's temperature at the weld zone, as the cell's pyrometer reads it (physics only).

A lumped model, good enough for interpass control: the part is one mass of steel at one
temperature. The arc puts ``arc_efficiency`` of its electrical power into it (MAG: 0.8, as
EN 1011-1 takes it); it loses heat to the shop by Newton's law of cooling, towards
``ambient_c`` with the time constant of its mass and surface. Stepped in simulated seconds by
whoever owns the clock (the PLC's scan, which serves the reading).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

STEEL_HEAT_CAPACITY_J_PER_KG_K = 490.0
MAG_ARC_EFFICIENCY = 0.8


@dataclass
class PartHeat:
    """The part's temperature; ``step`` it with the arc's power over each simulated interval.

    The defaults are a 12 kg bracket of 10 mm plate: a 200 mm seam at 0.55 kJ/mm heats it by
    about 15 K; it loses half its excess heat over ambient in about 10 simulated minutes.
    """

    mass_kg: float = 12.0
    ambient_c: float = 20.0
    cooling_time_constant_s: float = 900.0
    arc_efficiency: float = MAG_ARC_EFFICIENCY
    temperature_c: float = 20.0

    def step(self, dt_s: float, arc_power_w: float) -> None:
        """Advance ``dt_s`` simulated seconds with the arc at ``arc_power_w`` (0 when off)."""
        if dt_s <= 0:
            return
        heated_k = (
            self.arc_efficiency
            * arc_power_w
            * dt_s
            / (self.mass_kg * STEEL_HEAT_CAPACITY_J_PER_KG_K)
        )
        excess = self.temperature_c + heated_k - self.ambient_c
        self.temperature_c = self.ambient_c + excess * math.exp(
            -dt_s / self.cooling_time_constant_s
        )

    def set_temperature_c(self, temperature_c: float) -> None:
        """The part as a person leaves it: preheated with a torch, or fresh from outside."""
        self.temperature_c = temperature_c
