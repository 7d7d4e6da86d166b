"""The shift report's plots, as PNG files an engineer can paste into a report.

matplotlib with its file-only Agg backend (no display, no Qt): each plot is one question the
shift review asks, titled with the cell and the window, axes labelled with units.

- ``shift_timeline.png``: the shift at a glance: every part as a bar from start to end (green
  good, red bad, grey incomplete) above the fault downtime spans, labelled with their codes;
- ``cycle_times.png``: the cycle time distribution against the planned cycle time;
- ``oee.png``: OEE and its three factors;
- ``fault_pareto.png``: downtime per fault code, largest first, with the cumulative share;
- ``heat_input.png``: each seam's heat input part by part, bad seams marked.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # before pyplot: files only, never a window

import matplotlib.dates as mdates
import matplotlib.pyplot as plt

from cellctl.progress import ProgressBar

if TYPE_CHECKING:
    from cellctl.records.report import ProductionReport

GOOD, BAD, INCOMPLETE, FAULT, PLAN = "#2e7d32", "#c62828", "#9e9e9e", "#ef6c00", "#1565c0"
DPI = 120
TIMELINE_LABELS_MAX = 15  # fault codes written on the timeline up to this many faults


def _title(report: ProductionReport, what: str) -> str:
    start = dt.datetime.fromtimestamp(report.window_start).strftime("%Y-%m-%d %H:%M")
    end = dt.datetime.fromtimestamp(report.window_end).strftime("%H:%M")
    label = f" ({report.title})" if report.title else ""
    return f"{report.cell}{label}, {start}–{end}: {what}"


def _save(figure: plt.Figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
    return path


def shift_timeline(report: ProductionReport, path: Path) -> Path:
    figure, axis = plt.subplots(figsize=(10, 3.6))
    colour = {"good": GOOD, "bad": BAD}
    for part in report.parts:
        start = dt.datetime.fromtimestamp(part["started_at"])
        end = dt.datetime.fromtimestamp(part["finished_at"] or report.window_end)
        kind = part["verdict"] if part["status"] == "complete" else "incomplete"
        axis.barh(1, end - start, left=start, height=0.6,
                  color=colour.get(kind or "", INCOMPLETE), edgecolor="white")  # fmt: skip
    for fault in report.faults:
        if fault["severity"] == "warning":
            continue
        start = dt.datetime.fromtimestamp(max(fault["raised_at"], report.window_start))
        end = dt.datetime.fromtimestamp(min(fault["cleared_at"] or report.window_end,
                                            report.window_end))  # fmt: skip
        axis.barh(0, max(end - start, dt.timedelta(milliseconds=50)), left=start, height=0.6,
                  color=FAULT)  # fmt: skip
        if len(report.faults) <= TIMELINE_LABELS_MAX:
            # Over a long window the codes would run into each other: the Pareto names them.
            axis.annotate(fault["code"], (start, 0.38), fontsize=8, color=FAULT)
    axis.set_yticks([0, 1], ["faults", "parts"])
    axis.set_ylim(-0.6, 1.6)
    axis.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
    axis.set_xlabel("time of day")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in (GOOD, BAD, INCOMPLETE, FAULT)]
    axis.legend(
        handles, ["good", "bad", "incomplete", "fault downtime"], loc="upper center",
        ncol=4, fontsize=8, frameon=False, bbox_to_anchor=(0.5, -0.28),
    )  # fmt: skip
    f = report.figures
    axis.set_title(
        _title(report, f"{f.parts_good} good, {f.parts_bad} bad, {f.parts_incomplete} incomplete"),
        loc="left", fontsize=10,
    )  # fmt: skip
    axis.grid(axis="x", alpha=0.3)
    return _save(figure, path)


def cycle_times(report: ProductionReport, path: Path) -> Path:
    figure, axis = plt.subplots(figsize=(7, 4))
    times = report.cycle_times_s
    if times:
        bins = max(5, min(30, len(times) // 2))
        axis.hist(times, bins=bins, color=GOOD, alpha=0.85, edgecolor="white")
        median = report.percentile_cycle_time_s(50)
        p90 = report.percentile_cycle_time_s(90)
        axis.axvline(median, color="black", linestyle="-", label=f"median {median:.2f} s")
        axis.axvline(p90, color="black", linestyle=":", label=f"90th percentile {p90:.2f} s")
    else:
        axis.text(0.5, 0.5, "no complete production parts", ha="center", transform=axis.transAxes)
    if report.planned_cycle_time_s:
        axis.axvline(report.planned_cycle_time_s, color=PLAN, linestyle="--",
                     label=f"planned {report.planned_cycle_time_s:.2f} s")  # fmt: skip
    axis.set_xlabel("cycle time (s), part start to part complete")
    axis.set_ylabel("parts")
    axis.yaxis.get_major_locator().set_params(integer=True)
    axis.legend(fontsize=8)
    axis.set_title(_title(report, f"cycle times of {len(times)} parts"), loc="left", fontsize=10)
    axis.grid(axis="y", alpha=0.3)
    return _save(figure, path)


def oee(report: ProductionReport, path: Path) -> Path:
    f = report.figures
    names = ["availability", "performance", "quality", "OEE"]
    values = [f.availability, f.performance, f.quality, f.oee]
    figure, axis = plt.subplots(figsize=(7, 3.2))
    bars = axis.barh(names[::-1], [100 * v for v in values[::-1]],
                     color=["#37474f", PLAN, PLAN, PLAN])  # fmt: skip
    for bar, value in zip(bars, values[::-1], strict=True):
        axis.text(bar.get_width() + 1, bar.get_y() + bar.get_height() / 2, f"{100 * value:.1f} %",
                  va="center", fontsize=9)  # fmt: skip
    axis.axvline(100, color="black", linewidth=0.8)
    axis.set_xlim(0, max(110, 100 * max(values) + 15))
    axis.set_xlabel("%")
    axis.set_title(
        _title(report, f"OEE {100 * f.oee:.1f} %, downtime {f.fault_downtime_s:.1f} s"),
        loc="left", fontsize=10,
    )  # fmt: skip
    axis.grid(axis="x", alpha=0.3)
    return _save(figure, path)


def fault_pareto(report: ProductionReport, path: Path) -> Path:
    shares = [s for s in report.pareto if s.severity != "warning"]
    # Wide enough for each bar's label to keep to its own column.
    figure, axis = plt.subplots(figsize=(max(8, 1.6 * len(shares)), 4.4))
    if shares:
        labels = [f"{s.code}\n" + textwrap.fill(s.text, 14) for s in shares]
        axis.bar(labels, [s.downtime_s for s in shares], color=FAULT)
        for index, share in enumerate(shares):
            # The count inside the bar's top, clear of the cumulative line.
            axis.text(index, share.downtime_s * 0.97, f"{share.count}×", ha="center", va="top",
                      fontsize=9, color="white", fontweight="bold")  # fmt: skip
        cumulative = axis.twinx()
        cumulative.plot(labels, [100 * s.cumulative_share for s in shares], color="black",
                        marker="o")  # fmt: skip
        cumulative.set_ylim(0, 105)
        cumulative.set_ylabel("cumulative share of downtime (%)")
        axis.tick_params(axis="x", labelsize=8)
    else:
        axis.text(0.5, 0.5, "no faults in this window", ha="center", transform=axis.transAxes)
    axis.set_ylabel("downtime (s), raised to cleared")
    warnings = sum(s.count for s in report.pareto if s.severity == "warning")
    axis.set_title(_title(report, f"fault Pareto ({warnings} warnings not shown)"),
                   loc="left", fontsize=10)  # fmt: skip
    axis.grid(axis="y", alpha=0.3)
    return _save(figure, path)


def heat_input(report: ProductionReport, path: Path) -> Path:
    figure, axis = plt.subplots(figsize=(8, 4))
    program_of = {p["id"]: p["part_program"] for p in report.parts}
    by_seam: dict[str, list[tuple[int, float, str]]] = {}
    for seam in report.seams:
        if seam["heat_input_kj_per_mm"] is None or seam["verdict"] == "dry_run":
            continue
        key = f"{program_of.get(seam['part_id'], '?')} / {seam['seam']}"
        by_seam.setdefault(key, []).append(
            (seam["part_id"], seam["heat_input_kj_per_mm"], seam["verdict"])
        )
    for key, points in by_seam.items():
        line = axis.plot([p[0] for p in points], [p[1] for p in points], marker="o",
                         markersize=4, label=key)[0]  # fmt: skip
        bad = [p for p in points if p[2] == "bad"]
        if bad:
            axis.scatter([p[0] for p in bad], [p[1] for p in bad], s=90, facecolors="none",
                         edgecolors=BAD, linewidths=1.5, zorder=3)  # fmt: skip
        del line
    if not by_seam:
        axis.text(0.5, 0.5, "no welded seams", ha="center", transform=axis.transAxes)
    else:
        axis.scatter([], [], s=90, facecolors="none", edgecolors=BAD, label="seam judged bad")
        axis.legend(fontsize=8)
    axis.xaxis.get_major_locator().set_params(integer=True)
    axis.set_xlabel("part id")
    axis.set_ylabel("heat input (kJ/mm, ISO/TR 17671)")
    axis.set_title(_title(report, "heat input per seam"), loc="left", fontsize=10)
    axis.grid(alpha=0.3)
    return _save(figure, path)


PLOTS = {
    "shift_timeline.png": shift_timeline,
    "cycle_times.png": cycle_times,
    "oee.png": oee,
    "fault_pareto.png": fault_pareto,
    "heat_input.png": heat_input,
}


def write_plots(
    report: ProductionReport, folder: Path, progress: ProgressBar | None = None
) -> list[Path]:
    written = []
    for name, plot in PLOTS.items():
        if progress is not None:
            progress.step(f"plotting {name}")
        written.append(plot(report, folder / name))
    return written
