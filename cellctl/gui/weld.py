"""Weld screen: live current, voltage and wire feed against the procedure's bands, and the heat
input of the recent seams."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QT_TRANSLATE_NOOP
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QVBoxLayout, QWidget

from cellctl.gui.i18n import Texts, translate
from cellctl.gui.live import LivePlot
from cellctl.gui.style import (
    TRACE_COLOURS,
    VALUE_POINT_SIZE,
    caption,
    fmt,
    plot_widget,
    set_plot_texts,
    value_label,
)

QUANTITIES = (  # (OPC UA path, band path, title (context "Weld"), unit)
    ("Weld.CurrentA", "Weld.CurrentBandA", QT_TRANSLATE_NOOP("Weld", "Current"), "A"),
    ("Weld.VoltageV", "Weld.VoltageBandV", QT_TRANSLATE_NOOP("Weld", "Voltage"), "V"),
    (
        "Weld.WireFeedMPerMin",
        "Weld.WireFeedBandMPerMin",
        QT_TRANSLATE_NOOP("Weld", "Wire feed"),
        "m/min",
    ),
)


class WeldScreen(QWidget):
    title = "Weld"

    def __init__(self) -> None:
        super().__init__()
        self._cell: dict[str, Any] | None = None
        self._heat_drawn: tuple = ()
        self._arc_on = False
        self.texts = Texts()
        self.plots = {
            path: LivePlot(title, unit, TRACE_COLOURS[i])
            for i, (path, _, title, unit) in enumerate(QUANTITIES)
        }
        for path, _, title, unit in QUANTITIES:
            plot = self.plots[path].widget
            self.texts.bind(
                lambda text, plot=plot, unit=unit: set_plot_texts(plot, text, unit, "s"),
                lambda title=title: translate("Weld", title),
            )
        self.readouts = {path: value_label() for path, *_ in QUANTITIES}
        self.arc = value_label()
        self.procedure = value_label(point_size=20)
        self.heat = plot_widget("", "", "")
        self.texts.bind(
            lambda title: set_plot_texts(
                self.heat, title, "kJ/mm", translate("Weld", "seam (newest right)")
            ),
            lambda: translate("Weld", "Heat input per seam"),
        )
        self.heat_bars = pg.BarGraphItem(x=[], height=[], width=0.6, brush=TRACE_COLOURS[4])
        self.heat.addItem(self.heat_bars)

        numbers = QGridLayout()
        numbers.addWidget(self._caption(lambda: translate("Weld", "Arc")), 0, 0)
        numbers.addWidget(self.arc, 1, 0)
        for column, (path, _, title, unit) in enumerate(QUANTITIES, start=1):
            numbers.addWidget(
                self._caption(lambda t=title, u=unit: f"{translate('Weld', t)} ({u})"), 0, column
            )
            numbers.addWidget(self.readouts[path], 1, column)
        numbers.addWidget(self._caption(lambda: translate("Weld", "Procedure")), 0, 4)
        numbers.addWidget(self.procedure, 1, 4)
        traces = QVBoxLayout()
        for plot in self.plots.values():
            traces.addWidget(plot.widget)
        body = QHBoxLayout()
        body.addLayout(traces, 3)
        body.addWidget(self.heat, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(numbers)
        layout.addLayout(body)

    def _caption(self, say: Any) -> Any:
        label = caption("")
        self.texts.bind(label.setText, say)
        return label

    def retranslate(self) -> None:
        self.texts.apply()
        if self.arc.text() != "–":
            self._show_arc(self._arc_on)

    def show_fast(self, t_s: float, values: dict[str, Any]) -> None:
        self._show_arc(bool(values.get("Weld.ArcOn")))
        for path, plot in self.plots.items():
            value = values.get(path)
            if value is None or value != value:
                continue
            plot.append(t_s, float(value))
            self.readouts[path].setText(fmt(float(value), 1))

    def _show_arc(self, arc_on: bool) -> None:
        self._arc_on = arc_on
        self.arc.setText(translate("Weld", "ON") if arc_on else translate("Weld", "off"))
        self.arc.setStyleSheet(
            f"font-size: {VALUE_POINT_SIZE}pt; font-weight: bold; "
            f"color: {'#ffb74d' if arc_on else '#a8b3bd'};"
        )

    def show_cell(self, cell: dict[str, Any]) -> None:
        self._cell = cell
        self.procedure.setText(cell["Weld.Procedure"] or "–")
        for path, band_path, *_ in QUANTITIES:
            band = cell[band_path] or []
            self.plots[path].set_band(*(band if len(band) == 2 else (None, None)))

    def redraw(self) -> None:
        now = time.monotonic()
        for plot in self.plots.values():
            plot.redraw(now)
        cell = self._cell
        if cell is None:
            return
        heat = tuple(cell["Weld.SeamHeatInputKjPerMm"] or [])
        names = tuple(cell["Weld.SeamNames"] or [])
        if (heat, names) == self._heat_drawn:
            return
        self._heat_drawn = (heat, names)
        x = np.arange(len(heat), dtype=np.float64)
        values = np.nan_to_num(np.asarray(heat, dtype=np.float64))
        self.heat_bars.setOpts(x=x, height=values)
        step = max(1, len(names) // 8)  # at most ~8 labels: readable, not overlapping
        self.heat.getAxis("bottom").setTicks(
            [[(float(i), names[i]) for i in range(0, len(names), step)]]
        )
