"""``cellctl demo``: the simulated cell and a real controller, welding N parts, headless.

Runs exactly what a test rig would run, as child processes: ``cellsim all`` (the far end of
every wire) and ``cellctl run`` (the controller), on a copy of the cell config whose addresses
point at a private run folder, so that two demos or a demo and a test never collide. The demo
itself plays the operator through the simulator's control channel: it loads a part, presses
Start on the PLC's panel, waits for the part to finish, unloads it and loads the next. At the
end it stops both processes and prints the summary from the production database.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from cellctl.config import ConfigInvalid, load_cell_config
from cellctl.oee import throughput

DEFAULT_TIME_SCALE = 10.0
READY_TIMEOUT_S = 30.0


class DemoFailed(Exception):
    pass


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def prepare_run_folder(config_path: Path, run_dir: Path, part: str | None) -> Path:
    """A copy of the config tree whose links and store live in ``run_dir``."""
    source = config_path.parent
    target = run_dir / "config"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("scenarios", "*.db"))
    cell = yaml.safe_load(config_path.read_text())
    cell["plc"]["link"]["port"] = _free_port()
    cell["power_source"]["link"]["port"] = str(run_dir / "power_source")
    cell["robot"]["link"]["port"] = str(run_dir / "robot")
    if "sensor" in cell:
        cell["sensor"]["source"] = f"127.0.0.1:{_free_port()}"
    controller = cell.setdefault("controller", {})
    controller["store_path"] = str(run_dir / "production.db")
    cell.setdefault("opcua", {})["endpoint"] = f"opc.tcp://127.0.0.1:{_free_port()}"
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


class Operator:
    """The demo's operator: the simulator's panel (control channel) and the records."""

    def __init__(self, control_port: int, database: Path) -> None:
        self.control_port = control_port
        self.database = database

    async def do(self, cmd: str, **args: Any) -> Any:
        """One command on the simulator's control channel (JSON lines, see sim/control.py;
        the controller's package may not import the simulator, so the demo speaks the wire)."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.control_port)
        try:
            writer.write(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
            await writer.drain()
            line = await reader.readline()
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        answer = json.loads(line) if line else {"ok": False, "error": "no answer"}
        if not answer.get("ok"):
            raise DemoFailed(f"simulator refused {cmd}: {answer.get('error')}")
        return answer.get("result")

    def query(self, sql: str, *params: Any) -> list[sqlite3.Row]:
        if not self.database.exists():
            return []
        with contextlib.closing(
            sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=5)
        ) as db:
            db.row_factory = sqlite3.Row
            try:
                return db.execute(sql, params).fetchall()
            except sqlite3.OperationalError:
                return []  # the controller has not created the schema yet

    def state(self) -> str:
        rows = self.query("SELECT to_state FROM state_changes ORDER BY id DESC LIMIT 1")
        return rows[0]["to_state"] if rows else "Stopped"


class Progress:
    """A progress bar on a terminal; one line per step when stderr is a file or a pipe."""

    def __init__(self, total_parts: int, seams_per_part: int, width: int = 30) -> None:
        self.total = total_parts
        self.seams_per_part = seams_per_part
        self.width = width
        self.tty = sys.stderr.isatty()
        self._last = ""

    def show(self, done: int, seams: int) -> None:
        fraction = min(1.0, (done + seams / max(1, self.seams_per_part)) / max(1, self.total))
        filled = int(self.width * fraction)
        text = (
            f"[{'#' * filled}{'.' * (self.width - filled)}] {100 * fraction:5.1f}%  "
            f"part {min(done + 1, self.total)}/{self.total}, seam {seams}/{self.seams_per_part}"
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


async def _wait(condition, timeout_s: float, what: str, check=None) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if check is not None:
            check()
        if time.monotonic() > deadline:
            raise DemoFailed(f"timed out after {timeout_s:.0f} s waiting for {what}")
        await asyncio.sleep(0.05)


async def operate(
    operator: Operator, parts: int, seams_per_part: int, processes: dict, part_timeout_s: float
) -> tuple[float, float]:
    """Weld ``parts`` parts as an operator would; returns the production window."""
    progress = Progress(parts, seams_per_part)

    def alive() -> None:
        for name, process in processes.items():
            if process.poll() is not None:
                raise DemoFailed(f"{name} exited with code {process.returncode}")

    # Reset until the controller is connected and Idle (it refuses while links are down).
    deadline = time.monotonic() + READY_TIMEOUT_S
    while operator.state() != "Idle":
        alive()
        if time.monotonic() > deadline:
            raise DemoFailed(f"controller did not reach Idle (state {operator.state()})")
        await operator.do("plc.press", button="reset_button")
        await asyncio.sleep(0.5)
    window_start = time.time()
    for number in range(parts):
        await operator.do("plc.set", part_loaded=True)
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
            raise DemoFailed(f"part {number + 1} ended {status['status']}: {status['note']}")
        # Unload the welded part; the next loop loads a fresh one.
        await operator.do("plc.set", part_loaded=False)
        await _wait(lambda: operator.state() == "Idle", 10, "the cell to return to Idle", alive)
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


def print_summary(summary: dict, time_scale: float, part: str) -> None:
    def fmt(value: Any, digits: int = 2, unit: str = "") -> str:
        if value is None:
            return "-"
        return f"{value:.{digits}f}{unit}" if isinstance(value, float) else f"{value}{unit}"

    rows = [
        ("part program", part),
        ("parts completed", fmt(summary["parts_completed"])),
        ("  good / bad", f"{summary['parts_good']} / {summary['parts_bad']}"),
        ("  incomplete", fmt(summary["parts_incomplete"])),
        ("seams welded", f"{summary['seams_welded']} ({summary['seams_good']} good)"),
        ("cycle time (mean)", fmt(summary["cycle_time_s"], 1, " s")),
        ("arc-on ratio", fmt(summary["arc_on_ratio"] * 100, 1, " %")
         if summary["arc_on_ratio"] is not None else "-"),
        ("parts per hour", fmt(summary["parts_per_hour"], 0)),
        ("OEE", f"{summary['oee'] * 100:.1f} %  (availability {summary['availability']:.2f}, "
                f"performance {summary['performance']:.2f}, quality {summary['quality']:.2f})"),
        ("faults", f"{summary['faults']} (+{summary['warnings']} warnings)"),
        ("tracking (controller)", "-" if summary.get("tracking_rms_mm") is None else
         f"RMS {summary['tracking_rms_mm']:.3f} mm, max {summary['tracking_max_mm']:.3f} mm"),
        ("tracking (sim truth)", "-" if summary.get("tracking_truth_rms_mm") is None else
         f"worst seam RMS {summary['tracking_truth_rms_mm']:.3f} mm, "
         f"max {summary['tracking_truth_max_mm']:.3f} mm"),
    ]  # fmt: skip
    for seam, heat in summary["heat_input_kj_per_mm"].items():
        rows.append((f"heat input {seam}", f"{heat:.3f} kJ/mm"))
    width = max(len(label) for label, _ in rows)
    print(f"\nSummary (simulated cell at {time_scale:g}x: times are wall-clock at that speed)")
    print("  " + "-" * (width + 40))
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    print("  " + "-" * (width + 40))


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
    if getattr(args, "record", None) and not getattr(args, "vision", None):
        print("cellctl demo: --record needs --vision (tracked seams are recorded)", file=sys.stderr)
        return 2
    run_dir = Path(tempfile.mkdtemp(prefix="cellctl-demo-"))
    derived = prepare_run_folder(config_path, run_dir, part_name)
    vision_args: list[str] = []
    if getattr(args, "vision", None):
        # The laser sensor on, in the controller and the simulator (which renders the part
        # of the vision scenario).
        cell = yaml.safe_load(derived.read_text())
        cell["sensor"]["enabled"] = True
        vision_args = ["--vision", str(Path(args.vision).resolve())]
        if getattr(args, "record", None):
            # Seams recorded for `cellctl replay`, with the simulator's truth beside them.
            record_dir = Path(args.record).resolve()
            cell["sensor"]["recording"] = {"enabled": True, "folder": str(record_dir)}
            vision_args += ["--truth-file", str(record_dir / "truth.json")]
        derived.write_text(yaml.safe_dump(cell))
    control_port = _free_port()
    database = run_dir / "production.db"
    python = sys.executable
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    print(f"cellctl demo: {args.parts} x {part_name} ({len(part.seams)} seams) in a simulated "
          f"cell at {args.time_scale:g}x; run folder {run_dir}")  # fmt: skip
    logs = {name: open(run_dir / f"{name}.log", "w") for name in ("cellsim", "controller")}  # noqa: SIM115
    processes: dict[str, subprocess.Popen] = {}
    code = 1
    try:
        ready = run_dir / "cellsim.ready.json"
        processes["cellsim"] = subprocess.Popen(
            [python, "-m", "sim.cli", "all", "--config", str(derived), "--time-scale",
             str(args.time_scale), "--control-port", str(control_port), "--ready-file",
             str(ready), *vision_args],
            stdout=logs["cellsim"], stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not ready.exists():
            if processes["cellsim"].poll() is not None or time.monotonic() > deadline:
                raise DemoFailed("the simulator did not start")
            time.sleep(0.05)
        for name, where in json.loads(ready.read_text()).items():
            print(f"  simulator {name:<13} {where}")
        processes["controller"] = subprocess.Popen(
            [python, "-m", "cellctl.cli", "run", "--config", str(derived)],
            stdout=logs["controller"], stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        operator = Operator(control_port, database)
        planned = part.planned_cycle_time_s
        part_timeout_s = 10 * planned / args.time_scale + 60
        window = asyncio.run(
            operate(operator, args.parts, len(part.seams), processes, part_timeout_s)
        )
        truth = asyncio.run(operator.do("sensor.truth")) if vision_args else None
        _stop(processes.pop("controller"))
        summary = summarise(database, window, planned / args.time_scale)
        if truth:
            # The simulator's truth: the torch against the true seam, every physics step.
            summary["tracking_truth_rms_mm"] = max(s["rms_mm"] for s in truth if "rms_mm" in s)
            summary["tracking_truth_max_mm"] = max(s["max_mm"] for s in truth if "max_mm" in s)
        print_summary(summary, args.time_scale, part_name)
        if args.json_summary:
            Path(args.json_summary).write_text(json.dumps(summary, indent=2))
            print(f"  summary written to {args.json_summary}")
        code = 0 if summary["parts_completed"] == args.parts else 1
    except DemoFailed as failure:
        sys.stderr.write("\n")
        print(f"cellctl demo failed: {failure}", file=sys.stderr)
        for name in logs:
            logs[name].flush()
            tail = (run_dir / f"{name}.log").read_text().splitlines()[-15:]
            print(f"--- last lines of {name}.log ---", file=sys.stderr)
            print("\n".join(tail), file=sys.stderr)
    except KeyboardInterrupt:
        print("\ncellctl demo: interrupted", file=sys.stderr)
    finally:
        for process in processes.values():
            _stop(process)
        for log_file in logs.values():
            log_file.close()
        if not args.keep:
            shutil.rmtree(run_dir, ignore_errors=True)
        else:
            print(f"  run folder kept: {run_dir}")
    return code


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
