"""Production screen: parts per hour and cycle time over the shift, and the arc-on ratio."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QVBoxLayout, QWidget

from cellctl.gui.i18n import Texts, translate
from cellctl.gui.style import (
    TRACE_COLOURS,
    caption,
    fmt,
    plot_widget,
    set_plot_texts,
    value_label,
)


class ProductionScreen(QWidget):
    title = "Production"

    def __init__(self) -> None:
        super().__init__()
        self._cell: dict[str, Any] | None = None
        self._drawn_parts = -1
        self._next_full_redraw = 0.0
        self.texts = Texts()
        self.rate_plot = plot_widget("", "", "")
        self.texts.bind(
            lambda title: set_plot_texts(
                self.rate_plot,
                title,
                translate("Production", "parts/h"),
                translate("Production", "minutes into the shift"),
            ),
            lambda: translate("Production", "Parts per hour"),
        )
        self.rate_curve = self.rate_plot.plot(
            pen=pg.mkPen(TRACE_COLOURS[0], width=3), symbol="o", symbolSize=9,
            symbolBrush=TRACE_COLOURS[0],
        )  # fmt: skip
        self.cycle_plot = plot_widget("", "", "")
        self.texts.bind(
            lambda title: set_plot_texts(
                self.cycle_plot, title, "s", translate("Production", "minutes into the shift")
            ),
            lambda: translate("Production", "Cycle time per part"),
        )
        self.cycle_curve = self.cycle_plot.plot(
            pen=pg.mkPen(TRACE_COLOURS[1], width=3), symbol="o", symbolSize=9,
            symbolBrush=TRACE_COLOURS[1],
        )  # fmt: skip
        self.arc_plot = plot_widget("", "", "")
        self.texts.bind(
            lambda title: set_plot_texts(
                self.arc_plot, title, "%", translate("Production", "part of the shift")
            ),
            lambda: translate("Production", "Arc-on ratio per part"),
        )
        self.arc_bars = pg.BarGraphItem(x=[], height=[], width=0.7, brush=TRACE_COLOURS[2])
        self.arc_plot.addItem(self.arc_bars)
        self.arc_plot.setYRange(0, 100)

        self.figures = {
            "Production.PartsPerHour": value_label(),
            "Production.CycleTimeMeanS": value_label(),
            "Production.ArcOnRatio": value_label(),
            "Counters.PartsProcessed": value_label(),
        }
        top = QGridLayout()
        for column, say in enumerate(
            (
                lambda: translate("Production", "Parts / hour"),
                lambda: translate("Production", "Mean cycle time"),
                lambda: translate("Production", "Arc-on ratio"),
                lambda: translate("Production", "Parts processed"),
            )
        ):
            label = caption("")
            self.texts.bind(label.setText, say)
            top.addWidget(label, 0, column)
            top.addWidget(list(self.figures.values())[column], 1, column)
        plots = QHBoxLayout()
        plots.addWidget(self.rate_plot)
        plots.addWidget(self.cycle_plot)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(plots, 3)
        layout.addWidget(self.arc_plot, 2)

    def retranslate(self) -> None:
        self.texts.apply()
        if self._cell is not None:
            self.show_cell(self._cell)

    def show_cell(self, cell: dict[str, Any]) -> None:
        self._cell = cell
        self.figures["Production.PartsPerHour"].setText(fmt(cell["Production.PartsPerHour"], 0))
        self.figures["Production.CycleTimeMeanS"].setText(
            fmt(cell["Production.CycleTimeMeanS"], 1, " s")
        )
        ratio = cell["Production.ArcOnRatio"]
        self.figures["Production.ArcOnRatio"].setText(
            "–" if ratio is None or ratio != ratio else f"{ratio * 100:.0f} %"
        )
        self.figures["Counters.PartsProcessed"].setText(fmt(cell["Counters.PartsProcessed"]))

    def redraw(self) -> None:
        cell = self._cell
        if cell is None:
            return
        finished = np.asarray(cell["Production.PartFinishedUnixS"] or [], dtype=np.float64)
        if len(finished) == self._drawn_parts and time.monotonic() < self._next_full_redraw:
            return
        self._drawn_parts = len(finished)
        self._next_full_redraw = time.monotonic() + 5.0  # the "now" point moves slowly
        cycle = np.asarray(cell["Production.PartCycleTimeS"] or [], dtype=np.float64)
        arc = np.asarray(cell["Production.PartArcTimeS"] or [], dtype=np.float64)
        start = float(cell["Production.ShiftStartUnixS"])
        minutes = (finished - start) / 60.0
        # The rate at each finished part: parts so far over the time since the shift began.
        elapsed_h = np.maximum((finished - start) / 3600.0, 1e-6)
        rate = np.arange(1, len(finished) + 1) / elapsed_h
        if len(finished):
            # The curve ends now, at the figure shown above it (parts so far / time so far).
            minutes = np.r_[minutes, (time.time() - start) / 60.0]
            rate = np.r_[rate, float(cell["Production.PartsPerHour"])]
        self.rate_curve.setData(minutes, rate)
        minutes = minutes[: len(cycle)]
        self.cycle_curve.setData(minutes, cycle)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(cycle > 0, arc / cycle * 100.0, 0.0)
        self.arc_bars.setOpts(x=np.arange(1, len(ratio) + 1), height=ratio)
        self.arc_plot.setXRange(0.4, max(len(ratio), 10) + 0.6)
        if len(minutes):
            span = max(float(minutes[-1]), (time.time() - start) / 60.0, 1.0)
            for plot in (self.rate_plot, self.cycle_plot):
                plot.setXRange(0, span * 1.05)
            self.rate_plot.setYRange(0, float(np.nanmax(rate)) * 1.2)
            self.cycle_plot.setYRange(0, float(np.nanmax(cycle)) * 1.2)
