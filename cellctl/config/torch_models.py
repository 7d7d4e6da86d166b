"""The torch in service (``torch_service`` in the cell config): the TCP checker, the service
station and when each is used.

- ``tcp_checker``: a beam-break TCP checker (BullsEye style): two horizontal beams crossing at
  ``center_mm``, one along x and one along y. The torch crosses each beam from both sides
  and once from above (robot searches, ``cellctl.weld.torch_care``); the wire's centre against
  the crossing is the torch's TCP error. Within ``correct_limit_mm`` it is applied as the
  tool offset and recorded; beyond, the torch must be changed (F155).
- ``station``: reamer, anti-spatter spray and wire cutter, driven through the PLC: each is an
  output (on for its time) and the station's ready input; the torch goes to each position.
- ``every_parts`` / ``every_arc_min``: a service cycle (ream, spray, cut, TCP check) between
  parts after this many parts or this much arc time, whichever comes first; the operator may
  ask for one between parts too.
- ``contact_tip_change_arc_min``: the contact tip is changed at this arc time (an operator
  job: the controller asks for it between parts and counts the changes).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from drivers.codecs.model import StrictModel

PointMm = tuple[float, float, float]


class TcpCheckerSettings(StrictModel):
    center_mm: PointMm
    wire_radius_mm: Annotated[float, Field(gt=0, le=1.0)] = 0.6
    # The torch starts each search this far from the beam it crosses, and passes this far
    # beside the crossing (on the other beam's line only).
    approach_mm: Annotated[float, Field(gt=2, le=30)] = 8.0
    beside_mm: Annotated[float, Field(gt=2, le=15)] = 10.0
    speed_mm_per_s: Annotated[float, Field(gt=0, le=50)] = 5.0
    correct_limit_mm: Annotated[float, Field(gt=0, le=5)] = 2.0
    clearance_mm: Annotated[float, Field(ge=10, le=300)] = 40.0


class ServiceStationSettings(StrictModel):
    reamer_mm: PointMm
    spray_mm: PointMm
    cutter_mm: PointMm
    ream_s: Annotated[float, Field(gt=0, le=30)] = 3.0
    spray_s: Annotated[float, Field(gt=0, le=5)] = 0.5
    cut_s: Annotated[float, Field(gt=0, le=5)] = 0.3
    clearance_mm: Annotated[float, Field(ge=10, le=300)] = 60.0


class TorchServiceSettings(StrictModel):
    tcp_checker: TcpCheckerSettings | None = None
    station: ServiceStationSettings | None = None
    every_parts: Annotated[int, Field(ge=1, le=10_000)] | None = None
    every_arc_min: Annotated[float, Field(gt=0, le=10_000)] | None = None
    contact_tip_change_arc_min: Annotated[float, Field(gt=0, le=10_000)] | None = None
