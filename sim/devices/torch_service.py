"""The simulated torch service station: reamer, anti-spatter spray and wire cutter.

Driven through the PLC's outputs (``reamer_on``, ``spray_on``, ``wire_cutter_on``) as the real
station is: each acts on a rising edge of its output, and only on a torch standing at its
position (the wire's tip within ``AT_STATION_MM`` of it); a tool run with no torch there
does nothing but count. The cutter cuts the wire back to its nominal stick-out
(``sim.truth.torch.TrueTorch.cut_wire``). Positions come from the cell config's
``torch_service.station``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from drivers.codecs.robot_protocol import Pose
from sim.truth.torch import TrueTorch, Vector

AT_STATION_MM = 3.0
TOOLS = ("reamer_on", "spray_on", "wire_cutter_on")


@dataclass
class ServiceStation:
    """The station's state (see the module). Owned by the simulated cell's event loop."""

    positions: dict[str, Vector]  # output name -> where the torch must stand
    torch: TrueTorch
    tool_pose: Callable[[], Pose]
    output: Callable[[str], object]  # the PLC's output as the controller wrote it
    done: dict[str, int] = field(default_factory=dict)  # tool runs with the torch in place
    missed: dict[str, int] = field(default_factory=dict)  # tool runs with no torch there
    _last: dict[str, bool] = field(default_factory=dict)

    def on_outputs(self) -> None:
        """The PLC's outputs were written: act on the rising edges."""
        for name in TOOLS:
            try:
                on = bool(self.output(name))
            except KeyError:
                continue  # the map has no such output
            if on and not self._last.get(name, False):
                self._run(name)
            self._last[name] = on

    def _run(self, name: str) -> None:
        tip = self.torch.wire_tip(self.tool_pose())
        if math.dist(tip, self.positions[name]) > AT_STATION_MM:
            self.missed[name] = self.missed.get(name, 0) + 1
            return
        self.done[name] = self.done.get(name, 0) + 1
        if name == "wire_cutter_on":
            self.torch.cut_wire()
