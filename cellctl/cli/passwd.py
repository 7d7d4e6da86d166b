"""``cellctl passwd``: hash a password for an OPC UA user in the cell config (``opcua.users``).

The hash (scrypt, ``cellctl.plant.opcua.users``) goes to standard output; the password is
asked twice on the terminal, or read once from standard input with ``--stdin``.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from cellctl.plant.opcua.users import hash_password

EXIT_OK = 0
EXIT_FAILED = 1
PASSWORD_MIN_CHARS = 8


def add_parser(commands: Any) -> None:
    passwd = commands.add_parser(
        "passwd", help="hash a password for an OPC UA user in the cell config (opcua.users)"
    )
    passwd.add_argument(
        "--stdin", action="store_true", help="read the password from standard input"
    )
    passwd.set_defaults(handler=run_passwd)


def run_passwd(args: argparse.Namespace) -> int:
    if args.stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            print("cellctl passwd: the two passwords differ", file=sys.stderr)
            return EXIT_FAILED
    if len(password) < PASSWORD_MIN_CHARS:
        print(f"cellctl passwd: use at least {PASSWORD_MIN_CHARS} characters", file=sys.stderr)
        return EXIT_FAILED
    print(hash_password(password))
    return EXIT_OK
