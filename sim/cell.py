"""The whole simulated cell: PLC, power source and robot from one cell config, wired together
the way the real cell is wired, plus the control channel.

The wiring that the real cell has outside the controller is reproduced here: the PLC's drive
enable powers the robot's drives (drop it and the robot stops where it is), and the gas supply
pressure the PLC watches is the pressure the power source's gas valve sees.

Every device listens where the cell config says the controller will look: the PLC on its
host:port, the power source and the robot on pty links at their configured port paths (or,
for a ``socket://host:port`` power source, RTU frames over TCP on that port).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from drivers.codecs.settings import ModbusRtuLinkSettings, ModbusTcpLinkSettings
from sim.cellfile import CellDevices
from sim.clock import SimClock
from sim.devices.arc_sensing import WeaveSide
from sim.devices.plc import SimulatedPlc
from sim.devices.power_source import SimulatedPowerSource
from sim.devices.robot import SimulatedRobot
from sim.devices.robot_egm import EgmJob, SimulatedEgmRobot
from sim.devices.robot_rsi import SimulatedRsiRobot, load_taught_jobs
from sim.devices.scanner import SimulatedScanner
from sim.devices.sensor import SimulatedSensor, TrackingScore
from sim.devices.sensor_render import CameraModel, Disturbances
from sim.devices.torch_service import ServiceStation
from sim.devices.touch import TcpChecker, TorchContact
from sim.events import EventLog
from sim.truth.bead import BeadRecord, BeadShape
from sim.truth.groove import WireOverGroove, wire_over_groove
from sim.truth.part import TruePart, VisionScenario, load_true_part
from sim.truth.torch import TrueTorch
from sim.wire.control import ControlError, ControlServer
from sim.wire.injection import InjectionError, inject

log = logging.getLogger(__name__)


class SimulatedCell:
    def __init__(
        self,
        devices: CellDevices,
        clock: SimClock,
        control_port: int | None = None,
        host: str = "127.0.0.1",
        vision: VisionScenario | None = None,
    ) -> None:
        self.devices = devices
        self.clock = clock
        self.plc = SimulatedPlc(devices.plc, clock, host=host)
        self.power_source = _power_source(devices, clock)
        self.robot = _robot(devices, clock, self.plc)
        self.plc.on_robot_enabled = self.robot.set_drives_enabled
        self.plc.arc_power_w = self._arc_power_w
        # A weaving torch nears the groove's flanks (the fillet's legs): its stick-out shortens
        # and the arc's current ripples with the weave. With a part program, against the true
        # groove (``ArcOverGroove``); without one, against a flank of fixed slope.
        self.arc_over_groove: ArcOverGroove | None = None
        # The beads the passes lay (sim.truth.bead): the laser sees them, the arc meets them.
        self.beads = BeadRecord()
        self.plc.part_removed_listeners.append(self.beads.clear)
        part = None
        if devices.active_part_file is not None:
            part = load_true_part(devices.active_part_file, vision or VisionScenario(name="ideal"))
            self.arc_over_groove = ArcOverGroove(
                part, self.robot, self.beads, BeadShape(**(vision.bead if vision else {}))
            )
            self.power_source.arc.stick_out_change_mm = self.arc_over_groove.stick_out_change_mm
        else:
            self.power_source.arc.stick_out_change_mm = lambda: _stick_out_change_mm(self.robot)
        # The robot's weave sync, wired to the power source's robot interface (arc sensing).
        self.power_source.arc.weave_side = lambda: WeaveSide(self.robot.motion.weave_sync())
        self.events = EventLog()
        for device in (self.plc, self.power_source, self.robot):
            device.events = self.events
        self.touch = _torch_contact(devices, vision, self.power_source)
        self._wire_touch(self.touch)
        self.station = _service_station(devices, self.touch, self.robot, self.plc)
        # The laser sensor, only when the cell config enables it (sim.sensor).
        self.sensor: SimulatedSensor | None = None
        self.tracking_score: TrackingScore | None = None
        if devices.sensor.get("enabled"):
            self.sensor, self.tracking_score = _sensor(
                devices, self.robot, self.plc, self.power_source, vision, host, self.beads
            )
            self.robot.on_trajectory_sample = self.tracking_score.add
        elif part is not None and any(s.joint == "v_groove_butt" for s in part.seams):
            # No laser, yet the passes lay their beads in a V-groove (the arc meets them): the
            # truth's record of where the torch went and what it laid, scored as with a
            # sensor. (Only there: it costs every trajectory sample some work.)
            arc = self.power_source.arc
            shape = BeadShape(**(vision.bead if vision else {}))
            self.tracking_score = TrackingScore(
                part,
                arc_burning=lambda: arc.burning,
                beads=self.beads,
                deposit_mm2=lambda travel: shape.deposit_mm2(arc.wire_feed_m_per_min, travel),
            )
            self.robot.on_trajectory_sample = self.tracking_score.add
        # The barcode scanner, when the cell config has one (traceability.scanner).
        self.scanner: SimulatedScanner | None = None
        if devices.scanner_port is not None:
            self.scanner = SimulatedScanner(devices.scanner_port)
            self.scanner.events = self.events
        self.control = (
            ControlServer(self._handlers(), host=host, port=control_port)
            if control_port is not None
            else None
        )

    async def start(self) -> None:
        started = []
        try:
            devices = (self.plc, self.power_source, self.robot, self.sensor, self.scanner)
            for device in (*devices, self.control):
                if device is not None:
                    await device.start()
                    started.append(device)
        except BaseException:
            for device in reversed(started):
                await device.close()
            raise
        # Drives start off: the PLC enables them when the controller asks.
        self.robot.set_drives_enabled(self.plc.logic.robot_enabled)

    async def close(self) -> None:
        for device in (
            self.control,
            self.scanner,
            self.sensor,
            self.robot,
            self.power_source,
            self.plc,
        ):
            if device is not None:
                await device.close()

    def _wire_touch(self, touch: TorchContact) -> None:
        """The torch's contacts, wired as in the real cell (sim.devices.touch): the power
        source's contact input, the robot's search and breakaway inputs, the PLC's inputs."""
        motion = self.robot.motion
        # A robot that runs its own job has its tool where its correction puts it, in its own
        # torch angles (KUKA's down is C = 180): it says where that is in the program's.
        tool_pose = getattr(self.robot, "touch_pose", motion.tool_pose)
        self.power_source.wire_on_part = lambda: (
            not touch.insulated and touch.wire_touches(tool_pose())
        )
        motion.touch_probe = touch.probe
        motion.probe_clearance = touch.clearance_mm
        motion.on_collision = touch.collided
        if isinstance(self.robot, SimulatedRobot):
            # Its weld poses carry the seam's work and travel angles (rx, ry), which the
            # guard turns in the path's seam frame. The job robots (RSI, EGM) hold the torch
            # pointing down by a true orientation (rx 180): not guarded on their paths yet.
            motion.nozzle_guard = touch.weld_nozzle_hits
        self.plc.extra_inputs["torch_collision"] = touch.breakaway_open
        self.plc.extra_inputs["tcp_beam_broken"] = lambda: touch.beam_broken(motion.tool_pose())

    def _arc_power_w(self) -> float:
        arc = self.power_source.arc
        return arc.current_a * arc.voltage_v if arc.burning else 0.0

    def endpoints(self) -> dict[str, str]:
        """Where each device listens, as a person (or a test rig) needs to know it."""
        plc_link = self.devices.plc.link
        result = {
            "plc": f"Modbus TCP {self.plc.listening} unit {plc_link.unit_id}",
            "power_source": self.power_source.describe(),
            "robot": self.robot.describe(),
        }
        if self.sensor is not None:
            result["sensor"] = self.sensor.describe()
        if self.scanner is not None:
            result["scanner"] = self.scanner.describe()
        if self.control is not None:
            result["control"] = f"JSON lines {self.control.host}:{self.control.port}"
        return result

    # -- control channel ----------------------------------------------------------------

    def _handlers(self) -> dict[str, Any]:
        return {
            "snapshot": lambda request: self.snapshot(),
            "plc.press": lambda request: self.plc.press(request["button"]),
            "plc.load": lambda request: self.plc.set_part_loaded(bool(request["loaded"])),
            "inject": self._inject,
            "sensor.truth": lambda request: self._need_sensor() and self.tracking_score.figures(),
            "scanner.scan": self._scan,
            "plc.serial": lambda request: {
                "strobe": self.plc.present_serial(str(request["serial"]))
            },
        }

    def _scan(self, request: dict[str, Any]) -> dict[str, Any]:
        """The operator scans a part's label: ``serial``, sent as the scanner sends it."""
        if self.scanner is None:
            raise ControlError("no scanner (traceability.scanner is not in the cell config)")
        serial = str(request.get("serial", ""))
        if not serial or not serial.isascii() or not serial.isprintable():
            raise ControlError(f"a scan is printable ASCII text, not {serial[:40]!r}")
        self.scanner.scan(serial)
        return {"scanned": serial}

    async def _inject(self, request: dict[str, Any]) -> dict[str, Any]:
        """One command of the fault-injection table (``sim.wire.injection``), as a scenario's
        timeline gives it."""
        try:
            injected = await inject(self, str(request["do"]))
        except InjectionError as error:
            raise ControlError(str(error)) from None
        return {"cause": injected.cause, "armed": injected.armed}

    def _need_sensor(self) -> bool:
        if self.sensor is None or self.tracking_score is None:
            raise ControlError("no simulated sensor (sensor.enabled is false in the cell config)")
        return True

    async def unplug(self, device: str) -> None:
        """Cut ``device``'s link to the controller; the device itself runs on."""
        if device == "plc":
            await self.plc.unplug()
        elif device == "power_source":
            self.power_source.unplug()
        elif device == "robot":
            self.robot.unplug()
        elif device == "sensor" and self.sensor is not None:
            self.sensor.unplug()
        else:
            raise ControlError(f"no device {device!r}: plc, power_source, robot or sensor")

    async def plug_in(self, device: str) -> None:
        if device == "plc":
            await self.plc.plug_in()
        elif device == "power_source":
            self.power_source.plug_in()
        elif device == "robot":
            self.robot.plug_in()
        elif device == "sensor" and self.sensor is not None:
            pass  # a cut sensor cable: the controller's driver simply connects again
        else:
            raise ControlError(f"no device {device!r}: plc, power_source, robot or sensor")

    def snapshot(self) -> dict[str, Any]:
        return {
            "sim_time_s": round(self.clock.now_s(), 3),
            "time_scale": self.clock.time_scale,
            "plc": self.plc.snapshot(),
            "power_source": self.power_source.state(),
            "robot": self.robot.snapshot(),
            **({"sensor": self.sensor.snapshot()} if self.sensor is not None else {}),
        }


SimulatedCellRobot = SimulatedRobot | SimulatedRsiRobot | SimulatedEgmRobot


def _robot(devices: CellDevices, clock: SimClock, plc: SimulatedPlc) -> SimulatedCellRobot:
    """The robot the cell config's ``robot.interface`` names: on our serial link, or a KUKA
    with RSI or an ABB with EGM running the jobs the part program names, its job signals wired
    to the PLC."""
    settings = devices.robot
    if settings.interface == "serial":
        assert settings.link is not None  # RobotSettings checks it
        return SimulatedRobot(settings, clock, link_path=settings.link.port)
    if devices.active_part_file is None or devices.config_path is None:
        raise ValueError("a robot that runs its own jobs needs a part program in the cell config")
    # The jobs' search position lies where the laser line falls on the seam's first
    # millimetres (the sensor's look-ahead less seam finding's inset), as a robot
    # programmer teaches it (docs/robots/).
    sensor = devices.sensor
    finding = sensor.get("seam_finding") or {}
    search_back_mm = float(sensor.get("lookahead_mm", 30.0)) - float(
        finding.get("start_inset_mm", 4.0)
    )
    jobs = load_taught_jobs(
        devices.active_part_file, settings, devices.procedures_dir, search_back_mm
    )
    robot: SimulatedRsiRobot | SimulatedEgmRobot
    if settings.interface == "kuka_rsi":
        robot = SimulatedRsiRobot(settings, clock, jobs)  # at the robot_host the controller expects
    elif settings.interface == "abb_egm":
        assert settings.abb_egm is not None  # RobotSettings checks it
        # The same taught seams, as the RAPID template's routine runs them (EGMMoveL/EGMMoveC).
        egm_jobs = {
            number: EgmJob(
                number,
                job.name,
                job.path,
                job.travel_speed_mm_per_s,
                job.clearance_mm,
                job.search_back_mm,
                job.searches,
            )
            for number, job in jobs.items()
        }
        robot = SimulatedEgmRobot(
            settings.abb_egm, settings.limits, clock, settings.home_pose_mm, egm_jobs
        )
    else:
        raise ValueError(f"the simulator has no {settings.interface} robot")
    robot.restart_overlap_mm = devices.restart_overlap_mm
    plc.robot_job_inputs = robot.signals
    plc.robot_job_outputs = robot.on_plc_outputs
    return robot


def _sensor(
    devices: CellDevices,
    robot: SimulatedCellRobot,
    plc: SimulatedPlc,
    power_source: SimulatedPowerSource,
    vision: VisionScenario | None,
    host: str,
    beads: BeadRecord,
) -> tuple[SimulatedSensor, TrackingScore]:
    """The simulated laser sensor where the cell config's ``sensor`` section says."""
    settings = devices.sensor
    scenario = vision or VisionScenario(name="ideal")
    if devices.active_part_file is None:
        raise ValueError("the simulated sensor needs a part program (parts in the cell config)")
    part = load_true_part(devices.active_part_file, scenario)
    width, height = settings.get("resolution_px", (640, 480))
    camera = CameraModel(width_px=int(width), height_px=int(height), **scenario.camera)
    _, _, port = str(settings.get("source", "127.0.0.1:5030")).rpartition(":")
    sensor = SimulatedSensor(
        part,
        robot.actual_tool_pose,
        lookahead_mm=float(settings.get("lookahead_mm", 30.0)),
        frame_rate_hz=float(settings.get("frame_rate_hz", 125.0)),
        camera=camera,
        disturbances=Disturbances(**scenario.disturbances),
        host=host,
        port=int(port),
        seed=scenario.seed,
        tool_pose_at=robot.tool_pose_at,
        tool_travel_at=robot.tool_travel_at,
        # Where a robot keeps its recent steps for other threads (the serial one does), the
        # camera finds a frame's truth without the event loop (sim.devices.pose_history).
        tool_seen_at=getattr(robot, "tool_seen_at", None),
    )
    sensor.beads = beads
    sensor.bead_shape = BeadShape(**scenario.bead)
    # The welded part leaves the fixture with its bead, however quickly the next is loaded
    # (the cell clears the record: ``SimulatedCell``).
    arc = power_source.arc
    return sensor, TrackingScore(
        part,
        arc_burning=lambda: arc.burning,
        beads=beads,
        deposit_mm2=lambda travel: sensor.bead_shape.deposit_mm2(arc.wire_feed_m_per_min, travel),
    )


# The stick-out change is bounded: past these the wire would short on the work (or the arc
# would go out), which this model does not cover.
STICK_OUT_CHANGE_MM = (-8.0, 15.0)
# How far above its wire's tip a pass's metal reaches (the bead's crown over the arc's root):
# less than the 3.5 mm a layer the pass tables plan, so that a later pass's wire sits a little
# above the metal it welds on, as a real fill pass's does (its arc burns on the bead below).


class ArcOverGroove:
    """The wire over the true groove, for the arc: how much shorter than the procedure's the
    stick-out is where the robot really has the tool point (the wire's tip at the procedure's
    stick-out), against the true joint and the metal earlier passes laid (``sim.truth.groove``).
    Called by the power source's physics while the arc burns, which also lays that metal."""

    def __init__(
        self, part: TruePart, robot: SimulatedRobot, beads: BeadRecord, bead_shape: BeadShape
    ) -> None:
        self.part = part
        self.robot = robot
        self.beads = beads  # laid by the robot's trajectory (``TrackingScore``), read here
        self.bead_shape = bead_shape
        self.last: WireOverGroove | None = None  # the last answer (for tests and the bench)

    def stick_out_change_mm(self) -> float:
        motion = self.robot.motion
        path_id = motion.running_path_id()
        over = wire_over_groove(
            self.part, motion.tool_pose().position_mm, self.beads, self.bead_shape, path_id
        )
        self.last = over
        if over is None:  # not over a V-groove: the fixed flank's approximation
            return _stick_out_change_mm(self.robot)
        low, high = STICK_OUT_CHANGE_MM
        return min(high, max(low, over.tip_to_work_mm))


FLANK_SLOPE = math.tan(math.radians(30))  # a 60° V-groove's flank against the horizontal


def _stick_out_change_mm(robot: SimulatedRobot) -> float:
    """How much shorter the stick-out is than on the seam's centre line: the weave's sideways
    offset times the slope of the flank it climbs."""
    lateral_mm, vertical_mm, _ = robot.motion.weave_offset_mm()
    return -math.hypot(lateral_mm, vertical_mm) * FLANK_SLOPE


def _torch_contact(
    devices: CellDevices, vision: VisionScenario | None, power_source: SimulatedPowerSource
) -> TorchContact:
    """The true torch against the true part (when the cell config names one) and the TCP
    checker (when ``torch_service.tcp_checker`` places one)."""
    scenario = vision or VisionScenario(name="ideal")
    part: TruePart | None = None
    if devices.active_part_file is not None:
        part = load_true_part(devices.active_part_file, scenario)
    checker_settings = (devices.torch_service or {}).get("tcp_checker") or {}
    checker = None
    if "center_mm" in checker_settings:
        x, y, z = (float(c) for c in checker_settings["center_mm"])
        checker = TcpChecker((x, y, z))
    torch = TrueTorch(stick_out_error_mm=scenario.stick_out_error_mm)
    return TorchContact(part, torch, checker, power_source.touch_sensing)


def _service_station(
    devices: CellDevices, touch: TorchContact, robot: SimulatedRobot, plc: SimulatedPlc
) -> ServiceStation | None:
    """The torch service station, when ``torch_service.station`` places one."""
    settings = (devices.torch_service or {}).get("station") or {}
    if not settings:
        return None
    positions = {
        output: tuple(float(c) for c in settings[key])
        for output, key in (
            ("reamer_on", "reamer_mm"),
            ("spray_on", "spray_mm"),
            ("wire_cutter_on", "cutter_mm"),
        )
    }
    station = ServiceStation(positions, touch.torch, robot.motion.tool_pose, plc.output)  # type: ignore[arg-type]
    plc.output_listeners.append(station.on_outputs)
    return station


def _power_source(devices: CellDevices, clock: SimClock) -> SimulatedPowerSource:
    link = devices.power_source.link
    if isinstance(link, ModbusRtuLinkSettings) and link.port.startswith("socket://"):
        port = urlparse(link.port).port
        return SimulatedPowerSource(devices.power_source, clock, rtu_over_tcp_port=port)
    if isinstance(link, ModbusTcpLinkSettings):
        raise ValueError("the simulated power source speaks Modbus RTU (pty or socket://)")
    return SimulatedPowerSource(devices.power_source, clock, link_path=Path(link.port))
