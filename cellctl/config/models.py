"""The config data model: the cell, its weld procedures (WPS) and its part programs.

Every model rejects unknown keys and carries units in its field names. The device sections
(PLC, power source, robot) are the drivers' own settings types, so that the controller, the
drivers and the simulator read one definition.

Checks that need more than one file (a seam's procedure exists, its path lies inside the robot's
workspace, its travel speed is within the robot's limit) are in ``cellctl.config.load``.
"""

from __future__ import annotations

import enum
import itertools
from typing import Annotated, Literal

from pydantic import Discriminator, Field, Tag, model_validator

from cellctl.config.arc_models import ArcSensingSettings
from cellctl.config.sensor_models import SensorSettings
from cellctl.config.torch_models import TorchServiceSettings
from cellctl.config.touch_models import PartFrameTouch, TouchSearches
from cellctl.config.trace_models import TraceabilitySettings
from drivers.codecs.model import StrictModel
from drivers.codecs.seam_path import SeamPath, build_path
from drivers.codecs.settings import PlcSettings, PowerSourceSettings, RobotSettings
from drivers.codecs.weave import NO_WEAVE, WeaveShape
from drivers.codecs.weave import WeavePattern as WirePattern

PositiveMm = Annotated[float, Field(gt=0)]
Name = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
PointMm = tuple[float, float, float]


# -- the cell ---------------------------------------------------------------------------------


class CellIdentity(StrictModel):
    name: Name
    description: str = ""


class MonitoringSettings(StrictModel):
    """Weld monitoring (see ``cellctl.weld.monitoring``)."""

    sample_period_ms: Annotated[int, Field(ge=5, le=50)] = 25  # at least 20 Hz
    reaction_time_ms: Annotated[int, Field(ge=0, le=5_000)] = 300


class ArcSettings(StrictModel):
    """What to do when the arc goes out mid-seam."""

    # An arc out for longer than this is a break (shorter gaps are short-circuits, not breaks).
    break_time_ms: Annotated[int, Field(ge=20, le=2_000)] = 150
    # Restart automatically, backing up ``restart_overlap_mm`` to overlap the bead, at most
    # ``max_restarts_per_seam`` times; otherwise (or after that) hold and fault.
    restart_on_break: bool = False
    restart_overlap_mm: Annotated[float, Field(ge=0, le=50)] = 10.0
    max_restarts_per_seam: Annotated[int, Field(ge=0, le=5)] = 1


class MotionSettings(StrictModel):
    air_speed_mm_per_s: Annotated[float, Field(gt=0, le=2_000)] = 250.0  # approach, retract
    move_timeout_margin_s: Annotated[float, Field(ge=1, le=600)] = 10.0


class CycleSettings(StrictModel):
    clamp_timeout_ms: Annotated[int, Field(ge=100, le=60_000)] = 5_000
    # Status polling of robot and power source while they work (between: 5x slower).
    status_period_ms: Annotated[int, Field(ge=4, le=200)] = 20
    # The part program Start welds (default: the first listed in parts).
    active_part: str | None = None


class ControllerSettings(StrictModel):
    # Relative to the cell config's folder unless absolute.
    store_path: str = "../var/production.db"
    # The production database as a URL; overrides store_path when set. sqlite:///PATH (relative
    # to the cell config's folder) or postgresql://user@host:port/db for a plant database that
    # many cells share (see cellctl.records.backends).
    store_url: str | None = Field(default=None, pattern=r"^(sqlite:///|postgres(ql)?://).+")
    monitoring: MonitoringSettings = MonitoringSettings()
    arc: ArcSettings = ArcSettings()
    motion: MotionSettings = MotionSettings()
    cycle: CycleSettings = CycleSettings()
    # A "health" line in the log this often: tasks, threads, open files (see Controller).
    health_log_period_s: Annotated[float, Field(ge=1, le=3600)] = 60.0


class OpcUaUser(StrictModel):
    """A user of the OPC UA interface. ``password_hash`` comes from ``cellctl passwd``."""

    name: Name
    role: Literal["operator", "engineer", "quality"]
    password_hash: Annotated[str, Field(pattern=r"^scrypt\$\d+\$\d+\$\d+\$[0-9a-f]+\$[0-9a-f]+$")]


class OpcUaSettings(StrictModel):
    """The controller's OPC UA server (``cellctl.plant.opcua.server``), served by
    ``cellctl run``."""

    enabled: bool = True
    endpoint: str = "opc.tcp://127.0.0.1:4840"
    # Clients that log in with no user may read and browse; they can never command.
    allow_anonymous: bool = True
    # Every endpoint is Basic256Sha256 (Sign, SignAndEncrypt): the channel is signed, and a
    # password is accepted only encrypted. An unsecured (None) endpoint, for anonymous reading
    # only, exists if this is true (it needs allow_anonymous); a password is never accepted on it.
    none_endpoint: bool = False
    # The cell's application certificate (DER or PEM) and its private key (unencrypted PEM),
    # relative to this file, e.g. from the plant's certificate authority. Both or neither.
    certificate: str | None = None
    private_key: str | None = None
    # Without them: the controller makes a self-signed pair here on its first start (`cellctl
    # certs` makes it beforehand), and keeps it: clients pin it.
    certificate_dir: str = "../var/opcua"
    # A folder of client certificates (DER or PEM; e.g. from `cellctl certs --client`, or the
    # HMI's client-certificate.der): when set, a session is accepted only from a client whose
    # channel's certificate is one of them (read at each session: no restart to add one).
    # Unset: any client certificate (the channel is still encrypted; passwords still needed).
    trusted_clients: str | None = None
    # How often the Cell object's variables are refreshed from the controller.
    publish_period_ms: Annotated[int, Field(ge=20, le=2_000)] = 50
    # Production figures (OEE, parts per hour) are over the shift: this many hours back.
    shift_length_h: Annotated[float, Field(gt=0, le=24)] = 8.0
    # A cell that stands this long (not producing, no fault active) without a reason makes the
    # HMI ask the operator for one (issue 19: waiting for parts, blocked, planned stops).
    downtime_reason_after_s: Annotated[float, Field(gt=0, le=86_400)] = 300.0
    users: list[OpcUaUser] = Field(default_factory=list)
    # The doors (``cellctl.plant.opcua.doors``). TCP connections open at once, whoever holds them: a
    # cell has an HMI, an MES and a SCADA client or two, not hundreds.
    max_connections: Annotated[int, Field(ge=2, le=1_000)] = 32
    # Connections from one other machine's address; this machine (the HMI) is not limited by
    # it, only by max_connections.
    max_connections_per_address: Annotated[int, Field(ge=1, le=1_000)] = 8
    # Of max_connections, this many only clients on this machine may take: a flood from the
    # network never fills the last slots the HMI needs.
    reserved_local_connections: Annotated[int, Field(ge=0, le=1_000)] = 4
    # A connection that has not said Hello (the first message of OPC UA TCP) this long after
    # connecting is closed; a real client says it within one round trip.
    hello_timeout_s: Annotated[float, Field(ge=0.1, le=60)] = 3.0
    # The largest request a client may send, in bytes (OPC UA's MaxMessageSize, told to each
    # client in the Acknowledge). asyncua's own limit is 100 MB, all of it parsed and decrypted on
    # the controller's event loop; the cell's methods take a mode or a fault code.
    max_request_bytes: Annotated[int, Field(ge=65_536, le=16 * 1024 * 1024)] = 256 * 1024
    # After a failed login, a client address and a user name wait this long, doubled for each
    # failure in a row, up to failed_login_pause_max_s.
    failed_login_pause_s: Annotated[float, Field(ge=0.01, le=10)] = 0.5
    failed_login_pause_max_s: Annotated[float, Field(ge=0.01, le=300)] = 8.0

    @model_validator(mode="after")
    def _consistent(self) -> OpcUaSettings:
        names = [u.name for u in self.users]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"OPC UA users listed twice: {', '.join(duplicates)}")
        if not self.endpoint.startswith("opc.tcp://"):
            raise ValueError(f"endpoint {self.endpoint!r} must start with opc.tcp://")
        if self.max_connections_per_address > self.max_connections:
            raise ValueError(
                f"max_connections_per_address ({self.max_connections_per_address}) exceeds "
                f"max_connections ({self.max_connections})"
            )
        if self.reserved_local_connections >= self.max_connections:
            raise ValueError(
                f"reserved_local_connections ({self.reserved_local_connections}) must leave "
                f"other machines at least one of max_connections ({self.max_connections})"
            )
        if self.failed_login_pause_max_s < self.failed_login_pause_s:
            raise ValueError(
                f"failed_login_pause_max_s ({self.failed_login_pause_max_s}) is below "
                f"failed_login_pause_s ({self.failed_login_pause_s})"
            )
        if (self.certificate is None) != (self.private_key is None):
            raise ValueError("certificate and private_key are given together, or neither")
        if self.none_endpoint and not self.allow_anonymous:
            raise ValueError(
                "none_endpoint is for anonymous reading only: it needs allow_anonymous: true"
            )
        return self


class SparkplugSettings(StrictModel):
    """MQTT Sparkplug B publishing to the plant (see ``cellctl.plant.sparkplug.node``); off by
    default."""

    enabled: bool = False
    broker_host: str = "127.0.0.1"
    broker_port: Annotated[int, Field(ge=1, le=65_535)] = 1883
    # MQTT over TLS: the CA certificate (PEM) the broker's certificate must chain to, its name
    # (broker_host) checked too; with it the link is TLS (the broker's TLS port, usually 8883).
    # A client certificate and key (PEM) for a broker that asks for one (require_certificate).
    # Relative to the cell config's folder unless absolute.
    tls_ca_file: str | None = None
    tls_certificate: str | None = None
    tls_private_key: str | None = None
    group_id: Name = "plant"
    edge_node_id: Name | None = None  # default: the cell's name
    client_id: str | None = None  # default: cellctl-<group>-<edge node>
    # The broker declares the node dead (NDEATH, the MQTT will) 1.5 keepalives after silence.
    keepalive_s: Annotated[int, Field(ge=2, le=600)] = 10
    reconnect_delay_min_ms: Annotated[int, Field(ge=50, le=60_000)] = 500
    reconnect_delay_max_ms: Annotated[int, Field(ge=50, le=600_000)] = 10_000
    # Where the last bdSeq is kept, so that a restarted controller's NBIRTH never carries the
    # bdSeq of the will the broker may still publish for its previous life (relative to the
    # cell config's folder unless absolute).
    bdseq_path: str = "../var/sparkplug_bdseq"
    # The cell's devices under the edge node; each is born (DBIRTH) when its link is up.
    devices: list[Name] = Field(default_factory=lambda: ["plc", "power_source", "robot", "sensor"])

    @model_validator(mode="after")
    def _tls_files(self) -> SparkplugSettings:
        if (self.tls_certificate is None) != (self.tls_private_key is None):
            raise ValueError("tls_certificate and tls_private_key are given together, or neither")
        if self.tls_certificate is not None and self.tls_ca_file is None:
            raise ValueError("a client certificate (tls_certificate) needs tls_ca_file: TLS")
        return self


class ShiftSettings(StrictModel):
    """A production shift for ``cellctl report --shift NAME``: local wall-clock times; a shift
    that ends before it starts runs past midnight."""

    name: Name
    start: Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    end: Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class CellConfig(StrictModel):
    """``config/cell.yaml``: the devices, their links, and the part programs this cell welds."""

    cell: CellIdentity
    plc: PlcSettings
    power_source: PowerSourceSettings
    robot: RobotSettings
    sensor: SensorSettings = SensorSettings()
    arc_sensing: ArcSensingSettings = ArcSensingSettings()  # through-arc seam tracking
    controller: ControllerSettings = ControllerSettings()
    opcua: OpcUaSettings = OpcUaSettings()
    sparkplug: SparkplugSettings = SparkplugSettings()
    shifts: list[ShiftSettings] = Field(default_factory=list)
    # Serial numbers, welders and consumable lots (``cellctl.trace``).
    traceability: TraceabilitySettings = TraceabilitySettings()
    torch_service: TorchServiceSettings | None = None  # cellctl.config.torch_models
    # Relative to the cell config's folder.
    procedures_dir: str = "procedures"
    parts: Annotated[list[str], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_part_files(self) -> CellConfig:
        duplicates = sorted({p for p in self.parts if self.parts.count(p) > 1})
        if duplicates:
            raise ValueError(f"part programs listed twice: {', '.join(duplicates)}")
        return self


# -- weld procedures (WPS) --------------------------------------------------------------------


class Band(StrictModel):
    """An allowed range of an actual value, as a WPS states it (e.g. 200-240 A)."""

    min: float
    max: float

    @model_validator(mode="after")
    def _ordered(self) -> Band:
        if self.max <= self.min:
            raise ValueError(f"max ({self.max:g}) must be above min ({self.min:g})")
        return self

    def contains(self, value: float) -> bool:
        return self.min <= value <= self.max


class Wire(StrictModel):
    classification: str  # e.g. "ISO 14341-A G 42 4 M21 3Si1"
    diameter_mm: Annotated[float, Field(gt=0.5, le=2.4)]


class ShieldingGas(StrictModel):
    mixture: str  # e.g. "ISO 14175 M21 (Ar + 18% CO2)"
    flow_l_per_min: Annotated[float, Field(ge=5, le=40)]


class WeavePattern(enum.StrEnum):
    NONE = "none"
    TRIANGLE = "triangle"
    SINE = "sine"
    TRAPEZOID = "trapezoid"  # a triangle that dwells at its sides
    L = "l"  # for fillets: one leg along each plate
    CIRCLE = "circle"


WeaveAmplitudeMm = Annotated[float, Field(ge=0, le=10)]
DwellMs = Annotated[int, Field(ge=0, le=2_000)]


class Weave(StrictModel):
    """The torch's weave across the seam, which the robot makes (``drivers.codecs.weave``).

    ``amplitude_mm`` sets both sides; ``amplitude_left_mm`` / ``amplitude_right_mm`` each one
    (left of travel seen from above; for ``l`` the first and the second leg). One of
    ``frequency_hz`` (cycles per second at the travel speed) or ``pitch_mm`` (path length of
    one cycle). Dwells (trapezoid, l) at the left and right ends. ``plane_angle_deg`` turns the
    weave direction from horizontal towards vertical about the travel axis.
    """

    pattern: WeavePattern = WeavePattern.NONE
    amplitude_mm: WeaveAmplitudeMm | None = None
    amplitude_left_mm: WeaveAmplitudeMm | None = None
    amplitude_right_mm: WeaveAmplitudeMm | None = None
    frequency_hz: Annotated[float, Field(gt=0, le=10)] | None = None
    pitch_mm: Annotated[float, Field(gt=0, le=100)] | None = None
    dwell_left_ms: DwellMs = 0
    dwell_right_ms: DwellMs = 0
    plane_angle_deg: Annotated[float, Field(ge=-90, le=90)] = 0.0

    @model_validator(mode="after")
    def _complete(self) -> Weave:
        # Each message starts with the field it is about: the error then points at its line.
        if self.pattern is WeavePattern.NONE:
            given = sorted(
                name
                for name in self.model_fields_set
                if name != "pattern" and getattr(self, name) not in (None, 0, 0.0)
            )
            if given:
                raise ValueError(
                    f"{given[0]} set, yet pattern none makes no weave (a setting that does "
                    "nothing): remove it or choose a pattern"
                )
            return self
        pattern = self.pattern.value
        sided = self.amplitude_left_mm is not None or self.amplitude_right_mm is not None
        if self.amplitude_mm is not None and sided:
            raise ValueError(
                "amplitude_mm (both sides) given beside amplitude_left_mm/amplitude_right_mm: "
                "give one or the other, not both"
            )
        if self.amplitude_mm is None and not sided:
            raise ValueError(f"weave {pattern} needs amplitude_mm (or amplitude_left_mm/_right_mm)")
        if self.left_mm + self.right_mm <= 0:
            raise ValueError(f"weave {pattern} needs an amplitude above 0")
        if self.frequency_hz is not None and self.pitch_mm is not None:
            raise ValueError("pitch_mm given beside frequency_hz: give one or the other")
        if self.frequency_hz is None and self.pitch_mm is None:
            raise ValueError(f"weave {pattern} needs one of frequency_hz or pitch_mm")
        dwell = self.dwell_left_ms + self.dwell_right_ms
        dwell_field = "dwell_left_ms" if self.dwell_left_ms else "dwell_right_ms"
        if self.pattern is WeavePattern.TRAPEZOID and dwell == 0:
            raise ValueError(
                "pattern trapezoid needs dwell_left_ms and/or dwell_right_ms above 0 (without "
                "a dwell it is a triangle)"
            )
        if dwell and self.pattern not in (WeavePattern.TRAPEZOID, WeavePattern.L):
            raise ValueError(
                f"{dwell_field} given, but weave {pattern} has no dwell: use trapezoid"
            )
        if self.frequency_hz is not None and dwell / 1000 >= 0.9 / self.frequency_hz:
            raise ValueError(
                f"{dwell_field}: the dwells ({dwell} ms) leave too little of the "
                f"{1000 / self.frequency_hz:g} ms weave period to move"
            )
        return self

    @property
    def weaving(self) -> bool:
        return self.pattern is not WeavePattern.NONE

    @property
    def left_mm(self) -> float:
        if self.amplitude_mm is not None:
            return self.amplitude_mm
        return self.amplitude_left_mm or 0.0

    @property
    def right_mm(self) -> float:
        if self.amplitude_mm is not None:
            return self.amplitude_mm
        return self.amplitude_right_mm or 0.0

    def period_s(self, travel_speed_mm_per_s: float) -> float | None:
        """One weave cycle's time at the travel speed (None without a weave)."""
        if not self.weaving:
            return None
        if self.frequency_hz is not None:
            return 1 / self.frequency_hz
        assert self.pitch_mm is not None
        return self.pitch_mm / travel_speed_mm_per_s

    def shape(self, travel_speed_mm_per_s: float) -> WeaveShape:
        """The weave as the robot runs it: laid out along the path at this travel speed."""
        if not self.weaving:
            return NO_WEAVE
        period_s = self.period_s(travel_speed_mm_per_s)
        assert period_s is not None
        return WeaveShape(
            pattern=WIRE_PATTERNS[self.pattern],
            amplitude_left_mm=self.left_mm,
            amplitude_right_mm=self.right_mm,
            pitch_mm=travel_speed_mm_per_s * period_s,
            dwell_left_mm=travel_speed_mm_per_s * self.dwell_left_ms / 1000,
            dwell_right_mm=travel_speed_mm_per_s * self.dwell_right_ms / 1000,
            plane_angle_deg=self.plane_angle_deg,
        )


WIRE_PATTERNS = {
    WeavePattern.NONE: WirePattern.NONE,
    WeavePattern.TRIANGLE: WirePattern.TRIANGLE,
    WeavePattern.SINE: WirePattern.SINE,
    WeavePattern.TRAPEZOID: WirePattern.TRAPEZOID,
    WeavePattern.L: WirePattern.L,
    WeavePattern.CIRCLE: WirePattern.CIRCLE,
}


# The PLC input that carries the part's temperature (°C), read before each pass.
PART_TEMPERATURE_INPUT = "part_temperature_c"


class PassTemperature(StrictModel):
    """The WPS's temperature limits at the weld zone before each pass (ISO 13916 measures
    them; EN 1011-2 gives the preheat a steel and plate thickness need)."""

    preheat_min_c: Annotated[float, Field(ge=-20, le=400)] = -20.0  # below: not welded
    interpass_max_c: Annotated[float, Field(gt=0, le=600)]  # above: wait until it cools
    # How long the cycle waits for the part to cool before it gives up with a fault (a part
    # that does not cool has a thermometer or a program to check).
    max_wait_s: Annotated[float, Field(gt=0, le=36_000)] = 1800.0

    @model_validator(mode="after")
    def _a_window(self) -> PassTemperature:
        if self.preheat_min_c >= self.interpass_max_c:
            raise ValueError(
                f"preheat_min_c {self.preheat_min_c:g} must lie below interpass_max_c "
                f"{self.interpass_max_c:g}"
            )
        return self


class CraterFill(StrictModel):
    """Reduced parameters held at the seam's end to fill the crater before arc off."""

    current_a: Annotated[float, Field(gt=0, le=1000)]
    voltage_v: Annotated[float, Field(gt=0, le=100)]
    wire_feed_m_per_min: Annotated[float, Field(gt=0, le=50)]
    time_ms: Annotated[int, Field(ge=0, le=10_000)]


class ArcStart(StrictModel):
    retries: Annotated[int, Field(ge=0, le=5)] = 2
    ignition_timeout_ms: Annotated[int, Field(ge=50, le=5_000)] = 800
    wire_retract_ms: Annotated[int, Field(ge=0, le=2_000)] = 150  # between tries


class Bands(StrictModel):
    current_a: Band
    voltage_v: Band
    wire_feed_m_per_min: Band
    travel_speed_mm_per_s: Band | None = None


class QualifiedRanges(StrictModel):
    """What the procedure's qualification record (WPQR, ISO 15614-1) covers: a weld made
    outside any of these is not covered by it. The config check keeps the setpoints and the
    monitoring bands inside; the weld monitor marks a seam whose measured heat input leaves
    ``heat_input_kj_per_mm`` (``cellctl.weld.monitoring``)."""

    current_a: Band
    voltage_v: Band
    travel_speed_mm_per_s: Band
    heat_input_kj_per_mm: Band
    plate_thickness_mm: Band


# Thermal efficiency k of the process, ISO/TR 17671-1 table 1: 0.8 for MIG/MAG (131, 135).
THERMAL_EFFICIENCY = {"MIG": 0.8, "MAG": 0.8}


class Procedure(StrictModel):
    """A welding procedure specification (``config/procedures/<name>.yaml``).

    ``revision`` is the WPS's revision (ISO 15609-1), kept on every seam's record; ``wpqr``
    names the procedure qualification record it is qualified by, and ``qualified`` its ranges.
    """

    name: Name
    description: str = ""
    revision: Annotated[str, Field(min_length=1, max_length=20)] | None = None
    wpqr: Annotated[str, Field(min_length=1, max_length=80)] | None = None
    qualified: QualifiedRanges | None = None
    process: Literal["MIG", "MAG"]  # ISO 4063 131 / 135
    wire: Wire
    gas: ShieldingGas
    job_number: Annotated[int, Field(ge=1, le=999)] | None = None
    current_a: Annotated[float, Field(gt=0, le=1000)]
    voltage_v: Annotated[float, Field(gt=0, le=100)]
    wire_feed_m_per_min: Annotated[float, Field(gt=0, le=50)]
    travel_speed_mm_per_s: Annotated[float, Field(gt=0, le=100)]
    stick_out_mm: Annotated[float, Field(ge=5, le=40)]
    weave: Weave = Weave()
    # Preheat and interpass limits, checked before each pass (None: not checked). Needs the
    # PLC's ``part_temperature_c`` input (a pyrometer or contact sensor at the part).
    temperature: PassTemperature | None = None
    arc_start: ArcStart = ArcStart()
    crater_fill: CraterFill | None = None
    bands: Bands

    @model_validator(mode="after")
    def _setpoints_inside_bands(self) -> Procedure:
        problems = []
        for field in ("current_a", "voltage_v", "wire_feed_m_per_min", "travel_speed_mm_per_s"):
            band = getattr(self.bands, field)
            value = getattr(self, field)
            if band is not None and not band.contains(value):
                problems.append(
                    f"{field} {value:g} lies outside its band {band.min:g}..{band.max:g}"
                )
        if problems:
            raise ValueError("; ".join(problems))
        if self.qualified is not None and (self.revision is None or self.wpqr is None):
            raise ValueError(
                "qualified ranges given without the revision and the wpqr they belong to"
            )
        return self

    @property
    def nominal_heat_input_kj_per_mm(self) -> float:
        """Q = k x U x I / v / 1000 at the setpoints (ISO/TR 17671-1)."""
        power_w = self.voltage_v * self.current_a
        return THERMAL_EFFICIENCY[self.process] * power_w / self.travel_speed_mm_per_s / 1000


# -- part programs ----------------------------------------------------------------------------


class JointType(enum.StrEnum):
    FILLET = "fillet"  # T-joint
    V_GROOVE_BUTT = "v_groove_butt"
    SQUARE_BUTT = "square_butt"
    LAP = "lap"


class TorchAngles(StrictModel):
    work_angle_deg: Annotated[float, Field(ge=0, le=90)] = 45.0
    travel_angle_deg: Annotated[float, Field(ge=-30, le=30)] = 10.0  # + pushes, - drags


class SeamFinding(enum.StrEnum):
    """How a seam's joint is found before the arc: the laser sensor's scan, the wire's touch
    searches (``Sensing.touch``), both (touch first, then the laser from where touch put the
    path), or neither (the taught path). ``true`` / ``false`` read as laser / none."""

    NONE = "none"
    LASER = "laser"
    TOUCH = "touch"
    BOTH = "both"

    @property
    def by_laser(self) -> bool:
        return self in (SeamFinding.LASER, SeamFinding.BOTH)

    @property
    def by_touch(self) -> bool:
        return self in (SeamFinding.TOUCH, SeamFinding.BOTH)


class Sensing(StrictModel):
    """How the seam is sensed (the vision work uses these)."""

    seam_finding: SeamFinding = SeamFinding.LASER
    touch: TouchSearches | None = None  # the wire-touch searches (seam_finding touch | both)
    search_range_mm: Annotated[float, Field(gt=0, le=50)] = 10.0
    tracking: bool = True
    max_correction_mm: Annotated[float, Field(gt=0, le=50)] | None = None
    # Scan the finished bead with the sensor and record its width, height and a verdict
    # against these bands (toe-to-toe width; height over the toes' chord).
    post_weld_check: bool = False
    bead_width_mm: Band | None = None
    bead_height_mm: Band | None = None

    @model_validator(mode="before")
    @classmethod
    def _finding_from_bool(cls, data: object) -> object:
        # Programs written before touch sensing say true / false.
        if isinstance(data, dict) and isinstance(data.get("seam_finding"), bool):
            data = {**data, "seam_finding": "laser" if data["seam_finding"] else "none"}
        return data

    @model_validator(mode="after")
    def _touch_has_searches(self) -> Sensing:
        if self.seam_finding.by_touch and self.touch is None:
            raise ValueError(
                f"seam_finding {self.seam_finding.value} needs touch searches (sensing.touch)"
            )
        return self


class LineTo(StrictModel):
    to: PointMm
    # Round the corner at ``to`` (into the next line) with a tangent arc of this radius.
    blend_radius_mm: Annotated[float, Field(gt=0, le=1_000)] | None = None


class ArcTo(StrictModel):
    """An arc through ``via`` to ``to``, or about ``centre`` by ``sweep_deg`` (horizontal,
    + turning left seen from above; 360: a full circle)."""

    via: PointMm | None = None
    to: PointMm | None = None
    centre: PointMm | None = None
    sweep_deg: Annotated[float, Field(ge=-360, le=360)] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> ArcTo:
        through = self.via is not None and self.to is not None
        about = self.centre is not None and self.sweep_deg is not None
        if through == about or (about and (self.via or self.to)) or (through and self.centre):
            raise ValueError("an arc is either {via, to} or {centre, sweep_deg}")
        return self


class LineSegment(StrictModel):
    line: LineTo


class ArcSegment(StrictModel):
    arc: ArcTo


def _segment_kind(value: object) -> str | None:
    if isinstance(value, dict):
        return "arc" if "arc" in value else "line"
    return "arc" if isinstance(value, ArcSegment) else "line"


Segment = Annotated[
    Annotated[LineSegment, Tag("line")] | Annotated[ArcSegment, Tag("arc")],
    Discriminator(_segment_kind),
]


class SegmentedPath(StrictModel):
    """A seam path of lines and arcs (``drivers.codecs.seam_path``)."""

    start: PointMm
    segments: Annotated[list[Segment], Field(min_length=1)]

    def build(self, min_arc_radius_mm: float = 0.0) -> SeamPath:
        """The path; ``PathError`` (its ``where`` below ``segments``) when it cannot be."""
        segments = [s.model_dump(exclude_none=True) for s in self.segments]
        return build_path(self.start, segments, min_arc_radius_mm)


class PassKind(enum.StrEnum):
    ROOT = "root"
    HOT = "hot"
    FILL = "fill"
    CAP = "cap"


class TrackingSource(enum.StrEnum):
    """What tracks a pass: the laser sensor (the root only: later passes cannot be seen), the
    arc while the torch weaves (``cellctl.sensing.arc``), or nothing (the path as planned)."""

    LASER = "laser"
    ARC = "arc"
    NONE = "none"


class WeldPass(StrictModel):
    """One pass of a multi-pass seam. The root pass is found and tracked by the sensor; every
    later pass runs the root's tracked path, shifted by its offsets in the seam frame of the
    taught path (lateral: the robot's lateral correction axis; vertical: up out of the
    groove), whichever way it travels (``cellctl.weld.passes``)."""

    kind: PassKind
    layer: Annotated[int, Field(ge=1, le=50)]
    procedure: Name | None = None  # default: the seam's
    lateral_offset_mm: Annotated[float, Field(ge=-30, le=30)] = 0.0
    vertical_offset_mm: Annotated[float, Field(ge=-5, le=60)] = 0.0
    work_angle_change_deg: Annotated[float, Field(ge=-45, le=45)] = 0.0
    travel_angle_change_deg: Annotated[float, Field(ge=-30, le=30)] = 0.0
    reversed: bool = False  # welded from the seam's end to its start
    # What tracks this pass (default: the root by the laser when the seam's sensing tracks,
    # the later passes nothing: they follow the root's path). ``arc`` needs a weave.
    tracking: TrackingSource | None = None

    def tracking_source(self, is_root: bool, seam_tracking: bool) -> TrackingSource:
        """What tracks this pass, its default resolved."""
        if self.tracking is not None:
            return self.tracking
        return TrackingSource.LASER if is_root and seam_tracking else TrackingSource.NONE


class PassRescan(StrictModel):
    """Re-scan between passes (``cellctl.weld.rescan``): before each pass after the root, the
    laser runs over the groove (arc off) and measures what is left of it; the pass adapts
    within these limits. The table's vertical offsets are read as the groove's surface each
    pass expects to find (its torch on what the passes before left), its lateral offsets as
    shares of the groove's width there."""

    # How far an adapted offset may move from the table's; further is F129 (a hold).
    max_offset_change_mm: Annotated[float, Field(gt=0, le=10)] = 2.0
    # Fill passes that may be added before the first cap (the groove deeper than planned),
    # and left out (the groove already filled to the cap's level).
    max_extra_passes: Annotated[int, Field(ge=0, le=5)] = 1
    max_skipped_passes: Annotated[int, Field(ge=0, le=5)] = 1
    # The groove's surface this far below (above) the cap's level adds (leaves out) a pass.
    level_tolerance_mm: Annotated[float, Field(gt=0, le=10)] = 1.5


class GroovePreparation(StrictModel):
    """A V-groove's preparation as drawn (ISO 9692-1): the included angle between the bevels,
    the root face each edge keeps, the root gap. With the seam's ``plate_thickness_mm`` it is
    the groove the passes fill; the controller measures the groove it welds (seam finding,
    re-scan), the simulator's true part is made to it."""

    angle_deg: Annotated[float, Field(ge=20, le=120)] = 60.0
    root_face_mm: Annotated[float, Field(ge=0, le=10)] = 0.0
    root_gap_mm: Annotated[float, Field(ge=0, le=10)] = 1.5


class Seam(StrictModel):
    name: Name
    order: Annotated[int, Field(ge=1)]
    joint: JointType
    procedure: Name  # file name (without .yaml) in the cell's procedures_dir
    # Either a polyline (its points) or ``path``: lines and arcs, corners blended.
    path_mm: Annotated[list[PointMm], Field(min_length=2)] | None = None
    path: SegmentedPath | None = None
    torch: TorchAngles = TorchAngles()
    approach_clearance_mm: Annotated[float, Field(ge=0, le=300)] = 30.0
    # The thickness of the plates the seam joins (the thinner one): checked against the
    # qualified range of each procedure the seam welds with.
    plate_thickness_mm: Annotated[float, Field(gt=0, le=300)] | None = None
    sensing: Sensing = Sensing()
    # Multi-pass: root first, then hot, fill and cap passes in order (none: one pass).
    passes: list[WeldPass] = Field(default_factory=list, max_length=99)
    # A robot that owns its motion (robot.interface kuka_rsi / abb_egm): the robot's job that
    # welds this seam, as robot.jobs names it (config check: required there, known there).
    robot_job: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,23}$")] | None = None
    rescan: PassRescan | None = None  # re-scan the groove between passes (none: never)
    groove: GroovePreparation | None = None  # a V-groove's preparation (none: 60°, no face)

    @model_validator(mode="after")
    def _segments_have_length(self) -> Seam:
        if self.groove is not None:
            if self.joint != "v_groove_butt":
                raise ValueError("groove (a V-groove's preparation) needs joint v_groove_butt")
            thickness = self.plate_thickness_mm
            if thickness is not None and self.groove.root_face_mm >= thickness:
                raise ValueError(
                    f"groove.root_face_mm {self.groove.root_face_mm:g} is not below the plate "
                    f"thickness {thickness:g} mm"
                )
        if (self.path_mm is None) == (self.path is None):
            raise ValueError("a seam has either path_mm (a polyline) or path (lines and arcs)")
        points = self.path_mm or []
        for i, (a, b) in enumerate(itertools.pairwise(points)):
            if sum((p - q) ** 2 for p, q in zip(a, b, strict=True)) < 1e-6:
                raise ValueError(f"path_mm points {i} and {i + 1} coincide (zero-length segment)")
        return self

    def taught_path(self) -> SeamPath:
        """The taught path (``PathError`` for a ``path`` that cannot be built: config check
        reports it at its line)."""
        if self.path is not None:
            return self.path.build()
        assert self.path_mm is not None
        return SeamPath.polyline(self.path_mm)

    def pass_procedure(self, index: int) -> str:
        """The procedure of pass ``index`` (0-based; the seam's own when it has no table)."""
        if not self.passes:
            return self.procedure
        return self.passes[index].procedure or self.procedure

    @property
    def length_mm(self) -> float:
        return self.taught_path().length_mm


def pass_table_problems(seam: Seam) -> list[tuple[int, str, str]]:
    """What is wrong with a seam's pass table, as (pass index, field, message); the config
    check names each at its file and line. A table starts with its one root pass on the root
    path (layer 1, no offset, the seam's direction); layers never go back; each pass's torch
    stays within the angles a seam's may have."""
    passes = seam.passes
    if not passes:
        return []
    problems = []
    root = passes[0]
    if root.kind is not PassKind.ROOT:
        problems.append((0, "kind", f"the first pass must be the root, not a {root.kind} pass"))
    else:
        for field_name, value, wanted in (
            ("layer", root.layer, 1),
            ("lateral_offset_mm", root.lateral_offset_mm, 0),
            ("vertical_offset_mm", root.vertical_offset_mm, 0),
            ("reversed", root.reversed, False),
        ):
            if value != wanted:
                problems.append(
                    (
                        0,
                        field_name,
                        f"the root pass must be layer 1, without offsets, in the seam's "
                        f"direction (it makes the path the later passes follow), not {value}",
                    )
                )
    for i, weld_pass in enumerate(passes[1:], start=1):
        if weld_pass.kind is PassKind.ROOT:
            problems.append((i, "kind", "a second root pass: only the first pass is the root"))
        if weld_pass.layer < passes[i - 1].layer:
            problems.append(
                (
                    i,
                    "layer",
                    f"layer {weld_pass.layer} is below the pass before it "
                    f"(layer {passes[i - 1].layer}): passes go up the groove",
                )
            )
    for i, weld_pass in enumerate(passes):
        work = seam.torch.work_angle_deg + weld_pass.work_angle_change_deg
        travel = seam.torch.travel_angle_deg + weld_pass.travel_angle_change_deg
        for field_name, angle, low, high in (
            ("work_angle_change_deg", work, 0, 90),
            ("travel_angle_change_deg", travel, -30, 30),
        ):
            if not low <= angle <= high:
                problems.append(
                    (
                        i,
                        field_name,
                        f"the torch at {angle:g}° (the seam's angle plus this change) is "
                        f"outside {low}..{high}°",
                    )
                )
    return problems


def rescan_problems(seam: Seam) -> list[tuple[str, str]]:
    """What is wrong with a seam's re-scan setting, as (field, message): it needs a pass
    table with passes after the root, the sensor's tracking on the seam (the laser that
    measures), and passes to add from or leave out."""
    rescan = seam.rescan
    if rescan is None:
        return []
    if len(seam.passes) < 2:
        return [("rescan", "a re-scan between passes needs a pass table of two passes or more")]
    problems = []
    if not seam.sensing.tracking:
        problems.append(("rescan", "a re-scan needs the sensor: sensing.tracking is off"))
    fills = sum(1 for p in seam.passes if p.kind is PassKind.FILL)
    caps = sum(1 for p in seam.passes if p.kind is PassKind.CAP)
    if rescan.max_skipped_passes > fills:
        problems.append(
            (
                "max_skipped_passes",
                f"{rescan.max_skipped_passes} passes may be left out, but the table has "
                f"{fills} fill passes",
            )
        )
    if rescan.max_extra_passes and not (fills and caps):
        problems.append(
            (
                "max_extra_passes",
                "a pass is added as a copy of the last fill pass before the first cap: the "
                "table needs both",
            )
        )
    return problems


class PartProgram(StrictModel):
    """A part program (``config/parts/<name>.yaml``): the seams of one part, welded in order."""

    name: Name
    description: str = ""
    planned_cycle_time_s: Annotated[float, Field(gt=0, le=36_000)]
    seams: Annotated[list[Seam], Field(min_length=1)]
    # The part's frame on the fixture found by wire touch before the first seam: every seam's
    # path follows it (cellctl.sensing.touch).
    touch_frame: PartFrameTouch | None = None

    @model_validator(mode="after")
    def _unique_names_and_order(self) -> PartProgram:
        problems = []
        names = [s.name for s in self.seams]
        orders = [s.order for s in self.seams]
        for name in sorted({n for n in names if names.count(n) > 1}):
            problems.append(f"seam name {name!r} is used twice")
        for order in sorted({o for o in orders if orders.count(o) > 1}):
            problems.append(f"seam order {order} is used twice")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def seams_in_order(self) -> list[Seam]:
        return sorted(self.seams, key=lambda s: s.order)
