"""The laser seam sensor: frames from a camera backend, always the newest one
(``drivers.sensor.driver``)."""

from drivers.sensor.driver import BACKENDS, SensorDriver, frame_age_s, record_frame

__all__ = ["BACKENDS", "SensorDriver", "frame_age_s", "record_frame"]
