"""The look-ahead buffer: the joint's deviation from the path, by path position.

Every frame's measurement is stored at the sensor's position along the path (``lookahead_mm``
ahead of the torch), never by time. ``SeamTrack`` rejects outliers against the track's own
trend (a step that persists is accepted) and answers "what is the deviation at path position
s" with a local mean, interpolating between measurements; before the first one it continues
the first millimetres' trend, beyond the last one it coasts on it.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from cellctl.config.sensor_models import TrackingSettings

TREND_POINTS = 12  # measurements the outlier gate's prediction is fitted to
MAX_MEASUREMENTS = 75_000  # 10 minutes of a seam at 125 frames/s


def _line_at(s: np.ndarray, values: np.ndarray, at_mm: float) -> float:
    """The least-squares line through (s, values) at ``at_mm``; their median when the points
    span too little of the path for a slope."""
    if len(s) < 3 or s[-1] - s[0] < 0.5:
        return float(np.median(values))
    s_mean, v_mean = float(s.mean()), float(values.mean())
    ds = s - s_mean
    slope = float(ds @ (values - v_mean)) / float(ds @ ds)
    return v_mean + slope * (at_mm - s_mean)


class SeamTrack:
    """The look-ahead buffer: the joint's deviation from the path, by path position (mm).

    Thread-safe: the frame handler adds, the correction stream reads.
    """

    def __init__(self, settings: TrackingSettings, window_mm: float | None = None) -> None:
        """``window_mm``: the filter's window when not ``settings.filter_window_mm`` (a
        weaving path's: one weave pitch, which averages out whatever repeats with the weave)."""
        self.settings = settings
        self.window_mm = settings.filter_window_mm if window_mm is None else window_mm
        self._lock = threading.Lock()
        self._s = np.empty(MAX_MEASUREMENTS)
        self._lateral = np.empty(MAX_MEASUREMENTS)
        self._vertical = np.empty(MAX_MEASUREMENTS)
        self._exposure = np.empty(MAX_MEASUREMENTS)
        self._n = 0
        self._pending: list[tuple[float, float, float, float]] = []  # outliers in a row
        self.rejected = 0
        self.accepted = 0

    def seed(self, s_mm: float, lateral_mm: float, vertical_mm: float) -> None:
        """A known deviation (seam finding's, at the path's start)."""
        self._append(s_mm, lateral_mm, vertical_mm, math.nan)

    def _append(self, s: float, lateral: float, vertical: float, exposure: float) -> None:
        n = self._n
        if n >= MAX_MEASUREMENTS:
            return
        if n and s <= self._s[n - 1]:
            s = self._s[n - 1] + 1e-6  # kept in order: the sensor never goes back on a path
        self._s[n], self._lateral[n], self._vertical[n], self._exposure[n] = (
            s,
            lateral,
            vertical,
            exposure,
        )
        self._n = n + 1

    def add(self, s_mm: float, lateral_mm: float, vertical_mm: float, exposure_s: float) -> bool:
        """One measurement; False when it was rejected as an outlier (so far)."""
        gate = self.settings.outlier_gate_mm
        with self._lock:
            n = self._n
            if n:
                # The track's trend over its last measurements, carried to s_mm: at speed
                # (or in a fast simulation) a curving joint moves between frames.
                recent = slice(max(0, n - TREND_POINTS), n)
                s_recent = self._s[recent]
                expected_l = _line_at(s_recent, self._lateral[recent], s_mm)
                expected_v = _line_at(s_recent, self._vertical[recent], s_mm)
                if math.hypot(lateral_mm - expected_l, vertical_mm - expected_v) > gate:
                    self._pending.append((s_mm, lateral_mm, vertical_mm, exposure_s))
                    if not self._agreeing_pending():
                        self.rejected += 1
                        return False
                    # The joint really moved (a step): take the run that agrees.
                    for item in self._pending:
                        self._append(*item)
                    self.accepted += len(self._pending)
                    self._pending.clear()
                    return True
            self._pending.clear()
            self._append(s_mm, lateral_mm, vertical_mm, exposure_s)
            self.accepted += 1
            return True

    def _agreeing_pending(self) -> bool:
        need = self.settings.outlier_persistence
        if len(self._pending) < need:
            return False
        run = np.array(self._pending[-need:])
        # Agreeing: on one line (a moved joint runs on as a joint does), not scattered.
        residual_l = run[:, 1] - [_line_at(run[:, 0], run[:, 1], s) for s in run[:, 0]]
        residual_v = run[:, 2] - [_line_at(run[:, 0], run[:, 2], s) for s in run[:, 0]]
        spread = float(np.hypot(residual_l, residual_v).max())
        if spread <= self.settings.outlier_gate_mm / 2:
            self._pending = self._pending[-need:]
            return True
        self._pending = self._pending[-need:]
        return False

    @property
    def last_position_mm(self) -> float | None:
        with self._lock:
            return float(self._s[self._n - 1]) if self._n else None

    @property
    def last_exposure_s(self) -> float:
        with self._lock:
            return float(self._exposure[self._n - 1]) if self._n else math.nan

    def deviation_at(self, s_mm: float) -> tuple[float, float] | None:
        """Filtered (lateral, vertical) at path position ``s_mm``; None before any measurement.

        The mean of the measurements within ±window/2 (a line through them in a window widened
        for a weave); between measurements further apart a linear interpolation; beyond the
        last one its value (coasting).
        """
        half = self.window_mm / 2
        with self._lock:
            n = self._n
            if n == 0:
                return None
            s = self._s[:n]
            if s_mm < s[0] and n >= 3 and s[min(n - 1, 2)] > s[0]:
                # Before the first measurement: continue the first few millimetres' trend.
                first = s < s[0] + 3.0
                if np.count_nonzero(first) >= 3:
                    slope_l = np.polyfit(s[first], self._lateral[:n][first], 1)
                    slope_v = np.polyfit(s[first], self._vertical[:n][first], 1)
                    return (float(np.polyval(slope_l, s_mm)), float(np.polyval(slope_v, s_mm)))
            lo, hi = np.searchsorted(s, [s_mm - half, s_mm + half])
            if hi - lo >= 2 and self.window_mm > self.settings.filter_window_mm:
                # A window widened for a weave spans millimetres: a joint that runs at a slope
                # through it, sampled unevenly (where the pre-scan's few points meet the
                # frames'), would pull a mean towards the denser side; a line does not.
                window = slice(lo, hi)
                return (
                    _line_at(s[window], self._lateral[window], s_mm),
                    _line_at(s[window], self._vertical[window], s_mm),
                )
            if hi - lo >= 2:
                return (float(self._lateral[lo:hi].mean()), float(self._vertical[lo:hi].mean()))
            return (
                float(np.interp(s_mm, s, self._lateral[:n])),
                float(np.interp(s_mm, s, self._vertical[:n])),
            )

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        with self._lock:
            n = self._n
            return self._s[:n].copy(), self._lateral[:n].copy(), self._vertical[:n].copy()
