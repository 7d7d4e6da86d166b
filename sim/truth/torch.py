"""The true torch: where its wire tip and its gas nozzle really are for a commanded tool pose.

The robot moves its tool centre point (TCP) to the pose it is told; the TCP is meant to be the
wire's tip at the nominal stick-out. The real torch differs from that in two ways the cell
must find out:

- ``bend_mm``: a bent neck (after a collision, or injected) puts the real tip off the TCP by
  this vector in the tool's frame (mm): it turns with the tool, so at a pose it is
  ``pose.tool_to_base(bend_mm)`` in the cell. With the torch upright (all angles 0, as the
  TCP checker measures it) the two frames agree;
- ``stick_out_error_mm``: the wire sticks out this much further than nominal (along the torch
  axis, towards the work) until the wire cutter cuts it back.

The torch axis points from the tip up the torch: the vertical turned by the pose's angles,
``Rz(rz)·Ry(ry)·Rx(rx)·(0, 0, 1)``; on a weld path, where the angles are the seam's work and
travel angles, the caller gives the axis (``weld_axis``). The nozzle's mouth is a ring
``NOZZLE_RADIUS_MM`` round the axis, ``NOZZLE_SETBACK_MM`` (the nominal stick-out) up it from
the nominal tip. The wire is the segment from the mouth's centre to the tip.

Pure: no I/O; ``sim.devices.touch`` uses it against the true plates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from drivers.codecs.robot_protocol import Pose

Vector = tuple[float, float, float]

NOZZLE_SETBACK_MM = 15.0  # the nominal stick-out: from the nozzle's mouth to the wire tip
NOZZLE_RADIUS_MM = 8.0  # the mouth's outer radius
NOZZLE_RING_POINTS = 12  # points on the mouth's rim tested against the plates
WIRE_POINT_SPACING_MM = 1.0  # points along the wire tested against the plates
CUT_STICK_OUT_ERROR_MM = 0.05  # what the wire cutter leaves


def torch_axis(pose: Pose) -> Vector:
    """The unit vector from the tip up the torch, for ``pose``'s angles (see the module)."""
    return pose.tool_to_base((0.0, 0.0, 1.0))


def weld_axis(work_deg: float, travel_deg: float, frame: tuple[Vector, ...]) -> Vector:
    """The torch's axis on a weld path whose seam frame there is ``frame`` (travel, lateral,
    vertical: lateral to the left of travel, the side away from a fillet's wall): leaning
    ``work_deg`` from the vertical towards +lateral, and ``travel_deg`` against the travel (a
    pushing torch, positive, leans back)."""
    travel, lateral, vertical = frame
    w, t = math.radians(work_deg), math.radians(travel_deg)
    return tuple(  # type: ignore[return-value]
        math.cos(t) * (math.cos(w) * vertical[k] + math.sin(w) * lateral[k])
        - math.sin(t) * travel[k]
        for k in range(3)
    )


def _along(point: Vector, direction: Vector, mm: float) -> Vector:
    x, y, z = point
    return (x + direction[0] * mm, y + direction[1] * mm, z + direction[2] * mm)


@dataclass
class TrueTorch:
    """The torch as it really is (see the module). Owned by the simulated cell's event loop."""

    bend_mm: Vector = (0.0, 0.0, 0.0)
    stick_out_error_mm: float = 0.0
    bends: int = 0  # times it was bent (injected or in a collision)

    def bend(self, by_mm: Vector) -> None:
        """Bend the neck further by ``by_mm`` in the tool's frame (a collision, or injected)."""
        self.bend_mm = (
            self.bend_mm[0] + by_mm[0],
            self.bend_mm[1] + by_mm[1],
            self.bend_mm[2] + by_mm[2],
        )
        self.bends += 1

    def replace(self) -> None:
        """A new (straight) torch neck."""
        self.bend_mm = (0.0, 0.0, 0.0)

    def cut_wire(self) -> None:
        """The wire cutter cuts the wire back to the nominal stick-out."""
        self.stick_out_error_mm = CUT_STICK_OUT_ERROR_MM

    def nominal_tip(self, pose: Pose) -> Vector:
        """Where the tip would be at the nominal stick-out: the TCP plus the bend, turned
        with the tool."""
        return _along(pose.position_mm, pose.tool_to_base(self.bend_mm), 1.0)

    def wire_tip(self, pose: Pose) -> Vector:
        """Where the wire's tip really is."""
        return _along(self.nominal_tip(pose), torch_axis(pose), -self.stick_out_error_mm)

    def wire_points(self, pose: Pose) -> list[Vector]:
        """Points along the wire from its tip to the nozzle's mouth."""
        axis = torch_axis(pose)
        tip = self.wire_tip(pose)
        length = NOZZLE_SETBACK_MM + self.stick_out_error_mm
        count = max(1, math.ceil(length / WIRE_POINT_SPACING_MM))
        return [_along(tip, axis, length * i / count) for i in range(count + 1)]

    def nozzle_points(self, pose: Pose, axis: Vector | None = None) -> list[Vector]:
        """The centre and rim of the nozzle's mouth; the torch along ``axis`` (a unit vector
        from the tip up the torch) when given, else along ``pose``'s angles."""
        axis = axis or torch_axis(pose)
        centre = _along(self.nominal_tip(pose), axis, NOZZLE_SETBACK_MM)
        # Two unit vectors across the axis.
        helper = (1.0, 0.0, 0.0) if abs(axis[0]) < 0.9 else (0.0, 1.0, 0.0)
        u = _unit(_cross(axis, helper))
        v = _cross(axis, u)
        points = [centre]
        for i in range(NOZZLE_RING_POINTS):
            a = 2 * math.pi * i / NOZZLE_RING_POINTS
            c, s = math.cos(a) * NOZZLE_RADIUS_MM, math.sin(a) * NOZZLE_RADIUS_MM
            points.append(tuple(centre[k] + c * u[k] + s * v[k] for k in range(3)))  # type: ignore[arg-type]
        return points


def _cross(a: Vector, b: Vector) -> Vector:
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def _unit(a: Vector) -> Vector:
    size = math.sqrt(a[0] ** 2 + a[1] ** 2 + a[2] ** 2)
    return (a[0] / size, a[1] / size, a[2] / size)
