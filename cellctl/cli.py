"""The ``cellctl`` command line: one sub-command per thing an operator or engineer does."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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
    from cellctl.run import main as run_main

    return run_main(args.config, args.store, args.log_level)


def _demo(args: argparse.Namespace) -> int:
    from cellctl.demo import run_demo

    return run_demo(args)


def _calibrate(args: argparse.Namespace) -> int:
    from cellctl.vision.calibrate_cli import run_calibrate

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

    run = commands.add_parser("run", help="run the cell controller")
    run.add_argument("--config", default="config/cell.yaml", help="the cell config")
    run.add_argument("--store", help="production database (default: the config's store_path)")
    run.add_argument("--log-level", default="WARNING")
    run.set_defaults(handler=_run)

    demo = commands.add_parser(
        "demo", help="weld parts in a simulated cell with a real controller, print a summary"
    )
    demo.add_argument("--config", default="config/cell.yaml", help="cell config to simulate")
    demo.add_argument("--parts", type=int, default=5, help="parts to weld (default 5)")
    demo.add_argument("--part", help="part program (default: the config's active part)")
    demo.add_argument(
        "--time-scale", type=float, default=10.0, help="simulator speed (default 10x real time)"
    )
    demo.add_argument("--json-summary", metavar="PATH", help="also write the summary as JSON")
    demo.add_argument("--keep", action="store_true", help="keep the run folder (logs, database)")
    demo.add_argument(
        "--vision",
        metavar="SCENARIO",
        help="laser sensor on: seam finding and tracking on the part of this vision scenario "
        "(config/vision/*.yaml)",
    )
    demo.add_argument(
        "--record",
        metavar="DIR",
        help="with --vision: record the tracked seams (and the true part) here for cellctl replay",
    )
    demo.set_defaults(handler=_demo)

    calibrate = commands.add_parser(
        "calibrate", help="compute the laser sensor's calibration from frames of the target"
    )
    calibrate.add_argument(
        "--frames", required=True, help="folder of lit_NN.png / laser_NN.png pairs (view 00: jig)"
    )
    calibrate.add_argument("--target", default="config/vision/calibration-target.yaml")
    calibrate.add_argument("--out", default="config/sensor-calibration.yaml")
    calibrate.set_defaults(handler=_calibrate)

    from cellctl.replay_cli import add_parser as add_replay_parser

    add_replay_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
