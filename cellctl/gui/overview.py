"""Overview screen: the state banner in PackML colours, mode, part and seam, the command buttons
(enabled by the user's role and by what the state machine allows now), counters and OEE."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cellctl.gui.style import BANNER_POINT_SIZE, STATE_COLOURS, caption, fmt, value_label
from cellctl.gui.trace import TracePanel

# button -> (OPC UA method, the PackML command it needs allowed, or None)
COMMAND_BUTTONS: dict[str, tuple[str, str | None]] = {
    "Start": ("Start", "start"),
    "Hold": ("Hold", "hold"),
    "Unhold": ("Unhold", "unhold"),
    "Stop": ("Stop", "stop"),
    "Reset": ("Reset", "reset"),
    "Abort": ("Abort", "abort"),
    "Clear": ("Clear", "clear"),
}
ROLE_RANK = {"anonymous": 0, "operator": 1, "engineer": 2, "quality": 3}
MODES = ("production", "manual", "dry_run")


class OverviewScreen(QWidget):
    title = "Overview"

    def __init__(self, send: Callable[..., None]) -> None:
        super().__init__()
        self._send = send
        self.role = "anonymous"
        self._allowed: list[str] = []
        self._state = ""
        self._mode = ""
        self._connected = False

        self.banner = QLabel("—")
        self.banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.banner.setMinimumHeight(120)
        self._paint_banner("Unknown")
        self.mode = value_label()
        self.part = value_label()
        self.seam = value_label()
        self.phase = value_label(point_size=20)

        where = QGridLayout()
        for column, (text, label) in enumerate(
            (("Mode", self.mode), ("Part", self.part), ("Seam", self.seam), ("Doing", self.phase))
        ):
            where.addWidget(caption(text), 0, column)
            where.addWidget(label, 1, column)

        self.buttons: dict[str, QPushButton] = {}
        commands = QHBoxLayout()
        for name, (method, _) in COMMAND_BUTTONS.items():
            button = QPushButton(name)
            button.setMinimumHeight(64)
            button.clicked.connect(lambda _=False, m=method: self._send(m))
            commands.addWidget(button)
            self.buttons[name] = button
        self.acknowledge = QPushButton("Acknowledge faults")
        self.acknowledge.setMinimumHeight(64)
        self.acknowledge.clicked.connect(lambda: self._send("AcknowledgeFault", ""))
        commands.addWidget(self.acknowledge)

        mode_row = QHBoxLayout()
        self.mode_choice = QComboBox()
        self.mode_choice.addItems(MODES)
        self.set_mode = QPushButton("Set mode")
        self.set_mode.setMinimumHeight(56)
        self.set_mode.clicked.connect(lambda: self._send("SetMode", self.mode_choice.currentText()))
        self.user = caption("")
        self.answer = QLabel("")
        self.answer.setWordWrap(True)
        mode_row.addWidget(self.mode_choice)
        mode_row.addWidget(self.set_mode)
        mode_row.addSpacing(30)
        mode_row.addWidget(self.user)
        mode_row.addStretch(1)

        self.counters = {
            key: value_label()
            for key in (
                "Counters.PartsProcessed",
                "Counters.PartsGood",
                "Counters.PartsDefective",
                "Production.PartsPerHour",
                "Production.CycleTimeS",
            )
        }
        figures = QGroupBox("Production (shift)")
        grid = QGridLayout(figures)
        for column, (key, text) in enumerate(
            zip(
                self.counters,
                ("Processed", "Good", "Defective", "Parts / hour", "Cycle time"),
                strict=True,
            )
        ):
            grid.addWidget(caption(text), 0, column)
            grid.addWidget(self.counters[key], 1, column)

        self.oee = {
            key: value_label()
            for key in (
                "Production.Oee",
                "Production.Availability",
                "Production.Performance",
                "Production.Quality",
            )
        }
        oee = QGroupBox("OEE")
        grid = QGridLayout(oee)
        for column, (key, text) in enumerate(
            zip(self.oee, ("OEE", "Availability", "Performance", "Quality"), strict=True)
        ):
            grid.addWidget(caption(text), 0, column)
            grid.addWidget(self.oee[key], 1, column)

        self.links = value_label(point_size=18)
        self.faults = value_label(point_size=20)
        self.faults.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.addWidget(self.banner)
        layout.addLayout(where)
        layout.addLayout(commands)
        layout.addLayout(mode_row)
        layout.addWidget(self.answer)
        row = QHBoxLayout()
        row.addWidget(figures, 1)
        row.addWidget(oee, 1)
        layout.addLayout(row)
        self.trace = TracePanel(send)
        layout.addWidget(self.trace)
        layout.addWidget(self.faults)
        layout.addWidget(self.links)
        layout.addStretch(1)
        self._gate()

    def _paint_banner(self, state: str) -> None:
        colour = STATE_COLOURS.get(state, "#3a3f45")
        self.banner.setText(state.upper())
        self.banner.setStyleSheet(
            f"background: {colour}; color: white; font-size: {BANNER_POINT_SIZE}pt; "
            "font-weight: bold; border-radius: 8px;"
        )

    def set_connection(self, connected: bool, role: str, who: str) -> None:
        self._connected = connected
        self.role = role if connected else self.role
        self.user.setText(f"logged in: {who}" if connected else "")
        if not connected:
            # What is on screen is stale: say so where it would mislead most.
            self._paint_banner("No connection")
            self.links.setText("Links: unknown (no connection to the controller)")
            self.faults.setText("Faults: unknown (no connection to the controller)")
        self._gate()

    def show_answer(self, method: str, status: str, message: str) -> None:
        good = status == "Good"
        self.answer.setStyleSheet(f"color: {'#81c784' if good else '#ff8a80'};")
        self.answer.setText(f"{method}: {message}" if good else f"{method} — {status}: {message}")

    def show_cell(self, cell: dict[str, Any]) -> None:
        self._state = cell["State"]
        self._paint_banner(self._state)
        self._mode = cell["Mode"]
        self.mode.setText(self._mode.replace("_", " "))
        self.part.setText(cell["Part"] or "–")
        self.seam.setText(cell["Seam"] or "–")
        self.phase.setText(cell["Phase"])
        self._allowed = list(cell["AllowedCommands"] or [])
        for key, label in self.counters.items():
            digits = 0 if key == "Production.PartsPerHour" else 1
            unit = " s" if key == "Production.CycleTimeS" else ""
            label.setText(fmt(cell[key], digits, unit))
        for key, label in self.oee.items():
            value = cell[key]
            label.setText("–" if value is None or value != value else f"{value * 100:.0f} %")
        links = [
            ("PLC", cell["Links.Plc"]),
            ("Power source", cell["Links.PowerSource"]),
            ("Robot", cell["Links.Robot"]),
        ]
        self.links.setText(
            "   ".join(
                f"<span style='color:{'#81c784' if s == 'up' else '#ff8a80'}'>● {n} {s}</span>"
                for n, s in links
            )
        )
        self.trace.show_cell(cell)
        codes = cell["Faults.ActiveCodes"] or []
        texts = cell["Faults.ActiveTexts"] or []
        self.faults.setText(
            "<span style='color:#ff8a80'>"
            + "<br>".join(f"{c} {t}" for c, t in zip(codes, texts, strict=False))
            + "</span>"
            if codes
            else "No active faults"
        )
        self._gate()

    def _gate(self) -> None:
        """Buttons: enabled when connected, the role may, and the state allows it now."""
        may_command = self._connected and ROLE_RANK.get(self.role, 0) >= ROLE_RANK["operator"]
        self.trace.serial_entry.setEnabled(may_command)
        for name, button in self.buttons.items():
            needed = COMMAND_BUTTONS[name][1]
            button.setEnabled(may_command and (needed is None or needed in self._allowed))
        self.acknowledge.setEnabled(may_command)
        may_set_mode = self._connected and ROLE_RANK.get(self.role, 0) >= ROLE_RANK["engineer"]
        self.set_mode.setEnabled(may_set_mode)
        self.mode_choice.setEnabled(may_set_mode)

    def redraw(self) -> None:
        """Nothing to plot here: labels change with the data."""
