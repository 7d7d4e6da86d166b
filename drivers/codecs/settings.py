"""Settings of every device kind: where it is, how patiently to talk to it, what it can do.

Pure data types (pydantic, unknown keys rejected, units in field names). The controller's config
embeds them; the simulator reads the same types to know where to listen and how to behave, so
that both ends of a wire agree on one register map and one set of limits.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from drivers.codecs.abb_egm_settings import AbbEgmSettings
from drivers.codecs.modbus_map import RegisterMap, SignalType
from drivers.codecs.model import StrictModel

Port = Annotated[int, Field(ge=1, le=65535)]
UnitId = Annotated[int, Field(ge=0, le=247)]
TimeoutMs = Annotated[int, Field(ge=1, le=60_000)]
Retries = Annotated[int, Field(ge=0, le=10)]

# Rates a UART and the Modbus RTU specification know; anything else is almost surely a typo.
STANDARD_BAUDS = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)


def _check_standard_baud(baud: int) -> int:
    if baud not in STANDARD_BAUDS:
        raise ValueError(f"{baud} is not a standard rate ({', '.join(map(str, STANDARD_BAUDS))})")
    return baud


class _Patience(StrictModel):
    """Timeouts, retries and reconnect backoff, common to every link."""

    timeout_ms: TimeoutMs = 200
    retries: Retries = 1
    reconnect_delay_min_ms: Annotated[int, Field(ge=10, le=60_000)] = 100
    reconnect_delay_max_ms: Annotated[int, Field(ge=10, le=600_000)] = 5_000

    @model_validator(mode="after")
    def _backoff_order(self):
        if self.reconnect_delay_max_ms < self.reconnect_delay_min_ms:
            raise ValueError(
                f"reconnect_delay_max_ms ({self.reconnect_delay_max_ms}) is below "
                f"reconnect_delay_min_ms ({self.reconnect_delay_min_ms})"
            )
        return self


class ModbusTcpLinkSettings(_Patience):
    """Modbus TCP: a PLC or gateway on Ethernet."""

    transport: Literal["tcp"] = "tcp"
    host: str = "127.0.0.1"
    port: Port = 502
    unit_id: UnitId = 1

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port} unit {self.unit_id}"


class ModbusRtuLinkSettings(_Patience):
    """Modbus RTU on a serial line (RS-485/RS-232), a pty, or ``socket://host:port``."""

    transport: Literal["rtu"] = "rtu"
    port: Annotated[str, Field(min_length=1)]
    baud: int = 19200
    parity: Literal["N", "E", "O"] = "E"  # the Modbus serial line spec's default
    stop_bits: Literal[1, 2] = 1
    data_bits: Literal[7, 8] = 8
    unit_id: Annotated[int, Field(ge=1, le=247)] = 1

    _standard_baud = field_validator("baud")(_check_standard_baud)

    @property
    def address(self) -> str:
        return f"{self.port} unit {self.unit_id}"

    @property
    def character_time_s(self) -> float:
        """Time one character takes on the wire: start bit, data bits, parity bit, stop bits."""
        bits = 1 + self.data_bits + (0 if self.parity == "N" else 1) + self.stop_bits
        return bits / self.baud


ModbusLinkSettings = Annotated[
    ModbusTcpLinkSettings | ModbusRtuLinkSettings, Field(discriminator="transport")
]


class SerialLinkSettings(_Patience):
    """A framed serial link (the robot's): a device path, a pty, or a pyserial URL."""

    port: Annotated[str, Field(min_length=1)]
    baud: int = 115200
    timeout_ms: TimeoutMs = 100
    retries: Retries = 2

    _standard_baud = field_validator("baud")(_check_standard_baud)

    @property
    def address(self) -> str:
        return self.port


# -- the cell PLC -----------------------------------------------------------------------------

# Inputs and outputs the controller relies on. A PLC map may name more (lamps, spare buttons);
# it may not name fewer.
PLC_REQUIRED_INPUTS = (
    "estop_chain_ok",
    "door_closed",
    "light_curtain_clear",
    "part_present",
    "clamps_closed",
    "start_button",
    "reset_button",
    "gas_pressure_ok",
    "air_pressure_ok",
    "robot_enabled",
)
PLC_REQUIRED_OUTPUTS = ("heartbeat", "robot_enable_request", "clamp_close_request")


class HeartbeatSettings(StrictModel):
    """The controller counts ``output`` up every ``period_ms``; the PLC watches it.

    If the count does not change for ``watchdog_timeout_ms`` the PLC drops robot enable. Both
    ends read this one setting: the controller to pace its writes, the PLC (or the simulated one)
    to set its watchdog.
    """

    output: str = "heartbeat"
    period_ms: Annotated[int, Field(ge=10, le=10_000)] = 100
    watchdog_timeout_ms: Annotated[int, Field(ge=50, le=60_000)] = 1_000

    @model_validator(mode="after")
    def _timeout_covers_several_beats(self):
        if self.watchdog_timeout_ms < 3 * self.period_ms:
            raise ValueError(
                f"watchdog_timeout_ms ({self.watchdog_timeout_ms}) must be at least 3 heartbeat "
                f"periods ({3 * self.period_ms}), or one late write trips the PLC's watchdog"
            )
        return self


class PlcSettings(StrictModel):
    """The cell PLC: fixture, door, e-stop chain, light curtain, buttons, stack light."""

    link: ModbusLinkSettings
    registers: RegisterMap
    heartbeat: HeartbeatSettings = HeartbeatSettings()
    scan_period_ms: Annotated[int, Field(ge=5, le=1_000)] = 20

    @model_validator(mode="after")
    def _map_has_what_the_controller_needs(self):
        problems = _missing("inputs", self.registers.inputs, PLC_REQUIRED_INPUTS)
        problems += _missing("outputs", self.registers.outputs, PLC_REQUIRED_OUTPUTS)
        heartbeat = self.registers.outputs.get(self.heartbeat.output)
        if heartbeat is None:
            problems.append(f"heartbeat.output {self.heartbeat.output!r} is not an output")
        elif heartbeat.type is not SignalType.UINT16:
            problems.append(f"heartbeat output {self.heartbeat.output!r} must be a uint16")
        if problems:
            raise ValueError("; ".join(problems))
        return self


# -- the welding power source -----------------------------------------------------------------

POWER_SOURCE_REQUIRED_INPUTS = (
    "ready",
    "arc_established",
    "current_flowing",
    "error",
    "error_code",
    "actual_current_a",
    "actual_voltage_v",
    "actual_wire_feed_m_per_min",
)
POWER_SOURCE_REQUIRED_OUTPUTS = (
    "arc_on",
    "gas_test",
    "wire_inch",
    "wire_retract",
    "error_reset",
    "job_mode",
    "job_number",
    "current_setpoint_a",
    "voltage_setpoint_v",
    "wire_feed_setpoint_m_per_min",
)


class PowerSourceLimits(StrictModel):
    """Largest setpoints this machine accepts; the driver refuses more before the wire."""

    max_current_a: Annotated[float, Field(gt=0, le=1000)] = 500.0
    max_voltage_v: Annotated[float, Field(gt=0, le=100)] = 50.0
    max_wire_feed_m_per_min: Annotated[float, Field(gt=0, le=50)] = 25.0


class PowerSourceSettings(StrictModel):
    """A welding power source on Modbus RTU (or TCP through a gateway)."""

    link: ModbusLinkSettings
    registers: RegisterMap
    limits: PowerSourceLimits = PowerSourceLimits()
    # Power source side: with the arc on, no request from the controller for this long switches
    # the arc off with an interface timeout error (the machine's own fail-safe).
    interface_watchdog_ms: Annotated[int, Field(ge=50, le=10_000)] = 500

    @model_validator(mode="after")
    def _map_has_what_the_controller_needs(self):
        problems = _missing("inputs", self.registers.inputs, POWER_SOURCE_REQUIRED_INPUTS)
        problems += _missing("outputs", self.registers.outputs, POWER_SOURCE_REQUIRED_OUTPUTS)
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _missing(kind: str, present: dict, required: tuple[str, ...]) -> list[str]:
    absent = [name for name in required if name not in present]
    return [f"registers.{kind} lacks {', '.join(absent)}"] if absent else []


# -- the robot --------------------------------------------------------------------------------


class AxisRangeMm(StrictModel):
    min: float
    max: float

    @model_validator(mode="after")
    def _ordered(self):
        if self.max <= self.min:
            raise ValueError(f"max ({self.max}) must be above min ({self.min})")
        return self

    def contains(self, value: float) -> bool:
        return self.min <= value <= self.max


class WorkspaceMm(StrictModel):
    """The box the tool point may reach, in the robot's base frame."""

    x: AxisRangeMm
    y: AxisRangeMm
    z: AxisRangeMm

    def contains(self, point: tuple[float, float, float]) -> bool:
        return self.x.contains(point[0]) and self.y.contains(point[1]) and self.z.contains(point[2])


class RobotLimits(StrictModel):
    max_speed_mm_per_s: Annotated[float, Field(gt=0, le=5_000)] = 250.0
    max_acceleration_mm_per_s2: Annotated[float, Field(gt=0, le=50_000)] = 2_000.0
    workspace_mm: WorkspaceMm
    # Largest lateral or vertical offset a path correction may apply, and how fast it may move.
    max_path_correction_mm: Annotated[float, Field(gt=0, le=50)] = 10.0
    max_correction_rate_mm_per_s: Annotated[float, Field(gt=0, le=500)] = 20.0
    # The weave the robot makes itself (drivers.codecs.weave): the largest amplitude to either
    # side, and the fastest the torch may swing across the seam.
    max_weave_amplitude_mm: Annotated[float, Field(gt=0, le=50)] = 10.0
    max_weave_speed_mm_per_s: Annotated[float, Field(gt=0, le=1_000)] = 100.0
    # The tightest circular move (MOVE_CIRCULAR, a blended corner) the robot runs.
    min_arc_radius_mm: Annotated[float, Field(gt=0, le=1_000)] = 5.0


class KukaRsiSettings(StrictModel):
    """KUKA RSI over Ethernet (``drivers.codecs.kuka_rsi``): both ends read this one section.

    The robot's RSI ETHERNET object sends to ``sensor_host:sensor_port`` (its configuration
    file's ``IP_NUMBER`` / ``PORT``); the controller answers from there. Datagrams from any host
    but ``robot_host`` (and, when set, any port but ``robot_port``) are refused.
    """

    sensor_host: str = "127.0.0.1"
    sensor_port: Port = 59152
    robot_host: str = "127.0.0.1"
    # The robot's source port; unset: any (a KRC sends from a port of its own choosing).
    robot_port: Port | None = None
    # The interpolation cycle the RSI context runs in: IPO_FAST (4 ms) or IPO (12 ms).
    cycle_ms: Literal[4, 12] = 4
    # The ETHERNET object's Timeout: late answers in a row the robot bears; one more stops it.
    late_answer_limit: Annotated[int, Field(ge=1, le=1_000)] = 10
    # The frame RKorr is in (the POSCORR object's RefCorrSys): the robot's base or tool frame.
    correction_frame: Literal["base", "tool"] = "base"
    # The POSCORR object's limits: the largest offset along each Cartesian axis, mm. The robot
    # clamps to it; the controller refuses a correction beyond it before the wire.
    max_correction_mm: Annotated[float, Field(gt=0, le=50)] = 8.0
    sensor_type: Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{1,32}$")] = "ImFree"  # SENTYPE
    precision: Annotated[int, Field(ge=1, le=8)] = 4  # the ETHERNET object's Precision
    # Controller side: no telegram this long while a seam runs: the stream is lost (F132).
    stream_timeout_ms: Annotated[int, Field(ge=8, le=5_000)] = 40

    @model_validator(mode="after")
    def _timeout_covers_cycles(self):
        if self.stream_timeout_ms < 2 * self.cycle_ms:
            raise ValueError(
                f"stream_timeout_ms ({self.stream_timeout_ms}) must cover at least 2 cycles "
                f"({2 * self.cycle_ms} ms)"
            )
        return self

    @property
    def address(self) -> str:
        robot = f"{self.robot_host}:{self.robot_port}" if self.robot_port else self.robot_host
        return f"udp {self.sensor_host}:{self.sensor_port} (robot {robot})"


RobotInterface = Literal["serial", "kuka_rsi", "abb_egm"]
ROBOT_OWNS_MOTION = ("kuka_rsi", "abb_egm")  # interfaces on which the robot runs its own job


class RobotSettings(StrictModel):
    """The welding manipulator: on our serial link (``interface: serial``, the PC streams its
    motion), or an industrial robot that runs its own job and takes the sensor's corrections
    through its vendor's interface (``kuka_rsi``, ``abb_egm``; see ``drivers.robot.owned``)."""

    interface: RobotInterface = "serial"
    link: SerialLinkSettings | None = None  # required for interface serial
    kuka_rsi: KukaRsiSettings | None = None  # required for interface kuka_rsi
    abb_egm: AbbEgmSettings | None = None  # required for interface abb_egm
    # Robot-owned motion: the robot's job number for each job a part program names
    # (``robot_job``); the controller writes it to the PLC's robot_job_number.
    jobs: dict[
        Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,23}$")],
        Annotated[int, Field(ge=1, le=65535)],
    ] = Field(default_factory=dict)
    limits: RobotLimits
    # Robot side: hold the motion when a correction stream stops for this long mid-path.
    correction_watchdog_ms: Annotated[int, Field(ge=10, le=5_000)] = 100
    # Robot side: hold the motion when no request at all comes from the controller for this
    # long while moving (the controller polls status every status_period_ms).
    link_watchdog_ms: Annotated[int, Field(ge=50, le=10_000)] = 500
    status_period_ms: Annotated[int, Field(ge=4, le=1_000)] = 20
    home_pose_mm: tuple[float, float, float] = (0.0, 0.0, 400.0)

    @model_validator(mode="after")
    def _interface_has_its_section(self):
        if self.interface == "serial" and self.link is None:
            raise ValueError("link is required for interface serial")
        if self.interface == "kuka_rsi" and self.kuka_rsi is None:
            raise ValueError("kuka_rsi is required for interface kuka_rsi")
        if self.interface == "abb_egm" and self.abb_egm is None:
            raise ValueError("abb_egm is required for interface abb_egm")
        return self

    @property
    def owns_motion(self) -> bool:
        """Whether the robot runs its own job (the controller overlays corrections only)."""
        return self.interface in ROBOT_OWNS_MOTION

    @model_validator(mode="after")
    def _home_in_workspace(self):
        if self.link_watchdog_ms < 3 * self.status_period_ms:
            raise ValueError(
                f"link_watchdog_ms ({self.link_watchdog_ms}) must be at least 3 status periods "
                f"({3 * self.status_period_ms})"
            )
        if not self.limits.workspace_mm.contains(self.home_pose_mm):
            raise ValueError(f"home_pose_mm {list(self.home_pose_mm)} is outside workspace_mm")
        return self
