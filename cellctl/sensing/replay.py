"""Offline replay of a recorded seam (``cellctl.sensing.recording``) with other settings of the
vision and the tracking.

What a replay can and cannot say: the recorded frames were seen from where the sensor really
was (with the corrections that were really sent). A replay runs those frames through the
vision (``JointFinder``) and the tracking filter (``SeamTrack``) with the settings changed,
and computes the correction stream the controller would have sent, at the recorded torch
positions; it cannot move the sensor, so the frames are the same whatever the settings. Each
measurement is turned into the joint's deviation from the path by adding the correction the
robot really had at its exposure (recorded), exactly as the live controller did.

Deterministic and as fast as the CPU goes: positions come from the recording, never from the
wall clock. Frames enter the track in the order they did live: before the correction
numbered ``corrections_before`` (with the recorded correction rate), or by their time (when
``tracking.correction_rate_hz`` is changed, the stream is resampled on a new grid).

With the truth of a simulated run (``sim.truth.file``: a file the simulator wrote, found as
``truth.json`` beside the run or given), the tracking error of the recorded and of the
replayed corrections: the torch's corrected position against the true joint, in the taught
seam's frame, along the seam.
"""

from __future__ import annotations

import collections
import json
import math
import os
import re
import stat
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import ValidationError

from cellctl.cell.geometry import sensed_joint
from cellctl.config.errors import format_location, show_value, translate_error
from cellctl.config.sensor_models import JointSettings, StripeSettings, TrackingSettings
from cellctl.sensing.correction import CorrectionLaw
from cellctl.sensing.recording import (
    FORMAT_VERSION,
    RUN_FILE,
    SEAM_JSON_MAX_BYTES,
    RecordedRun,
)
from cellctl.sensing.track import SeamTrack
from cellctl.sensing.vision.calibration import Calibration, CalibrationError
from cellctl.sensing.vision.pipeline import JointFinder
from drivers.codecs.seam_path import PathError, SeamPath, build_path, frame_of

TRUTH_FILE = "truth.json"
MIB = 1024 * 1024
# The simulator samples each true seam every 0.25 mm over its length and 60 mm beyond each
# end, ~30 bytes a sample (sim.truth_file): a part of 100 seams of 3 m is ~40 MB.
TRUTH_FILE_MAX_BYTES = 64 * MIB
ERRORS_SHOWN = 20  # a file wrong everywhere: the first errors say enough
# A program's path and the recorded vertices are the same path when every vertex lies within
# this of its own (the recorder writes the robot's floats; the program's arcs are exact).
PATH_MATCH_MM = 0.01
# The true joint is looked up along the welded path at this spacing and interpolated between
# (the truth file's own spacing is 0.25 mm; deviations change over millimetres).
TRUTH_GRID_MM = 0.5
NEAREST_CHUNK_ENTRIES = 200_000  # grid points x path segments at once (~20 MB of arrays)

# What ``--set SECTION.FIELD=VALUE`` may change: the recording's key and the model.
SECTIONS: dict[str, tuple[str, type]] = {
    "tracking": ("tracking", TrackingSettings),
    "stripe": ("stripe", StripeSettings),
    "joint": ("joint_settings", JointSettings),
}


class ReplayError(Exception):
    """A recording that cannot be replayed, or a setting that cannot be applied."""


@dataclass(frozen=True)
class Override:
    section: str
    field: str
    value: Any

    def __str__(self) -> str:
        return f"{self.section}.{self.field}={self.value}"


def parse_overrides(texts: list[str]) -> list[Override]:
    """``SECTION.FIELD=VALUE`` strings, checked against the settings models (names and types;
    the values are checked again against each recording's settings in ``settings_for``)."""
    overrides = []
    for text in texts:
        name, sep, raw = text.partition("=")
        section, dot, field_name = name.strip().partition(".")
        if not sep or not dot or not field_name:
            raise ReplayError(
                f"--set {text!r}: expected SECTION.FIELD=VALUE, e.g. tracking.filter_window_mm=2"
            )
        if section not in SECTIONS:
            raise ReplayError(
                f"--set {text!r}: unknown section {section!r}; allowed: {', '.join(SECTIONS)}"
            )
        model = SECTIONS[section][1]
        if field_name not in model.model_fields:
            raise ReplayError(
                f"--set {text!r}: {section} has no field {field_name!r}; allowed: "
                + ", ".join(sorted(model.model_fields))
            )
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as error:
            raise ReplayError(f"--set {text!r}: the value is not readable: {error}") from error
        override = Override(section, field_name, value)
        _apply(model(), [override])  # the type and range, against the defaults
        overrides.append(override)
    return overrides


def _apply(base, overrides: list[Override]):
    data = base.model_dump()
    model = type(base)
    section = next(name for name, (_, m) in SECTIONS.items() if m is model)
    for override in overrides:
        if override.section == section:
            data[override.field] = override.value
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{section}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {e.get('input')!r})"
            for e in error.errors()
        )
        raise ReplayError(f"--set: {problems}") from error


@dataclass
class RecordedSeam:
    """One recorded tracking run, as ``cellctl.sensing.recording`` wrote it, checked (``run``)."""

    folder: Path
    run: RecordedRun

    @property
    def name(self) -> str:
        return self.run.seam_name

    @property
    def frames(self) -> dict[str, list]:
        """The frame columns by name (the model's lists, not copies)."""
        return dict(self.run.frames)

    @property
    def corrections(self) -> dict[str, list]:
        return dict(self.run.corrections)

    def settings_for(self, overrides: list[Override]):
        """(tracking, stripe, joint) settings: the recorded ones with ``overrides`` applied."""
        return tuple(_apply(getattr(self.run, key), overrides) for key, _ in SECTIONS.values())

    def image_path(self, frame_number: int) -> Path | None:
        found = sorted(self.folder.glob(f"{frame_number:08d}_*.png"))
        return found[0] if found else None


def read_bounded(path: Path, max_bytes: int, what: str) -> bytes:
    """The bytes of ``path``, refused (``ReplayError``) when it is not a regular file or is
    larger than ``max_bytes``: never more than that is read, whatever the file claims."""
    try:
        # O_NONBLOCK: a FIFO in the recording's place would otherwise block the open.
        with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb", buffering=0) as file:
            info = os.fstat(file.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise ReplayError(f"{path}: not a regular file")
            # Refused by its size when it says it is too large; read to one byte past the
            # bound at most when it does not (a file still growing).
            data = file.read(max_bytes + 1) if info.st_size <= max_bytes else b""
    except OSError as error:
        raise ReplayError(f"{path}: not readable ({error.strerror})") from error
    if info.st_size > max_bytes or len(data) > max_bytes:
        size = max(info.st_size, len(data))
        raise ReplayError(
            f"{path}: {size / MIB:,.1f} MiB; {what} is at most {max_bytes / MIB:,.0f} MiB"
        )
    return data


def load_recording(folder: Path) -> RecordedSeam:
    """The recording in ``folder``, every value checked (``cellctl.sensing.recording.RecordedRun``).

    Raises ``ReplayError`` naming the file and each field wrong (a column's row as
    ``frames.exposure_s[12]``): a file over ``SEAM_JSON_MAX_BYTES`` unread, not JSON (with
    its line), another format, a value of the wrong type, columns of different lengths.
    """
    path = Path(folder) / RUN_FILE
    data = read_bounded(path, SEAM_JSON_MAX_BYTES, "the largest recording a run writes")
    # Memory: the file's bytes, then its text, are let go as soon as the next exists; and
    # json.loads, not pydantic's JSON parser, which holds a parsed copy of the whole file
    # beside the values (a 250 MB file: 1.27 GB with it, 0.82 GB so).
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ReplayError(f"{path}: not UTF-8 text ({error.reason})") from None
    del data
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ReplayError(f"{path}: line {error.lineno}: not JSON: {error.msg}") from None
    except RecursionError:
        raise ReplayError(f"{path}: not a recording: JSON nested thousands deep") from None
    del text
    try:
        run = RecordedRun.model_validate(document)
    except ValidationError as error:
        raise ReplayError("\n".join(_recording_errors(path, error))) from None
    return RecordedSeam(Path(folder), run)


def _recording_errors(path: Path, error: ValidationError) -> list[str]:
    """One line per problem, ``<file>: <field>: <what>``, as config errors read."""
    lines = []
    problems = error.errors(include_url=False, include_input=True)
    # Missing keys: one line per object that lacks them ("missing corrections, path_mm").
    missing: dict[tuple, list[str]] = {}
    for item in problems:
        if item["type"] == "missing":
            missing.setdefault(tuple(item["loc"][:-1]), []).append(str(item["loc"][-1]))
    for parent, names in missing.items():
        field = format_location(parent)
        lines.append(f"{path}: {field + ': ' if field else ''}missing {', '.join(names)}")
    problems = [item for item in problems if item["type"] != "missing"]
    for item in problems[:ERRORS_SHOWN]:
        kind, location = item["type"], tuple(item["loc"])
        if location == ("format",) and kind == "literal_error":
            got = show_value(item.get("input"))
            lines.append(f"{path}: format {got}, this cellctl reads {FORMAT_VERSION}")
            continue
        if kind in ("model_type", "model_attributes_type") and not location:
            lines.append(f"{path}: expected a JSON object, got {show_value(item.get('input'))}")
            continue
        field = format_location(location)
        if kind == "extra_forbidden":
            message = "unknown key (not written by cellctl's recorder)"
        elif kind == "string_pattern_mismatch" and location == ("calibration_file",):
            message = (
                "must be a file name in the recording's folder, not a path, got "
                + show_value(item.get("input"))
            )
        elif kind == "value_error":
            message = str((item.get("ctx") or {}).get("error", item["msg"]))
            # A check of the whole model names its own field first ("lateral_mm[17]: ...").
            head, colon, rest = message.partition(": ")
            if colon and re.fullmatch(r"[a-z_]+(\[\d+\])?", head):
                field, message = f"{field}.{head}" if field else head, rest
        else:
            message = translate_error(item)
        lines.append(f"{path}: {field}: {message}" if field else f"{path}: {message}")
    if len(problems) > ERRORS_SHOWN:
        lines.append(f"{path}: ... and {len(problems) - ERRORS_SHOWN} more")
    return lines


def find_recordings(run: Path) -> list[Path]:
    """``run`` itself when it is one seam's recording, else the recordings under it (by name,
    which starts with the UTC time they began)."""
    run = Path(run)
    if (run / RUN_FILE).is_file():
        return [run]
    if not run.is_dir():
        raise ReplayError(f"{run}: no such recording folder")
    found = sorted(p.parent for p in run.glob(f"*/{RUN_FILE}"))
    if not found:
        raise ReplayError(f"{run}: no recorded seam ({RUN_FILE}) in it or in its sub-folders")
    return found


@dataclass
class Stream:
    """A correction stream: times (controller's monotonic clock), the torch positions the
    corrections were computed for, their values, and where the torch was when each took
    effect (``s_effect_mm``: the recorded estimate, with the recorded lead, which is the
    robot's; a replay that changes ``correction_lead_ms`` aims elsewhere, the torch does not
    go elsewhere)."""

    t_s: np.ndarray
    s_torch_mm: np.ndarray
    lateral_mm: np.ndarray
    vertical_mm: np.ndarray
    s_effect_mm: np.ndarray

    @classmethod
    def recorded(cls, recording: RecordedSeam) -> Stream:
        c = recording.corrections
        t, s, lateral, vertical = (
            np.asarray(c[k], dtype=np.float64)
            for k in ("t_s", "s_torch_mm", "lateral_mm", "vertical_mm")
        )
        return cls(t, s, lateral, vertical, s)


class _ImageReader:
    """The recorded images in order, decoded ahead in two threads (PNG decoding is most of
    a replay's time; OpenCV releases the GIL while it decodes). At most ``AHEAD`` frames are
    held, whatever the recording's length."""

    AHEAD = 16

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="replay decode")
        self.pending: collections.deque[tuple[Path, Future]] = collections.deque()
        self.submitted = 0
        self._fill()

    def _fill(self) -> None:
        while self.submitted < len(self.paths) and len(self.pending) < self.AHEAD:
            path = self.paths[self.submitted]
            self.pending.append((path, self.pool.submit(_read_gray, path)))
            self.submitted += 1

    def next(self) -> np.ndarray:
        path, future = self.pending.popleft()
        self._fill()
        image = future.result()
        if image is None:
            raise ReplayError(f"{path}: not a readable image")
        return image

    def close(self) -> None:
        for _, future in self.pending:
            future.cancel()
        self.pool.shutdown(wait=True)


def _read_gray(path: Path) -> np.ndarray | None:
    import cv2

    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)


@dataclass
class ReplayResult:
    seam: str
    folder: Path
    frames_recorded: int
    frames_replayed: int  # with an image
    frames_with_joint: int
    measurements_rejected: int
    stream: Stream
    lost: str | None
    seconds: float
    changed: list[str] = field(default_factory=list)


def replay_seam(
    recording: RecordedSeam,
    overrides: list[Override],
    calibration: Calibration | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ReplayResult:
    """Run the recorded frames through the vision and tracking with ``overrides`` applied."""
    started = time.perf_counter()
    run = recording.run
    tracking, stripe, joint_settings = recording.settings_for(overrides)
    if calibration is None:
        calibration_path = recording.folder / run.calibration_file
        try:
            calibration = Calibration.load(calibration_path)
        except (CalibrationError, OSError) as error:
            raise ReplayError(f"{calibration_path}: {error}") from error
    finder = JointFinder(calibration, str(run.joint), run.work_angle_deg, stripe, joint_settings)
    track = SeamTrack(tracking, window_mm=run.track_window_mm)  # a weaving path's, if it was
    for s, lateral, vertical in run.seed:
        track.seed(s, lateral, vertical)

    frames = recording.frames
    images = {int(p.stem.partition("_")[0]): p for p in recording.folder.glob("*.png")}
    rows = [i for i, number in enumerate(frames["frame_number"]) if number in images]
    recorded = Stream.recorded(recording)
    same_rate = math.isclose(tracking.correction_rate_hz, run.tracking.correction_rate_hz)
    if same_rate:
        times = recorded.t_s
        # Frame i enters before correction number corrections_before[i] (as live).
        due = np.asarray([frames["corrections_before"][i] for i in rows], dtype=np.int64)
    else:
        period = 1.0 / tracking.correction_rate_hz
        t0 = recorded.t_s[0] if len(recorded.t_s) else 0.0
        end = recorded.t_s[-1] if len(recorded.t_s) else 0.0
        times = np.arange(t0, end + period / 2, period)
        # The frame's time in the track: its exposure (processing took ~2 ms live).
        exposure = np.asarray([frames["exposure_s"][i] for i in rows])
        due = np.searchsorted(times, exposure, side="left")
    lead_change_s = (tracking.correction_lead_ms - run.tracking.correction_lead_ms) / 1000
    if len(recorded.t_s) > 1:
        s_torch = np.interp(times + lead_change_s, recorded.t_s, recorded.s_torch_mm)
        s_effect = np.interp(times, recorded.t_s, recorded.s_torch_mm)
    else:
        s_torch = recorded.s_torch_mm.copy()
        s_effect = s_torch.copy()

    welded = welded_path(recording)
    curve = welded if welded.curved else None  # as ``LaserSensing`` keeps it (``run.curve``)
    # The live stream's law, with the replay's settings: the same arithmetic, step for step.
    law = CorrectionLaw(
        track,
        max_correction_mm=run.max_correction_mm,
        max_rate_mm_per_s=run.max_rate_mm_per_s,
        correction_rate_hz=tracking.correction_rate_hz,
        coast_mm=tracking.coast_mm,
        lookahead_mm=run.lookahead_mm,
        path_length_mm=welded.length_mm,
    )
    out_l = np.zeros(len(times))
    out_v = np.zeros(len(times))
    lost: str | None = None
    with_joint = 0
    next_row = 0
    sent = 0

    reader = _ImageReader([images[frames["frame_number"][i]] for i in rows])

    def add_frame(i: int) -> None:
        nonlocal with_joint
        number = frames["frame_number"][i]
        image = reader.next()
        exposure = frames["exposure_s"][i]
        measurement = finder.measure(image, number, exposure)
        if measurement.ok:
            with_joint += 1
            s_sensor = frames["s_sensor_mm"][i]
            commanded = (frames["commanded_lateral_mm"][i], frames["commanded_vertical_mm"][i])
            if curve is None:
                s_joint = s_sensor
                lateral = measurement.lateral_mm + commanded[0]
                vertical = measurement.vertical_mm + commanded[1]
            else:  # as live: the sensor looked along the tangent at the torch (a chord)
                s_joint, lateral, vertical = sensed_joint(
                    curve,
                    s_sensor - run.lookahead_mm,
                    commanded,
                    run.lookahead_mm,
                    (measurement.lateral_mm, measurement.vertical_mm),
                )
            track.add(s_joint, lateral, vertical, exposure)

    try:
        for k in range(len(times)):
            while next_row < len(rows) and due[next_row] <= k:
                add_frame(rows[next_row])
                next_row += 1
                if progress is not None:
                    progress(next_row, len(rows))
            out_l[k], out_v[k] = law.next(float(s_torch[k]))
            sent = k + 1
            lost = law.coasted(float(s_torch[k]))
            if lost is not None:
                break  # live, the seam faults here (F151) and the cell holds
        while next_row < len(rows) and lost is None:  # frames after the last correction
            add_frame(rows[next_row])
            next_row += 1
    finally:
        reader.close()
    stream = Stream(times[:sent], s_torch[:sent], out_l[:sent], out_v[:sent], s_effect[:sent])
    return ReplayResult(
        seam=recording.name,
        folder=recording.folder,
        frames_recorded=len(frames["frame_number"]),
        frames_replayed=len(rows),
        frames_with_joint=with_joint,
        measurements_rejected=track.rejected,
        stream=stream,
        lost=lost,
        seconds=time.perf_counter() - started,
        changed=[str(o) for o in overrides],
    )


def welded_path(recording: RecordedSeam) -> SeamPath:
    """The path the robot welded, arcs and blends as arcs.

    A recording's ``path_mm`` holds the path's vertices only: a full circle is its start, its
    middle and its start again. Where the recorded seam's program has a ``path`` (segments)
    whose vertices, shifted as seam finding shifted the weld, are those points, that shifted
    path is the welded one; otherwise (a straight or polyline seam, a later pass laid off a
    root path) the vertices are the path, joined by lines."""
    run = recording.run
    points = [tuple(map(float, p)) for p in run.path_mm]
    program = run.seam.get("path")
    if isinstance(program, dict):
        where = recording.folder / RUN_FILE
        try:
            # The config model dumps an arc's unused form as nulls ("via": null, ...).
            segments = [
                {kind: {k: v for k, v in spec.items() if v is not None}}
                for segment in program["segments"]
                for kind, spec in segment.items()
            ]
            taught = build_path(program["start"], segments)
        except (KeyError, TypeError, AttributeError, PathError) as error:
            raise ReplayError(f"{where}: seam.path: not a seam path: {error}") from None
        shift = [a - b for a, b in zip(points[0], taught.vertices()[0], strict=True)]
        welded = taught.shifted(shift)
        vertices = welded.vertices()
        if len(vertices) == len(points) and all(
            math.dist(a, b) < PATH_MATCH_MM for a, b in zip(vertices, points, strict=True)
        ):
            return welded
    return SeamPath.polyline(points)


def correction_difference(replayed: Stream, recorded: Stream) -> tuple[float, float]:
    """RMS and max (mm) of the replayed corrections minus the recorded ones at the same times."""
    n = len(replayed.t_s)
    if n == 0 or len(recorded.t_s) == 0:
        return math.nan, math.nan
    if len(recorded.t_s) >= n and np.array_equal(replayed.t_s, recorded.t_s[:n]):
        rec_l, rec_v = recorded.lateral_mm[:n], recorded.vertical_mm[:n]
    else:
        rec_l = np.interp(replayed.t_s, recorded.t_s, recorded.lateral_mm)
        rec_v = np.interp(replayed.t_s, recorded.t_s, recorded.vertical_mm)
    d = np.hypot(replayed.lateral_mm - rec_l, replayed.vertical_mm - rec_v)
    return float(np.sqrt(np.mean(d**2))), float(np.max(d))


# -- the truth of simulated runs -----------------------------------------------------------------


@dataclass(frozen=True)
class TrueSeamLine:
    """A true seam of the truth file: its taught path (``points``: the line from start to
    end, or the simulator's samples of a bent or curved path, ``path_mm``) and the true
    joint's deviation from it along it, in its frame there."""

    name: str
    points: np.ndarray  # (n, 3): the taught path's vertices, joined by lines
    length_mm: float
    closed: bool
    s_mm: np.ndarray
    lateral_mm: np.ndarray
    vertical_mm: np.ndarray


def load_truth(path: Path) -> dict[str, TrueSeamLine]:
    """The true seams a simulator wrote (``sim.truth.file`` format), by seam name; a file over
    ``TRUTH_FILE_MAX_BYTES`` or not of that format is refused (``ReplayError``) naming it."""
    data = read_bounded(Path(path), TRUTH_FILE_MAX_BYTES, "a truth file")
    try:
        doc = json.loads(data)
        seams = {}
        for seam in doc["seams"]:
            points = np.asarray(
                seam["path_mm"] if "path_mm" in seam else [seam["start_mm"], seam["end_mm"]],
                dtype=np.float64,
            )
            steps = np.linalg.norm(np.diff(points, axis=0), axis=1)
            if points.ndim != 2 or points.shape[1] != 3 or len(points) < 2 or steps.min() <= 0:
                raise ValueError(f"seam {seam['name']!r}: not a path of distinct points")
            seams[seam["name"]] = TrueSeamLine(
                seam["name"],
                points,
                float(steps.sum()),
                bool(np.linalg.norm(points[-1] - points[0]) < 1e-6),
                np.asarray(seam["s_mm"], dtype=np.float64),
                np.asarray(seam["lateral_mm"], dtype=np.float64),
                np.asarray(seam["vertical_mm"], dtype=np.float64),
            )
        return seams
    except (KeyError, TypeError, ValueError, ZeroDivisionError, RecursionError) as error:
        # (json.JSONDecodeError and UnicodeDecodeError are ValueErrors; RecursionError: JSON
        # nested thousands deep.)
        raise ReplayError(f"{path}: not a truth file: {error!r}") from error


def find_truth(folder: Path) -> Path | None:
    """``truth.json`` in the recording's folder or the two above it."""
    for candidate in (folder, folder.parent, folder.parent.parent):
        if (candidate / TRUTH_FILE).is_file():
            return candidate / TRUTH_FILE
    return None


def truth_along_path(
    recording: RecordedSeam, truth: TrueSeamLine, s_mm: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The true joint's (lateral, vertical) deviation from the welded path (``welded_path``)
    at path positions ``s_mm``, in the welded path's frame there; NaN where the position is
    off the welded path or off the true seam's ends. On a curve the welded path (the taught
    one shifted by seam finding) and the taught path are not the same distance along: each
    welded point is placed on the taught path by the nearest point."""
    s_mm = np.asarray(s_mm, dtype=np.float64)
    true_l = np.full(len(s_mm), np.nan)
    true_v = np.full(len(s_mm), np.nan)
    welded = welded_path(recording)
    on = np.isfinite(s_mm) & (s_mm >= 0) & (s_mm <= welded.length_mm)
    if not on.any():
        return true_l, true_v
    grid = np.arange(
        math.floor(s_mm[on].min() / TRUTH_GRID_MM) * TRUTH_GRID_MM,
        s_mm[on].max() + TRUTH_GRID_MM,
        TRUTH_GRID_MM,
    )
    grid = np.clip(grid, 0.0, welded.length_mm)
    at = np.asarray([welded.point_at(float(s)) for s in grid])
    frames = [welded.frame_at(float(s)) for s in grid]
    lateral_w = np.asarray([f[1] for f in frames])
    up_w = np.asarray([f[2] for f in frames])
    # In chunks: every grid point against every segment of a long curved seam is large.
    chunk = max(1, NEAREST_CHUNK_ENTRIES // len(truth.points))
    parts = [
        _nearest_on_polyline(at[i : i + chunk], truth.points, truth.closed)
        for i in range(0, len(at), chunk)
    ]
    s_true, foot, lateral_t, up_t = (np.concatenate(column) for column in zip(*parts, strict=True))
    joint = foot + (
        lateral_t * np.interp(s_true, truth.s_mm, truth.lateral_mm)[:, None]
        + up_t * np.interp(s_true, truth.s_mm, truth.vertical_mm)[:, None]
    )
    d = joint - at
    grid_l = np.einsum("ij,ij->i", d, lateral_w)
    grid_v = np.einsum("ij,ij->i", d, up_w)
    if not truth.closed:
        off = (s_true < 0) | (s_true > truth.length_mm)
        grid_l[off] = np.nan
        grid_v[off] = np.nan
    true_l[on] = np.interp(s_mm[on], grid, grid_l)
    true_v[on] = np.interp(s_mm[on], grid, grid_v)
    return true_l, true_v


def _nearest_on_polyline(
    points: np.ndarray, vertices: np.ndarray, closed: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For each of ``points`` (n, 3): its distance along the polyline of ``vertices`` to the
    nearest point on it (an open polyline goes on along its end segments' lines: s < 0 before
    its start, > its length past its end), that point, and the lateral and vertical axes of
    the seam frame there (``frame_of`` of the segment's direction)."""
    starts = vertices[:-1]
    segments = np.diff(vertices, axis=0)
    lengths = np.linalg.norm(segments, axis=1)
    s0 = np.r_[0.0, np.cumsum(lengths)[:-1]]
    # Every point against every segment: (n, m) parameters along each segment, in mm.
    u = np.einsum("nmk,mk->nm", points[:, None, :] - starts[None, :, :], segments) / lengths
    low = np.zeros(len(lengths))
    high = lengths.copy()
    if not closed:
        low[0] = -np.inf
        high[-1] = np.inf
    u = np.clip(u, low, high)
    direction = segments / lengths[:, None]
    feet = starts[None, :, :] + u[:, :, None] * direction[None, :, :]
    nearest = np.argmin(np.linalg.norm(points[:, None, :] - feet, axis=2), axis=1)
    rows = np.arange(len(points))
    axes = [frame_of(tuple(t)) for t in direction]
    lateral = np.asarray([a[1] for a in axes])[nearest]
    up = np.asarray([a[2] for a in axes])[nearest]
    return s0[nearest] + u[rows, nearest], feet[rows, nearest], lateral, up


def tracking_error(
    stream: Stream, recording: RecordedSeam, truth: TrueSeamLine
) -> tuple[float, float] | None:
    """RMS and max (mm) of the corrected torch position against the true joint, over the
    corrections whose torch lies on the seam (the same measure for recorded and replayed):
    each correction where the torch was when it took effect."""
    true_l, true_v = truth_along_path(recording, truth, stream.s_effect_mm)
    on_seam = np.isfinite(true_l)
    if not on_seam.any():
        return None
    error = np.hypot(
        stream.lateral_mm[on_seam] - true_l[on_seam], stream.vertical_mm[on_seam] - true_v[on_seam]
    )
    return float(np.sqrt(np.mean(error**2))), float(np.max(error))


@dataclass
class Comparison:
    """One seam's replay beside its recording: the table row of ``cellctl replay``."""

    result: ReplayResult
    correction_rms_mm: float
    correction_max_mm: float
    recorded_error: tuple[float, float] | None = None
    replayed_error: tuple[float, float] | None = None
    recorded_lost: str | None = None

    def as_dict(self) -> dict[str, Any]:
        r = self.result
        out: dict[str, Any] = {
            "seam": r.seam,
            "folder": str(r.folder),
            "changed": r.changed,
            "frames_recorded": r.frames_recorded,
            "frames_replayed": r.frames_replayed,
            "frames_with_joint": r.frames_with_joint,
            "measurements_rejected": r.measurements_rejected,
            "corrections": len(r.stream.t_s),
            "correction_difference_rms_mm": self.correction_rms_mm,
            "correction_difference_max_mm": self.correction_max_mm,
            "replay_s": r.seconds,
            "frames_per_s": r.frames_replayed / r.seconds if r.seconds > 0 else math.nan,
            "lost_recorded": self.recorded_lost,
            "lost_replayed": r.lost,
        }
        if self.recorded_error is not None:
            out["tracking_error_recorded_rms_mm"] = self.recorded_error[0]
            out["tracking_error_recorded_max_mm"] = self.recorded_error[1]
        if self.replayed_error is not None:
            out["tracking_error_replayed_rms_mm"] = self.replayed_error[0]
            out["tracking_error_replayed_max_mm"] = self.replayed_error[1]
        return out


def compare(
    recording: RecordedSeam,
    overrides: list[Override],
    truth: dict[str, TrueSeamLine] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Comparison:
    result = replay_seam(recording, overrides, progress=progress)
    recorded = Stream.recorded(recording)
    rms, worst = correction_difference(result.stream, recorded)
    comparison = Comparison(result, rms, worst, recorded_lost=recording.run.lost)
    true_seam = (truth or {}).get(recording.name)
    if true_seam is not None:
        comparison.recorded_error = tracking_error(recorded, recording, true_seam)
        comparison.replayed_error = tracking_error(result.stream, recording, true_seam)
    return comparison
