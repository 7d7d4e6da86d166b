"""Live plots fed from ring buffers and redrawn at the screen's fixed rate (never per sample),
and the laser profile view. Shared by the Weld and Tracking screens and by the HMI bench."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from cellctl.gui.i18n import translate
from cellctl.gui.ring import RingBuffer
from cellctl.gui.style import BAND_BRUSH, TRACE_COLOURS, plot_widget, set_plot_texts

TRACE_CAPACITY = 5_000
# Peak downsampling draws the least and the greatest sample of each bin, so a bin a pixel
# wide loses nothing the screen can show. pyqtgraph's default bins for ~5 samples a pixel
# (factor 5): a 30 s trace of 5,000 samples on a 500 px plot was drawn nearly whole, and the
# wide pen's line drawing was most of a frame (bench_hmi).
AUTO_DOWNSAMPLE_SAMPLES_PER_PIXEL = 1.0


class LivePlot:
    """One quantity over the last ``window_s`` seconds, with its allowed band shaded."""

    def __init__(
        self, title: str, unit: str, colour: str = TRACE_COLOURS[0],
        window_s: float = 30.0, capacity: int = TRACE_CAPACITY,
    ) -> None:  # fmt: skip
        self.window_s = window_s
        self.buffer = RingBuffer(capacity)
        self.widget = plot_widget(title, unit, "s")
        self.widget.setDownsampling(auto=True, mode="peak")
        self.widget.setClipToView(True)
        self.curve = self.widget.plot(
            pen=pg.mkPen(colour, width=3), autoDownsampleFactor=AUTO_DOWNSAMPLE_SAMPLES_PER_PIXEL
        )
        self.band = pg.LinearRegionItem(
            values=(0, 0), orientation="horizontal", movable=False, brush=pg.mkBrush(*BAND_BRUSH)
        )
        self.band.setVisible(False)
        self.widget.addItem(self.band)
        self._dirty = False

    def append(self, t_s: float, value: float) -> None:
        self.buffer.append(t_s, value)
        self._dirty = True

    def set_band(self, low: float | None, high: float | None) -> None:
        if low is None or high is None:
            self.band.setVisible(False)
            return
        self.band.setRegion((low, high))
        self.band.setVisible(True)

    def redraw(self, now_s: float) -> None:
        """One ``setData`` with the buffer; x relative to ``now_s`` (seconds ago are < 0)."""
        if not self._dirty:
            return
        self._dirty = False
        x, y = self.buffer.view()
        self.curve.setData(x - now_s, y)
        self.widget.setXRange(-self.window_s, 0, padding=0)


class ProfileView:
    """The latest laser-line profile (lateral y against height z) and the joint found in it."""

    def __init__(self) -> None:
        self.widget = plot_widget("", "z (mm)", "y (mm)")
        self.curve = self.widget.plot(pen=pg.mkPen(TRACE_COLOURS[0], width=3))
        self.joint = pg.ScatterPlotItem(
            size=26, symbol="+", pen=pg.mkPen("#ff5252", width=4), brush=None
        )
        self.widget.addItem(self.joint)
        # Centred on the empty view (its default range is -0.5..0.5 both ways): anchored at
        # its left edge it ran past the pane's right edge in a narrow pane.
        self.waiting = pg.TextItem("", color="#a8b3bd", anchor=(0.5, 0.5))
        self.waiting.setFont(pg.QtGui.QFont("", 16))
        self.widget.addItem(self.waiting)
        self._profile: tuple[np.ndarray, np.ndarray] | None = None
        self._joint: tuple[float, float] | None = None
        self._dirty = False
        self.retranslate()

    def retranslate(self) -> None:
        set_plot_texts(self.widget, translate("Live", "Laser profile"), "z (mm)", "y (mm)")
        self.waiting.setText(translate("Live", "no profile from the sensor yet"))

    def show(self, y_mm: np.ndarray, z_mm: np.ndarray, joint: tuple[float, float] | None) -> None:
        self._profile = (np.asarray(y_mm, dtype=np.float64), np.asarray(z_mm, dtype=np.float64))
        self._joint = joint
        self._dirty = True

    def redraw(self) -> None:
        if not self._dirty or self._profile is None:
            return
        self._dirty = False
        self.waiting.setVisible(False)
        self.curve.setData(*self._profile)
        if self._joint is None:
            self.joint.setData([], [])
        else:
            self.joint.setData([self._joint[0]], [self._joint[1]])
