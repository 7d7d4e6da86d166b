"""Work orders from the MES: a folder it drops files into, and the OPC UA method
``AddWorkOrder``. Each order names a part number (which the config maps to a part program), a
quantity and a due time; the cell welds the open order due first, one part program after
the other, and each part's record names its order.

Files (``traceability.work_orders.folder``): ``*.json`` holding one order object, a list of
them, or ``{"orders": [...]}``; or ``*.csv`` with the header ``order,part_number,quantity,due``.
An order is ``{"order": "WO-4711", "part_number": "A12-100-01", "quantity": 3, "due":
"2026-12-05T14:00"}`` (a due time without a zone is the cell's local time). A file is taken
whole or not at all: taken, it moves to ``accepted/``; refused (bad JSON or CSV, a field
missing or wrong, an unknown part number, an order already known), it moves to ``rejected/``
with ``<name>.error.txt`` beside it naming the file, the line and the field, and the refusal
is a remark (F195). Nothing the MES sent is ever deleted. The MES should write a file under
another name and rename it into place; a file changed within the last poll period is left
for the next one.

The queue's figures (how many of an order are made) are counted from the parts' records, so
they survive a restart. Owner: the controller's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import datetime as dt
import io
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cellctl.cell.faults import FaultCode
from cellctl.config.trace_models import WorkOrderSettings
from cellctl.config.yaml_lines import parse_yaml_text
from cellctl.records.store import AsyncStore, DuplicateWorkOrder, StoreError
from cellctl.trace.identity import SHOWN_CHARS, TraceRefused

log = logging.getLogger(__name__)

ORDER_FILE_MAX_BYTES = 1024 * 1024
CSV_COLUMNS = ("order", "part_number", "quantity", "due")
MAX_QUANTITY = 100_000


@dataclass(frozen=True)
class OrderFileError(Exception):
    """A work-order file (or method argument) refused: where, which field, and why."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        field = f" {self.field}:" if self.field else ""
        return f"{self.file}:{self.line}:{field} {self.message}"


def _order(
    raw: Any, line_of: Callable[[str], int], part_numbers: dict[str, str], file: str
) -> dict[str, Any]:
    """One order from its raw fields (``line_of(field)``: the line a field is on)."""
    if not isinstance(raw, dict):
        raise OrderFileError(file, line_of(""), "", "expected an order object")
    unknown = sorted(set(raw) - set(CSV_COLUMNS))
    if unknown:
        raise OrderFileError(file, line_of(unknown[0]), unknown[0], "unknown field")
    for key in CSV_COLUMNS:
        if raw.get(key) in (None, ""):
            raise OrderFileError(file, line_of(""), key, "missing")
    number = str(raw["order"]).strip()
    if len(number) > 40 or not number.isprintable():
        raise OrderFileError(file, line_of("order"), "order", "1-40 printable characters")
    part_number = str(raw["part_number"]).strip()
    if part_number not in part_numbers:
        known = ", ".join(sorted(part_numbers)) or "none configured"
        raise OrderFileError(
            file,
            line_of("part_number"),
            "part_number",
            f"{part_number[:SHOWN_CHARS]!r} is not a part number of this cell (known: {known})",
        )
    try:
        quantity = int(str(raw["quantity"]).strip())
    except ValueError:
        quantity = 0
    if not 1 <= quantity <= MAX_QUANTITY or str(raw["quantity"]).strip().startswith("+"):
        raise OrderFileError(
            file, line_of("quantity"), "quantity", f"expected a whole number 1-{MAX_QUANTITY}, "
            f"got {str(raw['quantity'])[:SHOWN_CHARS]!r}"
        )  # fmt: skip
    try:
        due = dt.datetime.fromisoformat(str(raw["due"]).strip())
    except ValueError:
        got = str(raw["due"])[:SHOWN_CHARS]
        raise OrderFileError(
            file, line_of("due"), "due", f"expected a date and time like 2026-12-05T14:00, "
            f"got {got!r}"
        ) from None  # fmt: skip
    return {
        "order_no": number,
        "part_number": part_number,
        "part_program": part_numbers[part_number],
        "quantity": quantity,
        "due_at": due.timestamp(),
    }


def parse_orders(text: str, file: str, part_numbers: dict[str, str]) -> list[dict[str, Any]]:
    """Every order of a file's text (JSON unless ``file`` ends in .csv); ``OrderFileError``
    at the first problem (the file is taken whole or not at all)."""
    if file.lower().endswith(".csv"):
        return _parse_csv(text, file, part_numbers)
    document = parse_yaml_text(text)  # JSON is read by the config's bounded YAML reader
    if document.problems:
        problem = document.problems[0]
        raise OrderFileError(file, problem.line, "", f"not valid JSON: {problem.message}")
    data = document.data
    path: tuple[Any, ...] = ()
    if isinstance(data, dict) and "orders" in data:
        data, path = data["orders"], ("orders",)
    items = data if isinstance(data, list) else [data]
    orders = []
    for index, raw in enumerate(items):
        where = (*path, index) if isinstance(data, list) else path

        def line_of(key: str, where: tuple[Any, ...] = where) -> int:
            return document.line_of((*where, key) if key else where)

        orders.append(_order(raw, line_of, part_numbers, file))
    if not orders:
        raise OrderFileError(file, 1, "", "no orders in the file")
    return orders


def _parse_csv(text: str, file: str, part_numbers: dict[str, str]) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise OrderFileError(
            file, 1, missing[0], f"column missing (header: {','.join(CSV_COLUMNS)})"
        )
    orders = []
    for row in reader:
        line = reader.line_num
        if None in row:
            raise OrderFileError(file, line, "", "more values than the header has columns")

        def line_of(_key: str, line: int = line) -> int:
            return line

        orders.append(_order({k.strip(): v for k, v in row.items()}, line_of, part_numbers, file))
    if not orders:
        raise OrderFileError(file, 1, "", "no orders in the file")
    return orders


class WorkOrderQueue:
    """The open orders and the folder the MES fills (see the module). ``open`` is the queue,
    the order in progress first."""

    def __init__(
        self,
        settings: WorkOrderSettings,
        folder: Path | None,
        store: AsyncStore,
        tell: Callable[[str], None],
        warn: Callable[[FaultCode, str], None],
    ) -> None:
        self.settings = settings
        self.folder = folder
        self.store = store
        self.tell = tell
        self.warn = warn
        self.open: list[dict[str, Any]] = []

    @property
    def current(self) -> dict[str, Any] | None:
        return self.open[0] if self.open else None

    async def refresh(self) -> None:
        self.open = await self.store.open_work_orders()

    async def add(self, text: str, by: str) -> str:
        """An order (a JSON object, or a list) from a plant client (OPC UA AddWorkOrder)."""
        try:
            orders = parse_orders(text, f"{by} AddWorkOrder", self.settings.part_numbers)
            await self.store.add_work_orders(orders, by)
        except (OrderFileError, DuplicateWorkOrder) as error:
            raise TraceRefused(str(error)) from None
        await self.refresh()
        names = ", ".join(o["order_no"] for o in orders)
        self.tell(f"work order {names} queued by {by}")
        return f"work order {names} queued ({len(self.open)} open)"

    async def watch(self) -> None:
        """Take the folder's files, forever (a task of the controller's supervisor)."""
        assert self.folder is not None
        problem = ""  # the folder's last problem, said once until it changes
        while True:
            try:
                for path in await self.store.call(self._ready_files):
                    await self.take(path)
                problem = ""
            except (OSError, StoreError) as error:
                # An unreadable folder, a full disk, a store that does not answer: the files
                # stay where they are and are taken when it is fixed.
                if str(error) != problem:
                    problem = str(error)
                    self.warn(FaultCode.WORK_ORDER_REFUSED, f"orders folder {self.folder}: {error}")
            await asyncio.sleep(self.settings.poll_period_s)

    def _ready_files(self) -> list[Path]:
        assert self.folder is not None
        for sub in ("accepted", "rejected"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        settled_before = time.time() - self.settings.poll_period_s
        files = []
        with contextlib.suppress(FileNotFoundError):
            for path in self.folder.iterdir():
                if path.suffix.lower() not in (".json", ".csv") or not path.is_file():
                    continue
                with contextlib.suppress(FileNotFoundError):
                    if path.stat().st_mtime <= settled_before:
                        files.append(path)
        return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))

    async def take(self, path: Path) -> bool:
        """One file: queued and moved to accepted/, or moved to rejected/ with its error.
        The file work runs on the store's worker thread (never on the control loop)."""
        try:
            text = await self.store.call(_read_order_file, path)
            orders = parse_orders(text, path.name, self.settings.part_numbers)
            await self.store.add_work_orders(orders, f"file {path.name}")
        except (OrderFileError, DuplicateWorkOrder) as error:
            message = str(error) if isinstance(error, OrderFileError) else f"{path.name}:1: {error}"
            await self.store.call(_reject, path, message)
            self.warn(FaultCode.WORK_ORDER_REFUSED, message)
            self.tell(f"work order file refused: {message}")
            return False
        await self.store.call(_move, path, "accepted")
        await self.refresh()
        names = ", ".join(o["order_no"] for o in orders)
        self.tell(f"work order {names} queued from {path.name}")
        return True


def _read_order_file(path: Path) -> str:
    if path.stat().st_size > ORDER_FILE_MAX_BYTES:
        raise OrderFileError(path.name, 1, "", f"larger than {ORDER_FILE_MAX_BYTES} bytes")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise OrderFileError(path.name, 1, "", f"not UTF-8 text: {error}") from None


def _reject(path: Path, message: str) -> None:
    target = _move(path, "rejected")
    target.with_name(f"{target.name}.error.txt").write_text(message + "\n", encoding="utf-8")


def _move(path: Path, sub: str) -> Path:
    target = path.parent / sub / path.name
    if target.exists():  # the same name sent again: keep both
        target = target.with_name(f"{path.stem}.{time.time_ns()}{path.suffix}")
    os.replace(path, target)
    return target
