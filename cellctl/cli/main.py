"""The ``cellctl`` command line: one sub-command per thing an operator or engineer does, each
in a module of its own (``cellctl.cli.<command>``) that adds its parser and its handler."""

from __future__ import annotations

import argparse
import os
import sys

from cellctl.cli import (
    calibrate,
    certs,
    config,
    demo,
    gui,
    nc,
    passwd,
    record,
    replay,
    report,
    run,
)

EXIT_OK = 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cellctl", description="Control software for a robotic welding cell."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (config, run, demo, passwd, certs, gui, report, record, nc, calibrate, replay):
        command.add_parser(commands)
    return parser


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
