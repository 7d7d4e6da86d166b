"""The traceability panel of the operator screen: the work order in progress and the queue,
the serial number waiting for the next part, the welder logged in, and the consumable lots
(``Trace.*`` and ``Orders.*`` of the Cell object); and a field for the next part's serial,
which a keyboard-wedge scanner types into like a keyboard, ended by Enter (``EnterSerial``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QGridLayout, QGroupBox, QLabel, QLineEdit

from cellctl.gui.style import caption, value_label

QUEUE_SHOWN = 3  # orders after the one in progress


class TracePanel(QGroupBox):
    def __init__(self, send: Callable[..., None]) -> None:
        super().__init__()
        self._send = send
        self.setTitle(self.tr("Order and traceability"))
        self.serial_entry = QLineEdit()
        self.serial_entry.setPlaceholderText(self.tr("Scan or type the serial number, then Enter"))
        self.serial_entry.setMaxLength(64)
        self.serial_entry.returnPressed.connect(self._enter_serial)
        self.order = value_label(point_size=14)
        self.queue = QLabel("–")
        self.queue.setWordWrap(True)
        self.serial = value_label(point_size=14)
        self.welder = value_label(point_size=14)
        self.qualification = caption("")
        self.lots = value_label(point_size=14)
        grid = QGridLayout(self)
        rows = (
            (self.tr("Work order in progress"), self.order),
            (self.tr("Next orders"), self.queue),
            (self.tr("Serial number (next part)"), self.serial),
            (self.tr("Welder"), self.welder),
            ("", self.qualification),
            (self.tr("Wire / gas lot"), self.lots),
            (self.tr("Enter a serial"), self.serial_entry),
        )
        for row, (text, label) in enumerate(rows):
            grid.addWidget(caption(text), row, 0)
            grid.addWidget(label, row, 1)
        grid.setColumnStretch(1, 1)

    def _enter_serial(self) -> None:
        text = self.serial_entry.text().strip()
        self.serial_entry.clear()
        if text:
            self._send("EnterSerial", text)

    def show_cell(self, cell: dict[str, Any]) -> None:
        none = self.tr("none")
        self.order.setText(cell.get("Orders.InProgress") or none)
        queue = list(cell.get("Orders.Queue") or [])[1 : 1 + QUEUE_SHOWN]
        self.queue.setText("<br>".join(queue) if queue else none)
        self.serial.setText(cell.get("Trace.Serial") or self.tr("not scanned"))
        self.welder.setText(cell.get("Trace.Welder") or self.tr("nobody logged in"))
        self.qualification.setText(cell.get("Trace.Qualification") or "")
        wire, gas = cell.get("Trace.WireLot") or "–", cell.get("Trace.GasLot") or "–"
        self.lots.setText(f"{wire} / {gas}")
