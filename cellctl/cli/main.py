"""The ``cellctl`` command line: one sub-command per thing an operator or engineer does."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from cellctl.config import ConfigInvalid, load_cell_config

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_CONFIG = 2


def _config_check(args: argparse.Namespace) -> int:
    path = Path(args.path)
    try:
        loaded = load_cell_config(path)
    except ConfigInvalid as invalid:
        for error in invalid.errors:
            print(error, file=sys.stderr)
        count = len(invalid.errors)
        print(f"{count} error{'s' if count != 1 else ''} in {path}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    seams = sum(len(p.seams) for p in loaded.parts.values())
    print(
        f"{path}: OK: cell {loaded.cell.cell.name}, {len(loaded.parts)} part program(s) with "
        f"{seams} seam(s), {len(loaded.procedures)} procedure(s), "
        f"config {loaded.digest[:12]}"
    )
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from cellctl.cli.run import main as run_main

    return run_main(args.config, args.store, args.log_level)


def _demo(args: argparse.Namespace) -> int:
    from cellctl.cli.demo import run_demo

    return run_demo(args)


def _passwd(args: argparse.Namespace) -> int:
    import getpass

    from cellctl.plant.opcua.users import hash_password

    if args.stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            print("cellctl passwd: the two passwords differ", file=sys.stderr)
            return EXIT_FAILED
    if len(password) < 8:
        print("cellctl passwd: use at least 8 characters", file=sys.stderr)
        return EXIT_FAILED
    print(hash_password(password))
    return EXIT_OK


def _gui(args: argparse.Namespace) -> int:
    from cellctl.gui.app import run_gui

    return run_gui(args)


def _calibrate(args: argparse.Namespace) -> int:
    from cellctl.cli.calibrate import run_calibrate

    return run_calibrate(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cellctl", description="Control software for a robotic welding cell."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    config = commands.add_parser("config", help="check cell configs")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    check = config_commands.add_parser(
        "check", help="validate a cell config and every part program and procedure it uses"
    )
    check.add_argument("path", help="the cell config, e.g. config/cell.yaml")
    check.set_defaults(handler=_config_check)
    _add_config_version_commands(config_commands)

    run = commands.add_parser("run", help="run the cell controller")
    run.add_argument("--config", default="config/cell.yaml", help="the cell config")
    run.add_argument("--store", help="production database (default: the config's store_path)")
    run.add_argument("--log-level", default="WARNING")
    run.set_defaults(handler=_run)

    from cellctl.cli.demo import DEFAULT_PARTS, DEFAULT_TIME_SCALE

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
        "--gui",
        action="store_true",
        help="open the operator screen on the demo's controller (needs a display); the demo "
        "ends when it is closed",
    )
    demo.set_defaults(handler=_demo)

    passwd = commands.add_parser(
        "passwd", help="hash a password for an OPC UA user in the cell config (opcua.users)"
    )
    passwd.add_argument(
        "--stdin", action="store_true", help="read the password from standard input"
    )
    passwd.set_defaults(handler=_passwd)

    gui = commands.add_parser("gui", help="the operator's screen (an OPC UA client)")
    gui.add_argument(
        "--endpoint", default="opc.tcp://127.0.0.1:4840", help="the controller's OPC UA server"
    )
    gui.add_argument("--user", help="log in as this user (default: anonymous, read only)")
    gui.add_argument("--password", help="the user's password (asked for if --user is given)")
    gui.add_argument(
        "--screenshot", metavar="DIR", help="save one PNG per screen into DIR, then exit"
    )
    gui.add_argument("--full-screen", action="store_true", help="fill the panel's screen")
    gui.set_defaults(handler=_gui)

    _add_report_command(commands)

    calibrate = commands.add_parser(
        "calibrate", help="compute the laser sensor's calibration from frames of the target"
    )
    calibrate.add_argument(
        "--frames", required=True, help="folder of lit_NN.png / laser_NN.png pairs (view 00: jig)"
    )
    calibrate.add_argument("--target", default="config/vision/calibration-target.yaml")
    calibrate.add_argument("--out", default="config/sensor-calibration.yaml")
    calibrate.set_defaults(handler=_calibrate)

    from cellctl.cli.replay import add_parser as add_replay_parser

    add_replay_parser(commands)
    return parser


def _records_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--config", default="config/cell.yaml", help="the cell config")
    command.add_argument(
        "--store", help="production database, a path or postgresql://... (default: the config's)"
    )
    command.add_argument("--cell", help="the cell to read (default: the config's; * for all)")


def _add_config_version_commands(config_commands: Any) -> None:
    from cellctl.records.versions import run_diff, run_history

    diff = config_commands.add_parser(
        "diff", help="what changed between two config versions (digest prefixes or files)"
    )
    diff.add_argument("a", help="the older version: a digest prefix from the store, or a path")
    diff.add_argument("b", help="the newer version: a digest prefix from the store, or a path")
    _records_arguments(diff)
    diff.set_defaults(handler=run_diff)
    history = config_commands.add_parser(
        "history", help="config versions in the store, with the parts welded under each"
    )
    _records_arguments(history)
    history.set_defaults(handler=run_history)


def _add_report_command(commands: Any) -> None:
    from cellctl.records.report import run_report

    report = commands.add_parser(
        "report", help="production report over a time range or a shift: table, CSV, PNG plots"
    )
    _records_arguments(report)
    report.add_argument("--from", dest="start", help="start, local time: 2026-11-24 06:00")
    report.add_argument("--to", dest="end", help="end, local time (default: now)")
    report.add_argument("--shift", help="a shift named in the cell config's shifts")
    report.add_argument("--date", help="the shift's date, YYYY-MM-DD (default: the latest)")
    report.add_argument("--out", help="also write CSV files and PNG plots into this folder")
    report.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="simulator speed the records were made at (divides planned cycle times)",
    )
    report.add_argument(
        "--progress", action="store_true", help="draw the progress bar even when not on a tty"
    )
    report.set_defaults(handler=run_report)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except BrokenPipeError:
        # `cellctl report | head`: the reader has gone; end quietly, as the Python docs advise
        # (point stdout at devnull so that the interpreter's final flush does not raise again).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
