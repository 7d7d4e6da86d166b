"""One tracked path: ``TrackingRun``, what the reader thread, the correction stream and the
event loop share of it (each field names its owner), and its figures for the seam's record."""

from __future__ import annotations

import collections
import math
import time
from dataclasses import dataclass, field

import numpy as np

from cellctl.cell.geometry import Point
from cellctl.config.models import Seam
from cellctl.sensing.correction import CorrectionHistory
from cellctl.sensing.track import SeamTrack
from cellctl.sensing.vision.pipeline import JointFinder
from drivers.codecs.seam_path import SeamPath
from drivers.codecs.weave import NO_WEAVE, WeaveShape


@dataclass
class TrackingRun:
    """One tracked path: its buffer, its stream's record and its figures."""

    seam: Seam
    path_id: int
    track: SeamTrack
    finder: JointFinder | None  # None: a run without the laser (arc sensing, ``arc``)
    max_correction_mm: float
    max_rate_mm_per_s: float
    path_length_mm: float
    path_start: Point = (0.0, 0.0, 0.0)
    travel: Point = (1.0, 0.0, 0.0)
    curve: SeamPath | None = None  # a path with arcs: measurements placed on it (_on_frame)
    # How the robot weaves this path: the sensor on the torch swings with it (``_on_frame``).
    weave: WeaveShape = NO_WEAVE
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
    # Of that wall time, the reader thread's own CPU time: the rest it waited (for the GIL,
    # for a core).
    processing_cpu_s: list[float] = field(default_factory=list)
    exposure_to_processed_s: list[float] = field(default_factory=list)
    # Where a frame's time before the vision went: the sensor's (exposure to the frame's last
    # byte read, rendering and transfer included) and the controller's (from then until the
    # vision starts on it).
    exposure_to_received_s: list[float] = field(default_factory=list)
    received_to_started_s: list[float] = field(default_factory=list)
    frames: int = 0
    first_frame: int = -1  # the numbers of the first and the last frame measured
    last_frame: int = -1
    frames_with_joint: int = 0
    refusals: collections.Counter = field(default_factory=collections.Counter)  # by first word
    last_refusal: str = ""
    frames_stale_before: int = 0  # the sensor driver's count when the run started


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
        "frame_first": run.first_frame,
        "frame_last": run.last_frame,
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
        for name, samples in (
            ("processing", run.processing_s),
            ("processing_cpu", run.processing_cpu_s),
            ("exposure_to_received", run.exposure_to_received_s),
            ("received_to_started", run.received_to_started_s),
            ("exposure_to_processed", run.exposure_to_processed_s),
            ("exposure_to_correction", run.exposure_to_sent_s),
        ):
            if samples:
                figures[f"{name}_p50_ms"] = _p(samples, 50) * 1e3
                figures[f"{name}_p99_ms"] = _p(samples, 99) * 1e3
                figures[f"{name}_max_ms"] = max(samples) * 1e3
    if run.lost:
        figures["lost"] = 1.0
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in figures.items()}
