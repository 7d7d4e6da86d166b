"""The weld record as a PDF a quality engineer signs (reportlab): ``write_weld_record``.

Page layout (A4 portrait): a header with the part's identity (serial, work order, part
program, cell, config version, times, verdict), who welded it and with what (the welder and
their ISO 14732 qualification, wire and gas lots, each procedure's revision and WPQR); then
one block per seam or pass: a table of its figures against the procedure (current, voltage,
wire feed, travel speed, heat input against the qualified range, interpass temperature,
tracking and bead figures), its verdict with the reasons, and two small plots of the arc's
current and voltage along the seam against the procedure's bands; then the part's faults and
a signature field. Plots are drawn with reportlab's own graphics (vector, no image files).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from reportlab.graphics.shapes import Drawing, Line, PolyLine, Rect, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import (
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from cellctl.config.models import Band
from cellctl.records.weld_record import PartRecord, SeamRecord

GOOD, BAD, GREY = colors.HexColor("#2e7d32"), colors.HexColor("#c62828"), colors.HexColor("#616161")
BAND_FILL = colors.HexColor("#e3f2e5")
LINE = colors.HexColor("#1565c0")
PLOT_W, PLOT_H = 82 * mm, 34 * mm


def _styles() -> dict[str, ParagraphStyle]:
    sheet = getSampleStyleSheet()
    return {
        "title": ParagraphStyle("title", parent=sheet["Title"], fontSize=16, spaceAfter=2),
        "sub": ParagraphStyle("sub", parent=sheet["Normal"], fontSize=8.5, textColor=GREY),
        "h2": ParagraphStyle(
            "h2", parent=sheet["Heading2"], fontSize=11, spaceBefore=8, spaceAfter=3
        ),
        "cell": ParagraphStyle("cell", parent=sheet["Normal"], fontSize=8, leading=10),
        "small": ParagraphStyle("small", parent=sheet["Normal"], fontSize=7.5, leading=9),
    }


def _when(at: float | None) -> str:
    return "-" if at is None else dt.datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M:%S")


def _num(value: Any, digits: int = 1, unit: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}{(' ' + unit) if unit else ''}"


def _verdict(text: str | None) -> str:
    colour = {"good": "#2e7d32", "bad": "#c62828"}.get(text or "", "#616161")
    return f'<font color="{colour}"><b>{(text or "no verdict").upper()}</b></font>'


def _grid(rows: list[list[Any]], widths: list[float], header: bool = False) -> Table:
    table = Table(rows, colWidths=widths, hAlign="LEFT")
    style = [
        ("FONT", (0, 0), (-1, -1), "Helvetica", 8),
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#9e9e9e")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    if header:
        style += [
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
            ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 8),
        ]
    else:
        style += [
            ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f5f5f5")),
            ("BACKGROUND", (2, 0), (2, -1), colors.HexColor("#f5f5f5")),
            ("FONT", (0, 0), (0, -1), "Helvetica-Bold", 8),
            ("FONT", (2, 0), (2, -1), "Helvetica-Bold", 8),
        ]
    table.setStyle(TableStyle(style))
    return table


# -- the header --------------------------------------------------------------------------------


def _header(record: PartRecord, styles: dict[str, ParagraphStyle]) -> list[Any]:
    part = record.part
    p = lambda text: Paragraph(text, styles["cell"])  # noqa: E731
    qualification = record.qualification
    if qualification:
        welder = f"{qualification.get('full_name') or ''} ({part['welder']})".strip()
        qualified = (
            f"{qualification['standard']} {qualification['number']}, valid until "
            f"{qualification['expires']}<br/>{qualification['scope']}"
        )
    else:
        welder, qualified = "- (no welder logged in)", "-"
    lots = record.lots
    rework = (
        f"rework of part {part['rework_of_part']}" if part.get("rework_of_part") else "first weld"
    )
    cycle = _num(part.get("cycle_time_s"), 1, "s")
    rows = [
        ["Serial number", p(f"<b>{part['serial']}</b> ({part['serial_source']}, {rework})"),
         "Verdict", p(_verdict(part["verdict"]) + f" ({part['status']})")],
        ["Work order", part.get("work_order") or "-", "Part id", str(part["id"])],
        ["Part program", part["part_program"], "Cell", part["cell"] or "-"],
        ["Started", _when(part["started_at"]), "Finished", _when(part.get("finished_at"))],
        ["Cycle time", cycle, "Arc time", _num(part.get("arc_time_s"), 1, "s")],
        ["Welder", p(welder), "Mode", part["mode"]],
        ["Qualification", p(qualified), "Config", record.config_digest[:12]],
        ["Wire lot", lots.get("wire", "-"), "Gas lot", lots.get("gas", "-")],
    ]  # fmt: skip
    flow: list[Any] = [_grid(rows, [28 * mm, 72 * mm, 22 * mm, 52 * mm])]
    if record.procedures:
        proc_rows = [["Procedure (WPS)", "Revision", "Qualified by (WPQR)"]]
        for name, info in sorted(record.procedures.items()):
            proc_rows.append([name, info.get("revision") or "-", info.get("wpqr") or "-"])
        flow += [Spacer(1, 3 * mm), _grid(proc_rows, [50 * mm, 20 * mm, 104 * mm], header=True)]
    if part.get("note"):
        flow.append(Paragraph(f"Note: {part['note']}", styles["small"]))
    return flow


# -- one seam ----------------------------------------------------------------------------------


def _band(band: Band | None) -> str:
    return f"{band.min:g}..{band.max:g}" if band is not None else "-"


def _temperature(temperature: dict[str, float]) -> str:
    """The part's temperature when the pass was let go, and the wait for it to cool."""
    if not temperature:
        return "not measured (no limits in the WPS)"
    waited = temperature.get("interpass_wait_s") or 0.0
    wait = f", cooled {waited:.0f} s first" if waited > 0 else ""
    return f"{_num(temperature.get('before_pass_c'), 0, '°C')}{wait}"


def _limits(temperature: dict[str, float]) -> str:
    if not temperature:
        return "-"
    return (
        f"preheat {_num(temperature.get('preheat_min_c'), 0)}, interpass max "
        f"{_num(temperature.get('interpass_max_c'), 0, '°C')}"
    )


def _seam_block(seam: SeamRecord, styles: dict[str, ParagraphStyle]) -> list[Any]:
    s = seam.summary
    procedure = seam.procedure
    bands = procedure.bands if procedure else None
    qualified = procedure.qualified if procedure else None
    p = lambda text: Paragraph(text, styles["cell"])  # noqa: E731
    heat = _num(s.get("heat_input_kj_per_mm"), 3, "kJ/mm")
    if s.get("heat_input_qualified") is False:
        heat = f'<font color="#c62828"><b>{heat} OUTSIDE</b></font>'
    temperature = s.get("temperature") or {}
    tracking = s.get("tracking") or {}
    track_text = ", ".join(f"{k} {v:.2f}" for k, v in tracking.items() if isinstance(v, float))
    rows = [
        ["Procedure", f"{seam.row['procedure']} rev. {s.get('procedure_revision') or '-'}",
         "Verdict", p(_verdict(seam.row["verdict"]))],
        ["Current", f"{_num(s.get('current_mean_a'))} A (min {_num(s.get('current_min_a'))}, "
                    f"max {_num(s.get('current_max_a'))})",
         "Band", _band(bands.current_a if bands else None) + " A"],
        ["Voltage", f"{_num(s.get('voltage_mean_v'))} V (min {_num(s.get('voltage_min_v'))}, "
                    f"max {_num(s.get('voltage_max_v'))})",
         "Band", _band(bands.voltage_v if bands else None) + " V"],
        ["Wire feed", _num(s.get("wire_feed_mean_m_per_min"), 2, "m/min"),
         "Band", _band(bands.wire_feed_m_per_min if bands else None) + " m/min"],
        ["Travel speed", _num(s.get("travel_speed_mm_per_s"), 2, "mm/s"),
         "Qualified", _band(qualified.travel_speed_mm_per_s if qualified else None) + " mm/s"],
        ["Heat input", p(heat),
         "Qualified", _band(qualified.heat_input_kj_per_mm if qualified else None) + " kJ/mm"],
        ["Arc time", f"{_num(s.get('arc_time_s'), 1, 's')}, {_num(s.get('length_mm'), 0, 'mm')}",
         "Out of band", f"{_num(s.get('out_of_band_s'), 2, 's')} ({s.get('excursions', 0)} exc.)"],
        ["Before the pass", _temperature(temperature),
         "Limits", _limits(temperature)],
        ["Tracking / bead", p(track_text or "-"), "Arc breaks",
         f"{s.get('arc_breaks', 0)} (restarts {s.get('restarts', 0)})"],
    ]  # fmt: skip
    flow: list[Any] = [
        Paragraph(f"Seam {seam.title}", styles["h2"]),
        _grid(rows, [28 * mm, 72 * mm, 24 * mm, 50 * mm]),
    ]
    if s.get("reasons"):
        flow.append(Paragraph("Why: " + "; ".join(s["reasons"]), styles["small"]))
    trace = s.get("trace")
    if trace:
        drawings = [
            _plot(trace["t_s"], trace["current_a"], bands.current_a if bands else None,
                  "Current", "A"),
            _plot(trace["t_s"], trace["voltage_v"], bands.voltage_v if bands else None,
                  "Voltage", "V"),
        ]  # fmt: skip
        plots = Table([drawings], colWidths=[PLOT_W + 6 * mm] * 2, hAlign="LEFT")
        plots.setStyle(TableStyle([("LEFTPADDING", (0, 0), (-1, -1), 0)]))
        flow += [Spacer(1, 2 * mm), plots]
    return [KeepTogether(flow)]


def _plot(
    t_s: list[float], values: list[float], band: Band | None, name: str, unit: str
) -> Drawing:
    """One quantity along the seam: the band shaded, the samples as a line, axes labelled."""
    drawing = Drawing(PLOT_W, PLOT_H)
    left, bottom, right, top = 11 * mm, 7 * mm, PLOT_W - 2 * mm, PLOT_H - 5 * mm
    t_max = max(t_s) if t_s and max(t_s) > 0 else 1.0
    low = min(values + ([band.min] if band else []))
    high = max(values + ([band.max] if band else []))
    margin = max((high - low) * 0.15, 0.5)
    low, high = low - margin, high + margin

    def x(t: float) -> float:
        return left + (right - left) * t / t_max

    def y(v: float) -> float:
        return bottom + (top - bottom) * (v - low) / (high - low)

    drawing.add(Rect(left, bottom, right - left, top - bottom, fillColor=None,
                     strokeColor=colors.HexColor("#9e9e9e"), strokeWidth=0.5))  # fmt: skip
    if band is not None:
        drawing.add(Rect(left, y(band.min), right - left, y(band.max) - y(band.min),
                         fillColor=BAND_FILL, strokeColor=None))  # fmt: skip
        for edge in (band.min, band.max):
            drawing.add(Line(left, y(edge), right, y(edge), strokeColor=GOOD,
                             strokeWidth=0.5, strokeDashArray=[2, 2]))  # fmt: skip
            drawing.add(String(left - 1, y(edge) - 2, f"{edge:g}", fontSize=6, fontName="Helvetica",
                               textAnchor="end"))  # fmt: skip
    points: list[float] = []
    for t, v in zip(t_s, values, strict=True):
        points += [x(t), y(v)]
    if len(points) >= 4:
        drawing.add(PolyLine(points, strokeColor=LINE, strokeWidth=0.6))
    drawing.add(
        String(
            left, top + 2, f"{name} ({unit}) against the WPS band", fontSize=7, fontName="Helvetica"
        )
    )
    drawing.add(
        String(right, 1, f"{t_max:.1f} s", fontSize=6, fontName="Helvetica", textAnchor="end")
    )
    drawing.add(String(left, 1, "0 s", fontSize=6, fontName="Helvetica"))
    return drawing


# -- faults and signature ----------------------------------------------------------------------


def _faults(record: PartRecord, styles: dict[str, ParagraphStyle]) -> list[Any]:
    flow: list[Any] = [Paragraph("Faults and remarks during the part", styles["h2"])]
    if not record.faults:
        return [*flow, Paragraph("None.", styles["cell"])]
    rows: list[list[Any]] = [["Code", "Raised", "Text", "Detail"]]
    for fault in record.faults:
        rows.append([fault["code"], _when(fault["raised_at"])[11:],
                     Paragraph(fault["text"], styles["small"]),
                     Paragraph(fault["detail"][:300], styles["small"])])  # fmt: skip
    return [*flow, _grid(rows, [14 * mm, 18 * mm, 52 * mm, 90 * mm], header=True)]


def _nonconformances(record: PartRecord, styles: dict[str, ParagraphStyle]) -> list[Any]:
    flow: list[Any] = [Paragraph("Non-conformances", styles["h2"])]
    if not record.nonconformances:
        return [*flow, Paragraph("None.", styles["cell"])]
    rows: list[list[Any]] = [["NC", "Opened", "Reason", "Repairs", "Decision"]]
    for nc in record.nonconformances:
        repairs = "<br/>".join(
            f"{_when(r['at'])[5:16]} {r['description']} ({r['welder'] or r['by_actor']})"
            for r in nc["repairs"]
        )
        decision = nc["status"].upper()
        if nc["decided_by"]:
            decision += f"<br/>{nc['decided_by']}, {_when(nc['decided_at'])[:16]}"
            decision += f"<br/>{nc['decision_note']}"
        rows.append([str(nc["id"]), _when(nc["opened_at"])[5:16],
                     Paragraph(nc["reason"][:300], styles["small"]),
                     Paragraph(repairs or "-", styles["small"]),
                     Paragraph(decision, styles["small"])])  # fmt: skip
    widths = [10 * mm, 22 * mm, 62 * mm, 44 * mm, 36 * mm]
    return [*flow, _grid(rows, widths, header=True)]


def _signature(styles: dict[str, ParagraphStyle]) -> list[Any]:
    rows = [
        ["Reviewed by (welding coordination / quality)", "", "Date", ""],
        ["Signature", "", "Decision", "released  /  repair  /  scrap"],
    ]
    table = Table(rows, colWidths=[62 * mm, 52 * mm, 18 * mm, 42 * mm], rowHeights=[11 * mm] * 2,
                  hAlign="LEFT")  # fmt: skip
    table.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, -1), "Helvetica", 8),
        ("GRID", (0, 0), (-1, -1), 0.6, colors.black),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]))  # fmt: skip
    return [Paragraph("Review", styles["h2"]), table]


def write_weld_record(record: PartRecord, path: Path) -> Path:
    """Write ``record`` as a PDF at ``path`` (its folder must exist)."""
    styles = _styles()
    part = record.part
    made = dt.datetime.now().strftime("%Y-%m-%d %H:%M")

    def footer(canvas: Any, document: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.setFillColor(GREY)
        canvas.drawString(15 * mm, 10 * mm, f"Weld record {part['serial']} - part {part['id']} - "
                          f"written by cellctl {made}")  # fmt: skip
        canvas.drawRightString(A4[0] - 15 * mm, 10 * mm, f"page {document.page}")
        canvas.restoreState()

    document = SimpleDocTemplate(
        str(path), pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=14 * mm,
        bottomMargin=16 * mm, title=f"Weld record {part['serial']}",
        author="cellctl", subject="ISO 3834-2 weld record",
    )  # fmt: skip
    flow: list[Any] = [
        Paragraph(f"Weld record - serial {part['serial']}", styles["title"]),
        Paragraph(
            "Record of welding per ISO 3834-2: welder, procedure revision, consumables and the "
            "monitored figures of every seam and pass.",
            styles["sub"],
        ),
        Spacer(1, 3 * mm),
        *_header(record, styles),
    ]
    if record.earlier_parts:
        earlier = ", ".join(
            f"part {p['id']} ({_when(p['started_at'])}, {p['verdict'] or p['status']})"
            for p in record.earlier_parts
        )
        flow.append(Paragraph(f"Welded before with this serial: {earlier}.", styles["small"]))
    for seam in record.seams:
        flow += _seam_block(seam, styles)
    if not record.seams:
        flow.append(Paragraph("No seam was recorded for this part.", styles["cell"]))
    flow += _nonconformances(record, styles)
    flow += _faults(record, styles)
    flow += _signature(styles)
    document.build(flow, onFirstPage=footer, onLaterPages=footer)
    return path
