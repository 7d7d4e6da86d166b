"""Interlocks: conditions on the PLC's inputs that must hold, one small class each.

The safety functions themselves (e-stop, guarding, light curtain) are in hardware and the
safety PLC; the controller only reacts to what they report, so that the arc goes off and the
robot holds on the software side too, and the event is recorded with its cause.

Each interlock says when it applies (``scope``) and, given the latest input image, whether it
is violated and why. ``Interlocks.check`` runs all of them after every PLC scan. The same list
answers "may the cycle start?" (``start_blockers``), so that Start is refused with a reason
instead of starting into a fault.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from cellctl.cell.faults import FaultCode
from drivers.codecs.modbus_map import SignalValue

Inputs = Mapping[str, SignalValue]


class Scope(enum.Enum):
    ALWAYS = "always"  # in every state
    ACTIVE = "active"  # while a cycle is running or held (Starting .. Completing)
    CLAMPED = "clamped"  # while the cycle holds the part clamped


@dataclass(frozen=True)
class CellContext:
    """What the controller is doing, as far as interlocks care."""

    active: bool = False
    clamped: bool = False
    drives_requested: bool = False
    # The PLC has echoed a heartbeat this controller wrote. Before that, a tripped watchdog is
    # the PLC waiting for us (we just started), not a lost heartbeat.
    heartbeat_established: bool = True


class Interlock:
    fault_code: FaultCode
    scope: Scope = Scope.ACTIVE
    blocks_start: bool = True
    # Whether a fault of this interlock stays uncleared while its condition lasts. A door held
    # open must be closed before Clear; a removed part need not be back (Idle waits for one).
    holds_clear: bool = True

    def violated(self, inputs: Inputs, context: CellContext) -> str | None:
        """The reason it is violated now, or None. Only called when in scope."""
        raise NotImplementedError

    def applies(self, context: CellContext) -> bool:
        if self.scope is Scope.ALWAYS:
            return True
        if self.scope is Scope.ACTIVE:
            return context.active
        return context.clamped


class EStopChain(Interlock):
    fault_code = FaultCode.ESTOP
    scope = Scope.ALWAYS

    def violated(self, inputs: Inputs, context: CellContext) -> str | None:
        return None if inputs.get("estop_chain_ok") else "e-stop chain reported open by the PLC"


class DoorClosed(Interlock):
    fault_code = FaultCode.DOOR_OPEN

    def violated(self, inputs: Inputs, context: CellContext) -> str | None:
        return None if inputs.get("door_closed") else "cell door open"


class LightCurtainClear(Interlock):
    fault_code = FaultCode.LIGHT_CURTAIN

    def violated(self, inputs: Inputs, context: CellContext) -> str | None:
        return None if inputs.get("light_curtain_clear") else "light curtain interrupted"


class PlcWatchdogHealthy(Interlock):
    fault_code = FaultCode.PLC_WATCHDOG
    scope = Scope.ALWAYS

    def violated(self, inputs: Inputs, context: CellContext) -> str | None:
        if inputs.get("watchdog_tripped") and context.heartbeat_established:
            return "the PLC reports its heartbeat watchdog tripped"
        return None


class DrivesEnabled(Interlock):
    """Drives dropped while we asked for them, with no guard or e-stop to explain it."""

    fault_code = FaultCode.DRIVES_OFF
    blocks_start = False  # drives are enabled by Start itself
    holds_clear = False

    def violated(self, inputs: Inputs, context: CellContext) -> str | None:
        if not context.drives_requested or inputs.get("robot_enabled"):
            return None
        explained = not (
            inputs.get("estop_chain_ok")
            and inputs.get("door_closed")
            and inputs.get("light_curtain_clear")
            and not inputs.get("watchdog_tripped")
        )
        return None if explained else "robot drive enable dropped by the PLC"


class GasPressure(Interlock):
    fault_code = FaultCode.GAS_PRESSURE_LOW

    def violated(self, inputs: Inputs, context: CellContext) -> str | None:
        if inputs.get("gas_pressure_ok"):
            return None
        bar = inputs.get("gas_pressure_bar")
        if isinstance(bar, float):
            return f"gas supply pressure {bar:.2f} bar"
        return "gas pressure low"


class AirPressure(Interlock):
    fault_code = FaultCode.AIR_PRESSURE_LOW

    def violated(self, inputs: Inputs, context: CellContext) -> str | None:
        if inputs.get("air_pressure_ok"):
            return None
        bar = inputs.get("air_pressure_bar")
        if isinstance(bar, float):
            return f"air pressure {bar:.2f} bar"
        return "air pressure low"


class ClampsClosed(Interlock):
    fault_code = FaultCode.CLAMPS_OPEN
    scope = Scope.CLAMPED
    blocks_start = False  # Start closes them
    holds_clear = False

    def violated(self, inputs: Inputs, context: CellContext) -> str | None:
        return None if inputs.get("clamps_closed") else "clamps no longer closed"


class PartPresent(Interlock):
    fault_code = FaultCode.PART_REMOVED
    holds_clear = False

    def violated(self, inputs: Inputs, context: CellContext) -> str | None:
        return None if inputs.get("part_present") else "no part in the fixture"


class TorchCollision(Interlock):
    """The torch's breakaway switch (a PLC input, ``torch_collision``): in any state, a
    collision is a fault; the switch must close again before Clear."""

    fault_code = FaultCode.TORCH_COLLISION
    scope = Scope.ALWAYS

    def violated(self, inputs: Inputs, context: CellContext) -> str | None:
        return "torch breakaway switch open" if inputs.get("torch_collision") else None


class Interlocks:
    """Every interlock of the cell, checked together."""

    def __init__(self) -> None:
        self.all: list[Interlock] = [
            EStopChain(),
            PlcWatchdogHealthy(),
            DoorClosed(),
            LightCurtainClear(),
            DrivesEnabled(),
            GasPressure(),
            AirPressure(),
            PartPresent(),
            ClampsClosed(),
            TorchCollision(),
        ]

    def check(self, inputs: Inputs, context: CellContext) -> list[tuple[FaultCode, str]]:
        """(fault code, reason) for every interlock violated now and in scope."""
        found = []
        for interlock in self.all:
            if interlock.applies(context):
                reason = interlock.violated(inputs, context)
                if reason:
                    found.append((interlock.fault_code, reason))
        return found

    def causes_present(self, inputs: Inputs) -> set[FaultCode]:
        """Fault codes whose cause is still there, whatever the state (for Clear and Reset)."""
        everywhere = CellContext(active=True)
        return {
            interlock.fault_code
            for interlock in self.all
            if interlock.holds_clear and interlock.violated(inputs, everywhere)
        }

    def start_blockers(self, inputs: Inputs) -> list[str]:
        """Why the cycle may not start now (empty: it may)."""
        everywhere = CellContext(active=True)
        return [
            reason
            for interlock in self.all
            if interlock.blocks_start and (reason := interlock.violated(inputs, everywhere))
        ]
