"""``cellctl replay RUN [--set SECTION.FIELD=VALUE ...]``: tune tracking offline on a recording.

Prints one row per recorded seam: how far the corrections the changed settings would have
sent are from the ones really sent, and, for a simulated run with its truth, the tracking
error of both against the true joint (``cellctl.sensing.replay`` says what a replay can tell).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import TextIO

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
PROGRESS_AFTER_S = 2.0  # a replay quicker than this shows no bar


def add_parser(commands) -> None:
    replay = commands.add_parser(
        "replay",
        help="run a recorded seam's frames through the vision and tracking with other settings",
        description="Replays the recorded frames of each seam in RUN (a seam's recording folder, "
        "or the recording folder holding many) with the settings changed by --set, and prints "
        "the difference in correction and, when a truth.json is beside the recording (a "
        "simulated run), the tracking error recorded vs replayed.",
    )
    replay.add_argument("run", metavar="RUN", help="recording folder (sensor.recording.folder)")
    replay.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="a setting changed for the replay; sections: tracking, stripe, joint "
        "(e.g. --set tracking.filter_window_mm=2); repeatable",
    )
    replay.add_argument("--truth", help="the simulator's truth file (default: truth.json beside)")
    replay.add_argument("--json", dest="json_out", metavar="PATH", help="also write rows as JSON")
    replay.add_argument(
        "--plot",
        metavar="DIR",
        help="also draw each seam (corrections recorded/replayed, truth, error) as DIR/<run>.png",
    )
    replay.set_defaults(handler=run_replay)


class Progress:
    """A one-line bar on stderr (a terminal only: a log file gets no carriage returns), shown
    once the work has taken ``PROGRESS_AFTER_S``; cleared before each table row."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self.shown = False
        self._last = 0.0
        self.enabled = self.stream.isatty()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if not self.enabled or now - self.started < PROGRESS_AFTER_S:
            return
        if now - self._last < 0.2 and done < total:
            return
        self._last = now
        width = 30
        filled = int(width * done / max(1, total))
        rate = done / (now - self.started)
        self.stream.write(
            f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} frames "
            f"{rate:.0f}/s"
        )
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        """Wipe the bar's line (before a table row goes to stdout on the same terminal)."""
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()


def _mm(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.3f}"


def run_replay(args: argparse.Namespace) -> int:
    from cellctl.sensing.replay import (
        ReplayError,
        compare,
        find_recordings,
        find_truth,
        load_recording,
        load_truth,
        parse_overrides,
    )

    try:
        overrides = parse_overrides(args.overrides)
        folders = find_recordings(Path(args.run))
    except ReplayError as error:
        print(f"cellctl replay: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    changed = ", ".join(str(o) for o in overrides) or "nothing (the recorded settings)"
    print(f"replay of {len(folders)} seam run(s) in {args.run}; changed: {changed}")
    header = (
        f"{'seam':<16} {'frames':>7} {'joint':>6} {'corr. diff rms/max mm':>22} "
        f"{'track err recorded rms/max':>27} {'replayed rms/max':>17} {'frames/s':>9}"
    )
    print(header)
    print("-" * len(header))
    rows = []
    failed = False
    recordings = []
    for folder in folders:
        try:
            recordings.append(load_recording(folder))
        except ReplayError as error:
            print(error, file=sys.stderr)  # each line names the file and the field
            failed = True
    # One bar over every seam's frames (a replay runs at a few hundred frames/s).
    total = sum(sum(r.frames["image"]) for r in recordings)
    progress = Progress("replay")
    done_before = 0
    for recording in recordings:
        folder = recording.folder
        offset = done_before
        try:
            truth_path = Path(args.truth) if args.truth else find_truth(folder)
            truth = load_truth(truth_path) if truth_path is not None else None
            comparison = compare(
                recording, overrides, truth, lambda done, _, o=offset: progress(o + done, total)
            )
        except ReplayError as error:
            progress.clear()
            print(f"{folder.name}: {error}", file=sys.stderr)
            failed = True
            continue
        finally:
            done_before += sum(recording.frames["image"])
        progress.clear()
        row = comparison.as_dict()
        if args.plot:
            from cellctl.sensing.replay_plot import plot_comparison

            true_seam = (truth or {}).get(recording.name)
            picture = Path(args.plot) / f"{folder.name}.png"
            row["plot"] = str(plot_comparison(comparison, recording, true_seam, picture))
        rows.append(row)
        recorded = comparison.recorded_error or (None, None)
        replayed = comparison.replayed_error or (None, None)
        print(
            f"{row['seam']:<16} {row['frames_replayed']:>7} {row['frames_with_joint']:>6} "
            f"{_mm(row['correction_difference_rms_mm']):>10} / "
            f"{_mm(row['correction_difference_max_mm']):<9} "
            f"{_mm(recorded[0]):>15} / {_mm(recorded[1]):<9} "
            f"{_mm(replayed[0]):>7} / {_mm(replayed[1]):<7} {row['frames_per_s']:>9.0f}"
        )
        if row["lost_replayed"]:
            print(f"  {row['seam']}: the replay would have lost tracking: {row['lost_replayed']}")
        if row["lost_recorded"]:
            print(f"  {row['seam']}: the recorded run lost tracking: {row['lost_recorded']}")
        if row["frames_replayed"] < row["frames_recorded"]:
            print(
                f"  {row['seam']}: {row['frames_recorded'] - row['frames_replayed']} of "
                f"{row['frames_recorded']} frames have no image (decimated or over the disk "
                "budget): the replay cannot reproduce the run exactly"
            )
        if row.get("plot"):
            print(f"  {row['seam']}: plot {row['plot']}")
        sys.stdout.flush()  # the row before the bar comes back on the terminal
    if not any(r.get("tracking_error_recorded_rms_mm") is not None for r in rows):
        print("(no truth: tracking error needs a simulated run's truth.json, see --truth)")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return EXIT_FAILED if failed else EXIT_OK
