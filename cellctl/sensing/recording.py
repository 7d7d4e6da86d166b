"""The seam recorder: what the controller keeps of each tracked seam run for ``cellctl replay``.

Per tracking run (one path of one seam, ``LaserSensing.start_tracking`` .. ``stop_tracking``) a
folder ``<recording folder>/<UTC time>-<seam>-p<path id>/`` holding:

- ``<frame number>_<exposure ns>.png``: every Nth sensor frame (``drivers.sensor.record_frame``,
  the format the sensor driver's ``replay`` backend plays back);
- ``calibration.yaml``: a copy of the sensor calibration the run used;
- ``seam.json`` (written last: a folder without it is a run cut short): the seam's context
  (seam, path, joint, tracking/stripe/joint settings, look-ahead, correction limits, what the
  track was seeded with), one row per frame (number, exposure time, sensor position along the
  path, the correction the robot had at the exposure, the measurement or the refusal, how many
  corrections had been sent when the measurement entered the track, whether its image was kept)
  and every correction sent (time, torch position, lateral, vertical).

Frames are written by a writer thread of the recorder's own, never in the sensor's reader
thread (a PNG takes milliseconds; tracking must not wait for the disk); when the writer falls
behind, frames are dropped and counted. The disk budget covers the whole recording folder:
once it (or the disk's free-space floor) is reached, no more images are written, the log says
so once per run, and the small measurement log is still written.

A run's log is bounded: at most ``RUN_FRAME_ROWS_MAX`` frame rows and
``RUN_CORRECTION_ROWS_MAX`` corrections (more than the tracker can follow; the rest is counted
in ``rows_not_logged`` and the log says so once), so that ``seam.json`` stays under
``SEAM_JSON_MAX_BYTES``, the most ``cellctl replay`` reads. ``RecordedRun`` is the file's format
as a reader checks it, value by value.

Nothing here knows whether the sensor is real or simulated; a simulated run's truth comes
from the simulator (``cellsim --truth-file``), never through the controller.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AllowInfNan, BaseModel, ConfigDict, FailFast, Field, model_validator

from cellctl.config.models import JointType
from cellctl.config.recording_models import RecordingSettings
from cellctl.config.sensor_models import (
    JointSettings,
    SensorSettings,
    StripeSettings,
    TrackingSettings,
)
from cellctl.sensing.track import MAX_MEASUREMENTS
from drivers.codecs.sensor_protocol import Frame
from drivers.sensor import record_frame

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
RUN_FILE = "seam.json"
CALIBRATION_FILE = "calibration.yaml"
# What a frame adds to seam.json: its row, and the ~2.5 corrections sent per frame.
LOG_BYTES_PER_FRAME = 400
FIRST_IMAGE_GUESS_BYTES = 64 * 1024
WRITER_NICE = 10
MB = 1024 * 1024

FRAME_COLUMNS = (
    "frame_number",
    "exposure_s",
    "s_sensor_mm",
    "commanded_lateral_mm",
    "commanded_vertical_mm",
    "ok",
    "lateral_mm",
    "vertical_mm",
    "reason",
    "corrections_before",
    "image",
)
CORRECTION_COLUMNS = ("t_s", "s_torch_mm", "lateral_mm", "vertical_mm")

# How large a seam.json can be, so that a reader can refuse anything larger unread (a replay
# of a 1.5 GB file took 4.9 GB). The recorder keeps at most RUN_FRAME_ROWS_MAX frame rows:
# the track holds MAX_MEASUREMENTS (75,000: 10 minutes at 125 frames/s) and a run that can
# keep no more loses the joint (F151); the rows allow three refused frames to each one kept.
RUN_FRAME_ROWS_MAX = 4 * MAX_MEASUREMENTS
# ... and at most 8 corrections a frame: the highest correction rate the config allows
# (1000 Hz) over the shipped sensor's 125 frames/s (the shipped rate sends 2).
RUN_CORRECTION_ROWS_MAX = 8 * RUN_FRAME_ROWS_MAX
# A refusal's reason is cut to this (they are 20-60 characters: "no gap between the plates").
REASON_MAX_CHARACTERS = 80
# The longest frame row as json.dumps writes it: a 10-digit frame number, six 17-digit floats,
# an 80-character reason (234 bytes), with room for an escaped degree sign or two.
FRAME_ROW_MAX_BYTES = 256
CORRECTION_ROW_MAX_BYTES = 84  # four 17-digit floats and their commas
# The seam's context: its path twice (``path_mm``, ``seam``), as long as a 1 MiB part program
# allows, and the settings.
CONTEXT_MAX_BYTES = 4 * MB
# 282 MB: the largest file the recorder writes; with 19 % margin. Reading a 250 MB one takes
# ~0.8 GB and ~6 s (its text, then a Python number per value).
SEAM_JSON_MAX_BYTES = 320 * MB
assert (
    RUN_FRAME_ROWS_MAX * FRAME_ROW_MAX_BYTES
    + RUN_CORRECTION_ROWS_MAX * CORRECTION_ROW_MAX_BYTES
    + CONTEXT_MAX_BYTES
    < SEAM_JSON_MAX_BYTES
)


# -- the file's format, as a reader checks it ---------------------------------------------------

Number = Annotated[float, AllowInfNan(False)]  # a NaN in a column would poison every sum
Point = Annotated[list[Number], Field(min_length=3, max_length=3)]  # x, y, z mm


def _column(item: Any, max_rows: int) -> Any:
    # FailFast: a column of a million wrong values gives one error, not a million.
    return Annotated[list[item], FailFast(), Field(max_length=max_rows)]


class _Strict(BaseModel):
    # Validated from what json.loads made of the file. strict: true is not 1, "3" is not 3;
    # unknown keys are errors, as in configs.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class FrameColumns(_Strict):
    """One row per frame the sensor gave during the run (columns of equal length)."""

    frame_number: _column(Annotated[int, Field(ge=0, le=0xFFFFFFFF)], RUN_FRAME_ROWS_MAX)
    exposure_s: _column(Number, RUN_FRAME_ROWS_MAX)
    s_sensor_mm: _column(Number, RUN_FRAME_ROWS_MAX)
    commanded_lateral_mm: _column(Number, RUN_FRAME_ROWS_MAX)
    commanded_vertical_mm: _column(Number, RUN_FRAME_ROWS_MAX)
    ok: _column(bool, RUN_FRAME_ROWS_MAX)
    lateral_mm: _column(Number | None, RUN_FRAME_ROWS_MAX)  # None: no measurement
    vertical_mm: _column(Number | None, RUN_FRAME_ROWS_MAX)
    reason: _column(Annotated[str, Field(max_length=REASON_MAX_CHARACTERS)], RUN_FRAME_ROWS_MAX)
    corrections_before: _column(Annotated[int, Field(ge=0)], RUN_FRAME_ROWS_MAX)
    image: _column(bool, RUN_FRAME_ROWS_MAX)

    @model_validator(mode="after")
    def _rows(self) -> FrameColumns:
        _same_length(self, "frames", FRAME_COLUMNS)
        for name in ("lateral_mm", "vertical_mm"):
            values = getattr(self, name)
            for row, ok in enumerate(self.ok):
                if ok and values[row] is None:
                    raise ValueError(f"{name}[{row}]: no value, but frames.ok[{row}] is true")
        return self


class CorrectionColumns(_Strict):
    """One row per correction sent, in the order sent."""

    t_s: _column(Number, RUN_CORRECTION_ROWS_MAX)
    s_torch_mm: _column(Number, RUN_CORRECTION_ROWS_MAX)
    lateral_mm: _column(Number, RUN_CORRECTION_ROWS_MAX)
    vertical_mm: _column(Number, RUN_CORRECTION_ROWS_MAX)

    @model_validator(mode="after")
    def _rows(self) -> CorrectionColumns:
        _same_length(self, "corrections", CORRECTION_COLUMNS)
        times = self.t_s
        for row in range(1, len(times)):
            if times[row] < times[row - 1]:
                raise ValueError(
                    f"t_s[{row}]: {times[row]!r} s is before the row above ({times[row - 1]!r} "
                    "s); corrections are in the order sent"
                )
        return self


def _same_length(columns: BaseModel, section: str, names: tuple[str, ...]) -> None:
    lengths = {name: len(getattr(columns, name)) for name in names}
    first = names[0]
    for name, length in lengths.items():
        if length != lengths[first]:
            rows = "row" if length == 1 else "rows"
            raise ValueError(
                f"{name}: {length} {rows}, but {section}.{first} has {lengths[first]}; every "
                "column has one row per " + ("frame" if section == "frames" else "correction")
            )


class RecordedRun(_Strict):
    """A ``seam.json`` as ``SeamRecorder.finish_seam`` writes it (``FORMAT_VERSION`` 1)."""

    format: Literal[1]
    recorded_at_utc: Annotated[str, Field(max_length=40)]
    seam_name: Annotated[str, Field(min_length=1, max_length=200)]
    joint: Annotated[JointType, Field(strict=False)]  # its value, as text
    work_angle_deg: Annotated[Number, Field(ge=0, le=90)]
    seam: dict[str, Any]  # the part program's seam as the config had it (context only)
    # A 1 MiB part program holds at most ~37,000 points.
    path_mm: Annotated[list[Point], FailFast(), Field(min_length=2, max_length=100_000)]
    path_id: int
    lookahead_mm: Annotated[Number, Field(ge=0, le=200)]
    max_correction_mm: Annotated[Number, Field(gt=0, le=50)]
    max_rate_mm_per_s: Annotated[Number, Field(gt=0, le=500)]
    # A weaving path's track window (one weave pitch; ``sensing.laser``); None: the settings'.
    track_window_mm: Annotated[Number, Field(gt=0, le=50)] | None = None
    tracking: TrackingSettings
    stripe: StripeSettings
    joint_settings: JointSettings
    # A file in the run's folder: a name, never a path (``../x``, ``/etc/x``).
    calibration_file: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")]
    calibration_source: str
    every_nth_frame: Annotated[int, Field(ge=1)]
    seed: Annotated[list[Point], FailFast(), Field(max_length=10_000)]
    frames: FrameColumns
    corrections: CorrectionColumns
    figures: dict[str, Any]
    lost: str | None
    frames_seen: Annotated[int, Field(ge=0)]
    images_not_written: dict[str, int]
    # Rows the recorder did not keep past RUN_FRAME_ROWS_MAX / RUN_CORRECTION_ROWS_MAX.
    rows_not_logged: dict[str, int] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _path_has_a_direction(self) -> RecordedRun:
        # The correction frame is the first segment's direction (tracking.seam_frame).
        a, b = self.path_mm[0], self.path_mm[1]
        if sum((p - q) ** 2 for p, q in zip(a, b, strict=True)) < 1e-12:
            raise ValueError("path_mm: points 0 and 1 coincide: the path has no direction")
        return self


@dataclass
class _SeamRecording:
    folder: Path
    context: dict[str, Any]
    frames: dict[str, list] = field(default_factory=lambda: {c: [] for c in FRAME_COLUMNS})
    frames_seen: int = 0
    images_queued: int = 0
    dropped_queue_full: int = 0
    dropped_budget: int = 0
    budget_reported: bool = False
    rows_not_logged: int = 0  # frames past RUN_FRAME_ROWS_MAX


def folder_bytes(folder: Path) -> int:
    """Bytes in the files under ``folder`` (0 if it does not exist)."""
    total = 0
    if folder.is_dir():
        for path in folder.rglob("*"):
            with contextlib.suppress(OSError):
                if path.is_file():
                    total += path.stat().st_size
    return total


class SeamRecorder:
    """Records tracked seam runs into ``root`` (see the module docstring).

    ``start_seam`` / ``finish_seam`` run on the event loop; ``frame`` runs in the sensor's
    reader thread and only appends to lists and a bounded queue. ``close`` stops the writer
    thread after it has written what was queued.
    """

    def __init__(
        self,
        settings: RecordingSettings,
        root: Path,
        sensor: SensorSettings,
        calibration_file: Path,
    ) -> None:
        self.settings = settings
        self.root = root
        self.sensor = sensor
        self.calibration_file = calibration_file
        self.budget_bytes = int(settings.budget_mb * MB)
        self._used_bytes: int | None = None  # counted at each seam's start (a folder walk)
        self._last_image_bytes = FIRST_IMAGE_GUESS_BYTES
        self._current: _SeamRecording | None = None
        self._jobs: queue.Queue = queue.Queue(maxsize=settings.write_queue_frames)
        self._writer: threading.Thread | None = None
        self._lock = threading.Lock()
        # Told of an exception of the writer that is not the disk's (a bug), from its thread.
        self.on_internal_error: Callable[[str, BaseException], None] | None = None
        self._dropping_old_runs = settings.when_full == "drop_oldest_runs"

    # -- the controller's side ------------------------------------------------------------------

    def start_seam(
        self,
        *,
        seam: Any,
        path: list[tuple[float, float, float]],
        path_id: int,
        max_correction_mm: float,
        max_rate_mm_per_s: float,
        seed: list[tuple[float, float, float]],
        track_window_mm: float | None = None,
    ) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        folder = self.root / f"{stamp}-{_safe(seam.name)}-p{path_id}"
        suffix = 1
        while folder.exists():  # the same path id in the same second (a restarted controller)
            suffix += 1
            folder = self.root / f"{stamp}-{_safe(seam.name)}-p{path_id}-{suffix}"
        context = {
            "format": FORMAT_VERSION,
            "recorded_at_utc": stamp,
            "seam_name": seam.name,
            "joint": str(seam.joint),
            "work_angle_deg": float(seam.torch.work_angle_deg),
            "seam": seam.model_dump(mode="json"),
            "path_mm": [list(p) for p in path],
            "path_id": path_id,
            "lookahead_mm": self.sensor.lookahead_mm,
            "max_correction_mm": max_correction_mm,
            "max_rate_mm_per_s": max_rate_mm_per_s,
            "track_window_mm": track_window_mm,
            "tracking": self.sensor.tracking.model_dump(mode="json"),
            "stripe": self.sensor.stripe.model_dump(mode="json"),
            "joint_settings": self.sensor.joint.model_dump(mode="json"),
            "calibration_file": CALIBRATION_FILE,
            "calibration_source": str(self.calibration_file),
            "every_nth_frame": self.settings.every_nth_frame,
            "seed": [list(p) for p in seed],
        }
        self._start_writer()
        with self._lock:
            self._current = _SeamRecording(folder, context)
        self._jobs.put(("start", folder))

    def frame(
        self,
        frame: Frame,
        measurement: Any,
        s_sensor_mm: float,
        commanded: tuple[float, float],
        corrections_before: int,
    ) -> None:
        """Reader thread: one frame of the current run and what the tracking made of it."""
        with self._lock:  # finish_seam takes the run whole: no row half-appended
            current = self._current
            if current is not None:
                self._frame_row(current, frame, measurement, s_sensor_mm, commanded,
                                corrections_before)  # fmt: skip

    def _frame_row(
        self,
        current: _SeamRecording,
        frame: Frame,
        measurement: Any,
        s_sensor_mm: float,
        commanded: tuple[float, float],
        corrections_before: int,
    ) -> None:
        keep = current.frames_seen % self.settings.every_nth_frame == 0
        current.frames_seen += 1
        if len(current.frames["frame_number"]) >= RUN_FRAME_ROWS_MAX:
            # Past what the tracker can follow (the track is full): seam.json stays within
            # what cellctl replay reads (SEAM_JSON_MAX_BYTES).
            if not current.rows_not_logged:
                log.warning(
                    "recording %s: %d frames logged, the most a run keeps: no more are",
                    current.folder.name,
                    RUN_FRAME_ROWS_MAX,
                )
            current.rows_not_logged += 1
            return
        image = False
        if keep:
            if self._dropping_old_runs or self._room_for_image(current):
                try:
                    self._jobs.put_nowait(("frame", current.folder, frame))
                    image = True
                    current.images_queued += 1
                except queue.Full:
                    current.dropped_queue_full += 1
            else:
                current.dropped_budget += 1
                if not current.budget_reported:
                    current.budget_reported = True
                    log.warning(
                        "recording %s: the disk budget is reached (%.1f MB of %g MB used in %s, "
                        "or under %g MB free on its disk): no more frames are recorded",
                        current.folder.name,
                        (self._used_bytes or 0) / MB,
                        self.settings.budget_mb,
                        self.root,
                        self.settings.min_free_disk_mb,
                    )
        columns = current.frames
        columns["frame_number"].append(frame.frame_number)
        columns["exposure_s"].append(frame.exposure_s)
        columns["s_sensor_mm"].append(s_sensor_mm)
        columns["commanded_lateral_mm"].append(commanded[0])
        columns["commanded_vertical_mm"].append(commanded[1])
        columns["ok"].append(bool(measurement.ok))
        columns["lateral_mm"].append(measurement.lateral_mm if measurement.ok else None)
        columns["vertical_mm"].append(measurement.vertical_mm if measurement.ok else None)
        reason = "" if measurement.ok else measurement.reason[:REASON_MAX_CHARACTERS]
        columns["reason"].append(reason)
        columns["corrections_before"].append(corrections_before)
        columns["image"].append(image)

    def finish_seam(
        self,
        corrections: list[tuple[float, float, float, float]],
        figures: dict[str, Any] | None,
        lost: str | None,
    ) -> Path | None:
        """The run ended: its log goes to ``seam.json`` once its frames are on disk."""
        with self._lock:
            current, self._current = self._current, None
        if current is None:
            return None
        document = dict(current.context)
        document["frames"] = current.frames
        kept = corrections[:RUN_CORRECTION_ROWS_MAX]
        document["corrections"] = {
            "t_s": [c[0] for c in kept],
            "s_torch_mm": [c[1] for c in kept],
            "lateral_mm": [c[2] for c in kept],
            "vertical_mm": [c[3] for c in kept],
        }
        document["rows_not_logged"] = {
            "frames": current.rows_not_logged,
            "corrections": len(corrections) - len(kept),
        }
        document["figures"] = figures or {}
        document["lost"] = lost
        document["frames_seen"] = current.frames_seen
        document["images_not_written"] = {
            "budget": current.dropped_budget,
            "writer_behind": current.dropped_queue_full,
        }
        # Blocking put: the finish must not be dropped (the writer empties the queue fast).
        self._jobs.put(("finish", current.folder, document))
        return current.folder

    def close(self) -> None:
        """Write what is queued, then stop the writer thread (blocking: call off the loop)."""
        writer, self._writer = self._writer, None
        if writer is not None:
            self._jobs.put(("stop",))
            writer.join()

    def flush(self) -> None:
        """Block until everything queued so far is on disk (tests, the replay of a live run)."""
        if self._writer is not None:
            self._jobs.join()

    # -- the writer thread --------------------------------------------------------------------

    def _start_writer(self) -> None:
        if self._writer is None:
            self._writer = threading.Thread(
                target=self._write_loop, name="seam recorder", daemon=True
            )
            self._writer.start()

    def _room_for_image(self, current: _SeamRecording) -> bool:
        """Whether one more image (as big as the last one) fits, with room left for the run's
        log (which grows with every frame and correction, and is written at the end)."""
        used = self._used_bytes
        if used is None:
            return True  # not counted yet: the writer counts before it writes the first image
        reserve = LOG_BYTES_PER_FRAME * (current.frames_seen + 1)
        return used + reserve + self._last_image_bytes <= self.budget_bytes

    def _write_loop(self) -> None:
        # PNG encoding takes a few ms a frame: on Linux a thread has its own nice value, and
        # the writer yields the CPU to the frame handler and the correction stream.
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WRITER_NICE)
        failed: set[Path] = set()  # runs whose folder could not be written: said once
        while True:
            job = self._jobs.get()
            try:
                if job[0] == "stop":
                    return
                if job[1] not in failed:
                    self._do(job)
            except Exception as error:  # a disk error must not stop tracking
                failed.add(job[1])
                log.warning(
                    "recording %s: %s failed, the run is not recorded: %s", job[1], job[0], error
                )
                report = self.on_internal_error
                if not isinstance(error, OSError) and report is not None:
                    report("the seam recorder", error)  # not the disk: a bug
            finally:
                self._jobs.task_done()

    def _do(self, job: tuple) -> None:
        kind, folder = job[0], job[1]
        if kind == "start":
            folder.mkdir(parents=True, exist_ok=True)
            # Counted afresh: an engineer may have cleared old runs.
            self._used_bytes = folder_bytes(self.root)
            self._check_free_disk(folder)
            target = folder / CALIBRATION_FILE
            shutil.copyfile(self.calibration_file, target)
            self._used_bytes += target.stat().st_size
        elif kind == "frame":
            with self._lock:
                current = self._current
            if current is not None and not self._room_for_image(current):
                if self._dropping_old_runs:
                    self._drop_oldest_runs(current)
                if not self._room_for_image(current):
                    if self._dropping_old_runs and not current.budget_reported:
                        current.budget_reported = True
                        log.warning(
                            "recording %s: this run alone fills the disk budget of %g MB: "
                            "no more frames are recorded",
                            current.folder.name,
                            self.settings.budget_mb,
                        )
                    return  # the finish marks it not written
            path = record_frame(folder, job[2])
            size = path.stat().st_size
            self._last_image_bytes = size
            self._used_bytes = (self._used_bytes or 0) + size
            if self._used_bytes > self.budget_bytes:
                path.unlink()  # the budget is a promise: never over it
                self._used_bytes -= size
            self._check_free_disk(folder)
        elif kind == "finish":
            document = job[2]
            images = document["frames"]["image"]
            on_disk = {int(p.name.partition("_")[0]) for p in folder.glob("*.png")}
            for i, number in enumerate(document["frames"]["frame_number"]):
                if images[i] and number not in on_disk:
                    images[i] = False  # queued, but the budget ran out before it was written
                    document["images_not_written"]["budget"] += 1
            target = folder / RUN_FILE
            partial = target.with_suffix(".partial")
            partial.write_text(json.dumps(document, separators=(",", ":")), encoding="utf-8")
            partial.replace(target)  # a complete seam.json or none
            self._used_bytes = (self._used_bytes or 0) + target.stat().st_size
            log.info("recording %s: %d frames", folder, len(images))

    def _drop_oldest_runs(self, current: _SeamRecording) -> None:
        """Delete finished runs, oldest first, until the current one has room again. Only
        folders this recorder writes (a ``seam.json`` in them) are ever deleted."""
        runs = sorted(
            p.parent for p in self.root.glob(f"*/{RUN_FILE}") if p.parent != current.folder
        )
        for run in runs:
            size = folder_bytes(run)
            shutil.rmtree(run, ignore_errors=True)
            self._used_bytes = folder_bytes(self.root)
            log.warning(
                "recording: the disk budget of %g MB is reached: deleted the oldest run %s "
                "(%.1f MB)",
                self.settings.budget_mb,
                run.name,
                size / MB,
            )
            if self._room_for_image(current):
                return

    def _check_free_disk(self, folder: Path) -> None:
        free = shutil.disk_usage(folder).free
        if free < self.settings.min_free_disk_mb * MB:
            # Counts as a full budget: stops the images until the next check finds room.
            self._used_bytes = max(self._used_bytes or 0, self.budget_bytes)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "seam"
