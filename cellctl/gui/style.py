"""Look of the HMI: sizes readable from two metres on a shop-floor panel, PackML colours."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QLocale
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QLabel

BASE_POINT_SIZE = 15
VALUE_POINT_SIZE = 30
BANNER_POINT_SIZE = 46
PLOT_AXIS_POINT_SIZE = 14

BACKGROUND = "#101418"
PANEL = "#1c232b"
TEXT = "#f0f0f0"
MUTED = "#a8b3bd"
GRID = "#34404c"

# PackML state colours as panels commonly show them (the standard names the states, not the
# colours): running green, waiting blue, held/suspended amber, stopped grey, aborted red.
STATE_COLOURS = {
    "Execute": "#1e8c3a",
    "Starting": "#2f9e4f",
    "Completing": "#2f9e4f",
    "Unholding": "#2f9e4f",
    "Unsuspending": "#2f9e4f",
    "Idle": "#1f5fae",
    "Complete": "#1f5fae",
    "Resetting": "#3a78c2",
    "Holding": "#c98a00",
    "Held": "#c98a00",
    "Suspending": "#b8a000",
    "Suspended": "#b8a000",
    "Stopping": "#5f6670",
    "Stopped": "#5f6670",
    "Clearing": "#8a4a4a",
    "Aborting": "#c0262d",
    "Aborted": "#c0262d",
}
SEVERITY_COLOURS = {"abort": "#c0262d", "stop": "#8a5a00", "hold": "#c98a00", "warning": "#5f6670"}
TRACE_COLOURS = ["#4fc3f7", "#ffb74d", "#81c784", "#e57373", "#ba68c8", "#fff176", "#4db6ac",
                 "#f06292"]  # fmt: skip
BAND_BRUSH = (80, 200, 120, 45)

STYLESHEET = f"""
QWidget {{ background: {BACKGROUND}; color: {TEXT}; font-size: {BASE_POINT_SIZE}pt; }}
QTabBar::tab {{ background: {PANEL}; color: {MUTED}; padding: 10px 26px; min-width: 150px;
               font-size: {BASE_POINT_SIZE + 3}pt; font-weight: bold; }}
QTabBar::tab:selected {{ background: #2d3a47; color: {TEXT}; }}
QPushButton {{ background: #2d3a47; border: 2px solid #4a5a6a; border-radius: 6px;
               padding: 12px 18px; font-size: {BASE_POINT_SIZE + 3}pt; font-weight: bold; }}
QPushButton:disabled {{ color: #5c6670; border-color: #2d3a47; background: #1a2028; }}
QPushButton:pressed {{ background: #3f5366; }}
QTableWidget {{ background: {PANEL}; gridline-color: #34404c; font-size: {BASE_POINT_SIZE}pt; }}
QHeaderView::section {{ background: #2d3a47; color: {TEXT}; padding: 6px; font-weight: bold;
                        font-size: {BASE_POINT_SIZE}pt; }}
QComboBox {{ background: #2d3a47; padding: 8px; font-size: {BASE_POINT_SIZE + 3}pt; }}
QGroupBox {{ border: 1px solid #34404c; border-radius: 6px; margin-top: 22px; padding: 8px;
             font-weight: bold; color: {MUTED}; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 10px; padding: 0 4px; }}
"""


def value_label(text: str = "–", point_size: int = VALUE_POINT_SIZE) -> QLabel:
    label = QLabel(text)
    # A style sheet, not setFont: the window's style sheet would override a font.
    label.setStyleSheet(f"font-size: {point_size}pt; font-weight: bold;")
    return label


def caption(text: str) -> QLabel:
    label = QLabel(text)
    label.setStyleSheet(f"color: {MUTED};")
    return label


def plot_widget(title: str, left: str, bottom: str) -> pg.PlotWidget:
    """A dark plot with large axis text, redrawn by its screen at a fixed rate."""
    plot = pg.PlotWidget(background=PANEL)
    font = QFont()
    font.setPointSize(PLOT_AXIS_POINT_SIZE)
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        axis.setTickFont(font)
        axis.setTextPen(TEXT)
        # Grid lines are drawn with the axis pen: a dark, opaque one and major ticks only.
        # Alpha-blended and minor grid lines cost 4x the paint time (see bench_hmi).
        axis.setPen(GRID)
        axis.setStyle(maxTickLevel=0)
        axis.setZValue(-1000)  # grid lines behind the data, not across bars
        # Units are in the labels: no "(x0.001)" rescaling that a reader must undo.
        axis.enableAutoSIPrefix(False)
    set_plot_texts(plot, title, left, bottom)
    plot.showGrid(x=True, y=True, alpha=1.0)
    return plot


def set_plot_texts(plot: pg.PlotWidget, title: str, left: str, bottom: str) -> None:
    """A plot's title and axis labels (again at a language change)."""
    plot.setTitle(title, color=TEXT, size=f"{BASE_POINT_SIZE + 2}pt")
    for name, text in (("left", left), ("bottom", bottom)):
        plot.getAxis(name).setLabel(text, color=TEXT, **{"font-size": f"{PLOT_AXIS_POINT_SIZE}pt"})


def set_legend_names(plot: pg.PlotWidget, names: list[str]) -> None:
    """The names in a plot's legend, in the order the curves were added."""
    legend = plot.plotItem.legend
    if legend is None:
        return
    for (_, label), name in zip(legend.items, names, strict=True):
        label.setText(name)


def fmt(value: object, digits: int = 1, unit: str = "") -> str:
    """A number for the screen in the current locale; '–' for missing or NaN values."""
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if isinstance(value, float):
        return f"{QLocale().toString(value, 'f', digits)}{unit}"
    return f"{value}{unit}"
