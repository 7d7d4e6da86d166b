"""The one place the controller is built from config: drivers, store, sensing, controller."""

from __future__ import annotations

from pathlib import Path

from cellctl.config.load import LoadedConfig
from cellctl.controller.controller import Controller
from cellctl.records.store import AsyncStore
from cellctl.sensing.protocol import SeamSensing
from drivers.plc import PlcDriver
from drivers.power_source import PowerSourceDriver
from drivers.robot import RobotDriver


def store_location(config: LoadedConfig) -> str | Path:
    """The production database of a config: its ``store_url`` if set, else its ``store_path``;
    a relative SQLite path is relative to the cell config's folder."""
    settings = config.cell.controller
    url = settings.store_url
    if url is None:
        return config.resolve(settings.store_path)
    if url.startswith("sqlite:///"):
        return config.resolve(url.removeprefix("sqlite:///"))
    return url


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
    robot = RobotDriver(cell.robot)
    if sensing is None and cell.sensor.enabled:
        sensing = build_sensing(config, robot)
    controller = Controller(
        config,
        plc=PlcDriver(cell.plc),
        power_source=PowerSourceDriver(cell.power_source),
        robot=robot,
        store=store,
        sensing=sensing,
    )
    if cell.sparkplug.enabled:
        from cellctl.plant.sparkplug.node import SparkplugEdgeNode

        controller.listeners.append(
            SparkplugEdgeNode(
                cell.sparkplug, cell.cell.name, config.resolve(cell.sparkplug.bdseq_path)
            )
        )
    return controller


def build_sensing(config: LoadedConfig, robot: RobotDriver) -> SeamSensing:
    """The laser sensor's seam finding and tracking (imported here: numpy and OpenCV)."""
    from cellctl.sensing.laser import LaserSensing
    from cellctl.sensing.vision.calibration import Calibration

    sensor = config.cell.sensor
    calibration = Calibration.load(config.resolve(sensor.calibration_file))
    sensing = LaserSensing(sensor, calibration, robot)
    if sensor.recording.enabled:
        from cellctl.sensing.recording import SeamRecorder

        sensing.recorder = SeamRecorder(
            sensor.recording,
            config.resolve(sensor.recording.folder),
            sensor,
            config.resolve(sensor.calibration_file),
        )
    return sensing
