"""From pixels to millimetres: the sensor's calibration, its file, and how it is computed.

The sensor frame (mm): ``x`` across the seam, ``y`` along travel, ``z`` away from the work;
the origin is the torch's tool point moved ``lookahead_mm`` ahead. A stripe pixel (u, v) is a
ray from the camera (intrinsics and lens distortion); the lit point is where that ray meets the
laser plane. The calibration is therefore:

- the camera's intrinsics (fx, fy, cx, cy) and distortion (OpenCV's k1, k2, p1, p2, k3);
- the camera's pose in the sensor frame: ``camera_rotation`` (rows: the camera's axes in the
  sensor frame) and ``camera_position_mm``, so that ``Pc = R (Ps - C)``;
- the laser plane in the sensor frame: ``normal · P = offset_mm``.

``calibrate`` computes it from pairs of frames of a chessboard target (OpenCV's
``calibrateCamera``), the standard way for laser triangulation sensors: each pose of the
board gives the intrinsics a view, and, from its pose, a plane on which the laser line's
pixels become 3-D points; the laser plane is fitted to the points of every pose. The first
pose is the jig's: the board lies in the sensor frame's ``z = 0`` plane with its first inner
corner at a known place and its rows along ``x``, which ties the camera to the sensor frame.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

from cellctl.config.sensor_models import StripeSettings
from cellctl.sensing.vision.stripe import StripeExtractor


class CalibrationError(Exception):
    """A calibration file that cannot be used, or frames a calibration cannot be made from."""


@dataclass(frozen=True)
class CalibrationTarget:
    inner_corners: tuple[int, int]  # (per row, rows)
    square_mm: float
    reference_first_corner_mm: tuple[float, float, float]

    @classmethod
    def load(cls, path: Path) -> CalibrationTarget:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            return cls(
                tuple(int(v) for v in data["inner_corners"]),  # type: ignore[arg-type]
                float(data["square_mm"]),
                tuple(float(v) for v in data["reference_first_corner_mm"]),  # type: ignore[arg-type]
            )
        except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as error:
            raise CalibrationError(f"{path}: not a calibration target: {error}") from error


@dataclass
class Calibration:
    width_px: int
    height_px: int
    fx: float
    fy: float
    cx: float
    cy: float
    distortion: tuple[float, ...]
    camera_rotation: np.ndarray  # (3, 3)
    camera_position_mm: np.ndarray  # (3,)
    laser_normal: np.ndarray  # (3,), unit
    laser_offset_mm: float
    reprojection_rms_px: float = float("nan")
    laser_plane_rms_mm: float = float("nan")

    def __post_init__(self) -> None:
        self._matrix = np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1.0]])
        self._distortion = np.array(self.distortion, dtype=np.float64)
        self._distorted = bool(np.any(np.abs(self._distortion) > 1e-9))
        # n·(C + t r) = d  ->  t = (d - n·C) / (n·r); n·r = (R n)·rc: one dot per pixel.
        self._normal_in_camera = self.camera_rotation @ self.laser_normal
        self._numerator = self.laser_offset_mm - float(self.laser_normal @ self.camera_position_mm)
        self._pixel_tables: tuple[np.ndarray, np.ndarray] | None = None  # see pixel_tables
        self._pixel_tables_lock = threading.Lock()  # made once, whichever thread asks first

    def triangulate(self, columns: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sensor-frame (x, z) in mm of stripe pixels (columns, rows), all at once."""
        if len(columns) == 0:
            return np.empty(0), np.empty(0)
        if self._distorted:
            points = np.column_stack([columns, rows]).astype(np.float64)[:, None, :]
            normalised = cv2.undistortPoints(points, self._matrix, self._distortion)[:, 0, :]
            xn, yn = normalised[:, 0], normalised[:, 1]
        else:
            xn = (columns - self.cx) / self.fx
            yn = (rows - self.cy) / self.fy
        n = self._normal_in_camera
        t = self._numerator / (n[0] * xn + n[1] * yn + n[2])
        # Ps = C + R^T (t rc): only x and z are wanted.
        r = self.camera_rotation
        c = self.camera_position_mm
        x = c[0] + t * (r[0, 0] * xn + r[1, 0] * yn + r[2, 0])
        z = c[2] + t * (r[0, 2] * xn + r[1, 2] * yn + r[2, 2])
        return x, z

    def stripe_to_sensor(
        self, columns: np.ndarray, rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """``triangulate`` for stripe points: whole-pixel ``columns`` (integers) and sub-pixel
        ``rows``, from per-pixel tables interpolated along the column. The lens and the laser
        plane make the mapping smooth, so within a pixel it is straight to far below the
        stripe's own error (the tests check 1e-4 mm): a dozen array operations instead of
        undistorting every point (a sixth of a frame's processing at 640x480)."""
        if len(columns) == 0:
            return np.empty(0), np.empty(0)
        x_table, z_table = self.pixel_tables()
        rows = np.clip(rows, 0.0, self.height_px - 1)
        whole = rows.astype(np.intp)  # floor: rows are not negative
        fraction = rows - whole
        index = whole * self.width_px + columns
        below = index + self.width_px
        x_at, z_at = x_table.take(index), z_table.take(index)
        x = x_at + fraction * (x_table.take(below) - x_at)
        z = z_at + fraction * (z_table.take(below) - z_at)
        return x, z

    def pixel_tables(self) -> tuple[np.ndarray, np.ndarray]:
        """Sensor-frame x and z of every pixel, flat, one row more than the image (a copy of
        its last) so that the row below a stripe point always exists. Made on first use:
        70 ms at 640x480, 360 ms at 1280x1024; float32 (a micrometre's 1/100 at 100 mm)
        keeps them at 2.5 and 10.5 MB."""
        tables = self._pixel_tables
        if tables is None:
            with self._pixel_tables_lock:
                if self._pixel_tables is None:
                    self._pixel_tables = self._make_pixel_tables()
                tables = self._pixel_tables
        return tables

    def _make_pixel_tables(self) -> tuple[np.ndarray, np.ndarray]:
        rows, columns = np.mgrid[0 : self.height_px, 0 : self.width_px]
        x, z = self.triangulate(columns.ravel().astype(np.float64), rows.ravel().astype(np.float64))
        # One row more, a copy of the last: the row below a point on the last row.
        x = np.vstack([x.reshape(rows.shape), x.reshape(rows.shape)[-1:]])
        z = np.vstack([z.reshape(rows.shape), z.reshape(rows.shape)[-1:]])
        return x.astype(np.float32).ravel(), z.astype(np.float32).ravel()

    def project(self, points_mm: np.ndarray) -> np.ndarray:
        """Image (u, v) of sensor-frame points (N, 3): the inverse, for checks and scans."""
        rvec, _ = cv2.Rodrigues(self.camera_rotation)
        tvec = -self.camera_rotation @ self.camera_position_mm
        image, _ = cv2.projectPoints(
            points_mm.astype(np.float64), rvec, tvec, self._matrix, self._distortion
        )
        return image[:, 0, :]

    # -- the file ------------------------------------------------------------------------------

    def save(self, path: Path, note: str = "") -> None:
        data = {
            "camera": {
                "width_px": self.width_px,
                "height_px": self.height_px,
                "fx": round(self.fx, 6),
                "fy": round(self.fy, 6),
                "cx": round(self.cx, 6),
                "cy": round(self.cy, 6),
                "distortion": [round(float(v), 9) for v in self.distortion],
            },
            "camera_rotation": [[round(float(v), 9) for v in row] for row in self.camera_rotation],
            "camera_position_mm": [round(float(v), 6) for v in self.camera_position_mm],
            "laser_plane": {
                "normal": [round(float(v), 9) for v in self.laser_normal],
                "offset_mm": round(self.laser_offset_mm, 6),
            },
            "quality": {
                "reprojection_rms_px": round(self.reprojection_rms_px, 5),
                "laser_plane_rms_mm": round(self.laser_plane_rms_mm, 5),
            },
        }
        header = (
            "# Laser seam sensor calibration, written by `cellctl calibrate`"
            + (f" ({note})" if note else "")
            + ".\n# Sensor frame: x across the seam, y along travel, z away from the work (mm).\n"
        )
        path.write_text(header + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Calibration:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            camera = data["camera"]
            rotation = np.array(data["camera_rotation"], dtype=np.float64)
            normal = np.array(data["laser_plane"]["normal"], dtype=np.float64)
            if rotation.shape != (3, 3) or normal.shape != (3,):
                raise ValueError("camera_rotation must be 3x3 and laser_plane.normal 3 numbers")
            quality = data.get("quality") or {}
            return cls(
                int(camera["width_px"]),
                int(camera["height_px"]),
                float(camera["fx"]),
                float(camera["fy"]),
                float(camera["cx"]),
                float(camera["cy"]),
                tuple(float(v) for v in camera.get("distortion", [0, 0, 0, 0, 0])),
                rotation,
                np.array(data["camera_position_mm"], dtype=np.float64).reshape(3),
                normal / np.linalg.norm(normal),
                float(data["laser_plane"]["offset_mm"]),
                float(quality.get("reprojection_rms_px", "nan")),
                float(quality.get("laser_plane_rms_mm", "nan")),
            )
        except (OSError, yaml.YAMLError) as error:
            raise CalibrationError(f"{path}: {error}") from error
        except (KeyError, TypeError, ValueError) as error:
            raise CalibrationError(f"{path}: not a sensor calibration: {error!r}") from error


def calibrate(views: list[tuple[np.ndarray, np.ndarray]], target: CalibrationTarget) -> Calibration:
    """The calibration from (lit frame, laser frame) pairs; the first is the jig's pose."""
    if len(views) < 4:
        raise CalibrationError(f"need at least 4 views of the target, got {len(views)}")
    cols_n, rows_n = target.inner_corners
    board = np.zeros((cols_n * rows_n, 3), np.float32)
    board[:, :2] = np.mgrid[0:cols_n, 0:rows_n].T.reshape(-1, 2) * target.square_mm
    height, width = views[0][0].shape
    object_points, image_points = [], []
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 1e-4)
    for index, (lit, _) in enumerate(views):
        found, corners = cv2.findChessboardCorners(lit, (cols_n, rows_n))
        if not found:
            raise CalibrationError(f"view {index}: the chessboard's corners were not found")
        corners = cv2.cornerSubPix(lit, corners, (5, 5), (-1, -1), criteria)
        # The board's x must run along +u (the sensor's +x) and its y up the image (the
        # sensor's +y, away from the camera): OpenCV may start at any corner.
        grid = corners.reshape(rows_n, cols_n, 2)
        if grid[0, 1, 0] < grid[0, 0, 0]:
            grid = grid[:, ::-1]
        if rows_n > 1 and grid[1, 0, 1] > grid[0, 0, 1]:
            grid = grid[::-1]
        corners = np.ascontiguousarray(grid.reshape(-1, 1, 2))
        object_points.append(board)
        image_points.append(corners)
    flags = cv2.CALIB_ZERO_TANGENT_DIST | cv2.CALIB_FIX_K3
    rms, matrix, distortion, rvecs, tvecs = cv2.calibrateCamera(
        object_points, image_points, (width, height), None, None, flags=flags
    )
    # The jig's view ties the camera to the sensor frame: Ps = Pb + first corner.
    r_board, _ = cv2.Rodrigues(rvecs[0])
    first = np.array(target.reference_first_corner_mm)
    rotation = r_board
    position = first - r_board.T @ tvecs[0].ravel()
    # The laser line on every pose of the board: pixels -> rays -> points on the board plane.
    extractor = StripeExtractor(StripeSettings(min_peak_height=12, min_columns_to_follow=10**6))
    points = []
    for (_, laser), rvec, tvec in zip(views, rvecs, tvecs, strict=True):
        stripe = extractor.extract(laser)
        cols = np.nonzero(stripe.valid)[0].astype(np.float64)
        if len(cols) < 20:
            continue
        pixels = np.column_stack([cols, stripe.rows[stripe.valid]])[:, None, :]
        normalised = cv2.undistortPoints(pixels, matrix, distortion)[:, 0, :]
        rays = np.column_stack([normalised, np.ones(len(normalised))])
        r_view, _ = cv2.Rodrigues(rvec)
        normal, origin = r_view[:, 2], tvec.ravel()
        t = (normal @ origin) / (rays @ normal)
        in_camera = rays * t[:, None]
        points.append(in_camera @ rotation + position)  # Ps = R^T Pc + C
    if len(points) < 2:
        raise CalibrationError("the laser line was found on fewer than 2 views")
    cloud = np.vstack(points)
    centre = cloud.mean(axis=0)
    _, _, vt = np.linalg.svd(cloud - centre)
    normal = vt[2] if vt[2, 1] >= 0 else -vt[2]
    offset = float(normal @ centre)
    plane_rms = float(np.sqrt(np.mean((cloud @ normal - offset) ** 2)))
    return Calibration(
        width,
        height,
        float(matrix[0, 0]),
        float(matrix[1, 1]),
        float(matrix[0, 2]),
        float(matrix[1, 2]),
        tuple(float(v) for v in distortion.ravel()),
        rotation,
        position,
        normal,
        offset,
        float(rms),
        plane_rms,
    )
