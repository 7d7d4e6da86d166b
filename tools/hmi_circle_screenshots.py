"""The tracking screen on the circle, from a live weld (issue 17): ``make screenshots-circle``.

Runs ``cellctl demo --part boom-hinge-boss --parts 1`` (the simulated cell and a real
controller as child processes, the laser sensor on, the part off its taught place as in the
demo's vision scenario) and connects the real HMI to the controller over OPC UA (anonymous:
it only reads). When the torch is half-way round the hinge boss's full-circle fillet, with a
live laser profile and the joint found in it, the tracking screen is saved in zh_CN and in en
(``<out>/zh_CN/tracking-circle.png``, ``<out>/en/tracking-circle.png``; the same data, the
language switched at the panel between the two). The circle is then welded to its end, its
seam's verdict and the simulator's truth for it printed, and the demo stopped (the bent seam
after it is not needed here).

Exits 1, saying why, if the screen never shows the circle mid-weld with a profile or the
circle's seam does not finish good: no picture is left that does not show what its name says.
On a busy machine use ``--time-scale 1`` (the default): the simulator's per-step truth on a
curve costs more than on a line, and a starved simulator drops laser frames (F133).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication

from cellctl.gui.app import dispose
from cellctl.gui.link import CellLink
from cellctl.gui.window import HmiWindow
from cellctl.plant.opcua.certs import ClientTrust
from cellctl.testing import Operator

REPO = Path(__file__).resolve().parent.parent
PART = "boom-hinge-boss"
CIRCLE_SEAM = "boss-fillet"
CIRCLE_LENGTH_MM = 2 * math.pi * 50.0  # R 50 mm (config/parts/boom-hinge-boss.yaml)
# Half-way round: the taught circle, the corrected path over its first half and a profile.
SHOT_FROM_MM, SHOT_TO_MM = 0.45 * CIRCLE_LENGTH_MM, 0.75 * CIRCLE_LENGTH_MM
# The screen's corrections must go back near the seam's start (the HMI connected in time).
FIRST_CORRECTION_BY_MM = 40.0
WINDOW_SIZE = (1600, 1000)
START_TIMEOUT_S = 60.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "hmi"), help="default: docs/hmi")
    parser.add_argument("--time-scale", type=float, default=1.0, help="the demo's (default 1)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    run_dir = Path(tempfile.mkdtemp(prefix="cellctl-circle-shots-"))
    log_path = run_dir.parent / f"{run_dir.name}-demo.log"
    with open(log_path, "w") as log:
        demo = subprocess.Popen(
            [sys.executable, "-m", "cellctl.cli.main", "demo", "--part", PART, "--parts", "1",
             "--time-scale", f"{args.time_scale:g}", "--run-dir", str(run_dir)],
            stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    # Below the cell's processes (started above at the normal priority): the HMI's drawing
    # and grabs must not starve the simulated sensor on a busy desk computer.
    os.nice(10)
    try:
        saved = shoot(demo, log_path, run_dir, out, args.time_scale)
        if saved is None:
            return 1
        circle = _circle_seam_finished(demo, run_dir, args.time_scale)
        truth = _truth(log_path, run_dir) if circle is not None else None
    finally:
        if demo.poll() is None:
            demo.terminate()  # the demo stops its simulator and controller itself
            demo.wait(timeout=60)
    if circle is None or circle["verdict"] != "good":
        print(log_path.read_text())
        print(f"the circle's seam did not finish good ({circle and circle['verdict']}): the "
              "screenshots are not kept", file=sys.stderr)  # fmt: skip
        for path in saved:
            path.unlink()
        return 1
    summary = json.loads(circle["summary_json"])
    tracking = summary.get("tracking") or {}
    print(f"the circle ({CIRCLE_SEAM}): {circle['verdict']}, "
          f"{tracking.get('frames_with_joint')} of {tracking.get('frames')} frames with the "
          f"joint; torch against the true joint {truth}")  # fmt: skip
    for path in saved:
        print(f"saved {path}")
    return 0


def shoot(
    demo: subprocess.Popen, log_path: Path, run_dir: Path, out: Path, time_scale: float
) -> list[Path] | None:
    endpoint = _wait_for_endpoint(demo, log_path)
    if endpoint is None:
        print(f"the demo served no OPC UA endpoint; see {log_path}", file=sys.stderr)
        return None
    app = QApplication.instance() or QApplication(sys.argv[:1])
    link = CellLink(endpoint, None, None, ClientTrust(run_dir / "hmi-screenshots"))
    window = HmiWindow(link)
    window.resize(*WINDOW_SIZE)
    window.tabs.setCurrentWidget(window.tracking)
    window.show()
    link.start()
    seen: dict[str, Any] = {}
    link.cell_read.connect(seen.update)
    try:
        # Both languages drawn and grabbed once before the weld: loading the CJK font and the
        # first grab take a second of CPU, which a busy machine's cell would miss mid-circle.
        for language in ("zh_CN", "en"):
            window.set_language(language, remember=False)
            app.processEvents()
            window.grab()
        # The approach, seam finding and the first half of the circle at the demo's speed.
        deadline = time.monotonic() + START_TIMEOUT_S + 300 / time_scale
        said = time.monotonic()
        while not _mid_circle(seen, window):
            if demo.poll() is not None or time.monotonic() > deadline:
                first = window.tracking.lateral.view()[0][:1]
                print(f"the screen never showed the circle mid-weld with a profile (last: "
                      f"{_what(seen)}; {len(window.tracking.lateral)} corrections on the "
                      f"screen from {first} mm); see {log_path}", file=sys.stderr)  # fmt: skip
                return None
            app.processEvents()
            time.sleep(0.02)
            if time.monotonic() > said + 2.0:
                said = time.monotonic()
                print(f"waiting for the circle mid-weld: {_what(seen)}", flush=True)
        # Both pictures of the same moment: the link's news is held off while they are taken
        # (a grab in Chinese takes a second or two here).
        link.blockSignals(True)
        saved = []
        for language in ("zh_CN", "en"):
            window.set_language(language, remember=False)
            app.processEvents()
            window.tracking.redraw()
            app.processEvents()
            path = out / language / "tracking-circle.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            if not window.grab().save(str(path)):
                raise OSError(f"could not write {path}")
            saved.append(path)
        print(f"shot at {_what(seen)}")
        return saved
    finally:
        link.stop()
        window.redraw_timer.stop()
        window.close()
        dispose(window)


def _circle_seam_finished(
    demo: subprocess.Popen, run_dir: Path, time_scale: float
) -> dict[str, Any] | None:
    """The circle seam's row in the demo's store once it is there (the bent seam after it is
    not waited for); None if the demo ends first."""
    deadline = time.monotonic() + 60 + 120 / time_scale
    while demo.poll() is None and time.monotonic() < deadline:
        try:
            with sqlite3.connect(f"file:{run_dir / 'production.db'}?mode=ro", uri=True) as db:
                db.row_factory = sqlite3.Row
                row = db.execute("SELECT * FROM seams WHERE seam = ?", (CIRCLE_SEAM,)).fetchone()
        except sqlite3.Error:
            row = None  # not made yet, or busy
        if row is not None:
            return dict(row)
        time.sleep(0.5)
    return None


def _truth(log_path: Path, run_dir: Path) -> str:
    """The simulator's truth for the circle (RMS / max of the torch against the true joint)."""
    found = re.search(r"control\s+JSON lines 127\.0\.0\.1:(\d+)", log_path.read_text())
    if not found:
        return "(not asked: no control port)"
    operator = Operator(int(found.group(1)), run_dir / "production.db")
    figures = [f for f in asyncio.run(operator.do("sensor.truth")) if f["seam"] == CIRCLE_SEAM]
    return ", ".join(
        f"RMS {f.get('rms_mm', float('nan')):.3f} / max {f.get('max_mm', float('nan')):.3f} mm"
        for f in figures
    )


def _wait_for_endpoint(demo: subprocess.Popen, log_path: Path) -> str | None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while demo.poll() is None and time.monotonic() < deadline:
        found = re.search(r"controller OPC UA\s+(opc\.tcp://\S+)", log_path.read_text())
        if found:
            return found.group(1)
        time.sleep(0.1)
    return None


def _mid_circle(cell: dict[str, Any], window: HmiWindow) -> bool:
    """The circle's seam welding half-way round, the joint found in a live profile, and the
    screen holding corrections from the seam's start."""
    position = cell.get("Tracking.PositionMm")
    return bool(
        CIRCLE_SEAM in str(cell.get("Phase", ""))
        and cell.get("Weld.ArcOn")
        and cell.get("Tracking.JointFound")
        and cell.get("Tracking.ProfileCount")
        and position is not None
        and SHOT_FROM_MM <= position <= SHOT_TO_MM
        and len(window.tracking.lateral) > 20
        and window.tracking.lateral.view()[0][0] < FIRST_CORRECTION_BY_MM
    )


def _what(cell: dict[str, Any]) -> str:
    return (
        f"phase {cell.get('Phase')!r}, position {cell.get('Tracking.PositionMm')} mm, "
        f"arc {cell.get('Weld.ArcOn')}, joint found {cell.get('Tracking.JointFound')}, "
        f"profiles {cell.get('Tracking.ProfileCount')}"
    )


if __name__ == "__main__":
    sys.exit(main())
