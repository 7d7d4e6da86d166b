"""Seam recording and offline replay (``python -m bench replay``).

1. The coupon's seam (scenario ``combined``) welded at 1x real time by ``cellctl demo``
   (simulator and controller in separate processes), once with recording off and once on
   (every frame): the controller's own tracking timings from its seam records side by side,
   so that the cost of recording to the control loop shows (frames are written by a thread
   of their own, at nice 10), and the disk the recording takes per second of welding.
2. ``cellctl replay`` of that recording: frames per second (median of 3 on this machine), the
   correction difference with the recorded settings (should be 0), and a sweep of tracking
   settings with the tracking error against the simulator's truth, recorded vs replayed.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from cellctl.sensing.recording import folder_bytes
from cellctl.sensing.replay import (
    compare,
    find_recordings,
    load_recording,
    load_truth,
    parse_overrides,
)

REPO = Path(__file__).resolve().parent.parent
# Offset, rotation, a 2 mm sine, a 0.8 mm step at 50 mm and a little spatter: every knob matters.
SCENARIO = REPO / "config" / "vision" / "combined.yaml"
PART = "coupon-fillet-80"
TIMINGS = (
    "processing_p99_ms",
    "exposure_to_processed_p99_ms",
    "exposure_to_correction_p99_ms",
    "correction_lateness_p99_ms",
    "tracking_rms_mm",
)
SWEEP = [
    [],
    ["tracking.filter_window_mm=0.5"],
    ["tracking.filter_window_mm=2"],
    ["tracking.filter_window_mm=5"],
    ["tracking.filter_window_mm=20"],
    ["tracking.outlier_gate_mm=0.2"],
    ["tracking.outlier_gate_mm=3"],
    ["tracking.correction_lead_ms=0"],
    ["tracking.correction_lead_ms=30"],
    ["tracking.correction_rate_hz=100"],
    ["tracking.outlier_persistence=20"],
    ["stripe.max_line_width_px=3"],
    ["joint.max_face_rms_mm=0.03"],
]


def weld(record: Path | None, attempts: int = 3) -> dict:
    """One coupon at 1x; the tracking figures of its seam record. On a loaded machine a link
    may time out (F131) and abort the part: then it is welded again, and the bench says so."""
    for attempt in range(1, attempts + 1):
        try:
            return _weld_once(record)
        except RuntimeError as error:
            print(f"  attempt {attempt} failed: {str(error).splitlines()[0][:200]}")
            if record is not None:
                shutil.rmtree(record, ignore_errors=True)
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")


def _weld_once(record: Path | None) -> dict:
    run_dir = Path(tempfile.mkdtemp(prefix="bench-replay-demo-"))
    args = [sys.executable, "-m", "cellctl.cli.main", "demo", "--vision", str(SCENARIO), "--part",
            PART, "--parts", "1", "--time-scale", "1", "--run-dir", str(run_dir)]  # fmt: skip
    if record is not None:
        args += ["--record", str(record)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    try:
        if done.returncode != 0:
            raise RuntimeError(f"cellctl demo failed: {done.stderr.strip()[-300:]}")
        with sqlite3.connect(run_dir / "production.db") as db:
            rows = db.execute("SELECT summary_json FROM seams ORDER BY id").fetchall()
        return json.loads(rows[-1][0])["tracking"]
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def main() -> dict:
    figures: dict = {}
    work = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    try:
        record = work / "recordings"
        print(
            "Welding the coupon (scenario 'combined') at 1x: recording off, then on (every frame)"
        )
        off = weld(None)
        on = weld(record)
        print(f"  {'controller figure':<32} {'recording off':>14} {'on':>10}")
        for name in TIMINGS:
            a, b = off.get(name, float("nan")), on.get(name, float("nan"))
            print(f"  {name:<32} {a:>14.3f} {b:>10.3f}")
        figures["recording_off"] = {k: off.get(k) for k in TIMINGS}
        figures["recording_on"] = {k: on.get(k) for k in TIMINGS}
        folder = find_recordings(record)[0]
        recording = load_recording(folder)
        frames = recording.frames
        seconds = frames["exposure_s"][-1] - frames["exposure_s"][0]
        size_mb = folder_bytes(folder) / 1024**2
        figures["recorded_mb_per_s"] = size_mb / seconds
        figures["recorded_frames"] = len(frames["frame_number"])
        print(f"  recorded {len(frames['frame_number'])} frames over {seconds:.1f} s: "
              f"{size_mb:.1f} MB, {size_mb / seconds:.1f} MB per second of tracking")  # fmt: skip

        truth = load_truth(record / "truth.json")
        speeds = []
        for _ in range(3):
            same = compare(recording, [], truth)
            speeds.append(same.result.frames_replayed / same.result.seconds)
        figures["replay_frames_per_s_median"] = float(np.median(speeds))
        figures["replay_same_settings_correction_diff_max_mm"] = same.correction_max_mm
        print(f"\nReplay: {np.median(speeds):.0f} frames/s (median of 3); same settings: "
              f"correction difference max {same.correction_max_mm:.4f} mm")  # fmt: skip
        print(f"  {'changed':<34} {'corr diff rms/max mm':>21} {'error recorded rms/max':>23} "
              f"{'replayed rms/max':>17}")  # fmt: skip
        sweep = []
        for overrides in SWEEP:
            c = compare(recording, parse_overrides(overrides), truth)
            rec, rep = c.recorded_error, c.replayed_error
            label = ", ".join(overrides) or "(recorded settings)"
            print(f"  {label:<34} {c.correction_rms_mm:>10.3f} / {c.correction_max_mm:<8.3f} "
                  f"{rec[0]:>13.3f} / {rec[1]:<7.3f} {rep[0]:>8.3f} / {rep[1]:<7.3f}"
                  + (f"  LOST: {c.result.lost}" if c.result.lost else ""))  # fmt: skip
            sweep.append(c.as_dict())
        figures["sweep"] = sweep
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return figures
