"""``cellctl nc``: non-conformances from the production store: list them, record a repair
weld against one, and (quality role) release or scrap the part (``cellctl.trace.quality``).

A change is made as a user of the cell config's ``opcua.users``, checked by their password
(asked for, or ``CELLCTL_PASSWORD`` for scripts): recording a repair needs the operator role,
a release or a scrap the quality role, as the OPC UA methods do. Every change is audited.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import os
import sys
from pathlib import Path
from typing import Any

from cellctl.cli.config import add_records_arguments

EXIT_OK, EXIT_REFUSED, EXIT_BAD = 0, 1, 2
NEEDED_ROLE = {"repair": "operator", "release": "quality", "scrap": "quality"}


def add_parser(commands: Any) -> None:
    nc = commands.add_parser("nc", help="non-conformances: list, repair, release, scrap")
    actions = nc.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="non-conformances, oldest first")
    add_records_arguments(listing)
    listing.add_argument("--status", choices=("open", "repaired", "released", "scrapped"))
    listing.set_defaults(handler=run_list)
    for action, text in (
        ("repair", "record a repair weld against a non-conformance (operator)"),
        ("release", "release the part of a non-conformance (quality)"),
        ("scrap", "scrap the part of a non-conformance (quality)"),
    ):
        change = actions.add_parser(action, help=text)
        change.add_argument("target", help="a non-conformance id, or a part's serial number")
        change.add_argument("note", help="what was done (repair) or why (release, scrap)")
        change.add_argument("--config", default="config/cell.yaml", help="the cell config")
        change.add_argument("--store", help="production database (default: the config's)")
        change.add_argument("--user", required=True, help="an OPC UA user of the cell config")
        change.add_argument("--welder", help="who welded the repair (repair only)")
        change.set_defaults(handler=run_change)


def run_list(args: argparse.Namespace) -> int:
    from cellctl.records.store import StoreError, open_records

    try:
        store, _config = open_records(args.config, args.store, args.cell)
    except StoreError as error:
        print(f"cellctl nc: {error}", file=sys.stderr)
        return EXIT_BAD
    try:
        rows = store.nonconformances(args.status)
    finally:
        store.close()
    print(f"{'nc':>4}  {'serial':<16} {'part':>5}  {'opened':<16}  {'status':<9}  reason")
    for nc in rows:
        opened = dt.datetime.fromtimestamp(nc["opened_at"]).strftime("%Y-%m-%d %H:%M")
        print(f"{nc['id']:>4}  {nc['serial'] or '-':<16} {nc['part_id']:>5}  {opened:<16}  "
              f"{nc['status']:<9}  {nc['reason'][:80]}")  # fmt: skip
    if not rows:
        print("(no non-conformances)")
    return EXIT_OK


def run_change(args: argparse.Namespace) -> int:
    from cellctl.config import ConfigInvalid, load_cell_config
    from cellctl.plant.opcua.users import Role, verify_password
    from cellctl.records.store import ProductionStore, StoreError, store_location
    from cellctl.trace import quality
    from cellctl.trace.identity import TraceRefused

    try:
        config = load_cell_config(Path(args.config))
    except ConfigInvalid as invalid:
        print(f"cellctl nc: {args.config}: invalid config: {invalid.errors[0]}", file=sys.stderr)
        return EXIT_BAD
    users = {u.name: u for u in config.cell.opcua.users}
    user = users.get(args.user)
    password = os.environ.get("CELLCTL_PASSWORD") or getpass.getpass(f"password of {args.user}: ")
    if user is None or not verify_password(password, user.password_hash):
        print(f"cellctl nc: user {args.user}: unknown, or the password is wrong", file=sys.stderr)
        return EXIT_REFUSED
    needed = Role[NEEDED_ROLE[args.action].upper()]
    if Role[user.role.upper()] < needed:
        print(f"cellctl nc: {args.action} needs the {needed.label} role; {args.user} is "
              f"{user.role}", file=sys.stderr)  # fmt: skip
        return EXIT_REFUSED
    actor = f"cli:{args.user}"
    text = f"{args.target} {args.note}"
    try:
        store = ProductionStore(
            args.store or store_location(config), cell=config.cell.cell.name, recover=False
        )
    except StoreError as error:
        print(f"cellctl nc: {error}", file=sys.stderr)
        return EXIT_BAD
    try:
        try:
            if args.action == "repair":
                answer = quality.record_repair(store, text, actor, args.welder)
            else:
                answer = quality.decide(store, args.action, text, actor)
        except TraceRefused as refused:
            store.audit(actor, f"nc {args.action}", text[:200], f"refused: {refused}")
            print(f"cellctl nc: {refused}", file=sys.stderr)
            return EXIT_REFUSED
        store.audit(actor, f"nc {args.action}", text[:200], "ok")
    finally:
        store.close()
    print(answer)
    return EXIT_OK
