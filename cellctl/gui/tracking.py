"""Tracking screen: the live laser profile with the detected joint, the lateral and vertical
corrections over the seam, and the taught path against the corrected one (plan view)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QVBoxLayout, QWidget

from cellctl.gui.i18n import Texts, translate
from cellctl.gui.live import ProfileView
from cellctl.gui.ring import RingBuffer
from cellctl.gui.style import (
    TRACE_COLOURS,
    caption,
    fmt,
    plot_widget,
    set_legend_names,
    set_plot_texts,
    value_label,
)

# Corrections are a fraction of a millimetre on a path of hundreds: drawn to scale they would
# hide under the taught line, so the plan view magnifies them (and says so in its title), by
# the largest of these that keeps the largest correction within PATH_EXAGGERATED_SHARE of the
# path's size. A part off its taught place by millimetres (a live weld on the hinge boss: up
# to 4.6 mm on a Ø100 mm circle) drawn x10 turned the circle into a curl inside it.
PATH_EXAGGERATIONS = (10.0, 5.0, 2.0, 1.0)
PATH_EXAGGERATION = PATH_EXAGGERATIONS[0]
PATH_EXAGGERATED_SHARE = 0.05
# A position this far behind the last one is a new seam (its plot starts again). The robot's
# position estimate steps back by a hair now and then while welding: that is the same seam
# (it cleared a live weld's plot mid-circle).
NEW_SEAM_BACK_MM = 5.0


def path_exaggeration(taught_xy_mm: np.ndarray, lateral_mm: np.ndarray) -> float:
    """The plan view's magnification of the corrections (``PATH_EXAGGERATIONS``): the
    largest that keeps the largest one within ``PATH_EXAGGERATED_SHARE`` of the path's extent;
    1 (to scale) when even that is more."""
    largest = float(np.max(np.abs(lateral_mm))) if len(lateral_mm) else 0.0
    extent = float(np.max(np.ptp(taught_xy_mm, axis=0))) if len(taught_xy_mm) else 0.0
    for factor in PATH_EXAGGERATIONS:
        if factor * largest <= PATH_EXAGGERATED_SHARE * extent:
            return factor
    return PATH_EXAGGERATIONS[-1]


class TrackingScreen(QWidget):
    title = "Tracking"

    def __init__(self) -> None:
        super().__init__()
        self._cell: dict[str, Any] | None = None
        self._last_correction = -1
        self._last_profile = -1
        self._dirty = False
        self.exaggeration = PATH_EXAGGERATION  # of the plan view's corrections; its title says
        self.texts = Texts()
        self.lateral = RingBuffer(5_000)  # (path position mm, correction mm)
        self.vertical = RingBuffer(5_000)
        self.profile = ProfileView()
        self.corrections = plot_widget("", "", "")
        self.corrections.addLegend(labelTextSize="14pt")
        self.lateral_curve = self.corrections.plot(
            pen=pg.mkPen(TRACE_COLOURS[0], width=3), name="lateral"
        )
        self.vertical_curve = self.corrections.plot(
            pen=pg.mkPen(TRACE_COLOURS[1], width=3), name="vertical"
        )
        self.path = plot_widget("", "y (mm)", "x (mm)")
        self.path.setAspectLocked(True)
        self.path.addLegend(labelTextSize="14pt")
        self.taught_curve = self.path.plot(
            pen=pg.mkPen("#a8b3bd", width=3, style=pg.QtCore.Qt.PenStyle.DashLine), name="taught"
        )
        self.corrected_curve = self.path.plot(
            pen=pg.mkPen(TRACE_COLOURS[2], width=3), name="corrected"
        )
        self.texts.bind(
            lambda title: set_plot_texts(
                self.corrections, title, "mm", translate("Tracking", "path position (mm)")
            ),
            lambda: translate("Tracking", "Corrections over the seam"),
        )
        self.texts.bind(
            lambda title: set_plot_texts(self.path, title, "y (mm)", "x (mm)"),
            lambda: translate(
                "Tracking", "Taught and corrected path (plan view, corrections ×%1)"
            ).replace("%1", f"{self.exaggeration:g}"),
        )
        self.texts.bind(
            lambda _: set_legend_names(
                self.corrections,
                [translate("Tracking", "lateral"), translate("Tracking", "vertical")],
            ),
            lambda: "",
        )
        self.texts.bind(
            lambda _: set_legend_names(
                self.path, [translate("Tracking", "taught"), translate("Tracking", "corrected")]
            ),
            lambda: "",
        )
        self.profile.retranslate()
        self.numbers = {
            "Tracking.LateralCorrectionMm": value_label(),
            "Tracking.VerticalCorrectionMm": value_label(),
            "Tracking.JointFound": value_label(),
            "Tracking.PositionMm": value_label(),
        }
        top = QGridLayout()
        for column, say in enumerate(
            (
                lambda: translate("Tracking", "Lateral (mm)"),
                lambda: translate("Tracking", "Vertical (mm)"),
                lambda: translate("Tracking", "Joint"),
                lambda: translate("Tracking", "Position"),
            )
        ):
            label = caption("")
            self.texts.bind(label.setText, say)
            top.addWidget(label, 0, column)
            top.addWidget(list(self.numbers.values())[column], 1, column)
        right = QVBoxLayout()
        right.addWidget(self.corrections)
        right.addWidget(self.path)
        body = QHBoxLayout()
        body.addWidget(self.profile.widget, 1)
        body.addLayout(right, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(body)

    def retranslate(self) -> None:
        self.texts.apply()
        self.profile.retranslate()
        if self._cell is not None:
            self.show_cell(self._cell)

    def show_fast(self, t_s: float, values: dict[str, Any]) -> None:
        count = values.get("Tracking.CorrectionCount") or 0
        if count == self._last_correction:
            return
        self._last_correction = count
        position = values.get("Tracking.PositionMm")
        if position is None or position != position or count == 0:
            return
        if len(self.lateral) and position < (self.lateral.last_x() or 0.0) - NEW_SEAM_BACK_MM:
            self.lateral.clear()  # a new seam starts at position 0
            self.vertical.clear()
        self.lateral.append(position, values["Tracking.LateralCorrectionMm"])
        self.vertical.append(position, values["Tracking.VerticalCorrectionMm"])
        self._dirty = True

    def show_cell(self, cell: dict[str, Any]) -> None:
        self._cell = cell
        self.numbers["Tracking.LateralCorrectionMm"].setText(
            fmt(cell["Tracking.LateralCorrectionMm"], 2)
        )
        self.numbers["Tracking.VerticalCorrectionMm"].setText(
            fmt(cell["Tracking.VerticalCorrectionMm"], 2)
        )
        found = cell["Tracking.JointFound"]
        self.numbers["Tracking.JointFound"].setText(
            translate("Tracking", "found")
            if found
            else ("–" if not cell["Tracking.ProfileCount"] else translate("Tracking", "not found"))
        )
        self.numbers["Tracking.PositionMm"].setText(fmt(cell["Tracking.PositionMm"], 0, " mm"))
        if cell["Tracking.ProfileCount"] != self._last_profile and cell["Tracking.ProfileYMm"]:
            self._last_profile = cell["Tracking.ProfileCount"]
            joint = (cell["Tracking.JointYMm"], cell["Tracking.JointZMm"]) if found else None
            self.profile.show(cell["Tracking.ProfileYMm"], cell["Tracking.ProfileZMm"], joint)
        self._dirty = True

    def redraw(self) -> None:
        self.profile.redraw()
        if not self._dirty or self._cell is None:
            return
        self._dirty = False
        self.lateral_curve.setData(*self.lateral.view())
        self.vertical_curve.setData(*self.vertical.view())
        taught = np.column_stack(
            [
                np.asarray(self._cell["Tracking.TaughtPathXMm"] or [], dtype=np.float64),
                np.asarray(self._cell["Tracking.TaughtPathYMm"] or [], dtype=np.float64),
            ]
        )
        if len(taught) < 2:
            return
        self.taught_curve.setData(taught[:, 0], taught[:, 1])
        position, lateral = self.lateral.view()
        exaggeration = path_exaggeration(taught, lateral)
        if exaggeration != self.exaggeration:
            self.exaggeration = exaggeration
            self.texts.apply()  # the title says it
        if len(position):
            corrected = corrected_path(taught, position, lateral * exaggeration)
            self.corrected_curve.setData(corrected[:, 0], corrected[:, 1])
        else:
            self.corrected_curve.setData(taught[:, 0], taught[:, 1])


def corrected_path(
    taught_xy_mm: np.ndarray, position_mm: np.ndarray, lateral_mm: np.ndarray
) -> np.ndarray:
    """Points of the taught path (plan view) at ``position_mm`` along it, each moved by its
    lateral correction along the path's left normal."""
    segments = np.diff(taught_xy_mm, axis=0)
    lengths = np.hypot(segments[:, 0], segments[:, 1])
    starts = np.r_[0.0, np.cumsum(lengths)]
    index = np.clip(np.searchsorted(starts, position_mm, side="right") - 1, 0, len(lengths) - 1)
    along = (position_mm - starts[index]) / np.maximum(lengths[index], 1e-9)
    direction = segments[index] / np.maximum(lengths[index], 1e-9)[:, None]
    normal = np.column_stack([-direction[:, 1], direction[:, 0]])
    points = taught_xy_mm[index] + segments[index] * along[:, None]
    return points + normal * lateral_mm[:, None]
