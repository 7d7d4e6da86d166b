"""One frame in, one joint measurement out: stripe, triangulation, joint detection.

``JointFinder`` keeps the stripe's region of interest from frame to frame, so it belongs to one
sensor and one seam at a time (``reset`` between seams).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from cellctl.config.sensor_models import JointSettings, StripeSettings
from cellctl.sensing.vision.calibration import Calibration
from cellctl.sensing.vision.joint import Joint, JointDetector
from cellctl.sensing.vision.stripe import StripeExtractor

MAX_GAP_CHANGE_MM = 0.3  # between consecutive frames
MAX_ROOT_JUMP_MM = 0.5  # between consecutive frames


@dataclass(frozen=True)
class JointMeasurement:
    """A joint seen in one frame: root in the seam frame relative to the sensor's origin."""

    frame_number: int
    exposure_s: float
    ok: bool
    lateral_mm: float  # root, seam frame (horizontal, left of travel)
    vertical_mm: float  # root, seam frame (up)
    gap_mm: float
    mismatch_mm: float
    confidence: float
    reason: str
    stripe_columns: int


def sensor_to_seam(x_mm: float, z_mm: float, work_angle_deg: float) -> tuple[float, float]:
    """Sensor-frame (x, z) to the seam frame (lateral, vertical): undo the sensor's tilt."""
    a = math.radians(work_angle_deg)
    return (math.cos(a) * x_mm + math.sin(a) * z_mm, -math.sin(a) * x_mm + math.cos(a) * z_mm)


class JointFinder:
    def __init__(
        self,
        calibration: Calibration,
        joint: str,
        work_angle_deg: float,
        stripe: StripeSettings | None = None,
        joint_settings: JointSettings | None = None,
    ) -> None:
        self.calibration = calibration
        self.work_angle_deg = work_angle_deg
        self.extractor = StripeExtractor(stripe)
        self.detector = JointDetector(joint, joint_settings)
        self._last_root_x: float | None = None
        self._last_gap: float | None = None
        # The last frame's profile (sensor frame x, z in mm) and root, for the operator's view.
        self.last_profile: tuple[np.ndarray, np.ndarray, tuple[float, float] | None] | None = None

    def reset(self) -> None:
        self.extractor.reset()
        self._last_root_x = None
        self._last_gap = None

    def profile(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        stripe = self.extractor.extract(image)
        columns = stripe.columns
        x, z = self.calibration.stripe_to_sensor(columns, stripe.rows[columns])
        return x, z, len(columns)

    def measure(self, image: np.ndarray, frame_number: int = 0, exposure_s: float = 0.0):
        x, z, count = self.profile(image)
        joint: Joint = self.detector.detect(x, z, self._last_root_x)
        self.last_profile = (x, z, (joint.root_x_mm, joint.root_z_mm) if joint.ok else None)
        if joint.ok and self._last_gap is not None and math.isfinite(joint.gap_mm):
            if abs(joint.gap_mm - self._last_gap) > MAX_GAP_CHANGE_MM:
                # A gap does not open by a millimetre between two frames: a dropout or a
                # spatter hole next to it made it look wider. Not trusted.
                joint = replace(
                    joint,
                    ok=False,
                    reason=f"gap {joint.gap_mm:.2f} mm jumped from {self._last_gap:.2f} mm",
                )
                self._last_gap = None  # the next frame decides afresh
            else:
                self._last_gap = joint.gap_mm
        elif joint.ok:
            self._last_gap = joint.gap_mm if math.isfinite(joint.gap_mm) else None
        if (
            joint.ok
            and self._last_root_x is not None
            and abs(joint.root_x_mm - self._last_root_x) > MAX_ROOT_JUMP_MM
        ):
            # A joint does not jump sideways by this much between frames (at 125 frames/s);
            # the next frame decides afresh, so a real step is followed one frame later.
            joint = replace(
                joint,
                ok=False,
                reason=f"root jumped {joint.root_x_mm - self._last_root_x:+.2f} mm",
            )
            self._last_root_x = None
            return self._measurement(joint, frame_number, exposure_s, count)
        if joint.ok:
            self._last_root_x = joint.root_x_mm
        else:
            # What the band followed was not a joint's line (a flash, a reflection): search
            # the next frame whole.
            self.extractor.reset()
        return self._measurement(joint, frame_number, exposure_s, count)

    def _measurement(self, joint: Joint, frame_number: int, exposure_s: float, count: int):
        lateral, vertical = sensor_to_seam(joint.root_x_mm, joint.root_z_mm, self.work_angle_deg)
        return JointMeasurement(
            frame_number,
            exposure_s,
            joint.ok,
            lateral,
            vertical,
            joint.gap_mm,
            joint.mismatch_mm,
            joint.confidence,
            joint.reason,
            count,
        )
