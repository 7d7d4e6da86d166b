"""``cellctl report``: the production report over a time range or a shift (a table; with
``--out`` also CSV files and PNG plots)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from cellctl.cli.config import add_records_arguments


def add_parser(commands: Any) -> None:
    report = commands.add_parser(
        "report", help="production report over a time range or a shift: table, CSV, PNG plots"
    )
    add_records_arguments(report)
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


def run_report(args: argparse.Namespace) -> int:
    # Imported here (matplotlib): the parser of every command is built without them.
    from cellctl.progress import ProgressBar
    from cellctl.records.plots import write_plots
    from cellctl.records.report import (
        ReportError,
        build_report,
        print_report,
        write_csvs,
    )
    from cellctl.records.store import StoreError, open_records

    steps = 3 + (6 if args.out else 0)
    progress = ProgressBar(steps, enabled=True if args.progress else None)
    try:
        progress.step("reading the records")
        store, config = open_records(args.config, args.store, args.cell)
        try:
            window, title = _window(args, config)
            progress.step("computing the figures")
            report = build_report(store, window, title, args.time_scale)
        finally:
            store.close()
    except (ReportError, StoreError) as error:
        progress.finish("failed")
        print(f"cellctl report: {error}", file=sys.stderr)
        return 2
    progress.step("printing")
    if args.out:
        folder = Path(args.out)
        folder.mkdir(parents=True, exist_ok=True)
        progress.step("writing CSV files")
        written = write_csvs(report, folder)
        written += write_plots(report, folder, progress)
    progress.finish("report made")
    print_report(report)
    if args.out:
        print(f"\nwritten to {args.out}: " + ", ".join(p.name for p in written))
    return 0


def _window(args: argparse.Namespace, config: Any) -> tuple[tuple[float, float] | None, str]:
    # Imported here (matplotlib): the parser of every command is built without them.
    from cellctl.records.report import (
        ReportError,
        parse_time,
        shift_window,
    )

    if args.shift:
        shifts = {s.name: s for s in (config.cell.shifts if config else [])}
        if args.shift not in shifts:
            known = ", ".join(shifts) or "none: add shifts to cell.yaml"
            raise ReportError(f"no shift {args.shift!r} in the cell config (shifts: {known})")
        day = None
        if args.date:
            try:
                day = dt.date.fromisoformat(args.date)
            except ValueError:
                raise ReportError(f"--date {args.date!r}: expected YYYY-MM-DD") from None
        window = shift_window(shifts[args.shift], day, dt.datetime.now())
        return window, f"shift {args.shift}"
    if args.start or args.end:
        start = parse_time(args.start, "--from") if args.start else 0.0
        end = parse_time(args.end, "--to") if args.end else dt.datetime.now().timestamp()
        return (start, end), ""
    return None, ""
