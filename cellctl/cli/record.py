"""``cellctl record SERIAL``: a part's weld record as a PDF (``cellctl.records.weld_record``)."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from cellctl.cli.config import add_records_arguments

EXIT_OK, EXIT_NOT_FOUND = 0, 1


def add_parser(commands: Any) -> None:
    record = commands.add_parser("record", help="a part's weld record (ISO 3834-2) as a PDF")
    record.add_argument("serial", help="the part's serial number")
    add_records_arguments(record)
    record.add_argument("--part", type=int, help="which part of the serial (default: the last)")
    record.add_argument("--out", help="the PDF to write (default: weld-record-SERIAL.pdf)")
    record.set_defaults(handler=run_record)


def run_record(args: argparse.Namespace) -> int:
    # Imported here (reportlab): the parser of every command is built without it.
    from cellctl.records.store import StoreError, open_records
    from cellctl.records.weld_record import RecordNotFound, part_record
    from cellctl.records.weld_record_pdf import write_weld_record

    safe = re.sub(r"[^A-Za-z0-9_.\-]", "_", args.serial)
    out = Path(args.out) if args.out else Path(f"weld-record-{safe}.pdf")
    try:
        store, _config = open_records(args.config, args.store, args.cell)
        try:
            record = part_record(store, args.serial, args.part)
        finally:
            store.close()
    except (StoreError, RecordNotFound) as error:
        print(f"cellctl record: {error}", file=sys.stderr)
        return EXIT_NOT_FOUND
    write_weld_record(record, out)
    part = record.part
    print(
        f"{out}: serial {args.serial}, part {part['id']} ({part['part_program']}), "
        f"{len(record.seams)} seam record(s), verdict {part['verdict'] or part['status']}"
    )
    return EXIT_OK
