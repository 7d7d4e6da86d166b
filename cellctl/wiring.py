"""The one place the controller is built from config: drivers, store, sensing, controller."""

from __future__ import annotations

from pathlib import Path

from cellctl.config.load import LoadedConfig
from cellctl.controller import Controller
from cellctl.sensing import SeamSensing
from cellctl.store import AsyncStore
from drivers.plc import PlcDriver
from drivers.power_source import PowerSourceDriver
from drivers.robot import RobotDriver


def build_controller(
    config: LoadedConfig, store_path: Path | None = None, sensing: SeamSensing | None = None
) -> Controller:
    """Every part of the controller, from one validated config. Nothing is connected yet:
    ``await controller.start()`` does that."""
    cell = config.cell
    store = AsyncStore(store_path or config.resolve(cell.controller.store_path))
    robot = RobotDriver(cell.robot)
    if sensing is None and cell.sensor.enabled:
        sensing = build_sensing(config, robot)
    return Controller(
        config,
        plc=PlcDriver(cell.plc),
        power_source=PowerSourceDriver(cell.power_source),
        robot=robot,
        store=store,
        sensing=sensing,
    )


def build_sensing(config: LoadedConfig, robot: RobotDriver) -> SeamSensing:
    """The laser sensor's seam finding and tracking (imported here: numpy and OpenCV)."""
    from cellctl.tracking import LaserSensing
    from cellctl.vision.calibration import Calibration

    sensor = config.cell.sensor
    calibration = Calibration.load(config.resolve(sensor.calibration_file))
    sensing = LaserSensing(sensor, calibration, robot)
    if sensor.recording.enabled:
        from cellctl.recording import SeamRecorder

        sensing.recorder = SeamRecorder(
            sensor.recording,
            config.resolve(sensor.recording.folder),
            sensor,
            config.resolve(sensor.calibration_file),
        )
    return sensing
