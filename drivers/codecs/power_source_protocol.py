"""The welding power source's meaning, shared by its driver and its simulator. Pure: no I/O.

The register layout is the cell config's (``power_source.registers``); this module says what
the values mean: the status the controller reads, and the error codes the machine reports with
the text and the action an operator needs. The codes follow the pattern of industrial
GMAW power sources' robot interfaces (one latched error number, cleared by an error reset
while the arc is off).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from drivers.codecs.modbus_map import SignalValue


class PowerSourceError(enum.IntEnum):
    NONE = 0
    IGNITION_FAILED = 101
    ARC_BREAK = 102
    WIRE_STICK = 103
    GAS_FLOW = 104
    WIRE_FEED = 105
    OVERTEMPERATURE = 106
    MAINS_PHASE = 107
    COOLANT_FLOW = 108
    INTERFACE_TIMEOUT = 109
    TORCH_SHORT = 110


# code -> (what happened, what the operator should do)
ERROR_TEXT: dict[PowerSourceError, tuple[str, str]] = {
    PowerSourceError.NONE: ("no error", ""),
    PowerSourceError.IGNITION_FAILED: (
        "arc ignition failed: no welding current within the ignition time",
        "check wire stick-out, contact tip and the work clamp",
    ),
    PowerSourceError.ARC_BREAK: (
        "arc break: the arc went out during welding",
        "check wire feed, contact tip and shielding gas",
    ),
    PowerSourceError.WIRE_STICK: (
        "wire stick: the wire is stuck in the weld pool after arc end",
        "cut the wire free at the contact tip",
    ),
    PowerSourceError.GAS_FLOW: (
        "shielding gas flow below minimum",
        "check the gas cylinder, regulator, hose and nozzle",
    ),
    PowerSourceError.WIRE_FEED: (
        "wire feeder overload: the wire jams",
        "check the liner, the drive rolls and the wire spool",
    ),
    PowerSourceError.OVERTEMPERATURE: (
        "power source overtemperature",
        "let it cool; check the fan and the duty cycle",
    ),
    PowerSourceError.MAINS_PHASE: ("mains phase missing", "check the mains supply and fuses"),
    PowerSourceError.COOLANT_FLOW: (
        "torch coolant flow too low",
        "check the cooling unit and the torch hoses",
    ),
    PowerSourceError.INTERFACE_TIMEOUT: (
        "robot interface timeout: no command from the controller, arc switched off",
        "check the controller and the RS-485 cable",
    ),
    PowerSourceError.TORCH_SHORT: (
        "short circuit between torch and work without an arc",
        "check the torch nozzle for spatter bridging to the work",
    ),
}


def error_text(code: int) -> str:
    try:
        return ERROR_TEXT[PowerSourceError(code)][0]
    except ValueError:
        return f"unknown error {code}"


@dataclass(frozen=True)
class PowerSourceStatus:
    """One read of the power source: its state bits, its error and its actuals."""

    ready: bool
    arc_established: bool
    current_flowing: bool
    error: bool
    error_code: int
    actual_current_a: float
    actual_voltage_v: float
    actual_wire_feed_m_per_min: float
    gas_flow_ok: bool | None = None  # None: the map has no such input
    actual_gas_flow_l_per_min: float | None = None
    wire_touching: bool | None = None  # touch sensing contact; None: the map has no such input

    @property
    def error_text(self) -> str:
        return error_text(self.error_code)

    @classmethod
    def from_inputs(cls, values: Mapping[str, SignalValue]) -> PowerSourceStatus:
        """Build from the decoded input image (names as in POWER_SOURCE_REQUIRED_INPUTS)."""
        gas_ok = values.get("gas_flow_ok")
        gas_flow = values.get("actual_gas_flow_l_per_min")
        touching = values.get("wire_touching")
        return cls(
            ready=bool(values["ready"]),
            arc_established=bool(values["arc_established"]),
            current_flowing=bool(values["current_flowing"]),
            error=bool(values["error"]),
            error_code=int(values["error_code"]),
            actual_current_a=float(values["actual_current_a"]),
            actual_voltage_v=float(values["actual_voltage_v"]),
            actual_wire_feed_m_per_min=float(values["actual_wire_feed_m_per_min"]),
            gas_flow_ok=None if gas_ok is None else bool(gas_ok),
            actual_gas_flow_l_per_min=None if gas_flow is None else float(gas_flow),
            wire_touching=None if touching is None else bool(touching),
        )


# -- arc sensing: the current per weave period (docs/architecture.md, "Through-arc seam
# tracking"). The power source samples its current in phase with the robot's weave sync and
# publishes one result per weave period in these inputs, read together in one request.
ARC_SENSING_INPUTS = (
    "arc_sensing_period_count",
    "arc_sensing_left_current_a",
    "arc_sensing_right_current_a",
    "arc_sensing_mean_current_a",
    "arc_sensing_samples",
    "arc_sensing_period_ms",
)
PERIOD_COUNT_MODULUS = 65536  # the counter is one uint16 register: it wraps


@dataclass(frozen=True)
class WeavePeriodCurrents:
    """The power source's last completed weave period: the mean current (A) in the weave's
    left extreme, in its right extreme, and over the whole period; how many samples it
    averaged, how long the period was (ms, the machine's clock), and its number (0: no period
    completed since the machine started; wraps at ``PERIOD_COUNT_MODULUS``)."""

    period_count: int
    left_current_a: float
    right_current_a: float
    mean_current_a: float
    samples: int
    period_ms: float

    @classmethod
    def from_inputs(cls, values: Mapping[str, SignalValue]) -> WeavePeriodCurrents:
        """Build from the decoded arc-sensing inputs (names as in ARC_SENSING_INPUTS)."""
        return cls(
            period_count=int(values["arc_sensing_period_count"]),
            left_current_a=float(values["arc_sensing_left_current_a"]),
            right_current_a=float(values["arc_sensing_right_current_a"]),
            mean_current_a=float(values["arc_sensing_mean_current_a"]),
            samples=int(values["arc_sensing_samples"]),
            period_ms=float(values["arc_sensing_period_ms"]),
        )

    def periods_since(self, earlier_count: int) -> int:
        """How many periods completed after the one numbered ``earlier_count`` (the counter
        wraps)."""
        return (self.period_count - earlier_count) % PERIOD_COUNT_MODULUS
