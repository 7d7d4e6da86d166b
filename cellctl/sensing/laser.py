"""Seam finding and closed-loop seam tracking with the laser sensor (``SeamSensing``).

Seam finding (before the arc): the torch stands back so that the laser line lies
``start_inset_mm`` into the taught seam, and the sensor looks there; if the joint is not in
view, the torch steps sideways across ``search_range_mm``. The joint found shifts the whole
path (lateral and vertical, in the seam frame). Nothing trustworthy anywhere in the range:
``JointNotFound`` with the range and positions scanned.

Tracking (while the arc burns), in three parts that meet in ``SeamTrack``:

- every frame, in the sensor driver's reader thread as soon as it arrives: the vision measures
  the root relative to the sensor; adding the correction the robot had at the frame's exposure
  gives the joint's deviation from the path at the sensor's position, ``lookahead_mm`` ahead of
  the torch. Measurements are indexed by that position along the path, never by time;
- ``SeamTrack`` keeps them (the look-ahead buffer), rejects outliers against the track (a step
  that persists is accepted), and answers "what is the deviation at path position s" with a
  local mean, interpolating between measurements;
- the correction stream, a thread of its own at a fixed rate (250 Hz), asks for the deviation
  where the torch will be when the correction takes effect, clamps it to the seam's and the
  robot's limit, limits its rate of change to the robot's, and sends it (fire-and-forget). It
  is not an asyncio task: the event loop also serves OPC UA clients, the production records
  and the PLC, and any of their callbacks would make a tick late. Its ticks lock onto the
  sensor's exposures (``CorrectionGrid``): they fall a delay after each exposure, each tick
  that follows a new measurement moving the grid by a bounded step. The delay waits for all
  but the slowest 0.2 % of recent frames to be measured, but not past the deadline: a frame's
  correction is due within one tick of its exposure (the robot's next cycle), so the delay
  stops a guard short of a tick, and a frame measured later than that waits a tick more.
  (Only when more than a tenth of the frames would miss the deadline does the grid wait for
  them beyond it: a tick more for each would be later still.) With a frame period a whole
  number of ticks (125 frames/s at 250 Hz) a frame reaches the robot that delay after its
  exposure; at other rates the grid only wanders by the bounded steps.

Where the torch is along the path comes from the robot's status (as the weld cycle polls it),
extrapolated at the reported speed. With no trustworthy measurement the torch coasts on the
last ones; once the sensor has gone ``coast_mm`` past the last good one, tracking is lost:
``check_tracking`` raises ``TrackingLost`` and the weld cycle faults (F151) and holds.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import logging
import math
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from cellctl.cell.geometry import Point, length_mm, shifted
from cellctl.config.models import Seam
from cellctl.config.sensor_models import SensorSettings, TrackingSettings
from cellctl.sensing.bead import measure_bead
from cellctl.sensing.protocol import InternalErrorReport, JointNotFound, TrackingLost
from cellctl.sensing.vision.calibration import Calibration
from cellctl.sensing.vision.pipeline import JointFinder, JointMeasurement
from drivers.codecs.robot_protocol import Pose, RobotState
from drivers.codecs.sensor_protocol import Frame
from drivers.errors import DeviceError, FramesRefused
from drivers.sensor import SensorDriver

if TYPE_CHECKING:
    from cellctl.sensing.recording import SeamRecorder

log = logging.getLogger(__name__)

ARRIVED_MM = 0.05
BEAD_SCAN_SPEED_MM_PER_S = 30.0
BEAD_SCAN_LIFT_MM = 2.0  # the torch's tip clears the bead
BEAD_MIN_COVERAGE = 0.7  # of the scan's frames (the ends of the seam are in them too)
PRESCAN_SPEED_MM_PER_S = 15.0  # torch to the seam start while the sensor reads ahead
SCAN_STEP_MM = 10.0  # lateral step between seam-finding positions (the view is ±20 mm)
TREND_POINTS = 12  # measurements the outlier gate's prediction is fitted to
MAX_MEASUREMENTS = 75_000  # 10 minutes of a seam at 125 frames/s
GIL_SWITCH_INTERVAL_S = 0.0002  # bounds a correction tick's wait for the GIL
# The correction grid's phase lock (CorrectionGrid): ticks aim PHASE_MARGIN_S after the
# exposure-to-measured time that WAIT_QUANTILE of the last LATENCY_WINDOW measurements kept
# within, but no later than DEADLINE_GUARD_S short of a tick after the exposure while
# MOST_QUANTILE of them can make that; the grid moves by at most MAX_PHASE_STEP_S per tick
# (a correction interval stays within 5 % of its period at 250 Hz).
PHASE_MARGIN_S = 0.0003
WAIT_QUANTILE = 0.998  # of 1000 frames, all but the slowest one or two
MOST_QUANTILE = 0.9
LATENCY_WINDOW = 1000  # measurements: 8 s at 125 frames/s (a steady quantile)
# The tick's own wake-up after its deadline (p99 0.12-0.38 ms in `python -m bench vision`,
# correction_lateness_p99_ms), the correction's computation and its send (some 0.05 ms).
DEADLINE_GUARD_S = 0.0006
MAX_PHASE_STEP_S = 0.0002
PHASE_GAIN = 0.5
STREAM_JOIN_TIMEOUT_S = 0.5
STREAM_REALTIME_PRIORITY = 10  # SCHED_FIFO, 1..99; above every normal thread
WARM_UP_FRAMES = 500  # the most frames measured between seam finding and tracking (4 s)
PROFILE_EVERY_FRAMES = 5  # the operator's profile view: 25 Hz of a 125 frames/s sensor


class TrackingObserver(Protocol):
    """Who shows tracking to people (the OPC UA server): told of every correction sent and
    of the laser profile now and then. Both calls must be cheap and never raise; the profile
    comes from the sensor's reader thread."""

    def publish_tracking(
        self, lateral_mm: float, vertical_mm: float, position_mm: float | None = None
    ) -> None: ...

    def publish_profile(
        self, y_mm: np.ndarray, z_mm: np.ndarray, joint: tuple[float, float] | None
    ) -> None: ...


def _unit(v: tuple[float, float, float]) -> tuple[float, float, float]:
    n = math.sqrt(sum(c * c for c in v))
    return (v[0] / n, v[1] / n, v[2] / n)


def seam_frame(path: list[Point]) -> tuple[Point, Point, Point]:
    """(travel, lateral, vertical) unit vectors of the path's first segment, as the robot
    defines its correction frame: lateral = up × travel, vertical = travel × lateral."""
    travel = _unit(tuple(b - a for a, b in zip(path[0], path[1], strict=True)))  # type: ignore[arg-type]
    lateral = (-travel[1], travel[0], 0.0)
    size = math.hypot(lateral[0], lateral[1])
    lateral = (lateral[0] / size, lateral[1] / size, 0.0) if size > 1e-9 else (0.0, 1.0, 0.0)
    t, la = travel, lateral
    up = (t[1] * la[2] - t[2] * la[1], t[2] * la[0] - t[0] * la[2], t[0] * la[1] - t[1] * la[0])
    return travel, lateral, up


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

    def __init__(self, settings: TrackingSettings) -> None:
        self.settings = settings
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

        The mean of the measurements within ±window/2; between measurements further apart a
        linear interpolation; beyond the last one its value (coasting).
        """
        half = self.settings.filter_window_mm / 2
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


class CorrectionHistory:
    """The corrections sent on one tracked path, in order: (monotonic time sent, torch
    position along the path mm, lateral mm, vertical mm).

    One writer, the correction stream's thread (``append``); the sensor's reader thread asks
    what the robot had at a frame's exposure (``at``) and how many were sent (``count``) while
    it writes. The lock makes each of those one step: iterating a deque that another thread
    appends to raises "deque mutated during iteration" (shared/PITFALLS.md). ``rows`` is for
    after the stream has ended."""

    LOOKUP_DEPTH = 4096  # corrections searched back for an exposure: 16 s at 250 Hz

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._recent: collections.deque[tuple[float, float, float]] = collections.deque(
            maxlen=self.LOOKUP_DEPTH
        )
        self._rows: list[tuple[float, float, float, float]] = []

    def append(self, sent_s: float, position_mm: float, lateral_mm: float, vertical_mm: float):
        with self._lock:
            self._recent.append((sent_s, lateral_mm, vertical_mm))
            self._rows.append((sent_s, position_mm, lateral_mm, vertical_mm))

    def at(self, at_s: float) -> tuple[float, float]:
        """(lateral, vertical) the robot had at monotonic ``at_s``: the last correction sent
        before it; (0, 0) before the first."""
        with self._lock:
            for t, lateral, vertical in reversed(self._recent):
                if t <= at_s:
                    return lateral, vertical
        return 0.0, 0.0

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._rows)

    def rows(self) -> list[tuple[float, float, float, float]]:
        """A copy of every correction sent: (t, s, lateral, vertical)."""
        with self._lock:
            return list(self._rows)


@dataclass
class TrackingRun:
    """One tracked path: its buffer, its stream's record and its figures."""

    seam: Seam
    path_id: int
    track: SeamTrack
    finder: JointFinder
    max_correction_mm: float
    max_rate_mm_per_s: float
    path_length_mm: float
    path_start: Point = (0.0, 0.0, 0.0)
    travel: Point = (1.0, 0.0, 0.0)
    started_at: float = field(default_factory=time.monotonic)
    # Shared by the correction stream (writes) and the reader thread (reads): locked inside.
    corrections: CorrectionHistory = field(default_factory=CorrectionHistory)
    # The correction stream's own; read by the event loop once the stream has ended.
    lateness_s: list[float] = field(default_factory=list)
    exposure_to_sent_s: list[float] = field(default_factory=list)
    last_reported_exposure: float = 0.0
    # Written by the stream, read by the event loop (``check_tracking``): one str, replaced.
    lost: str | None = None
    # The sensor reader thread's own (``_on_frame``); read by the event loop once the frame
    # handler is detached and idle (``stop_tracking``).
    processing_s: list[float] = field(default_factory=list)
    exposure_to_processed_s: list[float] = field(default_factory=list)
    frames: int = 0
    frames_with_joint: int = 0
    refusals: collections.Counter = field(default_factory=collections.Counter)  # by first word
    last_refusal: str = ""
    frames_stale_before: int = 0  # the sensor driver's count when the run started


class LaserSensing:
    """``SeamSensing`` with the laser-line sensor (see the module docstring)."""

    def __init__(
        self,
        settings: SensorSettings,
        calibration: Calibration,
        robot,
        sensor: SensorDriver | None = None,
    ) -> None:
        self.settings = settings
        self.calibration = calibration
        self.robot = robot
        self.sensor = sensor or SensorDriver(
            settings.backend,
            settings.source,
            frame_timeout_ms=settings.frame_timeout_ms,
            reconnect_delay_min_ms=settings.reconnect_delay_min_ms,
            reconnect_delay_max_ms=settings.reconnect_delay_max_ms,
        )
        # The vision can use only frames of its calibration's size.
        self.sensor.frame_size_px = (calibration.width_px, calibration.height_px)
        self.lookahead_mm = settings.lookahead_mm
        self._run: TrackingRun | None = None
        self._stream: tuple[threading.Thread, threading.Event] | None = None
        # Held while a correction goes out and while the stream is told to stop: once
        # ``stop_tracking`` has the lock and set the event, no correction follows.
        self._send_lock = threading.Lock()
        self.last_run: TrackingRun | None = None
        self._path_id = 0
        self.observer: TrackingObserver | None = None  # set by `cellctl run` (OPC UA)
        self._last_two: tuple = (None, None)  # (monotonic, path id, position) of two statuses
        self._last_two_lock = threading.Lock()
        self._prescan: tuple[Point | None, list[tuple[float, float, float]]] = (None, [])
        # When sensor.recording is on (set by the wiring): keeps each run for `cellctl replay`.
        self.recorder: SeamRecorder | None = None
        self._tables_thread: threading.Thread | None = None
        # Exposure to measured, from seam to seam: where the correction grid sits.
        self._latencies = LatencyWindow()
        # Told of an exception that escapes one of our threads (see ``supervise``).
        self._report_internal_error: InternalErrorReport | None = None

    def supervise(self, report: InternalErrorReport) -> None:
        """Our threads (the sensor's reader, the correction stream, the triangulation tables,
        the recorder's writer) report what escapes them to ``report`` (the controller: F180)."""
        self._report_internal_error = report
        self.sensor.on_internal_error = report
        if self.recorder is not None:
            self.recorder.on_internal_error = report

    async def connect(self) -> None:
        # The frame handler runs in the sensor's reader thread and the correction stream in
        # its own: with CPython's default 5 ms GIL switch interval either could wait that long
        # behind the event loop's work (shared/PITFALLS.md). A short interval keeps
        # exposure-to-measurement short and correction ticks on time.
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
        # The triangulation's tables, made now rather than in the first frame of a seam, in
        # a thread of their own: up to 0.4 s the event loop (and the PLC's heartbeat) must
        # not wait for. A frame that comes first waits for them.
        self._tables_thread = threading.Thread(
            target=self._make_tables, name="triangulation tables", daemon=True
        )
        self._tables_thread.start()
        await self.sensor.connect()

    def _make_tables(self) -> None:
        try:
            self.calibration.pixel_tables()
        except Exception as error:  # the first frame tries again, and fails the same way
            self._internal_error("the triangulation tables", error)

    def _internal_error(self, where: str, error: BaseException) -> None:
        """From any of our threads: ``error`` escaped ``where``. Logged with its traceback."""
        report = self._report_internal_error
        if report is None:
            log.error("%s failed", where, exc_info=error)
        else:
            report(where, error)

    async def close(self) -> None:
        await self.stop_tracking()
        await self.sensor.close()
        if self._tables_thread is not None:
            self._tables_thread.join()  # at most the tables' making, once
            self._tables_thread = None
        if self.recorder is not None:
            await asyncio.to_thread(self.recorder.close)

    # -- where the torch is -------------------------------------------------------------------

    def torch_position_mm(self, at_s: float, path_id: int) -> float:
        """The torch's position along path ``path_id`` at monotonic time ``at_s``, from the
        robot's last status, extrapolated at its speed (0 before the path has started)."""
        sample = self.robot.last_sample  # one read: status and time belong together
        if sample is None or sample[0].path_id != path_id:
            return 0.0
        status, sampled_at = sample
        position = status.path_position_mm
        if status.state is RobotState.MOVING:
            position += self._speed_mm_per_real_s(status, sampled_at) * max(0.0, at_s - sampled_at)
        return min(position, status.path_length_mm)

    def _speed_mm_per_real_s(self, status, sampled_at: float) -> float:
        """The torch's speed along the path per second of our clock, from the last two
        statuses (a simulator may run faster than real time; a real robot reports the same).

        Called from the reader thread and the correction stream alike: the two statuses are
        updated under ``_last_two_lock`` (read, compare, replace is not one step)."""
        with self._last_two_lock:
            previous = self._last_two
            if previous[1] is None or previous[1][0] != sampled_at:
                newest = (sampled_at, status.path_id, status.path_position_mm)
                self._last_two = (previous[1], newest)
            older, newer = self._last_two
        if older is None or newer is None or older[1] != newer[1] or newer[0] - older[0] <= 0:
            return status.tool_speed_mm_per_s
        return (newer[2] - older[2]) / (newer[0] - older[0])

    # -- seam finding ----------------------------------------------------------------------------

    async def find_seam(self, seam: Seam, taught_path: list[Point]) -> list[Point]:
        # A new seam (of a new part): nothing measured before is about this joint.
        self.sensor.detach_frame_handler()
        self._prescan = (None, [])
        self.last_run = None
        if not seam.sensing.seam_finding:
            return list(taught_path)
        finding = self.settings.seam_finding
        travel, lateral, up = seam_frame(taught_path)
        search = seam.sensing.search_range_mm
        offsets = [0.0]
        k = 1
        while k * SCAN_STEP_MM <= search + 1e-9:
            offsets += [k * SCAN_STEP_MM, -k * SCAN_STEP_MM]
            k += 1
        finder = self._finder(seam)
        back = finding.start_inset_mm - self.lookahead_mm
        speed = min(50.0, float(self.robot.settings.limits.max_speed_mm_per_s))
        reasons: list[str] = []
        frames_taken = 0
        for offset in offsets:
            torch = tuple(
                p + back * t + offset * la
                for p, t, la in zip(taught_path[0], travel, lateral, strict=True)
            )
            await self._move_to(torch, seam, speed)
            await asyncio.sleep(finding.settle_ms / 1000)
            finder.reset()
            good: list[JointMeasurement] = []
            after = -1
            for _ in range(finding.frames_per_position):
                frame = await self.sensor.next_frame(after)
                after = frame.frame_number
                frames_taken += 1
                measurement = finder.measure(frame.pixels, frame.frame_number, frame.exposure_s)
                if measurement.ok:
                    good.append(measurement)
                elif measurement.reason:
                    reasons.append(measurement.reason)
            if len(good) < finding.min_good_frames:
                continue
            lat = float(np.median([m.lateral_mm for m in good]))
            vert = float(np.median([m.vertical_mm for m in good]))
            spread = max(abs(m.lateral_mm - lat) + abs(m.vertical_mm - vert) for m in good)
            found_lateral = offset + lat
            if spread > finding.max_spread_mm or abs(found_lateral) > search:
                reasons.append(
                    f"joint at {found_lateral:+.2f} mm"
                    + (
                        f" (frames disagree by {spread:.2f} mm)"
                        if spread > finding.max_spread_mm
                        else ""
                    )
                )
                continue
            shift = tuple(found_lateral * la + vert * u for la, u in zip(lateral, up, strict=True))
            path = shifted(taught_path, shift)  # type: ignore[arg-type]
            # On to the start, along the seam: the sensor reads the first lookahead_mm of the
            # joint on the way, which tracking needs before its own first measurement.
            # From here on the frames are measured as tracking will (for where its correction
            # grid sits), the pre-scan's and the arc start's: a couple of hundred.
            self._warm_up(seam)
            prescan = await self._prescan_to(path, seam, finder)
            # The joint found was at start_inset_mm; the start itself lies where the first
            # millimetres' trend puts it: shift the path there, and the pre-scan with it.
            at_start = _extrapolate_start(prescan)
            if at_start is not None and math.hypot(*at_start) > 0.005:
                extra = tuple(
                    at_start[0] * la + at_start[1] * u for la, u in zip(lateral, up, strict=True)
                )
                path = shifted(path, extra)  # type: ignore[arg-type]
                prescan = [(s, lat - at_start[0], ver - at_start[1]) for s, lat, ver in prescan]
                await self._move_to(path[0], seam, speed)
            self._prescan = (path[0], prescan)
            log.info(
                "seam %s: joint found %+.3f mm lateral, %+.3f mm vertical",
                seam.name,
                found_lateral,
                vert,
            )
            return path
        common = collections.Counter(reasons).most_common(1)
        raise JointNotFound(
            f"no trustworthy joint within ±{search:g} mm of the taught start: scanned lateral "
            f"{min(offsets):+.1f}..{max(offsets):+.1f} mm (view ±20 mm) at {len(offsets)} "
            f"position(s), {frames_taken} frames"
            + (f"; most frames: {common[0][0]}" if common else "")
        )

    async def _prescan_to(
        self, path: list[Point], seam: Seam, finder: JointFinder
    ) -> list[tuple[float, float, float]]:
        """Move the torch to ``path[0]`` while measuring: [(s, lateral, vertical)] of the joint
        against ``path``, s along it (the sensor's position), for the first look-ahead."""
        travel, lateral, up = seam_frame(path)
        pose = Pose(*path[0], seam.torch.work_angle_deg, seam.torch.travel_angle_deg, 0.0)
        await self.robot.move_linear(pose, PRESCAN_SPEED_MM_PER_S)
        samples: list[tuple[float, float, float]] = []
        after = -1
        previous: tuple[float, tuple[float, float, float]] | None = None
        deadline = time.monotonic() + 10 + 2 * self.lookahead_mm / PRESCAN_SPEED_MM_PER_S
        while True:
            status = await self.robot.read_status()
            now = time.monotonic()
            position = status.pose.position_mm
            velocity = (0.0, 0.0, 0.0)  # per second of our clock, from two statuses
            if previous is not None and now > previous[0]:
                velocity = tuple(
                    (a - b) / (now - previous[0])
                    for a, b in zip(position, previous[1], strict=True)
                )
            previous = (now, position)
            frame = self.sensor.latest()
            if frame is not None and frame.frame_number != after:
                after = frame.frame_number
                m = finder.measure(frame.pixels, frame.frame_number, frame.exposure_s)
                if m.ok:
                    # Where the torch was at the exposure: back along travel at its speed.
                    age = max(0.0, now - frame.exposure_s)
                    torch = [p - age * v for p, v in zip(position, velocity, strict=True)]
                    d = [a - b for a, b in zip(torch, path[0], strict=True)]
                    along = sum(a * b for a, b in zip(d, travel, strict=True))
                    off_l = sum(a * b for a, b in zip(d, lateral, strict=True))
                    off_v = sum(a * b for a, b in zip(d, up, strict=True))
                    samples.append(
                        (along + self.lookahead_mm, m.lateral_mm + off_l, m.vertical_mm + off_v)
                    )
            if _arrived(status, path[0]):
                return sorted(samples)
            if status.state in STOPPED_FOR_GOOD or now > deadline:
                raise JointNotFound(f"robot {status.state.name.lower()} on the way to the start")
            await asyncio.sleep(0.005)

    async def _move_to(self, point, seam: Seam, speed_mm_per_s: float) -> None:
        pose = Pose(*point, seam.torch.work_angle_deg, seam.torch.travel_angle_deg, 0.0)
        await self.robot.move_linear(pose, speed_mm_per_s)
        deadline = time.monotonic() + 10 + 200 / speed_mm_per_s
        while True:
            status = await self.robot.read_status()
            if _arrived(status, point):
                return
            if status.state in STOPPED_FOR_GOOD:
                raise JointNotFound(f"robot {status.state.name.lower()} during the seam search")
            if time.monotonic() > deadline:
                raise JointNotFound("robot did not reach the seam search position in time")
            await asyncio.sleep(0.01)

    # -- post-weld check ------------------------------------------------------------------------

    async def check_bead(
        self, seam: Seam, path: list[Point]
    ) -> tuple[dict[str, float], list[str]] | None:
        """Run the sensor over the finished seam (torch lifted, arc off) and measure the bead
        in every frame (``cellctl.sensing.bead``); the figures and what is out of its bands."""
        travel, _, up = seam_frame(path)
        back = -self.lookahead_mm
        start, end = (
            tuple(
                p + back * t + BEAD_SCAN_LIFT_MM * u for p, t, u in zip(q, travel, up, strict=True)
            )
            for q in (path[0], path[-1])
        )
        speed = min(50.0, float(self.robot.settings.limits.max_speed_mm_per_s))
        await self._move_to(start, seam, speed)
        finder = self._finder(seam)
        pose = Pose(*end, seam.torch.work_angle_deg, seam.torch.travel_angle_deg, 0.0)
        await self.robot.move_linear(pose, BEAD_SCAN_SPEED_MM_PER_S)
        widths: list[float] = []
        heights: list[float] = []
        frames = 0
        after = -1
        deadline = time.monotonic() + 10 + 2 * length_mm(path) / BEAD_SCAN_SPEED_MM_PER_S
        while True:
            status = await self.robot.read_status()
            frame = self.sensor.latest()
            if frame is not None and frame.frame_number != after:
                after = frame.frame_number
                frames += 1
                x, z, _ = finder.profile(frame.pixels)
                bead = measure_bead(x, z, str(seam.joint))
                if bead.ok:
                    widths.append(bead.width_mm)
                    heights.append(bead.height_mm)
            if _arrived(status, end):
                break
            if status.state in STOPPED_FOR_GOOD:
                raise JointNotFound(f"robot {status.state.name.lower()} during the bead scan")
            if time.monotonic() > deadline:
                raise JointNotFound("the bead scan did not finish in time")
            await asyncio.sleep(0.005)
        figures: dict[str, float] = {"bead_frames": frames, "bead_measured": len(widths)}
        problems: list[str] = []
        if not widths:
            problems.append(f"not found in {frames} frames")
            figures["bead_ok"] = 0.0
            return figures, problems
        figures.update(
            bead_width_mm=round(float(np.median(widths)), 3),
            bead_width_min_mm=round(float(np.min(widths)), 3),
            bead_width_max_mm=round(float(np.max(widths)), 3),
            bead_height_mm=round(float(np.median(heights)), 3),
            bead_height_min_mm=round(float(np.min(heights)), 3),
            bead_height_max_mm=round(float(np.max(heights)), 3),
        )
        for name, band, low, high in (
            ("width", seam.sensing.bead_width_mm, np.min(widths), np.max(widths)),
            ("height", seam.sensing.bead_height_mm, np.min(heights), np.max(heights)),
        ):
            if band is not None and not (band.min <= low and high <= band.max):
                problems.append(
                    f"{name} {low:.2f}..{high:.2f} mm outside {band.min:g}..{band.max:g} mm"
                )
        if len(widths) < BEAD_MIN_COVERAGE * frames:
            problems.append(f"measured in only {len(widths)} of {frames} frames")
        figures["bead_ok"] = 0.0 if problems else 1.0
        return figures, problems

    def _finder(self, seam: Seam) -> JointFinder:
        return JointFinder(
            self.calibration,
            str(seam.joint),
            seam.torch.work_angle_deg,
            self.settings.stripe,
            self.settings.joint,
        )

    # -- tracking ------------------------------------------------------------------------------

    async def start_tracking(self, seam: Seam, path: list[Point], path_id: int) -> None:
        await self.stop_tracking()  # (the warm-up's frame handler goes too)
        if not seam.sensing.tracking:
            return
        limits = self.robot.settings.limits
        max_correction = float(limits.max_path_correction_mm)
        if seam.sensing.max_correction_mm is not None:
            max_correction = min(max_correction, seam.sensing.max_correction_mm)
        run = TrackingRun(
            seam=seam,
            path_id=path_id,
            track=SeamTrack(self.settings.tracking),
            finder=self._finder(seam),
            max_correction_mm=max_correction,
            max_rate_mm_per_s=float(limits.max_correction_rate_mm_per_s),
            path_length_mm=length_mm(path),
            frames_stale_before=self.sensor.frames_stale,
        )
        run.path_start = path[0]
        run.travel = seam_frame(path)[0]
        # What is known of the joint ahead of the torch before the first frame: what seam
        # finding saw of the first look-ahead (when this path starts where it found the
        # joint), or, when the seam resumes after a hold or an arc break, what the last run
        # on it measured (the same line, further along); else the torch stands on the joint.
        start, prescan = self._prescan
        previous = self.last_run
        if prescan and start is not None and math.dist(start, path[0]) < 0.01:
            for s, lateral_mm, vertical_mm in prescan:
                run.track.seed(s, lateral_mm, vertical_mm)
        elif previous is not None and previous.seam.name == seam.name and _same_line(previous, run):
            offset = sum(
                (a - b) * t
                for a, b, t in zip(path[0], previous.path_start, run.travel, strict=True)
            )
            s, lateral_mm, vertical_mm = previous.track.arrays()
            ahead = s >= offset - 1.0
            for si, li, vi in zip(
                s[ahead] - offset, lateral_mm[ahead], vertical_mm[ahead], strict=True
            ):
                run.track.seed(float(si), float(li), float(vi))
            if not ahead.any():
                run.track.seed(0.0, 0.0, 0.0)
        else:
            run.track.seed(0.0, 0.0, 0.0)
        if self.recorder is not None:
            self.recorder.start_seam(
                seam=seam,
                path=path,
                path_id=path_id,
                max_correction_mm=max_correction,
                max_rate_mm_per_s=run.max_rate_mm_per_s,
                seed=[tuple(map(float, row)) for row in zip(*run.track.arrays(), strict=True)],
            )
        self._run = run
        self.sensor.on_frame = self._on_frame
        stop = threading.Event()
        thread = threading.Thread(
            target=self._stream_corrections, args=(run, stop), name="correction stream", daemon=True
        )
        self._stream = (thread, stop)
        thread.start()

    def check_tracking(self) -> None:
        """Raise ``TrackingLost`` once tracking has coasted as far as it may; the sensor's
        ``FramesRefused`` while it sends frames the vision cannot use."""
        run = self._run
        if run is None:
            return
        refusing = self.sensor.refusing
        if refusing is not None:
            raise FramesRefused(self.sensor.device, self.sensor.address, refusing)
        if run.lost:
            raise TrackingLost(run.lost)

    async def stop_tracking(self) -> dict[str, float] | None:
        run, self._run = self._run, None
        self.sensor.detach_frame_handler()  # the run's frame figures are final from here
        if self._stream is not None:
            thread, stop = self._stream
            self._stream = None
            with self._send_lock:
                stop.set()  # from here on no correction is sent
            thread.join(STREAM_JOIN_TIMEOUT_S)  # it wakes on the event and ends at once
            if thread.is_alive():
                log.warning("the correction stream's thread did not end in time")
        if run is None:
            return None
        self.last_run = run
        figures = tracking_figures(run)
        # Frames the vision never saw: a newer one had already arrived behind them.
        figures["frames_stale"] = self.sensor.frames_stale - run.frames_stale_before
        if self.recorder is not None:
            self.recorder.finish_seam(run.corrections.rows(), figures, run.lost)
        return figures

    def _warm_up(self, seam: Seam) -> None:
        """Until tracking starts (the pre-scan to the start, the arc strikes), measure the
        frames as tracking will, in the reader thread, for their exposure-to-measured times:
        the correction grid then starts where these frames put it, not at a guess. (The
        pre-scan measures the same frames in the event loop: the warm-up's times include that
        contention, so they err on the slow side.)"""
        finder = self._finder(seam)
        frames = 0

        def on_frame(frame: Frame) -> None:
            nonlocal frames
            frames += 1
            if frames > WARM_UP_FRAMES:
                if self.sensor.on_frame is on_frame:
                    self.sensor.on_frame = None  # the cycle went elsewhere: stop costing CPU
                return
            if finder.measure(frame.pixels, frame.frame_number, frame.exposure_s).ok:
                self._latencies.add(frame.exposure_s, time.monotonic())

        self.sensor.on_frame = on_frame

    def _on_frame(self, frame: Frame) -> None:
        """Reader thread: measure the frame at once and put it in the look-ahead buffer."""
        run = self._run
        if run is None:
            return
        started = time.perf_counter()
        measurement = run.finder.measure(frame.pixels, frame.frame_number, frame.exposure_s)
        run.processing_s.append(time.perf_counter() - started)
        run.frames += 1
        observer = self.observer
        if observer is not None and run.frames % PROFILE_EVERY_FRAMES == 0:
            profile = run.finder.last_profile
            if profile is not None:
                observer.publish_profile(*profile)
        if not measurement.ok:
            run.refusals[measurement.reason.split(" ")[0] or "?"] += 1
            run.last_refusal = measurement.reason
            if self.recorder is not None:
                s_sensor = self.torch_position_mm(frame.exposure_s, run.path_id) + self.lookahead_mm
                commanded = run.corrections.at(frame.exposure_s)
                self.recorder.frame(frame, measurement, s_sensor, commanded, run.corrections.count)
            return
        run.frames_with_joint += 1
        exposure = frame.exposure_s
        s_sensor = self.torch_position_mm(exposure, run.path_id) + self.lookahead_mm
        lateral_c, vertical_c = run.corrections.at(exposure)
        run.track.add(
            s_sensor,
            measurement.lateral_mm + lateral_c,
            measurement.vertical_mm + vertical_c,
            exposure,
        )
        landed = time.monotonic()
        self._latencies.add(exposure, landed)  # where the correction grid sits
        run.exposure_to_processed_s.append(landed - exposure)
        if self.recorder is not None:
            # After the track has it: a replay adds it before the correction numbered so.
            self.recorder.frame(
                frame, measurement, s_sensor, (lateral_c, vertical_c), run.corrections.count
            )

    def _stream_corrections(self, run: TrackingRun, stop: threading.Event) -> None:
        """The correction stream's thread, until ``stop`` is set. A failure of its own (not
        the link's) loses tracking, so the weld cycle faults and holds."""
        _ask_for_realtime()
        try:
            self._correction_ticks(run, stop)
        except Exception as error:
            # No more corrections: tracking is lost (F151 in a cell without a supervisor),
            # and nobody expected it (F180).
            run.lost = f"the correction stream failed: {error!r}"
            self._internal_error("the correction stream", error)

    def _correction_ticks(self, run: TrackingRun, stop: threading.Event) -> None:
        settings = self.settings.tracking
        period = 1.0 / settings.correction_rate_hz
        lead = settings.correction_lead_ms / 1000
        step = run.max_rate_mm_per_s * period
        lateral = vertical = 0.0
        grid = CorrectionGrid(period, time.monotonic(), self._latencies)
        while True:
            if stop.wait(max(0.0, grid.advance() - time.monotonic())):
                return
            now = time.monotonic()
            run.lateness_s.append(grid.ticked(now))
            s_torch = self.torch_position_mm(now + lead, run.path_id)
            target = run.track.deviation_at(s_torch)
            if target is not None:
                limit = run.max_correction_mm
                target_l = min(limit, max(-limit, target[0]))
                target_v = min(limit, max(-limit, target[1]))
                lateral += min(step, max(-step, target_l - lateral))
                vertical += min(step, max(-step, target_v - vertical))
            with self._send_lock:
                if stop.is_set():
                    return
                try:
                    self.robot.send_correction(lateral, vertical)
                except DeviceError as error:
                    log.debug("correction not sent: %s", error)
                    continue
                sent_at = time.monotonic()
            if self.observer is not None:
                self.observer.publish_tracking(lateral, vertical, s_torch)
            run.corrections.append(sent_at, s_torch, lateral, vertical)
            newest = run.track.last_exposure_s
            if math.isfinite(newest) and newest > run.last_reported_exposure:
                run.last_reported_exposure = newest
                run.exposure_to_sent_s.append(sent_at - newest)
            # Coasting: how far the sensor has gone past the last trustworthy measurement.
            # (The seed at the path's start is behind the sensor from the first instant.)
            last = max(run.track.last_position_mm or 0.0, self.lookahead_mm)
            # Past the path's end there is no joint to see, and none needed.
            s_sensor = min(s_torch + self.lookahead_mm, run.path_length_mm)
            if s_sensor - last > self.settings.tracking.coast_mm:
                status = self.sensor.stats.last_error if not self.sensor.connected else ""
                run.lost = (
                    f"no trustworthy joint for {s_sensor - last:.1f} mm (coasting allowed "
                    f"{self.settings.tracking.coast_mm:g} mm) at {s_torch:.1f} mm along the path"
                    + (f"; sensor link down: {status}" if status else "")
                    + (f"; last frame: {run.last_refusal}" if run.last_refusal else "")
                )


def _ask_for_realtime() -> None:
    """Give the calling thread a real-time priority (SCHED_FIFO) where the process may: a
    robot interface wants its tick on time even when the cores are busy (rendering, the HMI).
    Without the privilege (CAP_SYS_NICE or an rtprio limit) it stays a normal thread."""
    global _realtime_refused
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(STREAM_REALTIME_PRIORITY))
    except (AttributeError, OSError) as error:
        if not _realtime_refused:
            _realtime_refused = True
            log.info("correction stream runs without real-time priority: %s", error)


_realtime_refused = False


class LatencyWindow:
    """The newest LATENCY_WINDOW exposure-to-measured times (s), kept sorted as well, so
    that a quantile is an index, at every frame; and the newest frame's exposure (the
    sensor's rhythm). Thread-safe: the sensor's reader thread adds each frame as it is
    measured, the correction stream reads."""

    def __init__(self, size: int = LATENCY_WINDOW) -> None:
        self._arrived: collections.deque[float] = collections.deque()
        self._sorted: list[float] = []
        self._size = size
        self._lock = threading.Lock()
        self.last_exposure_s: float | None = None  # monotonic

    def __len__(self) -> int:
        return len(self._arrived)

    def add(self, exposure_s: float, measured_s: float) -> None:
        """A frame exposed at ``exposure_s`` was measured at ``measured_s`` (monotonic)."""
        latency_s = measured_s - exposure_s
        with self._lock:
            self.last_exposure_s = exposure_s
            self._arrived.append(latency_s)
            bisect.insort(self._sorted, latency_s)
            if len(self._arrived) > self._size:
                del self._sorted[bisect.bisect_left(self._sorted, self._arrived.popleft())]

    def quantile(self, q: float) -> float:
        """The q quantile (of fewer than 1 / (1 - q) times, the slowest); NaN when empty."""
        with self._lock:
            n = len(self._sorted)
            return self._sorted[min(n - 1, int(q * n))] if n else math.nan


class CorrectionGrid:
    """When the correction stream ticks: every ``period_s``, the grid phase-locked onto the
    sensor's exposures (see the module docstring). Times are monotonic seconds.

    ``latencies``: the exposure-to-measured times, added to by whoever measures the frames
    (kept from seam to seam: they are the sensor's and the vision's, not the seam's). With
    them the grid starts in phase with the newest frame's exposure, and each tick that
    finds a newer one there moves the grid towards it."""

    def __init__(
        self, period_s: float, start_s: float, latencies: LatencyWindow | None = None
    ) -> None:
        self.period_s = period_s
        self._latencies = latencies if latencies is not None else LatencyWindow()
        # Exposure to tick: where the grid aims (NaN: no measurement yet).
        self.delay_s = self._aim()
        last_exposure_s = self._latencies.last_exposure_s
        self._seen_exposure_s = last_exposure_s if last_exposure_s is not None else -math.inf
        if last_exposure_s is not None and math.isfinite(self.delay_s):
            # In phase from the first tick: where the last frame seen puts the grid (the
            # frames come at a whole number of ticks), rather than stepping there.
            behind = (start_s - (last_exposure_s + self.delay_s)) % period_s
            start_s -= behind
        self.deadline_s = start_s

    def _aim(self) -> float:
        """Exposure to tick (s) from the latencies seen (see the module docstring): late
        enough for nearly every frame, but no later than the deadline while most frames can
        make it. NaN while there are none."""
        nearly_all = self._latencies.quantile(WAIT_QUANTILE) + PHASE_MARGIN_S
        most = self._latencies.quantile(MOST_QUANTILE) + PHASE_MARGIN_S
        deadline = self.period_s - DEADLINE_GUARD_S
        return min(nearly_all, deadline) if most <= deadline else nearly_all

    def advance(self) -> float:
        """The next tick's deadline."""
        self.deadline_s += self.period_s
        return self.deadline_s

    def ticked(self, now_s: float) -> float:
        """The tick for the current deadline came at ``now_s``. Returns its lateness (s)."""
        lateness_s = max(0.0, now_s - self.deadline_s)
        if lateness_s >= self.period_s:
            # The thread was held up (the whole machine stalls now and then: 10-20 ms seen
            # on the bench): the ticks missed are skipped rather than sent in a burst, and
            # the grid stays in phase, so the next frame is on time.
            self.deadline_s += lateness_s // self.period_s * self.period_s
        exposure_s = self._latencies.last_exposure_s
        if exposure_s is not None and exposure_s != self._seen_exposure_s:  # a new frame
            self._seen_exposure_s = exposure_s
            self.delay_s = self._aim()
            # Where this frame's tick should have been, on the grid's own clock.
            error = self.deadline_s - (exposure_s + self.delay_s)
            self.deadline_s += _phase_step(error, self.period_s)
        return lateness_s


def _phase_step(error_s: float, period_s: float) -> float:
    """How far to move the correction grid (s, negative: earlier) after a tick that came
    ``error_s`` after where the newest frame's tick should have been: towards it, bounded.
    Only the phase counts: an error of a whole period is none."""
    error = (error_s + period_s / 2) % period_s - period_s / 2
    return -max(-MAX_PHASE_STEP_S, min(MAX_PHASE_STEP_S, PHASE_GAIN * error))


STOPPED_FOR_GOOD = (RobotState.FAULT, RobotState.DRIVES_OFF)  # no move will finish


def _arrived(status, point: Point) -> bool:
    """The robot stands, its queue empty, at ``point``."""
    return (
        status.state is RobotState.IDLE
        and status.queue_depth == 0
        and math.dist(status.pose.position_mm, point) <= ARRIVED_MM
    )


def _same_line(previous: TrackingRun, run: TrackingRun) -> bool:
    """Whether ``run``'s path lies on ``previous``'s line, in the same direction (a resume)."""
    along = sum(a * b for a, b in zip(previous.travel, run.travel, strict=True))
    d = [a - b for a, b in zip(run.path_start, previous.path_start, strict=True)]
    offset = sum(a * b for a, b in zip(d, previous.travel, strict=True))
    off_line = math.sqrt(max(0.0, sum(c * c for c in d) - offset * offset))
    return along > 0.9999 and off_line < 0.5


def _extrapolate_start(samples: list[tuple[float, float, float]]) -> tuple[float, float] | None:
    """(lateral, vertical) at s = 0 from a line through the first 4 mm of ``samples``."""
    if len(samples) < 3:
        return None
    data = np.array(samples)
    first = data[data[:, 0] < data[0, 0] + 4.0]
    if len(first) < 3 or np.ptp(first[:, 0]) < 0.5:
        return None
    lateral = np.polyval(np.polyfit(first[:, 0], first[:, 1], 1), 0.0)
    vertical = np.polyval(np.polyfit(first[:, 0], first[:, 2], 1), 0.0)
    return float(lateral), float(vertical)


def _p(samples: list[float], q: float) -> float:
    return float(np.percentile(samples, q)) if samples else math.nan


def tracking_figures(run: TrackingRun) -> dict[str, float]:
    """The seam record's tracking statistics.

    ``tracking_rms_mm`` / ``tracking_max_mm`` are the controller's own view: how far each
    correction sent was from the joint's deviation at the torch's position as finally
    measured (the truth is only known to the simulator; its scores are in the benchmark).
    """
    s, lateral, vertical = run.track.arrays()
    rows = run.corrections.rows()
    figures: dict[str, float] = {
        "frames": run.frames,
        "frames_with_joint": run.frames_with_joint,
        "measurements_rejected": run.track.rejected,
        "corrections_sent": len(rows),
    }
    if len(rows) > 1:
        sent = np.array(rows)
        duration = sent[-1, 0] - sent[0, 0]
        figures["correction_rate_hz"] = (len(sent) - 1) / duration if duration > 0 else math.nan
        figures["correction_lateness_p99_ms"] = _p(run.lateness_s, 99) * 1e3
        figures["correction_max_mm"] = float(np.max(np.hypot(sent[:, 2], sent[:, 3])))
        if len(s) > 1:
            # Only where measurements are on both sides (before the first one the stream
            # extrapolates; the figure would compare that with a clamped value).
            inside = (sent[:, 1] >= s[0]) & (sent[:, 1] <= s[-1])
            if inside.any():
                true_l = np.interp(sent[inside, 1], s, lateral)
                true_v = np.interp(sent[inside, 1], s, vertical)
                error = np.hypot(sent[inside, 2] - true_l, sent[inside, 3] - true_v)
                figures["tracking_rms_mm"] = float(np.sqrt(np.mean(error**2)))
                figures["tracking_max_mm"] = float(np.max(error))
    if run.processing_s:
        figures["processing_p99_ms"] = _p(run.processing_s, 99) * 1e3
        figures["exposure_to_processed_p99_ms"] = _p(run.exposure_to_processed_s, 99) * 1e3
        figures["exposure_to_correction_p99_ms"] = _p(run.exposure_to_sent_s, 99) * 1e3
    if run.lost:
        figures["lost"] = 1.0
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in figures.items()}
