"""``cellctl config``: check a config, and the config versions the records keep.

``config check PATH`` validates a cell config and every part program and procedure it uses,
printing every error with file, line and field (exit 2 when there are any). ``config history``
lists the versions in the production store with the parts welded under each; ``config diff A
B`` says what changed between two (digest prefixes from the store, or config paths; exit 1
when they differ).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cellctl.config import ConfigInvalid, load_cell_config
from cellctl.records.store import ProductionStore, StoreError, open_records
from cellctl.records.versions import (
    VersionError,
    diff_versions,
    format_diff,
    format_history,
    load_version,
)

EXIT_OK = 0
EXIT_DIFFERENT = 1
EXIT_BAD = 2


def add_parser(commands: Any) -> None:
    config = commands.add_parser("config", help="check cell configs, and their versions")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    check = config_commands.add_parser(
        "check", help="validate a cell config and every part program and procedure it uses"
    )
    check.add_argument("path", help="the cell config, e.g. config/cell.yaml")
    check.set_defaults(handler=run_check)
    diff = config_commands.add_parser(
        "diff", help="what changed between two config versions (digest prefixes or files)"
    )
    diff.add_argument("a", help="the older version: a digest prefix from the store, or a path")
    diff.add_argument("b", help="the newer version: a digest prefix from the store, or a path")
    add_records_arguments(diff)
    diff.set_defaults(handler=run_diff)
    history = config_commands.add_parser(
        "history", help="config versions in the store, with the parts welded under each"
    )
    add_records_arguments(history)
    history.set_defaults(handler=run_history)


def add_records_arguments(command: argparse.ArgumentParser) -> None:
    """Where a reading command finds the production store."""
    command.add_argument("--config", default="config/cell.yaml", help="the cell config")
    command.add_argument(
        "--store", help="production database, a path or postgresql://... (default: the config's)"
    )
    command.add_argument("--cell", help="the cell to read (default: the config's; * for all)")


def run_check(args: argparse.Namespace) -> int:
    path = Path(args.path)
    try:
        loaded = load_cell_config(path)
    except ConfigInvalid as invalid:
        for error in invalid.errors:
            print(error, file=sys.stderr)
        count = len(invalid.errors)
        print(f"{count} error{'s' if count != 1 else ''} in {path}", file=sys.stderr)
        return EXIT_BAD
    seams = sum(len(p.seams) for p in loaded.parts.values())
    print(
        f"{path}: OK: cell {loaded.cell.cell.name}, {len(loaded.parts)} part program(s) with "
        f"{seams} seam(s), {len(loaded.procedures)} procedure(s), "
        f"config {loaded.digest[:12]}"
    )
    return EXIT_OK


def run_history(args: argparse.Namespace) -> int:
    try:
        store, _ = open_records(args.config, args.store, args.cell)
    except StoreError as error:
        print(f"cellctl config history: {error}", file=sys.stderr)
        return EXIT_BAD
    try:
        print("\n".join(format_history(store)))
    finally:
        store.close()
    return EXIT_OK


def run_diff(args: argparse.Namespace) -> int:
    store: ProductionStore | None = None
    try:
        needs_store = not all(Path(ref).exists() for ref in (args.a, args.b))
        if needs_store:
            store, _ = open_records(args.config, args.store, "*")
        old = load_version(args.a, store)
        new = load_version(args.b, store)
    except (StoreError, VersionError) as error:
        print(f"cellctl config diff: {error}", file=sys.stderr)
        return EXIT_BAD
    finally:
        if store is not None:
            store.close()
    changes = diff_versions(old, new)
    print("\n".join(format_diff(old, new, changes)))
    return EXIT_DIFFERENT if changes else EXIT_OK
