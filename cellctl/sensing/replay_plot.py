"""A replay as a picture (``cellctl replay --plot DIR``): per seam, along the path, the
correction recorded and replayed (and the true joint, for a simulated run), lateral and
vertical, and the tracking error of both. Rendered off screen with pyqtgraph (no display
needed), one PNG per recorded run.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from cellctl.sensing.replay import Comparison, RecordedSeam, Stream, TrueSeamLine, truth_along_path

RECORDED_PEN = {"color": (40, 90, 200), "width": 2}
REPLAYED_PEN = {"color": (220, 80, 20), "width": 2}
TRUTH_PEN = {"color": (0, 0, 0), "width": 1, "style": None}


def plot_comparison(
    comparison: Comparison,
    recording: RecordedSeam,
    truth: TrueSeamLine | None,
    path: Path,
) -> Path:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import pyqtgraph as pg
    from pyqtgraph.exporters import ImageExporter
    from PySide6.QtCore import Qt

    app = pg.mkQApp()
    pg.setConfigOptions(background="w", foreground="k", antialias=True)
    recorded = Stream.recorded(recording)
    replayed = comparison.result.stream
    changed = ", ".join(comparison.result.changed) or "the recorded settings"
    layout = pg.GraphicsLayoutWidget()
    layout.resize(1000, 900)
    try:
        layout.addLabel(
            f"{recording.name} ({recording.folder.name}): recorded vs replayed with {changed}",
            colspan=1,
        )
        for row, (axis, name) in enumerate(
            (("lateral_mm", "lateral"), ("vertical_mm", "vertical"))
        ):
            plot = layout.addPlot(row=row + 1, col=0)
            _axes(plot, f"{name} correction (mm)")
            plot.showGrid(x=True, y=True, alpha=0.3)
            legend = plot.addLegend(offset=(10, 10))
            if truth is not None:
                true_l, true_v = truth_along_path(recording, truth, recorded.s_effect_mm)
                dashed = pg.mkPen(color=(0, 0, 0), width=1, style=Qt.PenStyle.DashLine)
                plot.plot(
                    recorded.s_effect_mm,
                    true_l if axis == "lateral_mm" else true_v,
                    pen=dashed,
                    name="true joint",
                )
            plot.plot(
                recorded.s_effect_mm,
                getattr(recorded, axis),
                pen=pg.mkPen(**RECORDED_PEN),
                name="recorded",
            )
            plot.plot(
                replayed.s_effect_mm,
                getattr(replayed, axis),
                pen=pg.mkPen(**REPLAYED_PEN),
                name="replayed",
            )
            legend.setParentItem(plot.vb)
        if truth is not None:
            plot = layout.addPlot(row=3, col=0)
            _axes(plot, "tracking error (mm)")
            plot.showGrid(x=True, y=True, alpha=0.3)
            plot.addLegend(offset=(10, 10))
            for stream, pen, name in (
                (recorded, RECORDED_PEN, "recorded"),
                (replayed, REPLAYED_PEN, "replayed"),
            ):
                true_l, true_v = truth_along_path(recording, truth, stream.s_effect_mm)
                error = np.hypot(stream.lateral_mm - true_l, stream.vertical_mm - true_v)
                plot.plot(stream.s_effect_mm, error, pen=pg.mkPen(**pen), name=name)
        path.parent.mkdir(parents=True, exist_ok=True)
        layout.show()  # laid out at its size only once shown (off screen: nothing appears)
        app.processEvents()
        ImageExporter(layout.scene()).export(str(path))
    finally:
        # Widgets must not outlive the application (shared/PITFALLS.md: a segfault at exit).
        layout.close()
        layout.deleteLater()
        app.processEvents()
    return path


def _axes(plot, left: str) -> None:
    # Plain millimetres: pyqtgraph's automatic SI prefixes would print "mmm" for microns.
    plot.setLabel("left", left)
    plot.setLabel("bottom", "torch position along the path (mm)")
    for side in ("left", "bottom"):
        plot.getAxis(side).enableAutoSIPrefix(False)
