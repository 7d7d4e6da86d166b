"""The one place the controller is built from config: drivers, store, motion, sensing, the
controller, and the plant's listeners."""

from __future__ import annotations

from pathlib import Path

from cellctl.config.load import LoadedConfig
from cellctl.controller.controller import Controller
from cellctl.motion.moves import Motion
from cellctl.motion.tool_offset import ToolOffsetRobot
from cellctl.records.store import AsyncStore, store_location
from cellctl.sensing.protocol import SeamSensing
from drivers.plc import PlcDriver
from drivers.power_source import PowerSourceDriver
from drivers.robot import Robot, RobotDriver


def build_controller(
    config: LoadedConfig,
    store_path: str | Path | None = None,
    sensing: SeamSensing | None = None,
) -> Controller:
    """Every part of the controller, from one validated config. Nothing is connected yet:
    ``await controller.start()`` does that. ``store_path`` (a path or URL) overrides the
    config's production database."""
    cell = config.cell
    store = AsyncStore(store_path or store_location(config), cell=cell.cell.name)
    motion = build_motion(config, build_robot(config))
    if sensing is None and cell.sensor.enabled:
        sensing = build_sensing(config, motion)
    controller = Controller(
        config,
        plc=PlcDriver(cell.plc),
        power_source=PowerSourceDriver(cell.power_source),
        motion=motion,
        store=store,
        sensing=sensing,
    )
    if cell.sparkplug.enabled:
        from cellctl.plant.sparkplug.node import SparkplugEdgeNode, TlsFiles

        spb = cell.sparkplug
        tls = None
        if spb.tls_ca_file is not None:
            tls = TlsFiles(
                config.resolve(spb.tls_ca_file),
                None if spb.tls_certificate is None else config.resolve(spb.tls_certificate),
                None if spb.tls_private_key is None else config.resolve(spb.tls_private_key),
            )
        controller.events.listeners.append(
            SparkplugEdgeNode(spb, cell.cell.name, config.resolve(spb.bdseq_path), tls)
        )
    return controller


def build_robot(config: LoadedConfig) -> Robot:
    """The robot on the interface cell.yaml names: our serial protocol, or a robot that owns
    its motion behind its vendor's sensor interface (``drivers.robot.owned``)."""
    robot = config.cell.robot
    if robot.interface == "kuka_rsi":
        from cellctl.weld.owned_robot import OwnedRobot
        from drivers.robot.kuka_rsi import KukaRsiDriver

        assert robot.kuka_rsi is not None  # RobotSettings checks it
        return OwnedRobot(robot, KukaRsiDriver(robot.kuka_rsi))  # type: ignore[return-value]
    if robot.interface == "abb_egm":
        from cellctl.weld.owned_robot import OwnedRobot
        from drivers.robot.abb_egm import AbbEgmDriver

        assert robot.abb_egm is not None  # RobotSettings checks it
        return OwnedRobot(robot, AbbEgmDriver(robot.abb_egm))  # type: ignore[return-value]
    if robot.interface != "serial":
        raise NotImplementedError(f"robot.interface {robot.interface} has no driver here yet")
    # The torch's TCP offset (measured by the TCP check) rides on every pose: ToolOffsetRobot.
    return ToolOffsetRobot(RobotDriver(robot))  # type: ignore[return-value]


def build_motion(config: LoadedConfig, robot: Robot) -> Motion:
    """The robot's moves as the cell makes them: its status polled every status period, a
    move given its length at half the air speed plus the configured margin."""
    settings = config.cell.controller
    air_speed = min(settings.motion.air_speed_mm_per_s, robot.settings.limits.max_speed_mm_per_s)
    return Motion(
        robot,
        period_s=settings.cycle.status_period_ms / 1000,
        margin_s=settings.motion.move_timeout_margin_s,
        slowest_mm_per_s=air_speed / 2,
    )


def build_sensing(config: LoadedConfig, motion: Motion) -> SeamSensing:
    """The laser sensor's seam finding and tracking (imported here: numpy and OpenCV)."""
    from cellctl.sensing.laser import LaserSensing
    from cellctl.sensing.vision.calibration import Calibration

    sensor = config.cell.sensor
    calibration = Calibration.load(config.resolve(sensor.calibration_file))
    sensing = LaserSensing(sensor, calibration, motion)
    if sensor.recording.enabled:
        from cellctl.sensing.recording import SeamRecorder

        sensing.recorder = SeamRecorder(
            sensor.recording,
            config.resolve(sensor.recording.folder),
            sensor,
            config.resolve(sensor.calibration_file),
        )
    return sensing
