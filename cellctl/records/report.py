"""``cellctl report``: a cell's production over a time range or a shift, from its records.

What an engineer puts in a shift report: parts (good, bad, incomplete), the cycle time
distribution, OEE with its three factors, the arc-on ratio, a fault Pareto with the downtime of
each fault, and each seam's quality and heat input. Printed as a table; with ``--out DIR`` also
written as CSV files and PNG plots (``cellctl.records.plots``).

Planned cycle times come from the part programs of the config that welded each part (the store
keeps every config version), so a shift that changed configs is judged against the right plan.
Records made in a simulator running faster than real time are judged with ``--time-scale``.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import statistics
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cellctl.cell.downtime import FAULT_REASON, DowntimeReason
from cellctl.config.models import ShiftSettings
from cellctl.config.yaml_lines import parse_yaml_text
from cellctl.records.oee import Throughput, throughput
from cellctl.records.store import ProductionStore


class ReportError(ValueError):
    """A report that cannot be made; the message says why and what to give instead."""


@dataclass(frozen=True)
class FaultShare:
    """One fault code in the Pareto: how often, and how long the cell stood for it."""

    code: str
    text: str
    severity: str
    count: int
    downtime_s: float  # raised until cleared (an uncleared fault: until the window's end)
    share: float  # of all downtime in the window
    cumulative_share: float


@dataclass(frozen=True)
class SeamQuality:
    part_program: str
    seam: str
    procedure: str
    welded: int
    good: int
    bad: int
    heat_input_mean_kj_per_mm: float | None
    heat_input_min_kj_per_mm: float | None
    heat_input_max_kj_per_mm: float | None
    current_mean_a: float | None
    arc_time_mean_s: float | None
    out_of_band_mean_s: float


@dataclass(frozen=True)
class CellFigures:
    """One cell's line in a plant report (several cells in one database)."""

    cell: str
    parts_processed: int
    parts_good: int
    parts_bad: int
    parts_incomplete: int
    cycle_time_mean_s: float | None
    arc_on_ratio: float | None
    fault_downtime_s: float
    oee: float


@dataclass
class ProductionReport:
    cell: str
    window_start: float
    window_end: float
    title: str
    figures: Throughput
    planned_cycle_time_s: float | None  # mean over the processed parts, time scale applied
    cycle_times_s: list[float]
    parts: list[dict[str, Any]]
    seams: list[dict[str, Any]]
    faults: list[dict[str, Any]]
    pareto: list[FaultShare]
    seam_quality: list[SeamQuality]
    cells: list[CellFigures]  # one per cell when the report covers several
    downtimes: list[dict[str, Any]] = field(default_factory=list)  # standstills with a reason

    def percentile_cycle_time_s(self, p: float) -> float | None:
        if not self.cycle_times_s:
            return None
        ordered = sorted(self.cycle_times_s)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# -- the window ------------------------------------------------------------------------------


def parse_time(text: str, what: str) -> float:
    """A local date and time (``2026-11-24 06:00``, ``2026-11-24T06:00:30``, ``2026-11-24``)."""
    try:
        return dt.datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise ReportError(
            f"{what} {text!r}: expected a local date and time like 2026-11-24 06:00"
        ) from None


def shift_window(
    shift: ShiftSettings, day: dt.date | None, now: dt.datetime
) -> tuple[float, float]:
    """The shift's start and end on ``day`` (default: the latest one that has started)."""
    start_time = dt.time.fromisoformat(shift.start)
    end_time = dt.time.fromisoformat(shift.end)

    def on(date: dt.date) -> tuple[dt.datetime, dt.datetime]:
        start = dt.datetime.combine(date, start_time)
        end = dt.datetime.combine(date, end_time)
        if end <= start:  # past midnight
            end += dt.timedelta(days=1)
        return start, end

    if day is None:
        day = now.date()
        if on(day)[0] > now:
            day -= dt.timedelta(days=1)
    start, end = on(day)
    return start.timestamp(), end.timestamp()


# -- the figures -----------------------------------------------------------------------------


def planned_cycle_times(store: ProductionStore, parts: list[dict[str, Any]]) -> dict[int, float]:
    """Part id -> the planned cycle time of its program in the config that welded it."""
    by_config: dict[int, dict[str, float]] = {}
    planned: dict[int, float] = {}
    for part in parts:
        config_id = part["config_id"]
        if config_id not in by_config:
            programs: dict[str, float] = {}
            for name, text in store.config_files(config_id).items():
                if not name.startswith("parts/"):
                    continue
                # The bounded loader: a stored text is read back as carefully as a file.
                document = parse_yaml_text(text)
                data = None if document.problems else document.data
                value = data.get("planned_cycle_time_s") if isinstance(data, dict) else None
                if isinstance(value, int | float) and not isinstance(value, bool):
                    programs[str(data.get("name"))] = float(value)
            by_config[config_id] = programs
        value = by_config[config_id].get(part["part_program"])
        if value is not None:
            planned[part["id"]] = value
    return planned


def fault_pareto(
    faults: list[dict[str, Any]], window_start: float, window_end: float
) -> list[FaultShare]:
    grouped: dict[str, dict[str, Any]] = {}
    for fault in faults:
        entry = grouped.setdefault(
            fault["code"],
            {"text": fault["text"], "severity": fault["severity"], "count": 0, "downtime": 0.0},
        )
        entry["count"] += 1
        if fault["severity"] != "warning":
            start = max(fault["raised_at"], window_start)
            end = min(fault["cleared_at"] or window_end, window_end)
            entry["downtime"] += max(0.0, end - start)
    total = sum(e["downtime"] for e in grouped.values())
    ordered = sorted(grouped.items(), key=lambda item: (-item[1]["downtime"], -item[1]["count"]))
    shares, cumulative = [], 0.0
    for code, entry in ordered:
        share = entry["downtime"] / total if total else 0.0
        cumulative += share
        shares.append(
            FaultShare(
                code,
                entry["text"],
                entry["severity"],
                entry["count"],
                entry["downtime"],
                share,
                cumulative,
            )
        )
    return shares


def seam_quality(parts: list[dict[str, Any]], seams: list[dict[str, Any]]) -> list[SeamQuality]:
    program_of = {p["id"]: p["part_program"] for p in parts}
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for seam in seams:
        if seam["verdict"] == "dry_run" or seam["part_id"] not in program_of:
            continue
        grouped.setdefault((program_of[seam["part_id"]], seam["seam"]), []).append(seam)
    result = []
    for (program, name), rows in grouped.items():
        heat = [r["heat_input_kj_per_mm"] for r in rows if r["heat_input_kj_per_mm"] is not None]
        currents = [json.loads(r["summary_json"]).get("current_mean_a") for r in rows]
        currents = [c for c in currents if c is not None]
        result.append(
            SeamQuality(
                part_program=program,
                seam=name,
                procedure=rows[-1]["procedure"],
                welded=len(rows),
                good=sum(1 for r in rows if r["verdict"] == "good"),
                bad=sum(1 for r in rows if r["verdict"] == "bad"),
                heat_input_mean_kj_per_mm=statistics.fmean(heat) if heat else None,
                heat_input_min_kj_per_mm=min(heat) if heat else None,
                heat_input_max_kj_per_mm=max(heat) if heat else None,
                current_mean_a=statistics.fmean(currents) if currents else None,
                arc_time_mean_s=statistics.fmean(r["arc_time_s"] for r in rows),
                out_of_band_mean_s=statistics.fmean(r["out_of_band_s"] for r in rows),
            )
        )
    return result


def cell_figures(
    parts: list[dict[str, Any]],
    faults: list[dict[str, Any]],
    window: tuple[float, float],
    planned: dict[int, float],
    time_scale: float,
) -> list[CellFigures]:
    """Each cell's figures, when the records hold more than one cell."""
    cells = sorted({p["cell"] for p in parts} | {f["cell"] for f in faults})
    if len(cells) < 2:
        return []
    result = []
    for cell in cells:
        mine = [p for p in parts if p["cell"] == cell]
        plan = [planned[p["id"]] for p in mine if p["id"] in planned]
        figures = throughput(
            mine,
            [f for f in faults if f["cell"] == cell],
            *window,
            statistics.fmean(plan) / time_scale if plan else 0.0,
        )
        result.append(
            CellFigures(
                cell=cell,
                parts_processed=figures.parts_processed,
                parts_good=figures.parts_good,
                parts_bad=figures.parts_bad,
                parts_incomplete=figures.parts_incomplete,
                cycle_time_mean_s=figures.cycle_time_mean_s,
                arc_on_ratio=figures.arc_on_ratio,
                fault_downtime_s=figures.fault_downtime_s,
                oee=figures.oee,
            )
        )
    return result


def build_report(
    store: ProductionStore,
    window: tuple[float, float] | None,
    title: str = "",
    time_scale: float = 1.0,
) -> ProductionReport:
    """The report of ``store``'s cell over ``window`` (default: from the first record to the
    last)."""
    parts_all = store.parts()
    if window is None:
        if not parts_all:
            raise ReportError(f"{store.name}: no parts recorded")
        ends = [p["finished_at"] or p["started_at"] for p in parts_all]
        window = (parts_all[0]["started_at"], max(ends))
        title = title or "all records"
    start, end = window
    if end <= start:
        raise ReportError("the report's end must come after its start")
    parts = [p for p in parts_all if start <= p["started_at"] <= end]
    part_ids = {p["id"] for p in parts}
    seams = [s for s in store.seams() if s["part_id"] in part_ids]
    faults = [
        f for f in store.faults() if f["raised_at"] < end and (f["cleared_at"] or end) >= start
    ]
    processed = [p for p in parts if p["status"] == "complete" and p["mode"] == "production"]
    planned = planned_cycle_times(store, parts)
    planned_mean = (
        statistics.fmean(planned[p["id"]] for p in processed if p["id"] in planned) / time_scale
        if any(p["id"] in planned for p in processed)
        else None
    )
    downtimes = [d for d in store.downtimes(start) if d["started_at"] < end]
    figures = throughput(parts, faults, start, end, planned_mean or 0.0, seams, downtimes)
    return ProductionReport(
        cell=store.cell or "all cells",
        window_start=start,
        window_end=end,
        title=title,
        figures=figures,
        planned_cycle_time_s=planned_mean,
        cycle_times_s=[p["cycle_time_s"] for p in processed if p["cycle_time_s"]],
        parts=parts,
        seams=seams,
        faults=faults,
        pareto=fault_pareto(faults, start, end),
        seam_quality=seam_quality(parts, seams),
        cells=cell_figures(parts, faults, (start, end), planned, time_scale),
        downtimes=downtimes,
    )


# -- output ----------------------------------------------------------------------------------


def _clock(at: float) -> str:
    return dt.datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M:%S")


def _num(value: float | None, digits: int = 1, unit: str = "") -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def summary_rows(report: ProductionReport) -> list[tuple[str, str, str]]:
    """(figure, value, unit): the report's headline figures, for the table and summary.csv."""
    f = report.figures
    rows = [
        ("cell", report.cell, ""),
        ("from", _clock(report.window_start), ""),
        ("to", _clock(report.window_end), ""),
        ("parts started", str(len(report.parts)), ""),
        ("parts processed", str(f.parts_processed), ""),
        ("parts good", str(f.parts_good), ""),
        ("parts bad", str(f.parts_bad), ""),
        ("parts incomplete", str(f.parts_incomplete), ""),
        ("parts per hour", _num(f.parts_per_hour, 1), "1/h"),
        ("cycle time mean", _num(f.cycle_time_mean_s, 2), "s"),
        ("cycle time median", _num(report.percentile_cycle_time_s(50), 2), "s"),
        ("cycle time p90", _num(report.percentile_cycle_time_s(90), 2), "s"),
        ("cycle time min", _num(f.cycle_time_min_s, 2), "s"),
        ("cycle time max", _num(f.cycle_time_max_s, 2), "s"),
        ("planned cycle time", _num(report.planned_cycle_time_s, 2), "s"),
        ("arc-on ratio", _num(None if f.arc_on_ratio is None else 100 * f.arc_on_ratio), "%"),
        ("fault downtime", _num(f.fault_downtime_s, 1), "s"),
        ("planned stops", _num(f.planned_stop_s, 1), "s"),
        ("unplanned downtime", _num(f.unplanned_downtime_s, 1), "s"),
        ("interpass wait", _num(f.interpass_wait_s, 1), "s"),
        ("availability", _num(100 * f.availability), "%"),
        ("performance", _num(100 * f.performance), "%"),
        ("quality", _num(100 * f.quality), "%"),
        ("OEE", _num(100 * f.oee), "%"),
    ]
    return rows


def print_report(report: ProductionReport, out: Any = None) -> None:
    out = out or sys.stdout
    title = f"Production report, {report.cell}" + (f" ({report.title})" if report.title else "")
    print(title, file=out)
    print("=" * len(title), file=out)
    for name, value, unit in summary_rows(report):
        print(f"  {name:<20} {value:>20} {unit}", file=out)
    if report.cells:
        print("\nCells", file=out)
        print(f"  {'cell':<16} {'parts':>5} {'good':>5} {'bad':>4} {'incompl.':>8} "
              f"{'cycle s':>8} {'arc-on %':>8} {'downtime s':>10} {'OEE %':>6}",
              file=out)  # fmt: skip
        for c in report.cells:
            arc_on = None if c.arc_on_ratio is None else 100 * c.arc_on_ratio
            print(
                f"  {c.cell:<16} {c.parts_processed:>5} {c.parts_good:>5} {c.parts_bad:>4} "
                f"{c.parts_incomplete:>8} {_num(c.cycle_time_mean_s, 2):>8} {_num(arc_on):>8} "
                f"{c.fault_downtime_s:>10.1f} {100 * c.oee:>6.1f}",
                file=out,
            )
    print("\nDowntime by reason (planned stops are not lost availability)", file=out)
    if not report.figures.downtime_by_reason_s:
        print("  (no downtime)", file=out)
    for reason, seconds in downtime_by_reason(report):
        print(f"  {reason_text(reason):<34} {seconds:>10.1f} s", file=out)
    print("\nFault Pareto (by downtime)", file=out)
    print(f"  {'code':<6} {'count':>5} {'downtime s':>11} {'share':>6} {'cum.':>6}  text",
          file=out)  # fmt: skip
    if not report.pareto:
        print("  (no faults)", file=out)
    for share in report.pareto:
        print(
            f"  {share.code:<6} {share.count:>5} {share.downtime_s:>11.1f} "
            f"{100 * share.share:>5.0f}% {100 * share.cumulative_share:>5.0f}%  {share.text}",
            file=out,
        )
    print("\nSeams", file=out)
    print(
        f"  {'part / seam':<30} {'welded':>6} {'good':>5} {'bad':>4} "
        f"{'heat input kJ/mm mean (min..max)':>34} {'current A':>10} {'out of band s':>13}",
        file=out,
    )
    for q in report.seam_quality:
        heat = (
            f"{_num(q.heat_input_mean_kj_per_mm, 3)} ({_num(q.heat_input_min_kj_per_mm, 3)}.."
            f"{_num(q.heat_input_max_kj_per_mm, 3)})"
        )
        print(
            f"  {q.part_program + ' / ' + q.seam:<30} {q.welded:>6} {q.good:>5} {q.bad:>4} "
            f"{heat:>34} {_num(q.current_mean_a, 1):>10} {q.out_of_band_mean_s:>13.2f}",
            file=out,
        )


def reason_text(reason: str) -> str:
    if reason == FAULT_REASON:
        return "Faults"
    if reason in DowntimeReason._value2member_map_:
        return DowntimeReason(reason).text
    return reason  # a reason a newer cellctl recorded: its word, never a crash


def downtime_by_reason(report: ProductionReport) -> list[tuple[str, float]]:
    """(reason, seconds), longest first."""
    return sorted(report.figures.downtime_by_reason_s.items(), key=lambda item: -item[1])


def _write_csv(path: Path, rows: list[dict[str, Any]], fields: list[str] | None = None) -> None:
    fields = fields or (list(rows[0]) if rows else [])
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


PART_FIELDS = ["id", "cell", "part_program", "config_id", "mode", "started_at", "finished_at",
               "status", "verdict", "cycle_time_s", "arc_time_s", "note"]  # fmt: skip
SEAM_FIELDS = ["id", "part_id", "seam", "procedure", "started_at", "finished_at", "verdict",
               "arc_time_s", "heat_input_kj_per_mm", "arc_energy_kj", "out_of_band_s"]  # fmt: skip
FAULT_FIELDS = ["id", "cell", "code", "severity", "text", "detail", "state", "phase", "part_id",
                "raised_at", "reaction_ms", "acknowledged_at", "acknowledged_by",
                "cleared_at"]  # fmt: skip


DOWNTIME_FIELDS = ["id", "cell", "reason", "planned", "started_at", "ended_at", "given_by",
                   "given_at"]  # fmt: skip
PLANNED_WORDS = {r.value for r in DowntimeReason if r.planned}


def write_csvs(report: ProductionReport, folder: Path) -> list[Path]:
    files = {
        "summary.csv": ([{"figure": n, "value": v, "unit": u} for n, v, u in summary_rows(report)],
                        ["figure", "value", "unit"]),
        "parts.csv": (report.parts, PART_FIELDS),
        "seams.csv": (report.seams, SEAM_FIELDS),
        "faults.csv": (report.faults, FAULT_FIELDS),
        "fault_pareto.csv": ([asdict(s) for s in report.pareto], list(FaultShare.__annotations__)),
        "seam_quality.csv": ([asdict(q) for q in report.seam_quality],
                             list(SeamQuality.__annotations__)),
        "downtime_by_reason.csv": (
            [{"reason": r, "text": reason_text(r), "planned": r in PLANNED_WORDS, "seconds": s}
             for r, s in downtime_by_reason(report)],
            ["reason", "text", "planned", "seconds"]),
        "downtime.csv": (report.downtimes, DOWNTIME_FIELDS),
    }  # fmt: skip
    if report.cells:
        files["cells.csv"] = ([asdict(c) for c in report.cells], list(CellFigures.__annotations__))
    written = []
    for name, (rows, fields) in files.items():
        _write_csv(folder / name, rows, fields)
        written.append(folder / name)
    return written
