"""The simulated cell PLC: a Modbus TCP server with the cell's register map, and the PLC logic
and field devices behind it (fixture with part sensor and clamps, door with lock, e-stop chain,
light curtain, operator buttons, gas and air pressure switches, stack light).

The register layout comes from the same ``PlcSettings`` the controller reads, so both ends agree.
Inputs (what the controller reads) are read-only; outputs (what it writes) are holding registers;
any other address answers Modbus exception 2 (illegal data address), as a real PLC's does.

The PLC's own logic runs a scan every ``SCAN_PERIOD_S`` of real time:

- robot drives are enabled only while the controller requests it *and* the e-stop chain is
  closed, the door is closed, the light curtain is clear and the heartbeat watchdog is healthy.
  After any of these drops, enable needs a fresh rising edge of the request: nothing the
  controller left switched on restarts the robot by itself;
- the heartbeat watchdog trips when the heartbeat output has not changed for
  ``heartbeat.watchdog_timeout_ms`` (real time: it guards the link, which does not scale) and
  clears when the heartbeat moves again;
- clamps travel (in simulated time) towards the requested position, only with a part present;
- the door lock engages only on a closed door.

Tests and the operator's panel of ``cellsim`` press buttons and open doors through the methods
of ``SimulatedPlc``; wire faults (``faults``) garble or withhold its answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pymodbus import FramerType
from pymodbus.server import ModbusTcpServer

from drivers.codecs.modbus_map import SignalValue
from drivers.codecs.robot_job import ROBOT_JOB_OUTPUTS, ROBOT_TOUCH_OUTPUTS
from drivers.codecs.serial_text import encode_serial
from drivers.codecs.settings import ModbusTcpLinkSettings, PlcSettings
from sim.clock import SimClock
from sim.devices.part_heat import PartHeat
from sim.devices.register_image import RegisterImage
from sim.events import EventLog
from sim.wire.faults import WireFaults

log = logging.getLogger(__name__)

# Outputs that only show things (the event log leaves them out of "commands").
QUIET_OUTPUTS = frozenset(
    {"heartbeat", "cell_state", "stack_light_red", "stack_light_amber", "stack_light_green"}
)
SCAN_PERIOD_S = 0.005  # real time; a fast PLC task
CLAMP_TRAVEL_S = 0.6  # simulated seconds for the clamps to close or open
BUTTON_PRESS_S = 0.25  # real seconds a pressed button stays pressed (a person's press)
GAS_PRESSURE_MIN_BAR = 2.0  # pressure switch thresholds
AIR_PRESSURE_MIN_BAR = 4.5


@dataclass
class FieldDevices:
    """The physical world around the PLC, as the simulator's user changes it."""

    estop_pressed: bool = False
    door_open: bool = False
    light_curtain_blocked: bool = False
    part_loaded: bool = True
    gas_pressure_bar: float = 4.5
    air_pressure_bar: float = 6.0
    buttons_until: dict[str, float] = field(default_factory=dict)  # name -> release time


@dataclass
class PlcLogic:
    """The PLC program's own state between scans."""

    clamp_position: float = 0.0  # 0 open .. 1 closed
    robot_enabled: bool = False
    enable_armed: bool = True  # a rising edge of the request may enable
    last_request: bool = False
    watchdog_tripped: bool = False
    watchdog_trips: int = 0
    heartbeat_seen: int | None = None
    heartbeat_changed_at: float = field(default_factory=time.monotonic)
    cycle_count: int = 0


class SimulatedPlc:
    """A cell PLC on Modbus TCP at ``host:port`` (the config's, unless given)."""

    def __init__(
        self,
        settings: PlcSettings,
        clock: SimClock,
        host: str = "127.0.0.1",
        port: int | None = None,
        rtu_framing: bool = False,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.host = host
        if port is None:
            if not isinstance(settings.link, ModbusTcpLinkSettings):
                raise ValueError("a PLC on an RTU link needs the TCP port to serve RTU frames on")
            port = settings.link.port
        self.port = port
        # Modbus RTU frames over TCP (as a serial gateway's transparent mode), to prove the same
        # map works on RTU: the controller then connects with a socket:// serial port.
        self.rtu_framing = rtu_framing
        self.registers = settings.registers
        self.field = FieldDevices()
        # Called when the part is taken off the fixture (the simulated bead goes with it).
        self.part_removed_listeners: list[Callable[[], None]] = []
        self.logic = PlcLogic()
        self.image = RegisterImage(
            self.registers,
            settings.link.unit_id,
            self.input_values,
            lambda address, words: self._on_outputs_written(),
            rtu=rtu_framing,
        )
        self.on_robot_enabled: Callable[[bool], None] | None = None
        # A robot that owns its motion, wired through the PLC (``drivers.codecs.robot_job``):
        # its job outputs become our inputs, our robot job outputs go to it every scan.
        self.robot_job_inputs: Callable[[], dict[str, bool]] | None = None
        self.robot_job_outputs: Callable[[dict[str, SignalValue]], None] | None = None
        # The part's temperature at the weld zone (a pyrometer on an analogue input), heated by
        # the arc's power (``arc_power_w``: the cell wires the power source's) and cooling.
        self.part_heat = PartHeat()
        self._serial_registers: dict[str, SignalValue] = {}  # see present_serial
        self.arc_power_w: Callable[[], float] = lambda: 0.0
        # Inputs of field devices modelled elsewhere (the torch's breakaway switch, the TCP
        # checker's beam, the torch service station: sim.devices.torch_service), by name.
        self.extra_inputs: dict[str, Callable[[], SignalValue]] = {}
        # Field devices driven by outputs (the torch service station): told of every write.
        self.output_listeners: list[Callable[[], None]] = []
        self.events: EventLog | None = None  # ground truth for benchmarks (sim.events)
        self._last_outputs: dict[str, SignalValue] = {}
        self._last_done: dict[str, bool] = {}
        self._server: ModbusTcpServer | None = None
        self._scan_task: asyncio.Task[None] | None = None
        self._last_scan_sim_s = clock.now_s()

    # -- life cycle -----------------------------------------------------------------------

    async def start(self) -> None:
        await self.plug_in()
        if self._server is None or self._server.transport is None:
            raise OSError(f"simulated PLC could not listen on {self.host}:{self.port}")
        self.logic.heartbeat_changed_at = time.monotonic()
        self._scan_task = asyncio.create_task(self._scan_forever(), name="simulated PLC scan")

    async def unplug(self) -> None:
        """Pull the network cable: no more Modbus (open connections drop), while the PLC's
        program runs on, and its heartbeat watchdog will drop robot enable."""
        if self._server is not None:
            await self._server.shutdown()
            self._server = None

    async def plug_in(self) -> None:
        if self._server is None:
            self._server = ModbusTcpServer(
                self.image.device(),
                address=(self.host, self.port),
                framer=FramerType.RTU if self.rtu_framing else FramerType.SOCKET,
                trace_packet=self.image.wire_tap,
            )
            await self._server.serve_forever(background=True)

    async def close(self) -> None:
        if self._scan_task is not None:
            self._scan_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._scan_task
            self._scan_task = None
        if self._server is not None:
            await self._server.shutdown()
            self._server = None

    @property
    def listening(self) -> str:
        return f"{self.host}:{self.port}"

    # -- the register image -----------------------------------------------------------

    @property
    def faults(self) -> WireFaults:
        return self.image.faults

    @property
    def exception_code(self) -> int | None:
        return self.image.exception_code

    @exception_code.setter
    def exception_code(self, code: int | None) -> None:
        self.image.exception_code = code

    @property
    def requests_seen(self) -> int:
        return self.image.requests_seen

    @property
    def writes_seen(self) -> list[tuple[int, list[int]]]:
        return self.image.writes_seen

    # -- what the PLC reads from its field devices -----------------------------------------

    def output(self, name: str) -> SignalValue:
        """An output's value as the controller last wrote it."""
        return self.image.output(name)

    def input_values(self) -> dict[str, SignalValue]:
        """Every mapped input as the PLC presents it now."""
        field_devices, logic = self.field, self.logic
        now = time.monotonic()
        values: dict[str, SignalValue] = {
            "estop_chain_ok": not field_devices.estop_pressed,
            "door_closed": not field_devices.door_open,
            "door_locked": (not field_devices.door_open)
            and bool(self._output_or("door_lock_request", False)),
            "light_curtain_clear": not field_devices.light_curtain_blocked,
            "part_present": field_devices.part_loaded,
            "clamps_closed": logic.clamp_position >= 1.0,
            "clamps_open": logic.clamp_position <= 0.0,
            "gas_pressure_ok": field_devices.gas_pressure_bar >= GAS_PRESSURE_MIN_BAR,
            "air_pressure_ok": field_devices.air_pressure_bar >= AIR_PRESSURE_MIN_BAR,
            "robot_enabled": logic.robot_enabled,
            "watchdog_tripped": logic.watchdog_tripped,
            "heartbeat_echo": logic.heartbeat_seen or 0,
            "gas_pressure_bar": round(field_devices.gas_pressure_bar, 2),
            "air_pressure_bar": round(field_devices.air_pressure_bar, 2),
            "plc_cycle_count": logic.cycle_count & 0xFFFF_FFFF,
            "part_temperature_c": round(self.part_heat.temperature_c, 1),
        }
        for button in ("start_button", "stop_button", "reset_button"):
            values[button] = field_devices.buttons_until.get(button, 0.0) > now
        if self.robot_job_inputs is not None:
            values.update(self.robot_job_inputs())
        values.update(self._serial_registers)  # a serial the PLC presents (present_serial)
        for name, read in self.extra_inputs.items():
            values[name] = read()
        mapped = {k: v for k, v in values.items() if k in self.registers.inputs}
        for name in self.registers.inputs:
            mapped.setdefault(name, 0)  # an input the model does not know reads as 0
        return mapped

    def _output_or(self, name: str, default: SignalValue) -> SignalValue:
        return self.output(name) if name in self.registers.outputs else default

    # -- the PLC program -------------------------------------------------------------------

    def _on_outputs_written(self) -> None:
        if self.events is not None:
            for name in self.registers.outputs:
                value = self.output(name)
                if name not in QUIET_OUTPUTS and self._last_outputs.get(name, 0) != value:
                    self.events.record("plc", "command", f"{name}={value}")
                self._last_outputs[name] = value
        for listener in self.output_listeners:
            listener()
        heartbeat = self.output(self.settings.heartbeat.output)
        if heartbeat != self.logic.heartbeat_seen:
            self.logic.heartbeat_seen = int(heartbeat)
            self.logic.heartbeat_changed_at = time.monotonic()
        self._scan()  # react to a new request at once, as a PLC's event task would

    async def _scan_forever(self) -> None:
        deadline = time.monotonic()
        while True:
            deadline += SCAN_PERIOD_S
            await asyncio.sleep(max(0.0, deadline - time.monotonic()))
            self._scan()

    def _scan(self) -> None:
        logic, field_devices = self.logic, self.field
        now_real = time.monotonic()
        now_sim = self.clock.now_s()
        dt_sim = max(0.0, now_sim - self._last_scan_sim_s)
        self._last_scan_sim_s = now_sim
        self.part_heat.step(dt_sim, self.arc_power_w())
        logic.cycle_count += 1

        # Heartbeat watchdog (real time). It clears itself once the beat moves again, but the
        # robot stays disabled until the controller asks again (enable_armed below).
        timeout_s = self.settings.heartbeat.watchdog_timeout_ms / 1000
        stale = now_real - logic.heartbeat_changed_at > timeout_s
        if stale and not logic.watchdog_tripped:
            logic.watchdog_trips += 1
            log.info("simulated PLC: heartbeat stopped, watchdog tripped")
        logic.watchdog_tripped = stale

        # Clamps move towards the request, and only close on a part.
        want_closed = bool(self._output_or("clamp_close_request", False))
        step = dt_sim / CLAMP_TRAVEL_S
        if want_closed and field_devices.part_loaded:
            logic.clamp_position = min(1.0, logic.clamp_position + step)
        elif not want_closed:
            logic.clamp_position = max(0.0, logic.clamp_position - step)

        # Robot enable: every permissive, and a fresh rising edge of the request after a drop.
        request = bool(self._output_or("robot_enable_request", False))
        permissive = (
            not field_devices.estop_pressed
            and not field_devices.door_open
            and not field_devices.light_curtain_blocked
            and not logic.watchdog_tripped
        )
        if request and not logic.last_request:
            logic.enable_armed = True
        logic.last_request = request
        enabled = request and permissive and logic.enable_armed
        if logic.robot_enabled and not enabled:
            logic.enable_armed = False  # the next enable needs a new request edge
        if enabled != logic.robot_enabled:
            logic.robot_enabled = enabled
            if self.on_robot_enabled is not None:
                self.on_robot_enabled(enabled)
        if self.robot_job_outputs is not None:
            names = ROBOT_JOB_OUTPUTS + ROBOT_TOUCH_OUTPUTS  # (touch: where the map has them)
            self.robot_job_outputs({name: self._output_or(name, 0) for name in names})
        if self.events is not None:
            for name, now in (
                ("clamps closed", logic.clamp_position >= 1.0),
                ("clamps open", logic.clamp_position <= 0.0),
                ("robot enabled", logic.robot_enabled),
            ):
                if now and not self._last_done.get(name, False):
                    self.events.record("plc", "done", name)
                self._last_done[name] = now

    # -- the operator's panel and the field (for tests, scenarios and `cellsim`) -----------

    def press(self, button: str, duration_s: float = BUTTON_PRESS_S) -> None:
        """Press ``start_button``, ``stop_button`` or ``reset_button`` for ``duration_s``."""
        if button not in ("start_button", "stop_button", "reset_button"):
            raise ValueError(f"no button {button!r}")
        if self.events is not None:
            self.events.record("field", "done", f"{button} pressed")
        self.field.buttons_until[button] = time.monotonic() + duration_s

    def _inject(self, what: str) -> None:
        if self.events is not None:
            self.events.record("field", "inject", what)

    def set_estop(self, pressed: bool) -> None:
        self._inject(f"estop={pressed}")
        self.field.estop_pressed = pressed
        self._scan()

    def set_door_open(self, is_open: bool) -> None:
        self._inject(f"door_open={is_open}")
        self.field.door_open = is_open
        self._scan()

    def set_light_curtain_blocked(self, blocked: bool) -> None:
        self._inject(f"light_curtain_blocked={blocked}")
        self.field.light_curtain_blocked = blocked
        self._scan()

    def present_serial(self, text: str) -> int:
        """The PLC presents a part's serial in its registers and counts the strobe up
        (``drivers.codecs.serial_text``); the strobe's new value."""
        strobe = (int(self._serial_registers.get("serial_strobe", 0)) + 1) & 0xFFFF
        self._serial_registers = {**encode_serial(text), "serial_strobe": strobe}
        if self.events is not None:
            self.events.record("plc", "serial", f"{text} (strobe {strobe})")
        return strobe

    def set_part_loaded(self, loaded: bool) -> None:
        if self.field.part_loaded and not loaded:
            for listener in self.part_removed_listeners:
                listener()
        self.field.part_loaded = loaded

    def set_gas_pressure_bar(self, bar: float) -> None:
        self._inject(f"gas_pressure_bar={bar}")
        self.field.gas_pressure_bar = bar

    def set_air_pressure_bar(self, bar: float) -> None:
        self.field.air_pressure_bar = bar

    def snapshot(self) -> dict[str, object]:
        """Ground truth of the PLC for tests and the scenario runner."""
        return {
            "inputs": dict(self.input_values()),
            "outputs": {name: self.output(name) for name in self.registers.outputs},
            "watchdog_trips": self.logic.watchdog_trips,
            "requests_seen": self.requests_seen,
        }
