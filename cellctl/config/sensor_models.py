"""Config of the laser seam sensor and of what the controller does with it (cell.yaml ``sensor:``).

Kept apart from ``cellctl.config.models`` (which imports ``SensorSettings`` from here) because
the vision has many knobs; each says its unit and why it exists.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from cellctl.config.recording_models import RecordingSettings
from drivers.codecs.model import StrictModel


class StripeSettings(StrictModel):
    """Laser stripe extraction (``cellctl.sensing.vision.stripe``)."""

    roi_half_height_px: Annotated[int, Field(ge=4, le=200)] = 10  # band that follows the line
    window_half_px: Annotated[int, Field(ge=2, le=20)] = 4  # centroid window around the peak
    floor_fraction: Annotated[float, Field(ge=0, lt=1)] = 0.25  # of the peak height
    min_peak_height: Annotated[float, Field(gt=0, le=255)] = 35.0  # gray levels over background
    max_line_width_px: Annotated[int, Field(ge=1, le=40)] = 7  # above half height; spatter is wider
    max_jump_px: Annotated[float, Field(gt=0, le=50)] = 3.0
    min_run_columns: Annotated[int, Field(ge=1, le=500)] = 30  # shorter pieces: spatter
    # A piece of line goes on across a hole this narrow at the same height (a speck of
    # spatter on the line); a joint's gap is wider (0.5 mm is 8 columns at 640 px over 40 mm).
    max_run_gap_columns: Annotated[int, Field(ge=1, le=50)] = 6
    min_columns_to_follow: Annotated[int, Field(ge=1)] = 40


class JointSettings(StrictModel):
    """Joint detection (``cellctl.sensing.vision.joint``): what a trustworthy joint looks like."""

    min_points_per_face: Annotated[int, Field(ge=5)] = 25
    max_face_rms_mm: Annotated[float, Field(gt=0)] = 0.08  # residual of a plate face's line fit
    jump_mm: Annotated[float, Field(gt=0)] = 0.6  # a step between neighbouring points: an edge
    min_gap_mm: Annotated[float, Field(ge=0)] = 0.15  # narrower: no gap seen
    max_gap_mm: Annotated[float, Field(gt=0)] = 6.0
    min_confidence: Annotated[float, Field(ge=0, le=1)] = 0.5


class TrackingSettings(StrictModel):
    """Closed-loop seam tracking (``cellctl.sensing.laser``)."""

    correction_rate_hz: Annotated[float, Field(ge=10, le=1000)] = 250.0
    # Measurements within this distance along the path are averaged (after outlier rejection).
    filter_window_mm: Annotated[float, Field(gt=0, le=20)] = 1.0
    # A measurement further than this from the track is an outlier ...
    outlier_gate_mm: Annotated[float, Field(gt=0, le=10)] = 0.6
    # ... unless this many in a row agree with each other: then the joint really moved (a step).
    outlier_persistence: Annotated[int, Field(ge=2, le=100)] = 6
    # Without a trustworthy measurement the torch coasts on the last ones this far, then faults.
    coast_mm: Annotated[float, Field(ge=0, le=100)] = 8.0
    # Time from a correction's send to the robot's motion taking it (link + interpolation).
    correction_lead_ms: Annotated[float, Field(ge=0, le=100)] = 6.0


class SeamFindingSettings(StrictModel):
    """Seam finding before the arc (``cellctl.sensing.laser``)."""

    start_inset_mm: Annotated[float, Field(ge=0, le=50)] = 4.0  # where on the seam to look
    frames_per_position: Annotated[int, Field(ge=1, le=50)] = 5
    min_good_frames: Annotated[int, Field(ge=1, le=50)] = 3
    max_spread_mm: Annotated[float, Field(gt=0, le=5)] = 0.2  # between good frames
    settle_ms: Annotated[int, Field(ge=0, le=2000)] = 60  # after the robot stops, before frames


class SensorSettings(StrictModel):
    """The laser-line seam sensor ahead of the torch, and its use."""

    # Off: the cell welds the taught paths (no finding, no tracking), as without a sensor.
    enabled: bool = False
    backend: Literal["tcp", "opencv", "replay"] = "tcp"
    source: str = "127.0.0.1:5030"  # host:port for tcp, device/URL/file for opencv, dir for replay
    lookahead_mm: Annotated[float, Field(ge=0, le=200)] = 30.0
    resolution_px: tuple[
        Annotated[int, Field(ge=64, le=4096)], Annotated[int, Field(ge=64, le=4096)]
    ] = (640, 480)
    # A whole number of correction ticks per frame lets the stream lock onto the frames.
    frame_rate_hz: Annotated[float, Field(ge=1, le=1000)] = 125.0
    frame_timeout_ms: Annotated[int, Field(ge=10, le=10_000)] = 300
    reconnect_delay_min_ms: Annotated[int, Field(ge=10, le=60_000)] = 100
    reconnect_delay_max_ms: Annotated[int, Field(ge=10, le=60_000)] = 2000
    # Relative to the cell config's folder; written by `cellctl calibrate`.
    calibration_file: str = "sensor-calibration.yaml"
    stripe: StripeSettings = StripeSettings()
    joint: JointSettings = JointSettings()
    tracking: TrackingSettings = TrackingSettings()
    seam_finding: SeamFindingSettings = SeamFindingSettings()
    recording: RecordingSettings = RecordingSettings()  # cellctl.sensing.recording, cellctl replay


PostWeldVerdict = Literal["good", "bad"]
