"""``cellctl gui``: the operator's screen, a separate process that only talks to the
controller's OPC UA server (``cellctl.gui``)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(commands: Any) -> None:
    gui = commands.add_parser("gui", help="the operator's screen (an OPC UA client)")
    gui.add_argument(
        "--endpoint", default="opc.tcp://127.0.0.1:4840", help="the controller's OPC UA server"
    )
    gui.add_argument("--user", help="log in as this user (default: anonymous, read only)")
    gui.add_argument("--password", help="the user's password (asked for if --user is given)")
    gui.add_argument(
        "--screenshot", metavar="DIR", help="save one PNG per screen into DIR, then exit"
    )
    gui.add_argument(
        "--trust-dir",
        metavar="DIR",
        help="where this screen keeps its OPC UA certificate and the pinned certificates of the "
        "controllers it trusts (default: ~/.config/cellctl/opcua)",
    )
    gui.add_argument("--full-screen", action="store_true", help="fill the panel's screen")
    gui.add_argument(
        "--language",
        choices=("en", "zh_CN"),
        help="the language of a user who has not chosen one at the panel (default: the "
        "machine's locale); with --screenshot, the language of the screenshots",
    )
    gui.add_argument(
        "--settings",
        metavar="FILE",
        help="where the panel remembers each user's language (default: ~/.config/cellctl/hmi.ini)",
    )
    gui.set_defaults(handler=run_gui_command)


def run_gui_command(args: argparse.Namespace) -> int:
    from cellctl.gui.app import run_gui  # Qt only in this command's process

    return run_gui(args)
