"""``cellctl demo``: the simulated cell and a real controller, welding N parts, headless.

Runs exactly what a test rig would run, as child processes: ``cellsim all`` (the far end of
every wire) and ``cellctl run`` (the controller), on a copy of the cell config whose addresses
point at the demo's run folder and at free ports, so that two demos or a demo and a test never
collide. The demo plays the operator through the simulator's control channel: it loads a part,
presses Start on the PLC's panel, waits for the part to finish, unloads it and loads the next.
At the end it prints the summary from the production database and the simulator's truth, and
the commands that show the records it leaves.

By default the laser sensor is on and the part is not where its program says (the vision
scenario ``vision/demo-bracket.yaml`` beside the cell config): every seam is found before the
arc and tracked while welding, and the summary sets the torch's error against the true joint
beside the taught path's, which is what welding without the sensor would have given.

What it promises:

- The run folder (``config/``, ``production.db``, ``controller.log``, ``cellsim.log``) is kept,
  by default as ``var/demo/<local time>`` under the current folder; the commands printed at the
  end read it as printed.
- A fault (any severity but warning) or a stop of the cell ends the demo within a poll: it
  prints each fault's code, text and detail and the run folder, stops its children and exits
  1. So does a child process that ends by itself.
- SIGINT and SIGTERM end the demo the same way: the operator screen, the controller and the
  simulator are stopped in that order (SIGTERM; SIGKILL after STOP_TIMEOUT_S), nothing of the
  demo is left running, and the exit code is 128 + the signal's number.
- The demo runs on a desk computer busy with other work, not on the cell's PC: every wall-clock
  limit of its config copy gets room for a stall of DESK_STALL_S (``allow_desk_stalls``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import datetime as dt
import json
import os
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import yaml

from cellctl.cell.faults import CATALOGUE
from cellctl.config import ConfigInvalid, load_cell_config
from cellctl.config.models import PartProgram
from cellctl.records.oee import throughput
from cellctl.testing import Operator, OperatorRefused, free_port, stop_process
from drivers.codecs.abb_egm_settings import AbbEgmSettings
from drivers.codecs.settings import KukaRsiSettings

DEFAULT_PARTS = 2
# Slow enough that a stall of DESK_STALL_S is only 16 mm of a seam welded at 8 mm/s (coasting
# that far on the demo part's bow strays under a millimetre), fast enough that two brackets
# take about a minute (one takes 47 s at 1x).
DEFAULT_TIME_SCALE = 2.0
DEFAULT_VISION = Path("vision") / "demo-bracket.yaml"  # beside the cell config
DEFAULT_RUNS_FOLDER = Path("var") / "demo"
# A desk computer busy with other work (a test suite or a compiler on every core, and no
# real-time priority for the correction stream) leaves a process waiting now and then: with two
# CPU hogs beside the demo, the correction stream paused past the robot's 100 ms watchdog (F140)
# and the simulator answered up to 170 ms late; with other sessions busy too, the controller
# once fell silent past the power source's watchdog widened to 900 ms (F131). The cell's own
# limits (80-400 ms link timeouts and watchdogs, 8 mm of coasting) would fault the demo for a
# cause the cell does not have.
DESK_STALL_S = 1.0
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0  # a clean shutdown (arc off, hold, links closed) takes well under this
POLL_S = 0.05
# How long a stop for a fault waits for the fault's row before the demo ends without it.
FAULT_ROW_GRACE_S = 2.0
# States the cell leaves only when a person acts; the demo does not act, so it ends there.
STOPPED_STATES = frozenset(
    {"Holding", "Held", "Stopping", "Stopped", "Aborting", "Aborted", "Suspending", "Suspended"}
)


class DemoFailed(Exception):
    """The demo cannot carry on; its text says why."""


class CellStopped(DemoFailed):
    """The cell faulted or stopped; ``faults`` are the store's rows of the faults raised."""

    def __init__(self, message: str, faults: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.faults = faults


class DemoInterrupted(Exception):
    """SIGINT or SIGTERM reached the demo."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def prepare_run_folder(
    config_path: Path, run_dir: Path, part: str | None, robot: str | None = None
) -> Path:
    """A copy of the config tree whose links and store live in ``run_dir``; ``robot`` names
    another robot interface than the config's (``kuka_rsi``, ``abb_egm``: the robot runs its
    own jobs, and only the part programs that name them stay listed)."""
    source = config_path.parent
    target = run_dir / "config"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("scenarios", "*.db"))
    cell = yaml.safe_load(config_path.read_text())
    if robot is not None and robot != "serial":
        cell["robot"]["interface"] = robot
        section = dict(cell["robot"].get(robot) or {})
        section["sensor_port"] = free_port()
        cell["robot"][robot] = section
        cell["parts"] = [
            relative for relative in cell.get("parts") or [] if _names_robot_jobs(source / relative)
        ]
    cell["plc"]["link"]["port"] = free_port()
    cell["power_source"]["link"]["port"] = str(run_dir / "power_source")
    cell["robot"]["link"]["port"] = str(run_dir / "robot")
    if "sensor" in cell:
        cell["sensor"]["source"] = f"127.0.0.1:{free_port()}"
    scanner = (cell.get("traceability") or {}).get("scanner")
    if isinstance(scanner, dict):
        scanner["port"] = str(run_dir / "scanner")
    controller = cell.setdefault("controller", {})
    controller["store_path"] = str(run_dir / "production.db")
    cell.setdefault("opcua", {})["endpoint"] = f"opc.tcp://127.0.0.1:{free_port()}"
    # A simulated run never writes into the plant's database or publishes as the real cell.
    controller.pop("store_url", None)
    if isinstance(cell.get("sparkplug"), dict):
        cell["sparkplug"]["enabled"] = False
    if part:
        controller.setdefault("cycle", {})["active_part"] = part
    derived = target / config_path.name
    derived.write_text(
        "# Written by cellctl demo from " + str(config_path) + "\n" + yaml.safe_dump(cell)
    )
    return derived


def _names_robot_jobs(part_file: Path) -> bool:
    """Whether every seam of the part program in ``part_file`` names its robot job."""
    program = yaml.safe_load(part_file.read_text(encoding="utf-8")) or {}
    seams = program.get("seams") or []
    return bool(seams) and all(seam.get("robot_job") for seam in seams)


# The wall-clock limits of a cell config: link timeouts, the devices' own watchdogs (the
# simulator reads them from the same config) and the sensor's frame timeout.
WALL_CLOCK_LIMITS_MS = (
    "plc.link.timeout_ms",
    "plc.heartbeat.watchdog_timeout_ms",
    "power_source.link.timeout_ms",
    "power_source.interface_watchdog_ms",
    "robot.link.timeout_ms",
    "robot.correction_watchdog_ms",
    "robot.link_watchdog_ms",
    "sensor.frame_timeout_ms",
)


def allow_desk_stalls(
    cell: dict[str, Any], effective: Any, time_scale: float, travel_speed_mm_per_s: float
) -> list[str]:
    """Give every wall-clock limit of the cell config ``cell`` (a YAML document, changed in
    place) room for a stall of the desk computer of DESK_STALL_S, on top of its value in
    ``effective`` (the validated ``CellConfig`` it was read as, defaults included); returns one
    line per limit changed, for whoever reads the config.

    Beside WALL_CLOCK_LIMITS_MS, the distance tracking may coast: a stall at ``time_scale``
    lets the torch run ``time_scale * travel_speed_mm_per_s * DESK_STALL_S`` of seam with no
    frame seen.
    """
    changes = []

    def widen(path: str, extra: float) -> None:
        *parents, name = path.split(".")
        section, value = cell, effective
        for key in parents:
            section = section.setdefault(key, {})
            value = getattr(value, key)
        before = getattr(value, name)
        section[name] = type(before)(before + extra)
        changes.append(f"{path}: {before:g} -> {section[name]:g}")

    for path in WALL_CLOCK_LIMITS_MS:
        widen(path, round(DESK_STALL_S * 1000))
    rsi = cell.get("robot", {}).get("kuka_rsi")
    if cell.get("robot", {}).get("interface") == "kuka_rsi" and isinstance(rsi, dict):
        # The robot's own limit counts late answers in a row: a stall is that many cycles.
        defaults = KukaRsiSettings.model_validate(rsi)
        stall_cycles = round(DESK_STALL_S * 1000 / defaults.cycle_ms)
        rsi["stream_timeout_ms"] = defaults.stream_timeout_ms + round(DESK_STALL_S * 1000)
        rsi["late_answer_limit"] = min(1000, defaults.late_answer_limit + stall_cycles)
        changes.append(
            f"robot.kuka_rsi.stream_timeout_ms: {defaults.stream_timeout_ms} -> "
            f"{rsi['stream_timeout_ms']}; late_answer_limit: {defaults.late_answer_limit} -> "
            f"{rsi['late_answer_limit']}"
        )
    egm = cell.get("robot", {}).get("abb_egm")
    if cell.get("robot", {}).get("interface") == "abb_egm" and isinstance(egm, dict):
        # The robot's comm timeout and the controller's stream timeout run on the wall clock.
        defaults = AbbEgmSettings.model_validate(egm)
        egm["stream_timeout_ms"] = defaults.stream_timeout_ms + round(DESK_STALL_S * 1000)
        egm["comm_timeout_ms"] = defaults.comm_timeout_ms + round(DESK_STALL_S * 1000)
        changes.append(
            f"robot.abb_egm.stream_timeout_ms: {defaults.stream_timeout_ms} -> "
            f"{egm['stream_timeout_ms']}; comm_timeout_ms: {defaults.comm_timeout_ms} -> "
            f"{egm['comm_timeout_ms']}"
        )
    widen("sensor.tracking.coast_mm", time_scale * travel_speed_mm_per_s * DESK_STALL_S)
    return changes


class CellWatch:
    """Ends the demo when its cell cannot carry on without a person: ``check()`` raises
    ``CellStopped`` once a fault that stops the cell has been raised since ``arm()``, or the
    cell is in a state only a person leads out of."""

    def __init__(self, operator: Operator) -> None:
        self.operator = operator
        self.armed_after: int | None = None  # the last fault id before the cell was armed
        # When a stop for a fault was first seen without the fault's row (see ``check``).
        self._fault_stop_seen_at: float | None = None

    def arm(self) -> None:
        """From now on the cell is expected to run (it has reached Idle): faults raised while
        the controller connected and was reset before do not count."""
        self.armed_after = self.operator.last_fault_id()

    def check(self) -> None:
        if self.armed_after is None:
            return
        faults = self.operator.faults_after(self.armed_after)
        state = self.operator.state()
        if faults:
            raise CellStopped(f"the cell faulted (state {state})", faults)
        if state in STOPPED_STATES:
            rows = self.operator.query("SELECT cause FROM state_changes ORDER BY id DESC LIMIT 1")
            cause = rows[0]["cause"] if rows else ""
            if re.search(r"\bF\d{3}\b", cause):
                # A stop for a fault: its row (with its text, which the demo prints) is written
                # apart from the state change and may come a moment later.
                now = time.monotonic()
                if self._fault_stop_seen_at is None:
                    self._fault_stop_seen_at = now
                if now - self._fault_stop_seen_at < FAULT_ROW_GRACE_S:
                    return
            raise CellStopped(f"the cell stopped: state {state} ({cause})", [])


class Progress:
    """A progress bar on a terminal; one line per step when stderr is a file or a pipe."""

    def __init__(
        self, total_parts: int, seams_per_part: int, width: int = 30, unit: str = "seam"
    ) -> None:
        """``seams_per_part``: the records a part makes, one per seam, or per pass (``unit``
        "pass") when its seams have pass tables; a re-scan may weld more than planned."""
        self.total = total_parts
        self.seams_per_part = seams_per_part
        self.unit = unit
        self.width = width
        self.tty = sys.stderr.isatty()
        self._last = ""

    def show(self, done: int, seams: int) -> None:
        fraction = min(1.0, (done + seams / max(1, self.seams_per_part)) / max(1, self.total))
        filled = int(self.width * fraction)
        text = (
            f"[{'#' * filled}{'.' * (self.width - filled)}] {100 * fraction:5.1f}%  "
            f"part {min(done + 1, self.total)}/{self.total}, {self.unit} "
            + (
                f"{seams}/{self.seams_per_part}"
                if seams <= self.seams_per_part
                else f"{seams} ({self.seams_per_part} planned)"
            )
        )
        if text == self._last:
            return
        self._last = text
        sys.stderr.write(f"\r  {text}  " if self.tty else f"  {text}\n")
        sys.stderr.flush()

    def end(self) -> None:
        text = f"[{'#' * self.width}] 100.0%  {self.total} part(s) welded"
        sys.stderr.write(f"\r  {text}{' ' * 12}\n" if self.tty else f"  {text}\n")
        sys.stderr.flush()

    def interrupted(self) -> None:
        """Ends the bar's line, so that what follows starts on a line of its own."""
        if self.tty and self._last:
            sys.stderr.write("\n")
            sys.stderr.flush()


async def _wait(condition, timeout_s: float, what: str, check=None) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if check is not None:
            check()
        if time.monotonic() > deadline:
            raise DemoFailed(f"timed out after {timeout_s:.0f} s waiting for {what}")
        await asyncio.sleep(POLL_S)


async def operate(
    operator: Operator,
    parts: int,
    seams_per_part: int,
    processes: dict,
    part_timeout_s: float,
    check: Callable[[], None] | None = None,
    unit: str = "seam",
) -> tuple[float, float]:
    """Weld ``parts`` parts as an operator would; returns the production window.

    Raises ``DemoFailed`` when a process in ``processes`` ends, ``CellStopped`` as soon as the
    cell faults or stops once it has been Idle, and whatever ``check()`` raises (it is called
    at every poll)."""
    progress = Progress(parts, seams_per_part, unit=unit)
    watch = CellWatch(operator)

    def alive() -> None:
        if check is not None:
            check()
        for name, process in processes.items():
            if process.poll() is not None:
                raise DemoFailed(f"{name} exited with code {process.returncode}")
        watch.check()

    try:
        # Reset until the controller is connected and Idle (it refuses while links are down).
        deadline = time.monotonic() + READY_TIMEOUT_S
        next_press = 0.0
        while operator.state() != "Idle":
            alive()
            now = time.monotonic()
            if now > deadline:
                raise DemoFailed(f"controller did not reach Idle (state {operator.state()})")
            if now >= next_press:
                await operator.do("plc.press", button="reset_button")
                next_press = now + 0.5
            await asyncio.sleep(POLL_S)
        watch.arm()
        window_start = time.time()
        for number in range(parts):
            await operator.do("plc.load", loaded=True)
            before = operator.query("SELECT COUNT(*) AS n FROM parts")[0]["n"]
            await operator.do("plc.press", button="start_button")
            await _wait(
                lambda before=before: (
                    operator.query("SELECT COUNT(*) AS n FROM parts")[0]["n"] > before
                ),
                10,
                "the part to start",
                alive,
            )
            part_id = operator.query("SELECT MAX(id) AS id FROM parts")[0]["id"]

            def finished(part_id: int = part_id, number: int = number) -> bool:
                seams = operator.query("SELECT COUNT(*) AS n FROM seams WHERE part_id=?", part_id)
                progress.show(number, seams[0]["n"])
                row = operator.query("SELECT status FROM parts WHERE id=?", part_id)
                return bool(row) and row[0]["status"] != "in_progress"

            await _wait(finished, part_timeout_s, f"part {number + 1} to finish", alive)
            status = operator.query("SELECT status, note FROM parts WHERE id=?", part_id)[0]
            if status["status"] != "complete":
                watch.check()  # the fault that ended it, if the last poll came too early
                raise DemoFailed(f"part {number + 1} ended {status['status']}: {status['note']}")
            # Unload the welded part; the next loop loads a fresh one.
            await operator.do("plc.load", loaded=False)
            await _wait(lambda: operator.state() == "Idle", 10, "the cell to return to Idle", alive)
    except BaseException:
        progress.interrupted()
        raise
    progress.end()
    return window_start, time.time()


def summarise(database: Path, window: tuple[float, float], planned_cycle_s: float) -> dict:
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        db.row_factory = sqlite3.Row
        parts = [dict(r) for r in db.execute("SELECT * FROM parts ORDER BY id")]
        seams = [dict(r) for r in db.execute("SELECT * FROM seams ORDER BY id")]
        faults = [dict(r) for r in db.execute("SELECT * FROM faults ORDER BY id")]
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    figures = throughput(parts, faults, window[0], window[1], planned_cycle_s)
    tracking = [
        json.loads(s["summary_json"]).get("tracking") or {} for s in seams if s["summary_json"]
    ]
    tracked = [t for t in tracking if "tracking_rms_mm" in t]
    per_seam: dict[str, list[float]] = {}
    for seam in seams:
        if seam["heat_input_kj_per_mm"] is not None:
            per_seam.setdefault(seam["seam"], []).append(seam["heat_input_kj_per_mm"])
    return {
        "parts_completed": figures.parts_processed,
        "parts_good": figures.parts_good,
        "parts_bad": figures.parts_bad,
        "parts_incomplete": figures.parts_incomplete,
        "seams_welded": sum(1 for s in seams if s["verdict"] != "dry_run"),
        "seams_good": sum(1 for s in seams if s["verdict"] == "good"),
        # A tracked seam was found first: with seam finding on, a seam whose joint is not
        # found faults (F150) before its arc.
        "seams_tracked": len(tracked),
        "faults": len([f for f in faults if f["severity"] != "warning"]),
        "warnings": len([f for f in faults if f["severity"] == "warning"]),
        "fault_codes": sorted({f["code"] for f in faults}),
        "cycle_time_s": figures.cycle_time_mean_s,
        "cycle_time_min_s": figures.cycle_time_min_s,
        "cycle_time_max_s": figures.cycle_time_max_s,
        "arc_on_ratio": figures.arc_on_ratio,
        "parts_per_hour": figures.parts_per_hour,
        "oee": figures.oee,
        "availability": figures.availability,
        "performance": figures.performance,
        "quality": figures.quality,
        "heat_input_kj_per_mm": {
            name: sum(values) / len(values) for name, values in per_seam.items()
        },
        # The controller's own view of its tracking (corrections sent against the joint as
        # measured); None when no seam was tracked.
        "tracking_rms_mm": (
            (sum(t["tracking_rms_mm"] ** 2 for t in tracked) / len(tracked)) ** 0.5
            if tracked
            else None
        ),
        "tracking_max_mm": max((t["tracking_max_mm"] for t in tracked), default=None),
        "database_integrity": integrity,
        "database": str(database),
    }


def _passes_of_paths(
    truth: list[dict[str, Any]], part: PartProgram, welded: dict[str, list[dict]] | None
) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """Each scored weld path (``truth``, in order) with the pass of a multi-pass seam it
    welded (number, kind, the offsets as welded), or None for a one-pass seam's path. The
    passes are the records in ``welded`` (per seam, in order: a re-scan moves a pass, adds or
    leaves one out), else the table's plan, taken in turn (an arc restart, a path of its own,
    would shift the count)."""
    plans = {seam.name: seam.passes for seam in part.seams if seam.passes}
    seen: dict[str, int] = {}
    paired: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    for path in truth:
        if not path.get("samples"):
            continue
        name = str(path["seam"])
        passes = plans.get(name)
        if not passes:
            paired.append((path, None))
            continue
        index = seen.get(name, 0)
        seen[name] = index + 1
        records = (welded or {}).get(name, [])
        if index < len(records):
            record = records[index]
        else:
            planned = passes[index % len(passes)]
            record = {
                "number": index % len(passes) + 1,
                "kind": planned.kind,
                "lateral_offset_mm": planned.lateral_offset_mm,
                "vertical_offset_mm": planned.vertical_offset_mm,
            }
        keys = ("number", "lateral_offset_mm", "vertical_offset_mm")
        paired.append((path, {"kind": str(record["kind"])} | {k: record[k] for k in keys}))
    return paired


def truth_per_pass(
    truth: list[dict[str, Any]], part: PartProgram, welded: dict[str, list[dict]] | None = None
) -> list[dict[str, Any]]:
    """Each pass of the multi-pass seams (``_passes_of_paths``) against the true joint plus
    its offsets as welded: RMS from the score's means and RMS."""
    rows = []
    for path, weld_pass in _passes_of_paths(truth, part, welded):
        if weld_pass is None:
            continue
        lateral, vertical = weld_pass["lateral_offset_mm"], weld_pass["vertical_offset_mm"]
        square = (
            path["lateral_rms_mm"] ** 2
            - 2 * lateral * path["lateral_mean_mm"]
            + lateral**2
            + path["vertical_rms_mm"] ** 2
            - 2 * vertical * path["vertical_mean_mm"]
            + vertical**2
        )
        rows.append(
            {
                "seam": path["seam"],
                "pass": weld_pass["number"],
                "kind": weld_pass["kind"],
                "lateral_offset_mm": lateral,
                "vertical_offset_mm": vertical,
                "rms_mm": max(0.0, square) ** 0.5,
            }
        )
    return rows


def welded_passes(database: Path) -> dict[str, list[dict]]:
    """The passes of the multi-pass seams as welded: their records' ``weld_pass`` per seam,
    in the order recorded (every part's)."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        rows = db.execute("SELECT seam, summary_json FROM seams ORDER BY id").fetchall()
    welded: dict[str, list[dict]] = {}
    for seam, summary in rows:
        weld_pass = (json.loads(summary) if summary else {}).get("weld_pass") or {}
        if "number" in weld_pass:
            welded.setdefault(seam, []).append(weld_pass)
    return welded


def truth_per_seam(
    truth: list[dict[str, Any]],
    part: PartProgram | None = None,
    welded: dict[str, list[dict]] | None = None,
) -> dict[str, dict[str, float]]:
    """The simulator's scores (``sensor.truth``: one per weld path) pooled per seam over every
    part: the torch against the true joint (``rms_mm``, ``max_mm``) and the taught path
    against it (``taught_rms_mm``, ``taught_max_mm``), RMS over every sample of every path.
    A multi-pass seam's by its root passes only (``_passes_of_paths``; ``truth_per_pass`` has
    the others, which run at their offsets from the joint, not on it)."""
    pooled: dict[str, dict[str, float]] = {}
    paired = (
        _passes_of_paths(truth, part, welded)
        if part
        else [(path, None) for path in truth if path.get("samples")]
    )
    for path, weld_pass in paired:
        if weld_pass is not None and weld_pass["number"] != 1:
            continue
        samples = path["samples"]
        seam = pooled.setdefault(
            str(path["seam"]),
            {"samples": 0, "rms_mm": 0.0, "max_mm": 0.0, "taught_rms_mm": 0.0,
             "taught_max_mm": 0.0},
        )  # fmt: skip
        seam["samples"] += samples
        for kind in ("", "taught_"):
            # Sums of squares while pooling; made RMS below.
            seam[f"{kind}rms_mm"] += path[f"{kind}rms_mm"] ** 2 * samples
            seam[f"{kind}max_mm"] = max(seam[f"{kind}max_mm"], path[f"{kind}max_mm"])
    for seam in pooled.values():
        for kind in ("", "taught_"):
            seam[f"{kind}rms_mm"] = (seam[f"{kind}rms_mm"] / seam["samples"]) ** 0.5
    return pooled


def print_summary(summary: dict, time_scale: float, part: str) -> None:
    def fmt(value: Any, digits: int = 2, unit: str = "") -> str:
        if value is None:
            return "-"
        return f"{value:.{digits}f}{unit}" if isinstance(value, float) else f"{value}{unit}"

    # A multi-pass seam has a record per pass: say so, as its records count passes.
    multi_pass = summary.get("multi_pass", False)
    welded_label = "seam passes welded" if multi_pass else "seams welded"
    tracked_of = "passes: the root " if multi_pass else ""
    rows = [
        ("part program", part),
        ("parts completed", fmt(summary["parts_completed"])),
        ("  good / bad", f"{summary['parts_good']} / {summary['parts_bad']}"),
        ("  incomplete", fmt(summary["parts_incomplete"])),
        (welded_label, f"{summary['seams_welded']} ({summary['seams_good']} good)"),
        ("cycle time (mean)", fmt(summary["cycle_time_s"], 1, " s")),
        ("arc-on ratio", fmt(summary["arc_on_ratio"] * 100, 1, " %")
         if summary["arc_on_ratio"] is not None else "-"),
        ("parts per hour", fmt(summary["parts_per_hour"], 0)),
        ("OEE", f"{summary['oee'] * 100:.1f} %  (availability {summary['availability']:.2f}, "
                f"performance {summary['performance']:.2f}, quality {summary['quality']:.2f})"),
        ("faults", f"{summary['faults']} (+{summary['warnings']} warnings)"),
    ]  # fmt: skip
    for seam, heat in summary["heat_input_kj_per_mm"].items():
        rows.append((f"heat input {seam}", f"{heat:.3f} kJ/mm"))
    vision = summary.get("vision")
    if vision:
        rows += [
            ("laser sensor", f"on: the part as in {vision}"),
            ("seams found and tracked", f"{summary['seams_tracked']} of "
             f"{summary['seams_welded']} {tracked_of}"
             "(found before the arc, tracked while welding)")
            if summary.get("robot_interface", "serial") == "serial"
            else ("seams found and tracked", f"{summary['seams_tracked']} of "
                  f"{summary['seams_welded']} {tracked_of}"
                  f"(through {summary['robot_interface']}: found at the job's search position, "
                  "tracked while welding)"),
            ("tracking (controller)", "-" if summary.get("tracking_rms_mm") is None else
             f"RMS {summary['tracking_rms_mm']:.3f} mm, max {summary['tracking_max_mm']:.3f} mm"
             " (corrections against the joint it measured)"),
        ]  # fmt: skip
    else:
        rows.append(("laser sensor", "off: the taught paths welded as taught"))
    width = max(len(label) for label, _ in rows)
    rule = "  " + "-" * (width + 62)
    print(f"\nSummary (simulated cell at {time_scale:g}x: times are wall-clock at that speed)")
    print(rule)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    truth = summary.get("truth_per_seam")
    if truth:
        print(rule)
        print("  Torch against the true joint (the simulator's truth, every physics step):")
        seam_width = max(len("seam"), *(len(name) for name in truth))
        print(f"    {'seam':<{seam_width}}  {'tracked RMS':>11}  {'max':>7}   "
              f"{'taught path RMS':>15}  {'max':>7}  (without the sensor)")  # fmt: skip
        for name, figures in truth.items():
            print(
                f"    {name:<{seam_width}}  {figures['rms_mm']:>8.3f} mm  "
                f"{figures['max_mm']:>4.2f} mm   {figures['taught_rms_mm']:>12.2f} mm  "
                f"{figures['taught_max_mm']:>4.2f} mm"
            )
        for row in summary.get("truth_per_pass", []):
            offsets = f"{row['lateral_offset_mm']:+.1f}/{row['vertical_offset_mm']:+.1f} mm"
            print(
                f"    {row['seam']} pass {row['pass']} ({row['kind']}, at {offsets}): "
                f"RMS {row['rms_mm']:.3f} mm against its plan"
            )
    print(rule)


# -- the demo's processes ---------------------------------------------------------------------


class StopSignals:
    """SIGINT and SIGTERM, noted instead of acted on at once: the demo looks at ``received``
    at every poll and stops its children before it ends (an exception raised between any two
    statements could leave a child started but not yet in the list of those to stop)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        for signum in self.SIGNALS:
            self._previous[signum] = signal.signal(signum, self._note)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _note(self, signum: int, frame: object) -> None:
        if self.received is None:
            self.received = signum

    def check(self) -> None:
        if self.received is not None:
            raise DemoInterrupted(self.received)


class DemoCell:
    """The demo's child processes: the simulator, the controller and, if asked for, the
    operator screen; each one's output goes to ``<name>.log`` in the run folder. ``stop()``
    stops whichever are running: the screen, then the controller (arc off, hold, records
    closed), then the simulator."""

    ORDER = ("gui", "controller", "cellsim")

    def __init__(self, run_dir: Path, config: Path, signals: StopSignals) -> None:
        self.run_dir = run_dir
        self.config = config
        self.signals = signals
        self.processes: dict[str, subprocess.Popen] = {}
        self._logs: dict[str, TextIO] = {}
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    def spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        """``python args`` as a child in a session of its own, which ends when the demo does.

        Its own session: Linux gives each session a fair share of the CPU (autogroup), so the
        simulator and the controller keep theirs beside a CPU hog started from the demo's
        terminal, and a Ctrl-C there reaches the demo alone, which stops them in ORDER.
        Out of reach of a signal to the demo's process group, each child is sent SIGTERM by
        the kernel when the demo ends, however it ends (SIGKILL included)."""
        log = self._logs[name] = open(self.run_dir / f"{name}.log", "w")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,
            # Between fork and exec: safe while the demo has no threads (it has none).
            preexec_fn=_ending_with_parent(),
        )
        self.processes[name] = process
        return process

    def start_simulator(
        self, time_scale: float, control_port: int, extra: list[str]
    ) -> dict[str, str]:
        """``cellsim all``; returns its endpoints once it listens."""
        ready = self.run_dir / "cellsim.ready.json"
        simulator = self.spawn(
            "cellsim",
            ["-m", "sim.cli", "all", "--config", str(self.config), "--time-scale",
             str(time_scale), "--control-port", str(control_port), "--ready-file", str(ready),
             *extra],
        )  # fmt: skip
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not ready.exists():
            self.signals.check()
            if simulator.poll() is not None:
                raise DemoFailed(f"the simulator exited with code {simulator.returncode}")
            if time.monotonic() > deadline:
                raise DemoFailed(f"the simulator did not start in {READY_TIMEOUT_S:g} s")
            time.sleep(POLL_S)
        return json.loads(ready.read_text())

    def start_controller(self) -> None:
        self.spawn("controller", ["-m", "cellctl.cli.main", "run", "--config", str(self.config)])

    def start_gui(self, endpoint: str) -> None:
        """The operator screen on the controller's OPC UA server (it connects, and reconnects,
        by itself)."""
        # Its own trust folder: the demo's controller makes a certificate for this run, on a
        # port of this run; the user's pins are for real cells.
        trust = str(self.run_dir / "hmi")
        self.spawn(
            "gui",
            ["-m", "cellctl.cli.main", "gui", "--endpoint", endpoint, "--trust-dir", trust],
        )

    def check_alive(self) -> None:
        """``DemoFailed`` if the simulator or the controller has ended by itself. The operator
        screen may be closed by its user at any time; the demo carries on without it."""
        for name in ("cellsim", "controller"):
            process = self.processes.get(name)
            if process is not None and process.poll() is not None:
                raise DemoFailed(f"{name} exited with code {process.returncode}")

    def log_tail(self, name: str, lines: int = 15) -> list[str]:
        if name in self._logs:
            self._logs[name].flush()
        path = self.run_dir / f"{name}.log"
        return path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else []

    def stop(self, name: str | None = None) -> None:
        """Stops ``name``, or every process in ORDER; each is reaped before the next."""
        for each in [name] if name else self.ORDER:
            process = self.processes.pop(each, None)
            if process is not None:
                stop_process(process, STOP_TIMEOUT_S)
            log = self._logs.pop(each, None)
            if log is not None:
                log.close()


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _ending_with_parent() -> Callable[[], None] | None:
    """For ``preexec_fn``: the child asks the kernel for SIGTERM when its parent ends (Linux;
    None elsewhere). libc is looked up here, in the parent: between fork and exec the child
    should do as little as it can."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def ask() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    return ask


# -- where things are, as the user types them ---------------------------------------------------


def _shown(path: Path) -> str:
    """``path`` relative to the current folder when it lies inside it, else absolute."""
    path = path.resolve()
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)


def cellctl_command() -> str:
    """How the user runs ``cellctl`` again from here: as this demo was started (``make demo``
    runs ``.venv/bin/cellctl``), plain ``cellctl`` when that is what PATH finds, else through
    this interpreter."""
    script = Path(sys.argv[0])
    if script.name == "cellctl" and script.exists():
        found = shutil.which("cellctl")
        if found and Path(found).resolve() == script.resolve():
            return "cellctl"
        return shlex.quote(_shown(script))
    return f"{shlex.quote(sys.executable)} -m cellctl.cli.main"


def records_commands(run_dir: Path, config: Path, time_scale: float) -> list[tuple[str, str]]:
    """(command, what it shows) for the records the demo leaves in ``run_dir``."""
    cellctl = cellctl_command()
    config_arg = shlex.quote(_shown(config))
    report_dir = shlex.quote(_shown(run_dir / "report"))
    return [
        (f"{cellctl} report --config {config_arg} --time-scale {time_scale:g} --out {report_dir}",
         "the production report, with its CSVs and plots in report/"),
        (f"{cellctl} config history --config {config_arg}",
         "the config the parts were welded with"),
    ]  # fmt: skip


def _display_missing() -> str | None:
    """Why the operator screen cannot open here, or None. Qt on Linux needs an X or Wayland
    display, or a platform named in QT_QPA_PLATFORM (eglfs and linuxfb on a panel PC, or
    offscreen)."""
    if not sys.platform.startswith("linux"):
        return None
    if any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")):
        return None
    return "no display here (DISPLAY, WAYLAND_DISPLAY and QT_QPA_PLATFORM are all unset)"


def _new_run_dir(requested: str | None) -> Path:
    """``requested`` (created), or a new ``var/demo/<local time>`` under the current folder."""
    if requested:
        run_dir = Path(requested).resolve()
        run_dir.mkdir(parents=True, exist_ok=True)
        if any(run_dir.iterdir()):
            raise DemoFailed(f"run folder {run_dir} is not empty")
        return run_dir
    base = (DEFAULT_RUNS_FOLDER / dt.datetime.now().strftime("%Y%m%d-%H%M%S")).resolve()
    for suffix in ["", *(f"-{n}" for n in range(2, 100))]:
        run_dir = base.with_name(base.name + suffix)
        try:
            run_dir.mkdir(parents=True)
            return run_dir
        except FileExistsError:
            continue
    raise DemoFailed(f"no free run folder beside {base}")


# -- the demo ---------------------------------------------------------------------------------


def run_demo(args: argparse.Namespace) -> int:
    config_path = Path(args.config)
    try:
        config = load_cell_config(config_path)
    except ConfigInvalid as invalid:
        for error in invalid.errors:
            print(error, file=sys.stderr)
        return 2
    part_name = args.part or config.active_part.name
    if part_name not in config.parts:
        print(f"cellctl demo: no part program {part_name!r}", file=sys.stderr)
        return 2
    part = config.parts[part_name]
    if args.robot not in (None, "serial") and not all(seam.robot_job for seam in part.seams):
        print(
            f"cellctl demo --robot {args.robot}: part {part_name} names no robot job for "
            "every seam (robot_job); bracket-a12's seams do",
            file=sys.stderr,
        )
        return 2
    vision = _vision_file(args.vision, config_path)
    if vision is not None and not vision.exists():
        if args.vision is not None:
            print(f"cellctl demo: no vision scenario {vision}", file=sys.stderr)
            return 2
        print(f"cellctl demo: no {DEFAULT_VISION} beside {config_path}: the laser sensor stays "
              "as the config has it")  # fmt: skip
        vision = None
    if args.record and vision is None:
        print("cellctl demo: --record needs the laser sensor (--vision)", file=sys.stderr)
        return 2
    if args.gui and (missing := _display_missing()):
        print(
            f"cellctl demo --gui: cannot open the operator screen: {missing}. Run the demo "
            "where a desktop session is (or over ssh -X), or without --gui.",
            file=sys.stderr,
        )
        return 2
    with StopSignals() as signals:
        try:
            run_dir = _new_run_dir(args.run_dir)
        except (DemoFailed, OSError) as error:
            print(f"cellctl demo: {error}", file=sys.stderr)
            return 2
        cell = DemoCell(
            run_dir, prepare_run_folder(config_path, run_dir, part_name, args.robot), signals
        )
        code = 1
        try:
            code = _run(args, cell, part, part_name, vision, signals, config)
        except DemoInterrupted as interrupted:
            print(f"\ncellctl demo: {interrupted} received: stopping the cell", file=sys.stderr)
            code = 128 + interrupted.signum
        except CellStopped as stopped:
            _print_stop(stopped)
        except (DemoFailed, OperatorRefused) as failure:
            print(f"\ncellctl demo failed: {failure}", file=sys.stderr)
            for name in ("cellsim", "controller"):
                print(f"--- last lines of {name}.log ---", file=sys.stderr)
                print("\n".join(cell.log_tail(name)), file=sys.stderr)
        finally:
            cell.stop()
        if signals.received is not None and code < 128:
            code = 128 + signals.received  # the signal came while the cell was stopping
        print(f"\nRun folder: {_shown(run_dir)}  (its config/, production.db, "
              f"controller.log, cellsim.log)")  # fmt: skip
        if (run_dir / "production.db").exists():
            print("See its records with:")
            for command, what in records_commands(run_dir, cell.config, args.time_scale):
                print(f"  {command}")
                print(f"      # {what}")
    return code


def _vision_file(requested: str | None, config_path: Path) -> Path | None:
    """The vision scenario: ``requested``, none for "none", else the demo's own beside the
    cell config."""
    if requested is not None:
        return None if requested.lower() == "none" else Path(requested).resolve()
    return (config_path.parent / DEFAULT_VISION).resolve()


def _run(
    args: argparse.Namespace,
    cell: DemoCell,
    part: Any,
    part_name: str,
    vision: Path | None,
    signals: StopSignals,
    config: Any,
) -> int:
    derived = yaml.safe_load(cell.config.read_text())
    travel = max(config.procedures[s.procedure].travel_speed_mm_per_s for s in part.seams)
    margins = allow_desk_stalls(derived, config.cell, args.time_scale, travel)
    sim_args: list[str] = []
    if vision is not None:
        # The laser sensor on, in the controller and the simulator (which renders the part
        # of the vision scenario).
        derived.setdefault("sensor", {})["enabled"] = True
        sim_args = ["--vision", str(vision)]
        if args.record:
            # Seams recorded for `cellctl replay`, with the simulator's truth beside them.
            record_dir = Path(args.record).resolve()
            derived["sensor"]["recording"] = {"enabled": True, "folder": str(record_dir)}
            sim_args += ["--truth-file", str(record_dir / "truth.json")]
        for seam in part.seams:
            if not (seam.sensing.seam_finding.by_laser and seam.sensing.tracking):
                print(f"  note: seam {seam.name} has seam finding or tracking off in its "
                      "program: the sensor does not guide it")  # fmt: skip
    cell.config.write_text(
        "# Written by cellctl demo: the cell config with the demo's links and store, and room\n"
        f"# for a {DESK_STALL_S:g} s stall of a busy desk computer in every wall-clock limit:\n"
        + "".join(f"#   {line}\n" for line in margins)
        + yaml.safe_dump(derived)
    )
    endpoint = derived["opcua"]["endpoint"]
    print(
        f"cellctl demo: {args.parts} x {part_name} ({len(part.seams)} seams) in a simulated "
        f"cell at {args.time_scale:g}x, laser sensor "
        + (f"on ({_shown(vision)})" if vision else "off")
    )
    print(f"  run folder {_shown(cell.run_dir)}; a stall of this computer up to "
          f"{DESK_STALL_S:g} s is ridden out (see its config/{cell.config.name})")  # fmt: skip
    control_port = free_port()
    for name, where in cell.start_simulator(args.time_scale, control_port, sim_args).items():
        print(f"  simulator {name:<13} {where}")
    cell.start_controller()
    print(f"  controller OPC UA     {endpoint}  (its operator screen while the demo runs: "
          f"{cellctl_command()} gui --endpoint {endpoint} --trust-dir "
          f"{_shown(cell.run_dir / 'hmi')})")  # fmt: skip
    if args.gui:
        cell.start_gui(endpoint)
        print("  operator screen       opening")
    operator = Operator(control_port, cell.run_dir / "production.db")
    planned = part.planned_cycle_time_s
    part_timeout_s = 10 * planned / args.time_scale + 60

    def check() -> None:
        signals.check()
        cell.check_alive()

    records = sum(len(seam.passes) or 1 for seam in part.seams)  # a record per pass
    unit = "pass" if any(seam.passes for seam in part.seams) else "seam"
    window = asyncio.run(
        operate(operator, args.parts, records, {}, part_timeout_s, check, unit=unit)
    )
    truth = asyncio.run(operator.do("sensor.truth")) if vision is not None else None
    summary = summarise(cell.run_dir / "production.db", window, planned / args.time_scale)
    summary["robot_interface"] = args.robot or config.cell.robot.interface
    summary["multi_pass"] = unit == "pass"
    if truth is not None:
        assert vision is not None
        summary["vision"] = _shown(vision)
        welded = welded_passes(cell.run_dir / "production.db")
        summary["truth_per_seam"] = truth_per_seam(truth, part, welded)
        summary["truth_per_pass"] = truth_per_pass(truth, part, welded)
    print_summary(summary, args.time_scale, part_name)
    if args.json_summary:
        Path(args.json_summary).write_text(json.dumps(summary, indent=2))
        print(f"  summary written to {args.json_summary}")
    code = 0 if summary["parts_completed"] == args.parts else 1
    gui = cell.processes.get("gui")
    if gui is not None and gui.poll() is None:
        print("\nThe operator screen stays on the demo's cell: close it (or press Ctrl-C) to "
              "end the demo.")  # fmt: skip
        while gui.poll() is None and signals.received is None:
            time.sleep(POLL_S)
        if signals.received == signal.SIGINT:
            # Ctrl-C is the way out the line above offers, not an interruption (a SIGTERM
            # still is); a signal while the cell stops is noted again.
            signals.received = None
    return code


def _print_stop(stopped: CellStopped) -> None:
    """The faults that stopped the cell: code, text, detail and what the operator does."""
    print(f"\ncellctl demo: {stopped}; the demo cannot carry on.", file=sys.stderr)
    for fault in stopped.faults:
        kind = CATALOGUE.get(fault["code"])
        print(f"  {fault['code']} {fault['text']} ({fault['severity']}, during "
              f"{fault['phase'] or 'the cycle'})", file=sys.stderr)  # fmt: skip
        if fault["detail"]:
            print(f"       {fault['detail']}", file=sys.stderr)
        if kind is not None:
            print(f"       operator: {kind.action}", file=sys.stderr)


def add_parser(commands: Any) -> None:
    demo = commands.add_parser(
        "demo", help="weld parts in a simulated cell with a real controller, print a summary"
    )
    demo.add_argument("--config", default="config/cell.yaml", help="cell config to simulate")
    demo.add_argument(
        "--parts", type=int, default=DEFAULT_PARTS, help=f"parts to weld (default {DEFAULT_PARTS})"
    )
    demo.add_argument("--part", help="part program (default: the config's active part)")
    demo.add_argument(
        "--time-scale",
        type=float,
        default=DEFAULT_TIME_SCALE,
        help=f"simulator speed (default {DEFAULT_TIME_SCALE:g}x real time)",
    )
    demo.add_argument("--json-summary", metavar="PATH", help="also write the summary as JSON")
    demo.add_argument(
        "--run-dir",
        metavar="DIR",
        help="the run folder (config, database, logs), kept (default: var/demo/<local time>)",
    )
    demo.add_argument(
        "--vision",
        metavar="SCENARIO",
        help="the true part and the sensor's disturbances: a vision scenario "
        "(config/vision/*.yaml; default: vision/demo-bracket.yaml beside the cell config); "
        "none: the laser sensor off, the taught paths welded as taught",
    )
    demo.add_argument(
        "--record",
        metavar="DIR",
        help="record the tracked seams (and the true part) here for cellctl replay",
    )
    demo.add_argument(
        "--robot",
        choices=("serial", "kuka_rsi", "abb_egm"),
        help="the robot's interface (default: the config's): kuka_rsi, a KUKA that runs its "
        "own job per seam with the laser's corrections through RSI; abb_egm, an ABB that does "
        "with them through EGM path correction",
    )
    demo.add_argument(
        "--gui",
        action="store_true",
        help="open the operator screen on the demo's controller (needs a display); the demo "
        "ends when it is closed",
    )
    demo.set_defaults(handler=run_demo)
