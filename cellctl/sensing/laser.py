"""Seam finding and closed-loop seam tracking with the laser sensor: ``LaserSensing``.

The ``SeamSensing`` of a cell with a laser-line sensor ``lookahead_mm`` ahead of the torch,
built from pieces that each own one thing:

- ``SeamFinder`` (``finder``): before the arc, where the joint is at the taught start, and
  the pre-scan of its first millimetres on the way there;
- the frame handler (here): every frame of a tracked path, in the sensor driver's reader
  thread as soon as it arrives, is measured by the vision, and the correction the robot had
  at the frame's exposure added back, and the weave's offset there (the robot weaves the
  path itself, laid out along it, so the weave at the torch's position is known exactly:
  ``drivers.codecs.weave``): the joint's deviation from the path at the sensor's
  position along it (``TorchEstimate``, ``torch``), stored in the look-ahead buffer
  (``SeamTrack``, ``track``) by path position, never by time;
- ``CorrectionStream`` (``stream``): a thread of its own at a fixed rate that sends the robot
  what the correction law (``correction``) makes of the buffer where the torch will be;
- ``BeadScan`` (``bead``): after the arc, the bead's width and height;
- ``GrooveScan`` (``groove``): between passes, what is left of the groove.

With no trustworthy measurement the torch coasts on the last ones; once the sensor has gone
``coast_mm`` past the last good one, tracking is lost: ``check_tracking`` raises
``TrackingLost`` and the weld cycle faults (F151) and holds.

Threads: the reader thread (frames), the correction stream's thread and the event loop
(everything else) share a ``TrackingRun``; each of its fields names its owner.
"""

from __future__ import annotations

import asyncio
import logging
import math
import sys
import threading
import time
from typing import TYPE_CHECKING

from cellctl.cell.geometry import Point, length_mm, seam_frame, sensed_joint
from cellctl.config.models import Seam
from cellctl.config.sensor_models import SensorSettings
from cellctl.motion.moves import Motion
from cellctl.sensing.bead import BeadScan
from cellctl.sensing.correction import LatencyWindow
from cellctl.sensing.finder import SeamFinder
from cellctl.sensing.groove import GrooveMeasure, GrooveScan
from cellctl.sensing.protocol import InternalErrorReport, TrackingLost, TrackingObserver
from cellctl.sensing.run import TrackingRun, tracking_figures
from cellctl.sensing.stream import GIL_SWITCH_INTERVAL_S, CorrectionStream, start_stream
from cellctl.sensing.torch import TorchEstimate
from cellctl.sensing.track import SeamTrack
from cellctl.sensing.vision.calibration import Calibration
from cellctl.sensing.vision.pipeline import JointFinder
from cellctl.sensing.weave import WeaveEstimate
from drivers.codecs.seam_path import SeamPath
from drivers.codecs.sensor_protocol import Frame
from drivers.codecs.weave import NO_WEAVE, WeaveShape
from drivers.errors import FramesRefused
from drivers.link import DeviceLink
from drivers.realtime import gil_kept
from drivers.sensor import SensorDriver

if TYPE_CHECKING:
    from cellctl.sensing.recording import SeamRecorder

log = logging.getLogger(__name__)

WARM_UP_FRAMES = 500  # the most frames measured between seam finding and tracking (4 s)
PROFILE_EVERY_FRAMES = 5  # the operator's profile view: 25 Hz of a 125 frames/s sensor
# A weaving path's filter window: one pitch, but never so wide that it flattens the joint's
# own bends (a moving mean of 6 mm keeps 98 % of a 60 mm wave).
WEAVE_WINDOW_MAX_MM = 6.0
# The sensor's reader thread measures each frame as it comes (SCHED_FIFO where the process
# may): below the correction stream (``stream.STREAM_REALTIME_PRIORITY``), above the rest of
# the controller (``cellctl run``), whose event loop must not hold a frame up. They share the
# GIL, which changes hands within ``GIL_SWITCH_INTERVAL_S`` when asked, except during a
# frame's vision (``FRAME_GIL_KEPT_S``).
READER_REALTIME_PRIORITY = 9
# A frame's vision keeps the GIL while others ask for it, up to this long (``gil_kept``):
# some 2x its p99 alone at 640x480. Handing it to the event loop every switch interval made
# the vision 2-3 times as long inside the controller as alone. What asks meanwhile waits for
# the vision's end: the event loop, and a correction tick only when one falls inside a
# frame's vision, which the correction grid (ticks after the frames' measurement) makes rare.
FRAME_GIL_KEPT_S = 0.001


class LaserSensing:
    """``SeamSensing`` with the laser-line sensor (see the module docstring)."""

    def __init__(
        self,
        settings: SensorSettings,
        calibration: Calibration,
        motion: Motion,
        sensor: SensorDriver | None = None,
    ) -> None:
        self.settings = settings
        self.calibration = calibration
        self.motion = motion
        self.robot = motion.robot
        self.sensor = sensor or SensorDriver(
            settings.backend,
            settings.source,
            frame_timeout_ms=settings.frame_timeout_ms,
            reconnect_delay_min_ms=settings.reconnect_delay_min_ms,
            reconnect_delay_max_ms=settings.reconnect_delay_max_ms,
        )
        # The vision can use only frames of its calibration's size.
        self.sensor.frame_size_px = (calibration.width_px, calibration.height_px)
        self.sensor.reader_priority = READER_REALTIME_PRIORITY
        self.lookahead_mm = settings.lookahead_mm
        # Where the torch is, from the robot's own status stream.
        self.torch = TorchEstimate()
        self.robot.add_status_listener(self.torch.on_status)
        # ... and, for the weave's offset at an exposure, more closely (``weave``).
        self.weave_position = WeaveEstimate()
        self.robot.add_status_listener(self.weave_position.on_status)
        self.finder = SeamFinder(settings, self.sensor, motion, self._joint_finder)
        self.bead_scan = BeadScan(self.sensor, motion, self.lookahead_mm, self._joint_finder)
        self.groove_scan = GrooveScan(self.sensor, motion, self.lookahead_mm, self._joint_finder)
        self._run: TrackingRun | None = None  # read by the reader thread, replaced by the loop
        self._stream: CorrectionStream | None = None
        self.last_run: TrackingRun | None = None
        self.observer: TrackingObserver | None = None  # set by `cellctl run` (OPC UA)
        # What seam finding read of the joint on the way to its start: (start, samples).
        self._prescan: tuple[Point | None, list[tuple[float, float, float]]] = (None, [])
        # When sensor.recording is on (set by the wiring): keeps each run for `cellctl replay`.
        self.recorder: SeamRecorder | None = None
        self._tables_thread: threading.Thread | None = None
        # Exposure to measured, from seam to seam: where the correction grid sits.
        self._latencies = LatencyWindow()
        # Told of an exception that escapes one of our threads (see ``supervise``).
        self._report_internal_error: InternalErrorReport | None = None

    def links(self) -> dict[str, DeviceLink]:
        return {self.sensor.device: self.sensor}

    def show_to(self, observer: TrackingObserver) -> None:
        self.observer = observer

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
            await asyncio.to_thread(self.recorder.close)  # writes what is queued

    def _joint_finder(self, seam: Seam) -> JointFinder:
        return JointFinder(
            self.calibration,
            str(seam.joint),
            seam.torch.work_angle_deg,
            self.settings.stripe,
            self.settings.joint,
        )

    # -- seam finding and the bead ---------------------------------------------------------------

    async def find_seam(self, seam: Seam, taught_path: list[Point]) -> list[Point]:
        # A new seam (of a new part): nothing measured before is about this joint.
        self.sensor.detach_frame_handler()
        self._prescan = (None, [])
        self.last_run = None
        if not seam.sensing.seam_finding.by_laser:
            return taught_path
        found = await self.finder.find(seam, taught_path, self._warm_up)
        self._prescan = (found.path[0], found.prescan)
        return found.path

    async def find_ahead(self, seam: Seam) -> tuple[float, float]:
        """Seam finding for a robot that owns its motion: the joint a look-ahead into the seam
        from the torch standing at its taught start (``SeamFinder.find_ahead``)."""
        self.sensor.detach_frame_handler()
        self._prescan = (None, [])
        self.last_run = None
        return await self.finder.find_ahead(seam)

    def seed_prescan(self, start: Point, prescan: list[tuple[float, float, float]]) -> None:
        """What a robot-owned job's pre-scan read of the first look-ahead
        (``cellctl.weld.owned_search``): [(s, lateral, vertical)] against the path starting
        at ``start`` and the correction held on it; tracking that starts on that path takes
        them as its first measurements, as after the serial seam finding's pre-scan."""
        self._prescan = (start, list(prescan))

    async def check_bead(
        self, seam: Seam, path: list[Point]
    ) -> tuple[dict[str, float], list[str]] | None:
        """Run the sensor over the finished seam (torch lifted, arc off) and measure the bead
        in every frame (``cellctl.sensing.bead``); the figures and what is out of its bands."""
        return await self.bead_scan.check(seam, path)

    async def scan_groove(
        self, seam: Seam, root_path: list[Point], height_mm: float
    ) -> GrooveMeasure | None:
        """Run the sensor along the root path (arc off, lifted) and measure what is left of
        the groove (``cellctl.sensing.groove``); ``GrooveNotMeasured`` if it cannot."""
        self.sensor.detach_frame_handler()  # (no tracking run's handler left on)
        return await self.groove_scan.scan(seam, root_path, height_mm)

    # -- tracking ------------------------------------------------------------------------------

    async def start_tracking(
        self, seam: Seam, path: list[Point], path_id: int, weave: WeaveShape = NO_WEAVE
    ) -> None:
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
            # A weaving path's measurements are filtered over one weave pitch (at most
            # WEAVE_WINDOW_MAX_MM): what is left of the weave after it is taken out (the
            # torch position's timing) repeats with it and averages out over a pitch.
            track=SeamTrack(
                self.settings.tracking,
                window_mm=min(
                    max(self.settings.tracking.filter_window_mm, weave.pitch_mm),
                    WEAVE_WINDOW_MAX_MM,
                )
                if weave.weaving
                else None,
            ),
            finder=self._joint_finder(seam),
            max_correction_mm=max_correction,
            max_rate_mm_per_s=float(limits.max_correction_rate_mm_per_s),
            path_length_mm=length_mm(path),
            frames_stale_before=self.sensor.frames_stale,
            weave=weave,
        )
        run.path_start = path[0]
        run.travel = seam_frame(path)[0]
        if isinstance(path, SeamPath) and path.curved:
            run.curve = path
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
                track_window_mm=run.track.window_mm if weave.weaving else None,
            )
        tracking = self.settings.tracking
        self._run = run
        self.sensor.on_frame = self._on_frame
        self._stream = start_stream(
            run,
            robot=self.robot,
            torch=self.torch,
            latencies=self._latencies,
            rate_hz=tracking.correction_rate_hz,
            lead_s=tracking.correction_lead_ms / 1000,
            coast_mm=tracking.coast_mm,
            lookahead_mm=self.lookahead_mm,
            observer=self.observer,
            sensor_trouble=self._sensor_trouble,
            internal_error=self._internal_error,
        )

    def _sensor_trouble(self) -> str:
        """Why the sensor may not be seeing (for the text of lost tracking); '' when none."""
        if self.sensor.connected:
            return ""
        return f"sensor link down: {self.sensor.stats.last_error}"

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
            stream, self._stream = self._stream, None
            stream.stop()  # from here on no correction is sent
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
        finder = self._joint_finder(seam)
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
        started_cpu = time.thread_time()
        if math.isfinite(frame.received_s):
            run.exposure_to_received_s.append(frame.received_s - frame.exposure_s)
            run.received_to_started_s.append(time.monotonic() - frame.received_s)
        with gil_kept(FRAME_GIL_KEPT_S):  # not cut short by the event loop's Python
            measurement = run.finder.measure(frame.pixels, frame.frame_number, frame.exposure_s)
        run.processing_s.append(time.perf_counter() - started)
        run.processing_cpu_s.append(time.thread_time() - started_cpu)
        run.frames += 1
        if run.first_frame < 0:
            run.first_frame = frame.frame_number
        run.last_frame = frame.frame_number
        observer = self.observer
        if observer is not None and run.frames % PROFILE_EVERY_FRAMES == 0:
            profile = run.finder.last_profile
            if profile is not None:
                observer.publish_profile(*profile)
        if not measurement.ok:
            run.refusals[measurement.reason.split(" ")[0] or "?"] += 1
            run.last_refusal = measurement.reason
            if self.recorder is not None:
                s_sensor, commanded = self._sensor_at(run, frame.exposure_s)
                self.recorder.frame(frame, measurement, s_sensor, commanded, run.corrections.count)
            return
        run.frames_with_joint += 1
        exposure = frame.exposure_s
        s_sensor, (lateral_c, vertical_c) = self._sensor_at(run, exposure)
        if run.curve is None:
            s_joint = s_sensor
            lateral = measurement.lateral_mm + lateral_c
            vertical = measurement.vertical_mm + vertical_c
        else:  # the sensor looks along the tangent at the torch: where that is on the curve
            s_joint, lateral, vertical = sensed_joint(
                run.curve,
                s_sensor - self.lookahead_mm,
                (lateral_c, vertical_c),
                self.lookahead_mm,
                (measurement.lateral_mm, measurement.vertical_mm),
            )
        run.track.add(s_joint, lateral, vertical, exposure)
        landed = time.monotonic()
        self._latencies.add(exposure, landed)  # where the correction grid sits
        run.exposure_to_processed_s.append(landed - exposure)
        if self.recorder is not None:
            # After the track has it: a replay adds it before the correction numbered so.
            self.recorder.frame(
                frame, measurement, s_sensor, (lateral_c, vertical_c), run.corrections.count
            )

    def _sensor_at(self, run: TrackingRun, exposure_s: float) -> tuple[float, tuple[float, float]]:
        """Where the sensor was at ``exposure_s``: its position along the path, and its offset
        from the path (lateral, vertical) as the robot was told: the correction it had then
        plus the weave at the torch's position (a replay adds this offset back the same way)."""
        s_torch = self.torch.position_mm(exposure_s, run.path_id)
        weave_lateral = weave_vertical = weave_along = 0.0
        if run.weave.weaving:
            s_weave = self.weave_position.position_mm(exposure_s, run.path_id)
            weave_lateral, weave_vertical, weave_along = run.weave.offset_mm(
                s_torch if s_weave is None else s_weave, run.path_length_mm
            )
        lateral_c, vertical_c = run.corrections.at(exposure_s)
        return (
            s_torch + weave_along + self.lookahead_mm,
            (lateral_c + weave_lateral, vertical_c + weave_vertical),
        )


def _same_line(previous: TrackingRun, run: TrackingRun) -> bool:
    """Whether ``run``'s path lies on ``previous``'s line, in the same direction (a resume)."""
    along = sum(a * b for a, b in zip(previous.travel, run.travel, strict=True))
    d = [a - b for a, b in zip(run.path_start, previous.path_start, strict=True)]
    offset = sum(a * b for a, b in zip(d, previous.travel, strict=True))
    off_line = math.sqrt(max(0.0, sum(c * c for c in d) - offset * offset))
    return along > 0.9999 and off_line < 0.5
