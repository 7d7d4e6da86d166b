"""The simulated welding power source: a Modbus RTU server on a pty, and the arc behind it.

Wire: pymodbus's serial server must open a named port, and the controller must open another,
so the simulator makes two pty pairs and copies bytes between their master ends, as
``socat PTY,link=... PTY`` would. The controller opens the first (``port``, a stable symlink
at the configured path); pymodbus's server opens the second. With ``rtu_over_tcp_port`` the
same RTU frames are served on a TCP port instead, for ``socket://host:port`` serial URLs. The
register layout is the cell config's map (``sim.devices.register_image``); it answers only its
own unit id, as a device on an RS-485 line must.

Arc model (simulated time; commented step by step in ``ArcModel.step``):

- ``arc_on`` opens the gas valve (pre-flow), then the wire creeps towards the work until the
  arc ignites after ``IGNITION_DELAY_S``; with probability ``ignition_failure_rate`` (or when a
  failure is injected) it does not, and after ``IGNITION_TIMEOUT_S`` the machine latches error
  101 and stops trying;
- while the arc burns, current, voltage and wire feed follow their setpoints with a first-order
  lag (``ACTUAL_TIME_CONSTANT_S``) plus noise, and the current with the torch's stick-out
  (``stick_out_change_mm``, wired to the robot's weave: a constant-voltage arc draws more
  current on a shorter stick-out, ``CURRENT_PER_STICK_OUT_A_PER_MM``); it breaks at
  ``arc_break_rate_per_s`` or when injected (error 102);
- ``arc_on`` off ends the arc; gas post-flows for ``POSTFLOW_S``; an injected wire stick leaves
  a short circuit through the stuck wire and error 103;
- arc sensing (``sim.devices.arc_sensing``): while the arc burns, the current is sampled at
  ``ARC_SENSING_SAMPLE_HZ`` of simulated time (noise and ripple included, as the machine's own
  shunt reads them; the arc's state held over a physics step) and filed by the robot's weave
  sync (``weave_side``); each completed weave period's left, right and mean current is
  published in the arc-sensing inputs;
- no gas flow (injected gas fault) stops the arc with error 104; gas test and wire inch/retract
  work with the arc off; a latched error clears on a rising edge of ``error_reset`` with the arc
  off;
- the interface watchdog: with the arc on, no request from the controller for
  ``interface_watchdog_ms`` (real time: it guards the link) switches the arc off, error 109.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymodbus import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer

from drivers.codecs.modbus_map import SignalValue
from drivers.codecs.power_source_protocol import PowerSourceError, error_text
from drivers.codecs.settings import ModbusRtuLinkSettings, PowerSourceSettings
from sim.clock import SimClock
from sim.devices.arc_sensing import WeavePeriodMeter, WeaveSide
from sim.devices.register_image import RegisterImage
from sim.events import EventLog
from sim.wire.faults import WireFaults
from sim.wire.pty_link import PtyEndpoint

log = logging.getLogger(__name__)

PHYSICS_PERIOD_S = 0.002  # real seconds between physics steps
PREFLOW_S = 0.10  # gas before the wire moves
IGNITION_DELAY_S = 0.08  # wire creep to first contact and arc
IGNITION_TIMEOUT_S = 1.0  # the machine's own ignition time limit
POSTFLOW_S = 0.40
ACTUAL_TIME_CONSTANT_S = 0.03  # how quickly actuals follow setpoints while the arc burns
ARC_OUT_TIME_CONSTANT_S = 0.001  # an arc that goes out takes its current with it at once
NOISE = {"current": 0.015, "voltage": 0.008, "wire": 0.006}  # relative standard deviation
GAS_FLOW_TEST_L_PER_MIN = 15.0
# A constant-voltage arc's self-regulation: the stick-out a millimetre shorter, the wire's
# resistive preheating less, and the current this much higher (1.0-1.2 mm solid wire).
CURRENT_PER_STICK_OUT_A_PER_MM = 6.0
INCH_SPEED_M_PER_MIN = 5.0
# What the machine's current shunt reads besides the arc's mean: the rectified mains' residual
# ripple (a thyristor machine's 100 Hz; an inverter's is far above the sampling and averages
# out), on top of the droplet transfer's fluctuation (NOISE["current"]).
RIPPLE_A = 3.0
RIPPLE_HZ = 100.0
# The machine's own current sampling for arc sensing (simulated time): a physics step longer
# than a sample period (a time scale above 1, a loaded machine) is sampled as the machine
# would, the arc's state held over the step, each sample with its own noise and ripple.
ARC_SENSING_SAMPLE_HZ = 1000.0


class ArcPhase(enum.StrEnum):
    OFF = "off"
    PREFLOW = "preflow"
    IGNITING = "igniting"
    BURNING = "burning"
    FAILED = "failed"  # ignition failed or the arc broke; waits for arc_on to go off
    POSTFLOW = "postflow"


@dataclass
class Commands:
    """What the controller has written, decoded from the output registers."""

    arc_on: bool = False
    gas_test: bool = False
    wire_inch: bool = False
    wire_retract: bool = False
    error_reset: bool = False
    job_mode: bool = False
    job_number: int = 0
    current_setpoint_a: float = 0.0
    voltage_setpoint_v: float = 0.0
    wire_feed_setpoint_m_per_min: float = 0.0
    touch_sense_on: bool = False  # the sensing voltage on the wire (touch sensing)


@dataclass
class Injected:
    """Faults the test rig asked for."""

    ignition_failures: int = 0  # the next N arc starts fail
    arc_break: bool = False  # break the burning arc now
    wire_stick: bool = False  # the wire sticks at the next arc end
    gas_fault: bool = False  # no gas flow until cleared
    machine_error: PowerSourceError | None = None  # a lasting condition (overtemperature, ...)
    current_offset_a: float = 0.0  # the arc runs this far off its setpoint (a worn tip, ...)


@dataclass
class ArcModel:
    """The arc and the machine's state, stepped in simulated time.

    ``rng`` draws the process's randomness (ignition failures, breaks); ``noise`` the sensors'.
    Two generators, so that how often the controller reads the actuals does not change which
    starts fail: a seed gives the same failures whatever the polling.
    """

    rng: random.Random
    noise: random.Random
    ignition_failure_rate: float = 0.0
    arc_break_rate_per_s: float = 0.0
    phase: ArcPhase = ArcPhase.OFF
    phase_time_s: float = 0.0
    error: PowerSourceError = PowerSourceError.NONE
    current_a: float = 0.0
    voltage_v: float = 0.0
    wire_feed_m_per_min: float = 0.0
    gas_flow_l_per_min: float = 0.0
    wire_stuck: bool = False
    arc_starts: int = 0
    ignition_failures: int = 0
    arc_breaks: int = 0
    arc_time_s: float = 0.0
    injected: Injected = field(default_factory=Injected)
    # How much the stick-out differs from the procedure's now (mm, negative: shorter), e.g. a
    # weaving torch nearing a groove's flank; None: it never changes.
    stick_out_change_mm: Callable[[], float] | None = None
    # The robot's weave sync (``sim.devices.arc_sensing``): where the weave has the torch now;
    # None: not wired, no arc sensing.
    weave_side: Callable[[], WeaveSide] | None = None
    weave_periods: WeavePeriodMeter = field(default_factory=WeavePeriodMeter)
    sim_time_s: float = 0.0  # the ripple's clock
    _will_fail_ignition: bool = False
    _last_reset: bool = False

    @property
    def burning(self) -> bool:
        return self.phase is ArcPhase.BURNING

    def _enter(self, phase: ArcPhase) -> None:
        self.phase = phase
        self.phase_time_s = 0.0

    def _latch(self, error: PowerSourceError) -> None:
        if self.error is PowerSourceError.NONE:
            self.error = error

    def step(self, dt_s: float, commands: Commands) -> None:
        self.phase_time_s += dt_s
        # Error reset: on the rising edge of the bit, with the arc off, a latched error clears
        # (a stuck wire stays until it is cut free: its short circuit is still measured).
        if commands.error_reset and not self._last_reset and not commands.arc_on:
            if not self.wire_stuck:
                self.error = PowerSourceError.NONE
        self._last_reset = commands.error_reset
        gas_available = not self.injected.gas_fault
        if self.injected.machine_error is not None:
            # The condition lasts (the machine is still too hot): it latches again at once.
            self._latch(self.injected.machine_error)
            if self.phase in (ArcPhase.PREFLOW, ArcPhase.IGNITING, ArcPhase.BURNING):
                self._enter(ArcPhase.FAILED)

        if self.phase is ArcPhase.OFF:
            if commands.arc_on and self.error is PowerSourceError.NONE:
                # A new start: decide now whether this ignition will fail.
                self.arc_starts += 1
                if self.injected.ignition_failures > 0:
                    self.injected.ignition_failures -= 1
                    self._will_fail_ignition = True
                else:
                    self._will_fail_ignition = self.rng.random() < self.ignition_failure_rate
                self._enter(ArcPhase.PREFLOW)
        elif self.phase is ArcPhase.PREFLOW:
            if not commands.arc_on:
                self._enter(ArcPhase.POSTFLOW)
            elif not gas_available:
                # The flow monitor sees no gas: the machine refuses to strike.
                self._latch(PowerSourceError.GAS_FLOW)
                self._enter(ArcPhase.FAILED)
            elif self.phase_time_s >= PREFLOW_S:
                self._enter(ArcPhase.IGNITING)
        elif self.phase is ArcPhase.IGNITING:
            if not commands.arc_on:
                self._enter(ArcPhase.POSTFLOW)
            elif not self._will_fail_ignition and self.phase_time_s >= IGNITION_DELAY_S:
                self._enter(ArcPhase.BURNING)
            elif self.phase_time_s >= IGNITION_TIMEOUT_S:
                # The wire never made a stable arc within the machine's ignition time.
                self.ignition_failures += 1
                self._latch(PowerSourceError.IGNITION_FAILED)
                self._enter(ArcPhase.FAILED)
        elif self.phase is ArcPhase.BURNING:
            self.arc_time_s += dt_s
            broke = self.injected.arc_break or (
                self.arc_break_rate_per_s > 0
                and self.rng.random() < self.arc_break_rate_per_s * dt_s
            )
            if not commands.arc_on:
                # Arc end: a stuck wire shorts torch to work after the arc is gone.
                if self.injected.wire_stick:
                    self.injected.wire_stick = False
                    self.wire_stuck = True
                    self._latch(PowerSourceError.WIRE_STICK)
                self._enter(ArcPhase.POSTFLOW)
            elif not gas_available:
                self._latch(PowerSourceError.GAS_FLOW)
                self._enter(ArcPhase.FAILED)
            elif broke:
                self.injected.arc_break = False
                self.arc_breaks += 1
                self._latch(PowerSourceError.ARC_BREAK)
                self._enter(ArcPhase.FAILED)
        elif self.phase is ArcPhase.FAILED:
            if not commands.arc_on:
                self._enter(ArcPhase.POSTFLOW)
        elif self.phase is ArcPhase.POSTFLOW:
            if commands.arc_on and self.error is PowerSourceError.NONE:
                self._enter(ArcPhase.OFF)  # a new start begins on the next step
            elif self.phase_time_s >= POSTFLOW_S:
                self._enter(ArcPhase.OFF)

        self._follow_actuals(dt_s, commands, gas_available)
        self._sense_weave(dt_s)

    def _sense_weave(self, dt_s: float) -> None:
        """The arc-sensing samples of a physics step (``ARC_SENSING_SAMPLE_HZ``, at least
        one) while the arc burns and the robot's weave sync is wired; the period under way
        is dropped when the arc goes out."""
        start_s = self.sim_time_s
        self.sim_time_s += dt_s
        if dt_s <= 0:
            return  # a write's immediate reaction: no time passed, no sample
        if not self.burning or self.weave_side is None:
            self.weave_periods.reset()
            return
        side = self.weave_side()
        samples = max(1, round(dt_s * ARC_SENSING_SAMPLE_HZ))
        for k in range(1, samples + 1):
            at_s = start_s + dt_s * k / samples
            self.weave_periods.sample(self.sampled_current_a(at_s), side, dt_s / samples)

    def sampled_current_a(self, at_s: float | None = None) -> float:
        """What the machine's shunt reads at ``at_s`` (default now): the current with its
        noise and ripple."""
        t = self.sim_time_s if at_s is None else at_s
        ripple = RIPPLE_A * math.sin(2 * math.pi * RIPPLE_HZ * t)
        noisy = self.current_a * (1 + self.noise.gauss(0, NOISE["current"]))
        return max(0.0, noisy + ripple)

    def _follow_actuals(self, dt_s: float, commands: Commands, gas_available: bool) -> None:
        # Targets: the setpoints while the arc burns; the wire speeds of inch and retract;
        # the short-circuit current of a stuck wire; otherwise nothing.
        if self.phase is ArcPhase.BURNING:
            current, voltage, wire = (
                commands.current_setpoint_a,
                commands.voltage_setpoint_v,
                commands.wire_feed_setpoint_m_per_min,
            )
            if commands.job_mode:
                current, voltage, wire = job_setpoints(commands.job_number)
            current += self.injected.current_offset_a
            if self.stick_out_change_mm is not None:
                current -= CURRENT_PER_STICK_OUT_A_PER_MM * self.stick_out_change_mm()
        elif self.wire_stuck:
            current, voltage, wire = 60.0, 0.8, 0.0
        elif commands.wire_inch or commands.wire_retract or self.phase is ArcPhase.IGNITING:
            current, voltage, wire = 0.0, 0.0, INCH_SPEED_M_PER_MIN
        else:
            current, voltage, wire = 0.0, 0.0, 0.0
        # First-order lag towards the target (exact for any step length, so a large time scale
        # keeps the lag), then noise on what the sensors read.
        blend = 1.0 - math.exp(-dt_s / ACTUAL_TIME_CONSTANT_S)
        arc_gone = 1.0 - math.exp(-dt_s / ARC_OUT_TIME_CONSTANT_S)
        electrical = blend if self.phase is ArcPhase.BURNING or self.wire_stuck else arc_gone
        self.current_a += (current - self.current_a) * electrical
        self.voltage_v += (voltage - self.voltage_v) * electrical
        self.wire_feed_m_per_min += (wire - self.wire_feed_m_per_min) * blend
        valve_open = commands.gas_test or self.phase in (
            ArcPhase.PREFLOW,
            ArcPhase.IGNITING,
            ArcPhase.BURNING,
            ArcPhase.POSTFLOW,
        )
        gas_target = GAS_FLOW_TEST_L_PER_MIN if valve_open and gas_available else 0.0
        self.gas_flow_l_per_min += (gas_target - self.gas_flow_l_per_min) * blend

    def measured(self) -> tuple[float, float, float]:
        """What the machine's sensors read: the actuals with noise, never below zero."""
        return (
            max(0.0, self.current_a * (1 + self.noise.gauss(0, NOISE["current"]))),
            max(0.0, self.voltage_v * (1 + self.noise.gauss(0, NOISE["voltage"]))),
            max(0.0, self.wire_feed_m_per_min * (1 + self.noise.gauss(0, NOISE["wire"]))),
        )


def job_setpoints(job_number: int) -> tuple[float, float, float]:
    """The machine's stored jobs (a small table, as a real one has hundreds)."""
    jobs = {1: (150.0, 19.5, 5.5), 2: (220.0, 24.5, 9.5), 3: (165.0, 19.0, 4.8)}
    return jobs.get(job_number, (0.0, 0.0, 0.0))


class SimulatedPowerSource:
    """A GMAW power source on Modbus RTU: a pty (``port``) or RTU frames over TCP."""

    def __init__(
        self,
        settings: PowerSourceSettings,
        clock: SimClock,
        link_path: str | Path | None = None,
        rtu_over_tcp_port: int | None = None,
        ignition_failure_rate: float = 0.0,
        arc_break_rate_per_s: float = 0.0,
        seed: int = 1,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.link_path = link_path
        self.rtu_over_tcp_port = rtu_over_tcp_port
        self.arc = ArcModel(
            random.Random(seed),
            random.Random(seed + 1),
            ignition_failure_rate,
            arc_break_rate_per_s,
        )
        self.commands = Commands()
        self.image = RegisterImage(
            settings.registers,
            settings.link.unit_id,
            self.input_values,
            self._on_write,
            rtu=True,
            accept_write=self._accept_write,
        )
        self.interface_timeouts = 0
        self.events: EventLog | None = None  # ground truth for benchmarks (sim.events)
        self._last_request_real_s = time.monotonic()
        self._controller_end: PtyEndpoint | None = None
        self._server_end: PtyEndpoint | None = None
        self._server: ModbusSerialServer | ModbusTcpServer | None = None
        self._physics: asyncio.Task[None] | None = None
        self.bridged_bytes = 0
        self.bridge_drops = 0
        # Touch sensing: whether the wire lies on the part now (the cell wires it to the true
        # plates, sim.devices.touch); the contact input reads it while the sensing voltage is on.
        self.wire_on_part: Callable[[], bool] = lambda: False

    @property
    def faults(self) -> WireFaults:
        return self.image.faults

    @property
    def port(self) -> str:
        if self.rtu_over_tcp_port is not None:
            return f"socket://127.0.0.1:{self.rtu_over_tcp_port}"
        assert self._controller_end is not None, "start() first"
        return self._controller_end.port

    def describe(self) -> str:
        """Where the controller finds it, for people: the port, and the pty behind a link."""
        link = self.settings.link
        unit = f"unit {link.unit_id}"
        if self._controller_end is None:
            return f"Modbus RTU over TCP {self.port} {unit}"
        serial = link if isinstance(link, ModbusRtuLinkSettings) else None
        framing = (
            f"{serial.baud} {serial.data_bits}{serial.parity}{serial.stop_bits}" if serial else ""
        )
        return f"Modbus RTU {self._controller_end.describe()} {unit} {framing}".rstrip()

    # -- life cycle -----------------------------------------------------------------------

    async def start(self) -> None:
        link = self.settings.link
        serial = link if isinstance(link, ModbusRtuLinkSettings) else None
        if self.rtu_over_tcp_port is not None:
            self._server = ModbusTcpServer(
                self.image.device(),
                framer=FramerType.RTU,
                address=("127.0.0.1", self.rtu_over_tcp_port),
                trace_packet=self._tap,
            )
        else:
            self._controller_end = PtyEndpoint(self.link_path)
            self._server_end = PtyEndpoint()
            self._server = ModbusSerialServer(
                self.image.device(),
                framer=FramerType.RTU,
                port=self._server_end.slave_path,
                baudrate=serial.baud if serial else 115200,
                parity=serial.parity if serial else "E",
                stopbits=serial.stop_bits if serial else 1,
                bytesize=serial.data_bits if serial else 8,
                trace_packet=self._tap,
            )
            loop = asyncio.get_running_loop()
            controller_fd, server_fd = self._controller_end.master_fd, self._server_end.master_fd
            loop.add_reader(controller_fd, self._bridge, controller_fd, server_fd)
            loop.add_reader(server_fd, self._bridge, server_fd, controller_fd)
        await self._server.serve_forever(background=True)
        if self._server.transport is None:
            await self.close()
            raise OSError(f"simulated power source could not open {self.port}")
        self._last_request_real_s = time.monotonic()
        self._physics = asyncio.create_task(self._run_physics(), name="simulated power source")

    async def close(self) -> None:
        if self._physics is not None:
            self._physics.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._physics
            self._physics = None
        loop = asyncio.get_running_loop()
        for end in (self._controller_end, self._server_end):
            if end is not None and end.master_fd >= 0:
                loop.remove_reader(end.master_fd)
        if self._server is not None:
            await self._server.shutdown()
            self._server = None
        for end in (self._controller_end, self._server_end):
            if end is not None:
                end.close()
        self._controller_end = self._server_end = None

    def unplug(self) -> None:
        """Pull the RS-485 cable: the controller's pty goes away; the machine runs on (and its
        interface watchdog switches a burning arc off)."""
        end = self._controller_end
        if end is not None and self._server_end is not None:
            loop = asyncio.get_running_loop()
            loop.remove_reader(end.master_fd)
            end.close()
            self._controller_end = None

    def plug_in(self) -> None:
        """Reconnect the cable: a new pty behind the same link path."""
        if self._controller_end is None and self._server_end is not None:
            loop = asyncio.get_running_loop()
            self._controller_end = PtyEndpoint(self.link_path)
            controller_fd, server_fd = self._controller_end.master_fd, self._server_end.master_fd
            loop.add_reader(controller_fd, self._bridge, controller_fd, server_fd)
            loop.remove_reader(server_fd)
            loop.add_reader(server_fd, self._bridge, server_fd, controller_fd)

    def _bridge(self, source_fd: int, target_fd: int) -> None:
        """Copy what one pty master has to the other: the cable between the two ends."""
        try:
            data = os.read(source_fd, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return  # EIO: nobody has the other end open right now
        try:
            os.write(target_fd, data)
            self.bridged_bytes += len(data)
        except OSError:
            self.bridge_drops += len(data)  # the reader is not reading: bytes are lost

    def _tap(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            self._last_request_real_s = time.monotonic()
        return self.image.wire_tap(sending, data)

    # -- the model --------------------------------------------------------------------------

    def _accept_write(self, address: int, words: list[int]) -> bool:
        """A setpoint beyond the machine's range is refused (Modbus exception 3), as a real
        machine's interface does, whatever the controller believed."""
        limits = self.settings.limits
        registers = self.settings.registers.outputs
        maxima = {
            "current_setpoint_a": limits.max_current_a,
            "voltage_setpoint_v": limits.max_voltage_v,
            "wire_feed_setpoint_m_per_min": limits.max_wire_feed_m_per_min,
        }
        for name, maximum in maxima.items():
            signal = registers[name]
            offset = signal.address - address
            if 0 <= offset < len(words) and words[offset] * signal.scale > maximum:
                return False
        return True

    def _on_write(self, address: int, words: list[int]) -> None:
        values = {name: self.image.output(name) for name in self.settings.registers.outputs}
        for name, value in values.items():
            if hasattr(self.commands, name):
                old = getattr(self.commands, name)
                new = type(old)(value)
                if new != old and self.events is not None:
                    self.events.record("power_source", "command", f"{name}={new}")
                setattr(self.commands, name, new)
        self._step(0.0)  # react at once, as the machine's firmware would

    def _step(self, dt_s: float) -> None:
        burning_before = self.arc.burning
        self.arc.step(dt_s, self.commands)
        if self.events is not None and self.arc.burning != burning_before:
            what = "arc established" if self.arc.burning else f"arc out ({self.arc.phase})"
            self.events.record("power_source", "done", what)

    async def _run_physics(self) -> None:
        last_sim_s = self.clock.now_s()
        while True:
            await asyncio.sleep(PHYSICS_PERIOD_S)
            now_sim_s = self.clock.now_s()
            dt_s, last_sim_s = now_sim_s - last_sim_s, now_sim_s
            self._check_interface_watchdog()
            self._step(dt_s)

    def _check_interface_watchdog(self) -> None:
        quiet_s = time.monotonic() - self._last_request_real_s
        if self.commands.arc_on and quiet_s > self.settings.interface_watchdog_ms / 1000:
            if self.arc.phase in (ArcPhase.PREFLOW, ArcPhase.IGNITING, ArcPhase.BURNING):
                log.info("simulated power source: controller silent, arc off")
                self.interface_timeouts += 1
                burning = self.arc.burning
                self.arc._latch(PowerSourceError.INTERFACE_TIMEOUT)
                self.arc._enter(ArcPhase.FAILED)
                if self.events is not None and burning:
                    self.events.record("power_source", "done", "arc out (interface watchdog)")

    def input_values(self) -> dict[str, SignalValue]:
        arc = self.arc
        current, voltage, wire = arc.measured()
        values: dict[str, SignalValue] = {
            "ready": arc.error is PowerSourceError.NONE,
            "arc_established": arc.burning,
            "current_flowing": current > 5.0,
            "error": arc.error is not PowerSourceError.NONE,
            "error_code": int(arc.error),
            "gas_flow_ok": not arc.injected.gas_fault,
            "actual_current_a": round(current, 1),
            "actual_voltage_v": round(voltage, 1),
            "actual_wire_feed_m_per_min": round(wire, 2),
            "actual_gas_flow_l_per_min": round(arc.gas_flow_l_per_min, 1),
            "wire_touching": self.wire_touching(),
        }
        period = arc.weave_periods.last
        if period is not None:
            values |= {
                "arc_sensing_period_count": period.count % 65536,
                "arc_sensing_left_current_a": round(period.left_current_a, 1),
                "arc_sensing_right_current_a": round(period.right_current_a, 1),
                "arc_sensing_mean_current_a": round(period.mean_current_a, 1),
                "arc_sensing_samples": min(period.samples, 65535),
                "arc_sensing_period_ms": min(round(period.period_ms), 65535),
            }
        return {k: v for k, v in values.items() if k in self.settings.registers.inputs}

    def touch_sensing(self) -> bool:
        """The sensing voltage is on the wire: commanded, and no arc (it is a welding output
        in open-circuit mode; a burning arc has the wire on the work anyway)."""
        return self.commands.touch_sense_on and not self.arc.burning

    def wire_touching(self) -> bool:
        """The contact input: the sensing voltage on and the wire on the part."""
        return self.touch_sensing() and self.wire_on_part()

    # -- fault injection and ground truth -----------------------------------------------------

    def inject(self, kind: str, count: int = 1) -> None:
        """``arc_break``, ``wire_stick``, ``gas_fault``, ``ignition_failure`` (the next
        ``count`` starts), ``error:<code>`` (a lasting machine condition with that error,
        e.g. ``error:106`` overtemperature, until ``clear_faults``), or
        ``current_offset:<A>`` (the arc burns that far from its setpoint)."""
        injected = self.arc.injected
        if self.events is not None:
            self.events.record("power_source", "inject", kind)
        if kind == "arc_break":
            injected.arc_break = True
        elif kind == "wire_stick":
            injected.wire_stick = True
        elif kind == "gas_fault":
            injected.gas_fault = True
        elif kind == "ignition_failure":
            injected.ignition_failures += count
        elif kind.startswith("current_offset:"):
            injected.current_offset_a = float(kind.removeprefix("current_offset:"))
        elif kind.startswith("error:"):
            injected.machine_error = PowerSourceError(int(kind.removeprefix("error:")))
            self.arc.step(0.0, self.commands)
        else:
            raise ValueError(
                f"unknown fault {kind!r}: arc_break, wire_stick, gas_fault, ignition_failure, "
                "error:<code>, current_offset:<A>"
            )

    def clear_faults(self) -> None:
        """Remove every injected cause: gas back, wire cut free, the machine cooled down
        (errors stay latched until an error reset)."""
        self.arc.injected = Injected()
        self.arc.wire_stuck = False

    def state(self) -> dict[str, Any]:
        arc = self.arc
        return {
            "phase": str(arc.phase),
            "error": int(arc.error),
            "error_text": error_text(arc.error),
            "arc_starts": arc.arc_starts,
            "ignition_failures": arc.ignition_failures,
            "arc_breaks": arc.arc_breaks,
            "arc_time_s": round(arc.arc_time_s, 3),
            "wire_stuck": arc.wire_stuck,
            "interface_timeouts": self.interface_timeouts,
            "commands": dict(vars(self.commands)),
            "requests_seen": self.image.requests_seen,
        }
