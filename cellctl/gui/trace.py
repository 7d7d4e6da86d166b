"""The traceability panel of the operator screen: the work order in progress and the queue,
the serial number waiting for the next part, the welder logged in, and the consumable lots
(``Trace.*`` and ``Orders.*`` of the Cell object); and a field for the next part's serial,
which a keyboard-wedge scanner types into like a keyboard, ended by Enter (``EnterSerial``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QGridLayout, QGroupBox, QLabel, QLineEdit

from cellctl.gui.i18n import Texts, translate
from cellctl.gui.style import caption, value_label

QUEUE_SHOWN = 3  # orders after the one in progress


class TracePanel(QGroupBox):
    """The panel; ``retranslate`` says its texts again after a language change."""

    def __init__(self, send: Callable[..., None]) -> None:
        super().__init__()
        self._send = send
        self._cell: dict[str, Any] | None = None
        self.texts = Texts()
        self.texts.bind(self.setTitle, lambda: translate("TracePanel", "Order and traceability"))
        self.serial_entry = QLineEdit()
        self.texts.bind(
            self.serial_entry.setPlaceholderText,
            lambda: translate("TracePanel", "Scan or type, then Enter"),
        )
        self.serial_entry.setMaxLength(64)
        self.serial_entry.returnPressed.connect(self._enter_serial)
        self.order = value_label(point_size=12)
        self.queue = QLabel("–")
        self.queue.setWordWrap(True)
        self.serial = value_label(point_size=12)
        self.welder = value_label(point_size=12)
        self.qualification = caption("")
        self.lots = value_label(point_size=12)
        # One pair a row: the panel shares its row of the overview with the downtime prompt.
        grid = QGridLayout(self)
        pairs = (
            # The queue beside the order in progress: a row less, so that the overview fits.
            (lambda: translate("TracePanel", "Work order in progress"), self.order, self.queue),
            (lambda: translate("TracePanel", "Serial number (next part)"), self.serial, None),
            (lambda: translate("TracePanel", "Welder"), self.welder, self.qualification),
            (lambda: translate("TracePanel", "Wire / gas lot"), self.lots, None),
            (lambda: translate("TracePanel", "Enter a serial"), self.serial_entry, None),
        )
        for row, (say, value, beside) in enumerate(pairs):
            label = caption("")
            self.texts.bind(label.setText, say)
            grid.addWidget(label, row, 0)
            grid.addWidget(value, row, 1, 1, 1 if beside is not None else 2)
            if beside is not None:
                grid.addWidget(beside, row, 2)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(2, 1)
        grid.setVerticalSpacing(2)

    def retranslate(self) -> None:
        self.texts.apply()
        if self._cell is not None:
            self.show_cell(self._cell)

    def _enter_serial(self) -> None:
        text = self.serial_entry.text().strip()
        self.serial_entry.clear()
        if text:
            self._send("EnterSerial", text)

    def show_cell(self, cell: dict[str, Any]) -> None:
        self._cell = cell
        none = translate("TracePanel", "none")
        self.order.setText(cell.get("Orders.InProgress") or none)
        queue = list(cell.get("Orders.Queue") or [])[1 : 1 + QUEUE_SHOWN]
        self.queue.setText(
            translate("TracePanel", "next: %1").replace("%1", ", ".join(queue) if queue else none)
        )
        self.serial.setText(cell.get("Trace.Serial") or translate("TracePanel", "not scanned"))
        self.welder.setText(cell.get("Trace.Welder") or translate("TracePanel", "nobody logged in"))
        self.qualification.setText(cell.get("Trace.Qualification") or "")
        wire, gas = cell.get("Trace.WireLot") or "–", cell.get("Trace.GasLot") or "–"
        self.lots.setText(f"{wire} / {gas}")
