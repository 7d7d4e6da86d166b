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


def _demo(args: argparse.Namespace) -> int:
    from cellctl.demo import run_demo

    return run_demo(args)


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

    demo = commands.add_parser(
        "demo", help="start the simulated cell and show the drivers talking to it"
    )
    demo.add_argument("--config", default="config/cell.yaml", help="cell config to simulate")
    demo.add_argument(
        "--time-scale", type=float, default=1.0, help="simulator speed (1 = real time)"
    )
    demo.set_defaults(handler=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
