"""The torch against the world: wire contact, nozzle collisions and the TCP checker's beams.

Ties the true torch (``sim.truth.torch``) to the true plates (``sim.truth.plates``) and to the
beam-break TCP checker (BullsEye style) standing in the cell. Who uses it:

- the power source's contact input (``wire_touching``): the electrical truth, with the sensing
  voltage on (``touch_sense_on``) and no arc, whether any point of the wire lies in a plate;
- the robot's search input: the touch-sense contact, OR the TCP checker's beam broken (the
  checker's output is wired in parallel to the robot's search input, as a BullsEye's is), and
  its collision input: the torch's breakaway switch, when the nozzle's mouth meets a plate.
  A gas nozzle that meets a plate before the wire touches it is therefore a collision;
- the same switch on a weld path (``weld_nozzle_hits``): a correction, or a path taught into
  the part, that drives the nozzle into a plate while welding stops the robot (its fault 3),
  opens the switch on the PLC and bends the neck. Air moves (path 0) are not guarded: their
  angles are a seam's work and travel angles too, without a seam frame to turn them in;
- the PLC: the breakaway switch (``torch_collision``) and the beam (``tcp_beam_broken``).

The TCP checker: two horizontal beams ``BEAM_SPAN_MM`` long crossing at ``center_mm``, one
along x and one along y. A beam is broken when the wire passes within ``WIRE_RADIUS_MM`` of it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from drivers.codecs.robot_protocol import Pose
from sim.truth.part import TruePart, Vector
from sim.truth.plates import clearance_mm, solid_at
from sim.truth.torch import TrueTorch, weld_axis

WIRE_RADIUS_MM = 0.6  # a 1.2 mm wire
BEAM_SPAN_MM = 40.0  # each beam's length, centred on the crossing
COLLISION_BEND_MM = 1.5  # how far a collision bends the neck (against the motion)
# The nozzle's points lie within this of its tip (the setback and the mouth's radius, with
# room for the wire's stick-out error): turning the torch by a chord c moves them at most
# this times c.
NOZZLE_REACH_MM = 20.0
# The breakaway switch stays open this long after a hit (it springs back once the robot has
# stopped and the load is off; long enough for the PLC's scan and the controller's to see it).
SWITCH_OPEN_S = 1.0


@dataclass(frozen=True)
class TcpChecker:
    """Two beams crossing at ``center_mm`` (see the module)."""

    center_mm: Vector

    def broken_by(self, wire: list[Vector]) -> bool:
        cx, cy, cz = self.center_mm
        half = BEAM_SPAN_MM / 2
        for x, y, z in wire:
            if abs(x - cx) <= half and math.hypot(y - cy, z - cz) <= WIRE_RADIUS_MM:
                return True  # the beam along x
            if abs(y - cy) <= half and math.hypot(x - cx, z - cz) <= WIRE_RADIUS_MM:
                return True  # the beam along y
        return False

    def clearance_mm(self, points: list[Vector]) -> float:
        """How far the nearest of ``points`` lies from either beam (less the wire)."""
        cx, cy, cz = self.center_mm
        half = BEAM_SPAN_MM / 2
        best = math.inf
        for x, y, z in points:
            along_x = max(0.0, abs(x - cx) - half)
            along_y = max(0.0, abs(y - cy) - half)
            best = min(
                best,
                math.sqrt(along_x**2 + (y - cy) ** 2 + (z - cz) ** 2),
                math.sqrt(along_y**2 + (x - cx) ** 2 + (z - cz) ** 2),
            )
        return max(0.0, best - WIRE_RADIUS_MM)


class TorchContact:
    """The torch's contacts (see the module). ``sensing_on()`` is the power source's sensing
    voltage with no arc burning. Owned by the simulated cell's event loop."""

    def __init__(
        self,
        part: TruePart | None,
        torch: TrueTorch,
        checker: TcpChecker | None,
        sensing_on: Callable[[], bool],
    ) -> None:
        self.part = part
        self.torch = torch
        self.checker = checker
        self.sensing_on = sensing_on
        self.collisions = 0
        self.insulated = False  # a slag ball on the wire: no electrical contact (injected)
        # An injected collision holds the breakaway switch open until this monotonic time.
        self.switch_open_until_s = 0.0
        # The weld path's nozzle guard: where it last looked (tip, axis, the torch's bend)
        # and how clear of the plates it found the nozzle there (mm).
        self._looked: tuple[Vector, Vector, Vector] | None = None
        self._clear_mm = 0.0
        self._axis_of: tuple[object, Vector] = (None, (0.0, 0.0, 1.0))  # (angles, frame) -> axis
        self.nozzle_looks = 0  # looks at the plates (the guard's cost, for tests and benches)

    def wire_touches(self, pose: Pose) -> bool:
        """Whether the wire (any point of it) lies in a plate of the part."""
        if self.part is None:
            return False
        return any(solid_at(self.part, point) for point in self.torch.wire_points(pose))

    def nozzle_hits(self, pose: Pose) -> bool:
        """Whether the nozzle's mouth meets a plate."""
        if self.part is None:
            return False
        return any(solid_at(self.part, point) for point in self.torch.nozzle_points(pose))

    def weld_nozzle_hits(self, pose: Pose, frame: tuple[Vector, ...]) -> bool:
        """On a weld path with seam frame ``frame`` (travel, lateral, vertical): whether the
        nozzle's mouth meets a plate, the torch at the pose's work angle (rx) and travel angle
        (ry) in that frame (``weld_axis``), as the robot turns it with the path. Cheap per
        physics step: after a look that finds the nozzle c mm clear of every plate, the next
        look waits until the tip, or the turn of the torch, could have moved the nozzle c."""
        if self.part is None:
            return False
        key = (pose.rx_deg, pose.ry_deg, frame)
        if key != self._axis_of[0]:  # a straight segment keeps its frame and its angles
            self._axis_of = (key, weld_axis(pose.rx_deg, pose.ry_deg, frame))
        axis = self._axis_of[1]
        tip = (pose.x_mm, pose.y_mm, pose.z_mm)
        looked = self._looked
        if looked is not None and looked[2] == self.torch.bend_mm:
            moved = math.dist(tip, looked[0])
            if looked[1] is not axis:
                moved += NOZZLE_REACH_MM * math.dist(axis, looked[1])
            if moved < self._clear_mm:
                return False
        self.nozzle_looks += 1
        points = self.torch.nozzle_points(pose, axis)
        clear = [clearance_mm(self.part, point) for point in points]
        # Clearance is 0 inside a plate (and in a V-groove's bevel, its box filled in): only
        # there can a point be solid.
        if any(c <= 0 and solid_at(self.part, p) for c, p in zip(clear, points, strict=True)):
            self._looked = None
            return True
        self._looked = (tip, axis, self.torch.bend_mm)
        self._clear_mm = min(clear)
        return False

    def beam_broken(self, pose: Pose) -> bool:
        if self.checker is None:
            return False
        return self.checker.broken_by(self.torch.wire_points(pose))

    def clearance_mm(self, pose: Pose) -> float:
        """How far the tool may move from ``pose``, in any direction, before ``probe`` can
        fire (a lower bound): the nearest to a plate of the nozzle's tested points, and of the
        wire's while it can make contact (sensing on, not insulated), and of the wire's to a
        beam. The probe tests these same points, so no margin is needed."""
        wire = self.torch.wire_points(pose)
        touching = wire if (self.sensing_on() and not self.insulated) else []
        best = math.inf
        if self.part is not None:
            best = min(
                clearance_mm(self.part, p) for p in touching + self.torch.nozzle_points(pose)
            )
        if self.checker is not None:
            best = min(best, self.checker.clearance_mm(wire))
        return best

    def electrical_contact(self, pose: Pose) -> bool:
        """The power source's contact signal: sensing on and the wire on a plate."""
        return self.sensing_on() and not self.insulated and self.wire_touches(pose)

    def probe(self, pose: Pose) -> str:
        """The robot's search inputs at ``pose``: "collision", "contact" or ""."""
        if self.nozzle_hits(pose):
            return "collision"
        if self.electrical_contact(pose) or self.beam_broken(pose):
            return "contact"
        return ""

    def breakaway_open(self) -> bool:
        """The breakaway switch (a PLC input): open for ``SWITCH_OPEN_S`` after a hit (in a
        search, on a weld path, or injected)."""
        return time.monotonic() < self.switch_open_until_s

    def inject_collision(self, open_s: float = SWITCH_OPEN_S) -> None:
        """A collision from outside the model (a fixture clamp, a person's tool): the switch
        opens for ``open_s`` and the neck bends."""
        self.collided(Pose(0.0, 0.0, 0.0), (1.0, 0.0, 0.0))
        self.switch_open_until_s = time.monotonic() + open_s

    def collided(self, pose: Pose, travel: Vector) -> None:
        """The nozzle hit a plate at ``pose`` moving along ``travel`` (cell frame): the neck
        bends back against it (the bend is kept in the tool's frame)."""
        self.collisions += 1
        self.switch_open_until_s = time.monotonic() + SWITCH_OPEN_S
        size = math.sqrt(sum(c * c for c in travel)) or 1.0
        back = tuple(-COLLISION_BEND_MM * c / size for c in travel)
        self.torch.bend(pose.base_to_tool(back))  # type: ignore[arg-type]
