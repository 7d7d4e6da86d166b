"""The torch in service: its TCP checked and corrected, its contact tip's wear counted.

``TorchCare`` owns, for the controller's life (on its event loop):

- the torch's TCP offset, applied to every pose through ``cellctl.motion.tool_offset``;
- whether a TCP check is due before the next weld: after a torch collision (F153, by the
  breakaway switch on the PLC or a search's nozzle), after an operator's request, and with
  every service cycle;
- counters: parts and arc time since the last service, the contact tip's arc time and its
  changes (``contact_tip_change_arc_min``: the controller asks for a change between parts,
  the operator confirms it).

The TCP check (``check_tcp``) runs robot searches through the beam-break TCP checker
(``cellctl.config.torch_models``): each beam crossed from both sides (the wire's centre is the
middle of the two contacts, whatever its diameter) and the crossing from above (the tip's
height, less the wire's radius). What it measures is the tip's error against the TCP now
(with the offset applied), so a check after a correction reads near zero. The new offset is
applied within ``correct_limit_mm`` and recorded in the store's audit trail; beyond it is
``TcpOutOfLimits`` (F155: change the torch).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from cellctl.cell.events import CellListener
from cellctl.cell.faults import Fault, FaultCode
from cellctl.cell.records import SeamSummary
from cellctl.config.torch_models import TcpCheckerSettings, TorchServiceSettings
from cellctl.config.touch_models import TouchSearch, TouchSearches
from cellctl.motion.moves import arrived_at
from cellctl.sensing.touch import TouchSensing
from drivers.codecs.robot_protocol import Pose
from drivers.plc import PlcDriver

log = logging.getLogger(__name__)

Vector = tuple[float, float, float]
BELOW_BEAM_MM = 5.0  # the tip passes this far below the beams: the wire crosses their height


class TcpOutOfLimits(Exception):
    """The torch's TCP error is beyond what the cell corrects."""


class TcpNotMeasured(Exception):
    """A TCP check is due but the cell has no TCP checker."""


@dataclass(frozen=True)
class TcpCheck:
    """One TCP check: the tip's error found (against the TCP with the old offset), the offset
    before and after."""

    error_mm: Vector
    offset_before_mm: Vector
    offset_after_mm: Vector

    @property
    def error_size_mm(self) -> float:
        return math.sqrt(sum(c * c for c in self.error_mm))


class TorchCare(CellListener):
    """The torch's service state (see the module). ``robot`` is the motion's robot: a
    ``ToolOffsetRobot`` whose ``offset_mm`` this sets."""

    def __init__(
        self,
        settings: TorchServiceSettings | None,
        touch: TouchSensing,
        audit: Callable[[str, str, str, str], Awaitable[object]],
        tell: Callable[[str], None],
        plc: PlcDriver | None = None,
    ) -> None:
        self.settings = settings or TorchServiceSettings()
        self.plc = plc  # the service station's outputs
        self.touch = touch
        self.robot = touch.robot
        self.audit = audit  # the store's audit trail (actor, action, detail, result)
        self.tell = tell
        self.tcp_check_due = False
        self.due_because = ""
        self.parts_since_service = 0
        self.arc_s_since_service = 0.0
        self.tip_arc_s = 0.0
        self.tip_changes = 0
        self.checks: list[TcpCheck] = []
        self.service_asked_by = ""  # an operator's request for a service cycle
        self.services = 0

    # -- what the cell tells it (CellListener) ----------------------------------------------

    def fault_raised(self, fault: Fault) -> None:
        if fault.code == FaultCode.TORCH_COLLISION:
            self.request_tcp_check("after a torch collision")

    def part_done(self, part: dict) -> None:
        self.parts_since_service += 1

    def seam_recorded(self, part_id: int, summary: SeamSummary) -> None:
        self.arc_s_since_service += summary.arc_time_s
        self.tip_arc_s += summary.arc_time_s

    # -- what is due -------------------------------------------------------------------------

    def request_tcp_check(self, why: str) -> None:
        """A TCP check before the next weld (``why`` for the log)."""
        if not self.tcp_check_due:
            self.tell(f"torch: TCP check due before the next weld ({why})")
        self.tcp_check_due = True
        self.due_because = why

    @property
    def offset_mm(self) -> Vector:
        return getattr(self.robot, "offset_mm", (0.0, 0.0, 0.0))

    def tip_change_due(self) -> bool:
        limit = self.settings.contact_tip_change_arc_min
        return limit is not None and self.tip_arc_s >= limit * 60

    async def tip_changed(self, by: str) -> None:
        """The operator changed the contact tip."""
        self.tip_changes += 1
        arc_min = self.tip_arc_s / 60
        self.tip_arc_s = 0.0
        detail = f"tip {self.tip_changes} after {arc_min:.1f} min arc"
        await self.audit(by, "contact_tip_change", detail, "ok")
        self.tell(f"torch: contact tip changed (change {self.tip_changes}, {arc_min:.1f} min arc)")

    # -- the TCP check -----------------------------------------------------------------------

    def service_due(self) -> str:
        """Why a service cycle is due before the next part ('' when it is not)."""
        settings = self.settings
        if self.service_asked_by:
            return f"asked by {self.service_asked_by}"
        if settings.every_parts is not None and self.parts_since_service >= settings.every_parts:
            return f"{self.parts_since_service} parts since the last"
        if settings.every_arc_min is not None and self.arc_s_since_service >= (
            settings.every_arc_min * 60
        ):
            return f"{self.arc_s_since_service / 60:.1f} min of arc since the last"
        return ""

    def request_service(self, by: str) -> None:
        """The operator asks for a service cycle between parts (before the next one)."""
        self.service_asked_by = by
        self.tell(f"torch: service cycle asked for by {by}, before the next part")

    async def before_part(self) -> TcpCheck | None:
        """What must happen before the next part's first weld: the service cycle when it is
        due (it ends with a TCP check), else the TCP check if due. The contact tip's change,
        when due, is asked of the operator."""
        if self.tip_change_due():
            self.tell(f"torch: contact tip change due ({self.tip_arc_s / 60:.1f} min of arc on it)")
        why = self.service_due()
        if why:
            await self.service(why)
            return await self.check_tcp()
        if self.tcp_check_due:
            return await self.check_tcp()
        return None

    async def service(self, why: str) -> None:
        """The service cycle at the station (ream, spray, cut the wire), then a TCP check is
        due. Without a station in the config only the TCP check remains."""
        station = self.settings.station
        if station is not None and self.plc is not None:
            steps = (
                ("reamer_on", station.reamer_mm, station.ream_s),
                ("spray_on", station.spray_mm, station.spray_s),
                ("wire_cutter_on", station.cutter_mm, station.cut_s),
            )
            for output, point, seconds in steps:
                await self._at_station(output, point, seconds, station.clearance_mm)
        self.services += 1
        self.parts_since_service = 0
        self.arc_s_since_service = 0.0
        self.service_asked_by = ""
        done = "reamed, sprayed, wire cut" if station is not None else "no station in the config"
        await self.audit("torch", "service", f"{why}; {done}", "ok")
        self.tell(f"torch: service cycle {self.services} ({why}): {done}")
        self.request_tcp_check("after the service cycle")

    async def _at_station(
        self, output: str, point: Vector, seconds: float, clearance_mm: float
    ) -> None:
        """Torch to ``point`` (upright, from above), ``output`` on for ``seconds``, back up."""
        assert self.plc is not None
        above = (point[0], point[1], point[2] + clearance_mm)
        motion = self.touch.motion
        speed = min(motion.max_speed_mm_per_s, 250.0)
        for target, at in ((above, speed), (point, speed / 2)):
            await self.robot.move_linear(Pose(*target), at)
            await motion.until(arrived_at(target), f"torch to the station ({output})")
        await self.plc.write_output(output, True)
        try:
            await asyncio.sleep(seconds)
        finally:
            await self.plc.write_output(output, False)
        await self.robot.move_linear(Pose(*above), speed / 2)
        await motion.until(arrived_at(above), f"torch up from the station ({output})")

    async def check_tcp(self) -> TcpCheck:
        """Measure the TCP in the checker and apply the correction (see the module).
        ``TcpOutOfLimits``; the searches' own exceptions (``cellctl.sensing.touch``) when the
        wire does not cross a beam."""
        checker = self.settings.tcp_checker
        if checker is None:
            raise TcpNotMeasured("no TCP checker in the cell config (torch_service.tcp_checker)")
        error = await self._measure(checker)
        before = self.offset_mm
        after = (before[0] + error[0], before[1] + error[1], before[2] + error[2])
        check = TcpCheck(error, before, after)
        size = math.sqrt(sum(c * c for c in after))
        detail = (
            f"tip error ({', '.join(f'{c:.2f}' for c in error)}) mm; offset "
            f"({', '.join(f'{c:.2f}' for c in after)}) mm, {size:.2f} mm"
        )
        if size > checker.correct_limit_mm:
            limit = f"beyond {checker.correct_limit_mm:g} mm"
            await self.audit("torch", "tcp_check", detail, limit)
            raise TcpOutOfLimits(
                f"TCP offset {size:.2f} mm is beyond the {checker.correct_limit_mm:g} mm the cell "
                f"corrects ({detail})"
            )
        self.robot.offset_mm = after  # type: ignore[attr-defined]
        self.checks.append(check)
        self.tcp_check_due = False
        self.due_because = ""
        await self.audit("torch", "tcp_check", detail, "offset applied")
        self.tell(f"torch: TCP checked, {detail}")
        return check

    async def _measure(self, checker: TcpCheckerSettings) -> Vector:
        """The tip's error against the TCP (as the robot now applies the offset). The
        searches hold the torch upright (all angles 0): there the tool's frame is the base's,
        so the error is the offset's change in the tool's frame, as ``ToolOffsetRobot``
        keeps it."""
        cx, cy, cz = checker.center_mm
        a, b, r = checker.approach_mm, checker.beside_mm, checker.wire_radius_mm
        low = cz - BELOW_BEAM_MM
        group = TouchSearches(
            speed_mm_per_s=checker.speed_mm_per_s,
            clearance_mm=checker.clearance_mm,
            searches=[_crossing("tcp-x-minus", (cx - a, cy + b, low), (1, 0, 0), a, r)],
        )

        async def across(name: str, start: Vector, direction: Vector) -> Vector:
            search = _crossing(name, start, direction, a, r)
            return (await self.touch.touch(search, group)).found_mm

        x_minus = await across("tcp-x-minus", (cx - a, cy + b, low), (1.0, 0.0, 0.0))
        x_plus = await across("tcp-x-plus", (cx + a, cy + b, low), (-1.0, 0.0, 0.0))
        error_x = cx - (x_minus[0] + x_plus[0]) / 2
        y_minus = await across("tcp-y-minus", (cx + b, cy - a, low), (0.0, 1.0, 0.0))
        y_plus = await across("tcp-y-plus", (cx + b, cy + a, low), (0.0, -1.0, 0.0))
        error_y = cy - (y_minus[1] + y_plus[1]) / 2
        # From above, with the tip over the beam along x (its y error taken out).
        top = await across("tcp-z", (cx + b, cy - error_y, cz + a), (0.0, 0.0, -1.0))
        error_z = cz + r - top[2]
        return (error_x, error_y, error_z)


def _crossing(
    name: str, start: Vector, direction: Vector, approach_mm: float, radius_mm: float
) -> TouchSearch:
    """A search from ``start`` across a beam ``approach_mm`` ahead (its surface the wire's
    radius nearer), on as far again."""
    return TouchSearch(
        name=name,
        start_mm=start,
        direction=direction,
        distance_mm=2 * approach_mm,
        expect_mm=approach_mm - radius_mm,
    )
