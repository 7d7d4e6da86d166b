"""Scenarios for test rigs: weld parts in the simulated cell while a timeline of faults is
injected at the wire and in the field, and check the controller's outcome.

A scenario file (``config/scenarios/*.yaml``) names a part program, how many parts to weld,
the events to inject and when, and what must come out::

    name: door-opened-while-welding
    part: coupon-fillet-80
    parts: 2
    events:
      - at: {part: 1, seam: 1, phase: welding, delay_s: 0.2}
        do: door_open
      - at: {after_fault: F101, delay_s: 0.5}
        do: door_close
    expect:
      faults: [F101]
      reaction_within_ms: 100
      parts_complete: 1
      parts_incomplete: 1

The runner starts the simulated cell here and the real controller as its own process
(``cellctl run``, exactly as on the floor), plays the operator on the PLC's panel (reset to
Idle, load a part, Start; after a fault, keep pressing Reset until the cell accepts it, then
Start or Unhold), and fires each event when its trigger is met. Phases are recognised from what
the devices hear and do (the n-th arc established is seam n welding), never from the
controller's insides. The outcome is judged from the production database and the simulator's
ground-truth event log (``sim.events``):

- ``faults``: each code was raised; with ``no_other_faults`` no other non-warning fault was;
- ``reaction_within_ms``: from each cause to the arc off and the robot stopped;
- ``safe_until_operator``: after the reaction, no device heard anything but safe commands
  (arc off, hold, stop, drive enable off, ...) until a person pressed a button;
- ``links_recover_within_s``: every link cut or stalled came back by itself after its device
  returned;
- ``parts_complete`` / ``parts_good`` / ``parts_incomplete``: the records say so.

``robot: kuka_rsi | abb_egm`` runs the scenario with a robot that owns its motion (the cell
config's robot interface switched, as ``cellctl demo --robot`` does; ``part`` must name its
robot jobs). That robot hears hold, resume and stop through the PLC's job outputs, and records
them as a robot's commands (``sim.devices.robot_job``), so that the reaction and the safe
window are judged as on the serial link.

Verbs for ``do``: door_open, door_close, estop, estop_release, light_curtain_block,
light_curtain_clear, gas_pressure_low, gas_pressure_ok, air_pressure_low, air_pressure_ok,
link_cut <device>, link_restore <device>, stall <device>, slow <device> <ms>,
corrupt <device> <frames>, truncate <device> <frames>, garbage <device> <frames>,
half_open <device>, wire_clear <device>, modbus_exception plc|power_source <code>,
modbus_exception_clear plc|power_source, arc_start_failure <starts>, arc_break, wire_stick,
gas_fault, power_source_error <code>, power_source_clear, press <button>; for a robot on RSI
rsi_late <ms>, rsi_loss <share>; on EGM egm_late <ms>, egm_loss <share>, egm_sensor_drop,
egm_sensor_clear.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import Field, field_validator

from drivers.codecs.model import StrictModel
from drivers.realtime import realtime_process_while
from sim.cell import SimulatedCell
from sim.cellfile import load_cell_devices
from sim.clock import SimClock
from sim.events import SimEvent
from sim.model_file import read_model
from sim.scenario.rig import (
    DEVICES_REALTIME_PRIORITY,
    ControllerExited,
    ControllerProcess,
    StoreView,
    let_go,
    until_or_after,
)
from sim.wire import injection
from sim.wire.injection import InjectionError, inject

T = TypeVar("T")
Phase = Literal["idle", "approach", "arc start", "welding", "crater fill", "retract"]
SAFE_COMMANDS = {
    "power_source": {
        "arc_on=False", "gas_test=False", "wire_inch=False", "wire_retract=False",
        "job_mode=False", "error_reset=False", "touch_sense_on=False",
    },
    "robot": {"HOLD", "STOP"},
    "plc": {"robot_enable_request=False", "door_lock_request=False", "buzzer=True",
            "buzzer=False", "fume_extraction_on=False",
            # A robot that owns its motion is held and stopped through the PLC's job outputs.
            "robot_hold=True", "robot_stop=True", "robot_seam_go=False",
            "robot_job_start=False"},
}  # fmt: skip


class Trigger(StrictModel):
    """When an event fires: at a time, at a phase of a seam of a part, or after a fault."""

    time_s: Annotated[float, Field(ge=0)] | None = None  # after the first part's Start
    part: Annotated[int, Field(ge=1)] | None = None
    seam: Annotated[int, Field(ge=1)] = 1
    phase: Phase | None = None
    after_fault: str | None = None  # the first time this code is raised
    after_event: Annotated[int, Field(ge=0)] | None = None  # index of an earlier event
    delay_s: Annotated[float, Field(ge=0)] = 0.0


class ScenarioEvent(StrictModel):
    at: Trigger
    do: str
    note: str = ""

    @field_validator("do")
    @classmethod
    def _known_verb(cls, do: str) -> str:
        return injection.check(do)  # the fault-injection table's own check (sim.wire.injection)


class Expectations(StrictModel):
    faults: list[str] = Field(default_factory=list)
    # May or may not be raised: which request a single garbled answer hits decides whether it
    # is ridden out (a status poll) or faulted (a command whose effect is unknown).
    faults_allowed: list[str] = Field(default_factory=list)
    no_other_faults: bool = True
    reaction_within_ms: Annotated[float, Field(gt=0)] | None = None
    detected_within_ms: Annotated[float, Field(gt=0)] | None = None
    safe_until_operator: bool = True
    links_recover_within_s: Annotated[float, Field(gt=0)] | None = None
    parts_complete: Annotated[int, Field(ge=0)] | None = None
    parts_good: Annotated[int, Field(ge=0)] | None = None
    parts_incomplete: Annotated[int, Field(ge=0)] | None = None


class ScenarioFile(StrictModel):
    name: str
    description: str = ""
    part: str | None = None  # a part program of the cell config (default: its active part)
    parts: Annotated[int, Field(ge=1, le=100_000)] = 1
    time_scale: Annotated[float, Field(gt=0, le=100)] = 20.0
    timeout_s: Annotated[float, Field(gt=0)] = 120.0
    config: dict[str, Any] = Field(default_factory=dict)  # merged over the cell config
    # The robot's interface (default: the cell config's); kuka_rsi and abb_egm run the robot's
    # own jobs, so ``part`` must be a program whose seams name them.
    robot: Literal["serial", "kuka_rsi", "abb_egm"] | None = None
    events: list[ScenarioEvent] = Field(default_factory=list)
    expect: Expectations = Expectations()


@dataclass
class Check:
    name: str
    passed: bool
    detail: str


@dataclass
class ScenarioResult:
    scenario: ScenarioFile
    path: Path
    checks: list[Check] = field(default_factory=list)
    duration_s: float = 0.0
    error: str = ""
    work: Path | None = None  # where its controller.log and sim-events.log are
    injected: int = 0  # fault causes fired
    reactions_ms: list[float] = field(default_factory=list)  # fault -> arc out + robot still

    @property
    def passed(self) -> bool:
        return not self.error and all(c.passed for c in self.checks)


class ScenarioError(Exception):
    pass


def load_scenario(path: Path) -> ScenarioFile:
    return read_model(path, ScenarioFile, ScenarioError)


def _merge(base: dict, over: dict) -> dict:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


SETTLE_S = 0.3  # after the last part, for the timeline's events still due
FAULT_LOOK_PERIOD_S = 0.02  # an event "after_fault" fires at most this much late
START_TRIES = 5  # presses of Start, a second apart, while the cell stays Idle without a part


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def prepare_config(cell_config: Path, work: Path, scenario: ScenarioFile) -> Path:
    """The cell config tree copied into ``work`` with private links, store and overrides;
    the plant interfaces (OPC UA, Sparkplug) off unless ``scenario.config`` turns them on."""
    target = work / "config"
    shutil.copytree(cell_config.parent, target, ignore=shutil.ignore_patterns("scenarios"))
    cell = yaml.safe_load(cell_config.read_text())
    cell["plc"]["link"]["port"] = _free_port()
    cell["power_source"]["link"]["port"] = str(work / "power_source")
    cell["robot"]["link"]["port"] = str(work / "robot")
    if scenario.robot not in (None, "serial"):
        _robot_owned_interface(cell, cell_config.parent, scenario.robot)
    controller = cell.setdefault("controller", {})
    controller["store_path"] = str(work / "production.db")
    # A rig's run never writes into the plant's database or publishes as the real cell.
    controller.pop("store_url", None)
    if isinstance(cell.get("sparkplug"), dict):
        cell["sparkplug"]["enabled"] = False
    # Its own OPC UA port: rigs run several cells side by side. Off unless the scenario's
    # config turns it on: no scenario talks to it, and building its address space costs
    # each controller start 1.5 s of CPU (a rig starts one per scenario, per power loss).
    opcua = cell.setdefault("opcua", {})
    opcua["endpoint"] = f"opc.tcp://127.0.0.1:{_free_port()}"
    opcua["enabled"] = False
    if scenario.part:
        controller.setdefault("cycle", {})["active_part"] = scenario.part
    cell = _merge(cell, scenario.config)
    derived = target / cell_config.name
    derived.write_text(yaml.safe_dump(cell))
    return derived


def _robot_owned_interface(cell: dict, config_dir: Path, interface: str) -> None:
    """``cell`` switched to a robot on ``interface`` that runs its own jobs: its sensor port
    private, only the part programs whose every seam names its robot job listed (the config
    check refuses the others for such a robot)."""
    robot = cell["robot"]
    robot["interface"] = interface
    robot[interface] = {**(robot.get(interface) or {}), "sensor_port": _free_port_udp()}
    cell["parts"] = [
        relative for relative in cell.get("parts") or [] if _names_robot_jobs(config_dir / relative)
    ]


def _names_robot_jobs(part_file: Path) -> bool:
    program = yaml.safe_load(part_file.read_text(encoding="utf-8")) or {}
    seams = program.get("seams") or []
    return bool(seams) and all(seam.get("robot_job") for seam in seams)


def _free_port_udp() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PhaseTracker:
    """Where the cell is, read from the devices' ground truth since the current part began."""

    def __init__(self) -> None:
        self.part = 0
        self.reached: dict[tuple[int, int, str], float] = {}  # (part, seam, phase) -> time
        self._counts: dict[str, int] = {}
        self._burning = False
        self._seam = 0

    def new_part(self, at: float) -> None:
        self.part += 1
        self._counts = {}
        self._seam = 0
        self.reached[(self.part, 1, "idle")] = at

    def _mark(self, seam: int, phase: str, at: float) -> None:
        self.reached.setdefault((self.part, seam, phase), at)

    def feed(self, event: SimEvent) -> None:
        if self.part == 0:
            return
        counts = self._counts
        # A seam's approach: the serial robot's joint move, or a robot's own job started.
        if event.device == "robot" and (
            event.what == "MOVE_JOINT" or event.what.startswith("JOB_START")
        ):
            counts["joint"] = counts.get("joint", 0) + 1
            self._mark(counts["joint"], "approach", event.at)
        elif event.device == "power_source" and event.what == "arc_on=True":
            counts["arc_on"] = counts.get("arc_on", 0) + 1
            self._mark(self._seam + 1, "arc start", event.at)
        elif event.device == "power_source" and event.what == "arc established":
            if not self._burning:
                self._seam += 1
            self._burning = True
            self._mark(self._seam, "welding", event.at)
        elif event.device == "power_source" and event.what.startswith("arc out"):
            self._burning = False
        elif event.device == "robot" and event.what.startswith("motion done") and self._burning:
            self._mark(self._seam, "crater fill", event.at)
        elif event.device == "robot" and event.what == "MOVE_LINEAR" and not self._burning:
            if (self.part, self._seam, "welding") in self.reached:
                self._mark(self._seam, "retract", event.at)


class ScenarioRunner:
    """Runs one scenario; ``await run()`` returns its result (it never raises for a failed
    expectation, only records it)."""

    def __init__(self, scenario: ScenarioFile, path: Path, cell_config: Path, work: Path) -> None:
        self.scenario = scenario
        self.path = path
        self.cell_config = cell_config
        self.work = work
        self.database = work / "production.db"
        self.log = work / "controller.log"
        self.store = StoreView(self.database)
        self.sim: SimulatedCell | None = None
        self.controller: ControllerProcess | None = None
        self.tracker = PhaseTracker()
        self.fired: dict[int, float] = {}  # event index -> time it fired
        # (event index, time, what, armed): the causes of faults the runner injected
        self.causes: list[tuple[int, float, str, bool]] = []
        # time.monotonic() minus time.time(): the store stamps faults with wall time
        self._mono_minus_wall = time.monotonic() - time.time()
        self.restores: list[tuple[float, str]] = []  # (time, device)
        self.presses: list[tuple[float, str]] = []
        self.parts_started = 0
        self.first_start: float | None = None
        self._seen_events = 0
        self._fault_seen: dict[str, float] = {}  # code -> when the runner first saw it
        self._faults_looked_at = 0.0  # time.monotonic() of the last look for awaited faults

    # -- plumbing -------------------------------------------------------------------------

    def query(self, sql: str, *params: Any) -> list[tuple]:
        return self.store.query(sql, *params)

    def state(self) -> str:
        return self.store.state()

    def fault_codes(self) -> list[tuple[str, float, str]]:
        return [
            (r[0], r[1], r[2])
            for r in self.query("SELECT code, raised_at, severity FROM faults ORDER BY id")
        ]

    def parts_finished(self) -> int:
        return (
            self.query("SELECT COUNT(*) FROM parts WHERE status != 'in_progress'")[0][0]
            if (self.database.exists())
            else 0
        )

    async def _press(self, button: str) -> None:
        """Press ``button`` as a person does: a press the controller sees as one, so not while
        the last press of the same button is still held (that would only hold it longer, and
        the controller, which acts on a press's edge, would see none)."""
        assert self.sim is not None
        await let_go(self.sim.plc, button)
        self.presses.append((time.monotonic(), button))
        self.sim.plc.press(button)

    # -- running ----------------------------------------------------------------------------

    async def run(self) -> ScenarioResult:
        with realtime_process_while(DEVICES_REALTIME_PRIORITY):
            return await self._run()

    async def _run(self) -> ScenarioResult:
        result = ScenarioResult(self.scenario, self.path, work=self.work)
        started = time.monotonic()
        self.work.mkdir(parents=True, exist_ok=True)
        config = prepare_config(self.cell_config, self.work, self.scenario)
        self.sim = SimulatedCell(load_cell_devices(config), SimClock(self.scenario.time_scale))
        await self.sim.start()
        try:
            self.log.write_text("")  # this run's output only
            self.controller = ControllerProcess(config, self.log)
            self.controller.start()
            try:
                async with asyncio.timeout(self.scenario.timeout_s):
                    await self._produce()
            except TimeoutError:
                result.error = (
                    f"timed out after {self.scenario.timeout_s:g} s: state {self.state()}, "
                    f"{self.parts_finished()} of {self.scenario.parts} part(s) finished"
                )
            except ScenarioError as error:
                result.error = str(error)
        finally:
            if self.controller is not None:
                await self.controller.stop()
            await self.sim.close()
            # The devices' ground truth beside the controller's log, for whoever reads a failure.
            (self.work / "sim-events.log").write_text(
                "".join(
                    f"{e.at:.4f} {e.device} {e.kind} {e.what}\n" for e in self.sim.events.events
                )
            )
        result.checks = self._judge()
        result.injected = len(self.causes)
        result.reactions_ms = [
            seconds * 1000
            for _, at, _, _ in self._caused_faults()
            if (seconds := self._reaction(at)[0]) is not None
        ]
        result.duration_s = time.monotonic() - started
        return result

    async def _produce(self) -> None:
        """The operator's work and the timeline, until every part is finished."""
        events = asyncio.create_task(self._timeline(), name="scenario timeline")
        try:
            await self._to_idle()
            while self.parts_finished() < self.scenario.parts:
                self._alive()
                state = self.state()
                if state == "Idle" and self.parts_started < self.scenario.parts:
                    if self.parts_started == self.parts_finished():
                        await self._start_part()
                elif state in ("Aborted", "Stopped", "Held", "Complete", "Suspended"):
                    await self._recover(state)
                await asyncio.sleep(0.05)
            # Let events still due fire (a restore after the last part): at most SETTLE_S,
            # less when the timeline has fired them all (every scenario waited the whole
            # SETTLE_S: 14 s of the suite).
            await asyncio.wait({events}, timeout=SETTLE_S)
        finally:
            events.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await events

    def _alive(self) -> None:
        if self.controller is not None:
            try:
                self.controller.check_alive()
            except ControllerExited as exited:
                raise ScenarioError(str(exited)) from None

    async def _to_idle(self) -> None:
        deadline = time.monotonic() + 30
        while self.state() != "Idle":
            self._alive()
            if time.monotonic() > deadline:
                raise ScenarioError(f"the controller did not reach Idle (state {self.state()})")
            await self._press("reset_button")
            await until_or_after(lambda: self.state() == "Idle", 0.4)

    async def _start_part(self) -> None:
        assert self.sim is not None
        self.sim.plc.set_part_loaded(True)
        self.parts_started += 1
        now = time.monotonic()
        self.first_start = self.first_start or now
        self.tracker.new_part(now)
        before = self.query("SELECT COUNT(*) FROM parts")
        count = before[0][0] if before else 0
        # Start again while the cell refuses it (a permissive not made yet: the PLC's heartbeat
        # watchdog, tripped before the controller's beat reached it, clears a moment later).
        for _ in range(START_TRIES):
            await self._press("start_button")
            deadline = time.monotonic() + 1.0
            while self._parts_recorded() == count:
                if self.state() != "Idle" or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            if self.state() != "Idle" or self._parts_recorded() != count:
                return

    def _parts_recorded(self) -> int:
        return (self.query("SELECT COUNT(*) FROM parts") or [(0,)])[0][0]

    async def _recover(self, state: str) -> None:
        """What a person does after a stop: Reset (acknowledge) until the cell takes it; a
        held cycle is then unheld, an aborted part is replaced by a new one."""
        if state == "Held":
            await self._press("reset_button")
            await until_or_after(lambda: not self._active_faults(), 0.4)
            if self.state() == "Held" and not self._active_faults():
                await self._press("start_button")
                await until_or_after(lambda: self.state() != "Held", 0.4)
        else:
            await self._press("reset_button")
            await until_or_after(lambda: self.state() != state, 0.6)

    def _active_faults(self) -> list[str]:
        rows = self.query(
            "SELECT code FROM faults WHERE cleared_at IS NULL AND severity != 'warning'"
        )
        return [r[0] for r in rows]

    async def _timeline(self) -> None:
        assert self.sim is not None
        pending = dict(enumerate(self.scenario.events))
        while pending:
            for event in self.sim.events.after(self._seen_events):
                self.tracker.feed(event)
            self._seen_events = self.sim.events.recorded
            self._note_faults_awaited(pending.values())
            now = time.monotonic()
            for index, event in sorted(pending.items()):
                due = self._due_at(event.at)
                if due is not None and now >= due + event.at.delay_s:
                    del pending[index]
                    await self._fire(index, event)
            await asyncio.sleep(0.005)

    def _note_faults_awaited(self, events) -> None:
        """When a fault some pending event waits for was first seen: a look at the store
        every ``FAULT_LOOK_PERIOD_S``, and none while no event waits for a fault. (Every
        timeline step was 200 looks a second, each a connection, in the process that serves
        the simulated devices' answers.)"""
        awaited = {e.at.after_fault for e in events if e.at.after_fault} - self._fault_seen.keys()
        now = time.monotonic()
        if awaited and now - self._faults_looked_at >= FAULT_LOOK_PERIOD_S:
            self._faults_looked_at = now
            for code, _, _ in self.fault_codes():
                if code in awaited:
                    self._fault_seen.setdefault(code, now)

    def _due_at(self, trigger: Trigger) -> float | None:
        if trigger.time_s is not None:
            return None if self.first_start is None else self.first_start + trigger.time_s
        if trigger.after_event is not None:
            return self.fired.get(trigger.after_event)
        if trigger.after_fault is not None:
            return self._fault_seen.get(trigger.after_fault)
        if trigger.part is not None and trigger.phase is not None:
            return self.tracker.reached.get((trigger.part, trigger.seam, trigger.phase))
        return None

    async def _fire(self, index: int, event: ScenarioEvent) -> None:
        assert self.sim is not None
        now = time.monotonic()
        self.fired[index] = now
        if event.do.split()[0] == "press":
            await self._press(event.do.split()[1])  # the operator's, recorded as such
            return
        try:
            injected = await inject(self.sim, event.do)
        except InjectionError as error:
            raise ScenarioError(f"event {index}: {error}") from None
        if injected.restored is not None:
            self.restores.append((time.time(), injected.restored))
        if injected.cause:
            self.causes.append((index, now, event.do, injected.armed))

    # -- judging ------------------------------------------------------------------------------

    def _judge(self) -> list[Check]:
        expect = self.scenario.expect
        checks: list[Check] = []
        raised = self.fault_codes()
        codes = {code for code, _, severity in raised if severity != "warning"}
        for code in expect.faults:
            checks.append(
                Check(f"fault {code} raised", code in codes, f"raised: {sorted(codes) or 'none'}")
            )
        if expect.no_other_faults:
            others = sorted(codes - set(expect.faults) - set(expect.faults_allowed))
            checks.append(Check("no other faults", not others, f"others: {others or 'none'}"))
        if expect.detected_within_ms is not None:
            for index, _, what, fault_at in self._caused_faults():
                cause_at = next(t for i, t, _, _ in self.causes if i == index)
                took_ms = (fault_at - cause_at) * 1000
                checks.append(Check(
                    f"'{what}' detected within {expect.detected_within_ms:g} ms",
                    took_ms <= expect.detected_within_ms,
                    f"fault raised {took_ms:.1f} ms after (event {index})",
                ))  # fmt: skip
        if expect.reaction_within_ms is not None:
            checks += self._judge_reactions(expect.reaction_within_ms)
        if expect.safe_until_operator:
            checks += self._judge_safe_window()
        if expect.links_recover_within_s is not None:
            checks += self._judge_recovery(expect.links_recover_within_s)
        rows = self.query("SELECT status, verdict FROM parts")
        complete = sum(1 for s, _ in rows if s == "complete")
        good = sum(1 for s, v in rows if s == "complete" and v == "good")
        incomplete = sum(1 for s, _ in rows if s == "incomplete")
        for label, expected, actual in (
            ("parts complete", expect.parts_complete, complete),
            ("parts good", expect.parts_good, good),
            ("parts incomplete", expect.parts_incomplete, incomplete),
        ):
            if expected is not None:
                checks.append(Check(label, actual == expected, f"{actual} (expected {expected})"))
        integrity = self.query("PRAGMA integrity_check")
        checks.append(
            Check("database intact", integrity == [("ok",)], f"integrity_check: {integrity}")
        )
        return checks

    def _events(self) -> list[SimEvent]:
        assert self.sim is not None
        return list(self.sim.events.events)

    def _reaction(self, cause_at: float) -> tuple[float | None, str]:
        """Seconds from ``cause_at`` until the arc is off and the robot stopped (either may
        already have been so at ``cause_at``)."""
        events = self._events()
        before = [e for e in events if e.at < cause_at]
        burning = _last(before, "power_source", ("arc established",), ("arc out",))
        moving = _last(
            before,
            "robot",
            ("MOVE_", "RESUME", "JOB_START", "SEAM_GO"),  # the last two: a robot's own job
            ("motion done", "drives off"),
        )
        arc_off = cause_at if not burning else None
        stopped = cause_at if not moving else None
        for event in events:
            if event.at < cause_at:
                continue
            if (
                arc_off is None
                and event.device == "power_source"
                and (event.what == "arc_on=False" or event.what.startswith("arc out"))
            ):
                arc_off = event.at
            if (
                stopped is None
                and event.device == "robot"
                and (
                    event.what in ("HOLD", "STOP")
                    or event.what.startswith(("motion done", "drives"))
                )
            ):
                stopped = event.at
        if arc_off is None or stopped is None:
            missing = [
                n for n, t in (("arc off", arc_off), ("robot stopped", stopped)) if t is None
            ]
            return None, " and ".join(missing) + " never seen"
        return max(arc_off, stopped) - cause_at, ""

    def _caused_faults(self) -> list[tuple[int, float, str, float]]:
        """Each cause that was followed by a stopping fault: (event index, when the reaction
        clock starts, what was injected, when the fault was raised); all on the monotonic clock.

        A cause the controller rode out (one garbled frame retried, say) has no fault and no
        reaction to judge; the parts and "no other faults" checks cover it.
        """
        raised = sorted(
            (at + self._mono_minus_wall, code)
            for code, at, severity in self.fault_codes()
            if severity != "warning"
        )
        caused = []
        for index, at, what, armed in self.causes:
            # The store stamps a fault when it is raised, a few ms after the cause at most;
            # allow for the two clocks' conversion.
            following = [t for t, _ in raised if t >= at - 0.005]
            if following:
                fault_at = following[0]
                caused.append((index, max(at, fault_at) if armed else at, what, fault_at))
        return caused

    def _judge_reactions(self, bound_ms: float) -> list[Check]:
        checks = []
        for index, at, what, _ in self._caused_faults():
            seconds, missing = self._reaction(at)
            if seconds is None:
                checks.append(Check(f"reaction to '{what}'", False, missing))
            else:
                checks.append(
                    Check(
                        f"reaction to '{what}' within {bound_ms:g} ms",
                        seconds * 1000 <= bound_ms,
                        f"{seconds * 1000:.1f} ms (event {index})",
                    )
                )
        return checks

    def _judge_safe_window(self) -> list[Check]:
        """After each cause, nothing but safe commands until a person presses a button."""
        checks = []
        events = self._events()
        for index, at, what, _ in self._caused_faults():
            seconds, _ = self._reaction(at)
            start = at + (seconds or 0.0)
            end = min((t for t, _ in self.presses if t > start), default=float("inf"))
            unsafe = [
                f"{e.device}: {e.what}"
                for e in events
                if start < e.at < end and e.kind == "command"
                and e.what not in SAFE_COMMANDS.get(e.device, set())
            ]  # fmt: skip
            checks.append(
                Check(
                    f"only safe commands after '{what}' until the operator acts",
                    not unsafe,
                    f"unsafe: {unsafe[:5]}" if unsafe else f"event {index}: none",
                )
            )
        return checks

    def _judge_recovery(self, bound_s: float) -> list[Check]:
        """Each link cut or stalled came back by itself (the controller logs "<device> link
        up") within ``bound_s`` of its device returning. The log's clock is wall time."""
        ups = []
        for line in self.log.read_text().splitlines() if self.log.exists() else []:
            parts = line.split()
            if len(parts) == 4 and parts[2:] == ["link", "up"]:
                ups.append((_seconds_of_day(parts[0]), parts[1]))
        checks = []
        for restored_at, device in self.restores:
            restored = _seconds_of_day(time.strftime("%H:%M:%S", time.localtime(restored_at)))
            restored += restored_at % 1
            after = [t - restored for t, d in ups if d == device and t >= restored - 0.05]
            took = min(after) if after else None
            checks.append(
                Check(
                    f"{device} link back by itself within {bound_s:g} s of its device returning",
                    took is not None and took <= bound_s,
                    f"{took:.2f} s" if took is not None else "no 'link up' after the return",
                )
            )
        return checks


def _seconds_of_day(clock: str) -> float:
    hours, minutes, seconds = clock.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _last(events: list[SimEvent], device: str, on: tuple[str, ...], off: tuple[str, ...]) -> bool:
    state = False
    for event in events:
        if event.device != device:
            continue
        if event.what.startswith(on):
            state = True
        elif event.what.startswith(off):
            state = False
    return state


# -- reporting --------------------------------------------------------------------------------


def print_result(result: ScenarioResult) -> None:
    verdict = "PASS" if result.passed else "FAIL"
    print(f"{verdict} {result.scenario.name} ({result.duration_s:.1f} s) {result.path}")
    if result.error:
        print(f"  [FAIL] could not finish: {result.error}")
    for check in result.checks:
        print(f"  [{'pass' if check.passed else 'FAIL'}] {check.name}: {check.detail}")


def summary(results: list[ScenarioResult]) -> str:
    """One line for a rig's log: scenarios, faults injected, the slowest reaction."""
    passed = sum(r.passed for r in results)
    reactions = [(ms, r.scenario.name) for r in results for ms in r.reactions_ms]
    slowest = max(reactions, default=None)
    worst = f", slowest reaction {slowest[0]:.1f} ms ({slowest[1]})" if slowest else ""
    return (
        f"{passed} of {len(results)} scenario(s) passed; "
        f"{sum(r.injected for r in results)} faults injected, {len(reactions)} reactions "
        f"judged{worst}"
    )


def write_junit(results: list[ScenarioResult], path: Path) -> None:
    """JUnit XML: a test suite per scenario, a test case per expectation."""
    suites = ElementTree.Element("testsuites", name="cellsim scenarios")
    for result in results:
        failures = sum(1 for c in result.checks if not c.passed) + (1 if result.error else 0)
        suite = ElementTree.SubElement(
            suites,
            "testsuite",
            name=result.scenario.name,
            tests=str(len(result.checks) + (1 if result.error else 0)),
            failures=str(failures),
            time=f"{result.duration_s:.3f}",
            file=str(result.path),
        )
        if result.error:
            case = ElementTree.SubElement(suite, "testcase", name="scenario ran to its end")
            ElementTree.SubElement(case, "failure", message=result.error).text = result.error
        for check in result.checks:
            case = ElementTree.SubElement(
                suite, "testcase", name=check.name, classname=result.scenario.name
            )
            if not check.passed:
                ElementTree.SubElement(case, "failure", message=check.detail).text = check.detail
            else:
                ElementTree.SubElement(case, "system-out").text = check.detail
    ElementTree.indent(suites)
    path.write_text(ElementTree.tostring(suites, encoding="unicode", xml_declaration=True))


async def run_scenarios(
    paths: list[Path], cell_config: Path, work: Path, jobs: int = 1
) -> list[ScenarioResult]:
    """Runs the scenarios, ``jobs`` at a time (each has its own simulated cell, controller,
    ports and work folder), and returns their results in the order given. Every file is read
    first: one broken file stops the run before anything starts, with every broken file named.
    """
    scenarios, problems = [], []
    for path in paths:
        try:
            scenarios.append(load_scenario(path))
        except ScenarioError as error:
            problems.append(str(error))
    if problems:
        raise ScenarioError("\n".join(problems))
    slots = asyncio.Semaphore(max(1, jobs))

    async def one(number: int, path: Path, scenario: ScenarioFile) -> ScenarioResult:
        async with slots:
            folder = work / f"{number:02d}-{path.stem}"
            result = await ScenarioRunner(scenario, path, cell_config, folder).run()
            print_result(result)
            return result

    return list(
        await asyncio.gather(
            *(one(n, p, s) for n, (p, s) in enumerate(zip(paths, scenarios, strict=True)))
        )
    )


class Interrupted(Exception):
    """SIGINT or SIGTERM ended the run; every controller the runners started was stopped."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


async def until_signalled(work: Awaitable[T]) -> T:
    """``work``'s result, unless SIGINT or SIGTERM comes first: then ``work`` is cancelled, and
    every runner's cleanup (its controller stopped, its simulated cell closed, so that no
    process, port or pty is left behind) runs to its end before ``Interrupted`` is raised.
    Further signals meanwhile are ignored: the cleanup takes seconds at most."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work)
    received: list[int] = []

    def on_signal(signum: int) -> None:
        if not received:
            received.append(signum)
            task.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        return await task
    except asyncio.CancelledError:
        if received:
            raise Interrupted(received[0]) from None
        raise
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
