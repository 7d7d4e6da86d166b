"""Faults screen: the active faults (acknowledge), the shift's history and a Pareto of codes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cellctl.gui.i18n import Texts, clock, fault_action, fault_text, severity_name, translate
from cellctl.gui.style import SEVERITY_COLOURS, TRACE_COLOURS, caption, plot_widget, set_plot_texts


def _clock(unix_s: float) -> str:
    if unix_s != unix_s:
        return translate("Faults", "active")
    return clock(unix_s)


def _table(texts: Texts, headers: Callable[[], list[str]]) -> QTableWidget:
    table = QTableWidget(0, len(headers()))
    texts.bind(lambda _: table.setHorizontalHeaderLabels(headers()), lambda: "")
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    table.verticalHeader().setDefaultSectionSize(40)
    table.setWordWrap(True)
    return table


class FaultsScreen(QWidget):
    title = "Faults"

    def __init__(self, send: Callable[..., None]) -> None:
        super().__init__()
        self._send = send
        self._cell: dict[str, Any] | None = None
        self._pareto_drawn: tuple = ()
        self.texts = Texts()
        self.active = _table(
            self.texts,
            lambda: [
                translate("Faults", "Code"),
                translate("Faults", "Severity"),
                translate("Faults", "Since"),
                translate("Faults", "Acknowledged"),
                translate("Faults", "Fault and what to do"),
            ],
        )
        self.history = _table(
            self.texts,
            lambda: [
                translate("Faults", "Code"),
                translate("Faults", "Raised"),
                translate("Faults", "Cleared"),
                translate("Faults", "Fault"),
            ],
        )
        self.acknowledge_selected = QPushButton()
        self.texts.bind(
            self.acknowledge_selected.setText, lambda: translate("Faults", "Acknowledge selected")
        )
        self.acknowledge_all = QPushButton()
        self.texts.bind(
            self.acknowledge_all.setText, lambda: translate("Faults", "Acknowledge all")
        )
        for button in (self.acknowledge_selected, self.acknowledge_all):
            button.setMinimumHeight(60)
            button.setEnabled(False)
        self.acknowledge_selected.clicked.connect(self._acknowledge_selected)
        self.acknowledge_all.clicked.connect(lambda: self._send("AcknowledgeFault", ""))
        self.pareto = plot_widget("", "", "")
        self.texts.bind(
            lambda title: set_plot_texts(self.pareto, title, translate("Faults", "count"), ""),
            lambda: translate("Faults", "Pareto of the shift's faults"),
        )
        self.pareto_bars = pg.BarGraphItem(x=[], height=[], width=0.6, brush=TRACE_COLOURS[3])
        self.pareto.addItem(self.pareto_bars)

        buttons = QHBoxLayout()
        buttons.addWidget(self.acknowledge_selected)
        buttons.addWidget(self.acknowledge_all)
        buttons.addStretch(1)
        left = QVBoxLayout()
        active_caption = caption("")
        self.texts.bind(active_caption.setText, lambda: translate("Faults", "Active faults"))
        left.addWidget(active_caption)
        left.addWidget(self.active, 2)
        left.addLayout(buttons)
        history_caption = caption("")
        self.texts.bind(
            history_caption.setText,
            lambda: translate("Faults", "History (this shift, newest first)"),
        )
        left.addWidget(history_caption)
        left.addWidget(self.history, 3)
        layout = QHBoxLayout(self)
        layout.addLayout(left, 3)
        layout.addWidget(self.pareto, 2)

    def retranslate(self) -> None:
        self.texts.apply()
        if self._cell is not None:
            self.show_cell(self._cell)

    def set_may_command(self, may: bool) -> None:
        self.acknowledge_selected.setEnabled(may)
        self.acknowledge_all.setEnabled(may)

    def _acknowledge_selected(self) -> None:
        rows = {index.row() for index in self.active.selectedIndexes()}
        for row in sorted(rows):
            item = self.active.item(row, 0)
            if item is not None:
                self._send("AcknowledgeFault", item.text())

    def show_cell(self, cell: dict[str, Any]) -> None:
        self._cell = cell
        codes = cell["Faults.ActiveCodes"] or []
        selected = {
            self.active.item(i.row(), 0).text()
            for i in self.active.selectedIndexes()
            if self.active.item(i.row(), 0) is not None
        }
        self.active.setRowCount(len(codes))
        for row, code in enumerate(codes):
            severity = cell["Faults.ActiveSeverities"][row]
            acknowledged = cell["Faults.ActiveAcknowledged"][row]
            detail = cell["Faults.ActiveDetails"][row]
            text = fault_text(code, cell["Faults.ActiveTexts"][row])
            text += f": {detail}" if detail else ""
            action = fault_action(code)
            text += f"\n→ {action}" if action else ""
            cells = [
                code,
                severity_name(severity),
                _clock(cell["Faults.ActiveRaisedUnixS"][row]),
                translate("Faults", "yes") if acknowledged else translate("Faults", "NO"),
                text,
            ]
            for column, value in enumerate(cells):
                item = QTableWidgetItem(value)
                if column == 1:
                    item.setBackground(QColor(SEVERITY_COLOURS.get(severity, "#5f6670")))
                if column == 3 and not acknowledged:
                    item.setForeground(QColor("#ff8a80"))
                self.active.setItem(row, column, item)
            if code in selected:
                self.active.selectRow(row)
        self.active.resizeRowsToContents()  # long fault texts wrap instead of "…"
        history = list(
            zip(
                cell["Faults.HistoryCodes"] or [],
                cell["Faults.HistoryRaisedUnixS"] or [],
                cell["Faults.HistoryClearedUnixS"] or [],
                cell["Faults.HistorySeverities"] or [],
                cell["Faults.HistoryTexts"] or [],
                strict=False,
            )
        )[::-1]
        self.history.setRowCount(len(history))
        for row, (code, raised, cleared, severity, text) in enumerate(history):
            # A warning is only recorded, never active: it has no "cleared".
            ended = severity_name("warning") if severity == "warning" else _clock(cleared)
            shown = (code, _clock(raised), ended, fault_text(code, text))
            for column, value in enumerate(shown):
                self.history.setItem(row, column, QTableWidgetItem(value))

    def redraw(self) -> None:
        cell = self._cell
        if cell is None:
            return
        codes = tuple(cell["Faults.ParetoCodes"] or [])
        counts = tuple(cell["Faults.ParetoCounts"] or [])
        if (codes, counts) == self._pareto_drawn:
            return
        self._pareto_drawn = (codes, counts)
        x = np.arange(len(codes), dtype=np.float64)
        self.pareto_bars.setOpts(x=x, height=np.asarray(counts, dtype=np.float64))
        self.pareto.getAxis("bottom").setTicks([list(zip(x.tolist(), codes, strict=True))])
        self.pareto.setYRange(0, max(counts, default=1) + 0.5)
        self.pareto.setXRange(-0.6, max(len(codes), 1) - 0.4)
