"""Overview screen: the state banner in PackML colours, mode, part and seam, the command buttons
(enabled by the user's role and by what the state machine allows now), counters and OEE."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QT_TRANSLATE_NOOP, Qt
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

from cellctl.gui.downtime import DowntimePrompt
from cellctl.gui.i18n import (
    Texts,
    fault_text,
    link_state,
    mode_name,
    role_name,
    state_name,
    translate,
)
from cellctl.gui.resume import ResumePrompt
from cellctl.gui.style import BANNER_POINT_SIZE, STATE_COLOURS, caption, fmt, value_label
from cellctl.gui.trace import TracePanel

# The buttons' texts, for lupdate: the buttons are keyed by their English name.
BUTTON_TEXTS = (
    QT_TRANSLATE_NOOP("Overview", "Start"),
    QT_TRANSLATE_NOOP("Overview", "Hold"),
    QT_TRANSLATE_NOOP("Overview", "Unhold"),
    QT_TRANSLATE_NOOP("Overview", "Stop"),
    QT_TRANSLATE_NOOP("Overview", "Reset"),
    QT_TRANSLATE_NOOP("Overview", "Abort"),
    QT_TRANSLATE_NOOP("Overview", "Clear"),
)
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
        self._who = ""
        self._cell: dict[str, Any] | None = None
        self.texts = Texts()

        self.banner = QLabel("—")
        self.banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.banner.setMinimumHeight(120)
        self._paint_banner("Unknown")
        self.mode = value_label()
        self.part = value_label()
        self.seam = value_label()
        self.phase = value_label(point_size=20)

        where = QGridLayout()
        for column, (say, label) in enumerate(
            (
                (lambda: translate("Overview", "Mode"), self.mode),
                (lambda: translate("Overview", "Part"), self.part),
                (lambda: translate("Overview", "Seam"), self.seam),
                (lambda: translate("Overview", "Doing"), self.phase),
            )
        ):
            where.addWidget(self._caption(say), 0, column)
            where.addWidget(label, 1, column)

        self.buttons: dict[str, QPushButton] = {}
        commands = QHBoxLayout()
        for name, (method, _) in COMMAND_BUTTONS.items():
            button = QPushButton()
            self.texts.bind(button.setText, lambda n=name: translate("Overview", n))
            button.setMinimumHeight(64)
            button.clicked.connect(lambda _=False, m=method: self._send(m))
            commands.addWidget(button)
            self.buttons[name] = button
        self.acknowledge = QPushButton()
        self.texts.bind(
            self.acknowledge.setText, lambda: translate("Overview", "Acknowledge faults")
        )
        self.acknowledge.setMinimumHeight(64)
        self.acknowledge.clicked.connect(lambda: self._send("AcknowledgeFault", ""))
        commands.addWidget(self.acknowledge)

        mode_row = QHBoxLayout()
        self.mode_choice = QComboBox()
        # Its width follows its texts: they change with the language.
        self.mode_choice.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        for mode in MODES:  # shown in the language, sent as the controller's word
            self.mode_choice.addItem(mode_name(mode), mode)
        self.set_mode = QPushButton()
        self.texts.bind(self.set_mode.setText, lambda: translate("Overview", "Set mode"))
        self.set_mode.setMinimumHeight(56)
        self.set_mode.clicked.connect(lambda: self._send("SetMode", self.mode_choice.currentData()))
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
        figures = QGroupBox()
        self.texts.bind(figures.setTitle, lambda: translate("Overview", "Production (shift)"))
        grid = QGridLayout(figures)
        for column, (key, say) in enumerate(
            zip(
                self.counters,
                (
                    lambda: translate("Overview", "Processed"),
                    lambda: translate("Overview", "Good"),
                    lambda: translate("Overview", "Defective"),
                    lambda: translate("Overview", "Parts / hour"),
                    lambda: translate("Overview", "Cycle time"),
                ),
                strict=True,
            )
        ):
            grid.addWidget(self._caption(say), 0, column)
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
        for column, (key, say) in enumerate(
            zip(
                self.oee,
                (
                    lambda: "OEE",
                    lambda: translate("Overview", "Availability"),
                    lambda: translate("Overview", "Performance"),
                    lambda: translate("Overview", "Quality"),
                ),
                strict=True,
            )
        ):
            grid.addWidget(self._caption(say), 0, column)
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
        # An interrupted part to confirm for resume (issue 17): hidden unless there is one.
        self.resume = ResumePrompt(self._send)
        layout.addWidget(self.resume)
        row = QHBoxLayout()
        row.addWidget(figures, 1)
        row.addWidget(oee, 1)
        layout.addLayout(row)
        # Side by side: one under the other, the screen is taller than its 1000 px window.
        self.trace = TracePanel(send)
        self.downtime = DowntimePrompt(self._send)
        self.downtime.hide()  # until the controller says whether the cell stands
        row = QHBoxLayout()
        row.addWidget(self.trace, 1)
        row.addWidget(self.downtime, 1)
        layout.addLayout(row)
        layout.addWidget(self.faults)
        layout.addWidget(self.links)
        layout.addStretch(1)
        self._gate()

    def _caption(self, say: Any) -> QLabel:
        label = caption("")
        self.texts.bind(label.setText, say)
        return label

    def retranslate(self) -> None:
        """Say every text again in the current language (and the data last shown)."""
        self.texts.apply()
        self.downtime.retranslate()
        self.resume.retranslate()
        self.trace.retranslate()
        for index in range(self.mode_choice.count()):
            self.mode_choice.setItemText(index, mode_name(self.mode_choice.itemData(index)))
        self.set_connection(self._connected, self.role, self._who)
        if self._cell is not None and self._connected:
            self.show_cell(self._cell)

    def _paint_banner(self, state: str) -> None:
        colour = STATE_COLOURS.get(state, "#3a3f45")
        self.banner.setText(state_name(state))
        self.banner.setStyleSheet(
            f"background: {colour}; color: white; font-size: {BANNER_POINT_SIZE}pt; "
            "font-weight: bold; border-radius: 8px;"
        )

    def set_connection(self, connected: bool, role: str, who: str) -> None:
        self._connected = connected
        self.role = role if connected else self.role
        self._who = who
        if who.endswith(f"({role})"):  # the link says "<user> (<role>)": the role in words
            who = f"{who[: -len(role) - 2]}({role_name(role)})"
        self.user.setText(
            translate("Overview", "logged in: %1").replace("%1", who) if connected else ""
        )
        if not connected:
            # What is on screen is stale: say so where it would mislead most.
            self.downtime.hide()
            self.resume.show_cell({})  # no part offered that the controller may not confirm
            self._paint_banner("No connection")
            self.links.setText(
                translate("Overview", "Links: unknown (no connection to the controller)")
            )
            self.faults.setText(
                translate("Overview", "Faults: unknown (no connection to the controller)")
            )
        self._gate()

    def show_answer(self, method: str, status: str, message: str) -> None:
        if method == "ResumePart":
            self.resume.show_answer(status, message)
        good = status == "Good"
        self.answer.setStyleSheet(f"color: {'#81c784' if good else '#ff8a80'};")
        self.answer.setText(f"{method}: {message}" if good else f"{method} — {status}: {message}")

    def show_cell(self, cell: dict[str, Any]) -> None:
        self._cell = cell
        self._state = cell["State"]
        self._paint_banner(self._state)
        self._mode = cell["Mode"]
        self.mode.setText(mode_name(self._mode))
        self.part.setText(cell["Part"] or "–")
        self.seam.setText(cell["Seam"] or "–")
        self.phase.setText(cell["Phase"])
        self._allowed = list(cell["AllowedCommands"] or [])
        self.downtime.show_cell(cell)
        self.downtime.show()
        self.resume.show_cell(cell)
        for key, label in self.counters.items():
            digits = 0 if key == "Production.PartsPerHour" else 1
            unit = " s" if key == "Production.CycleTimeS" else ""
            label.setText(fmt(cell[key], digits, unit))
        for key, label in self.oee.items():
            value = cell[key]
            label.setText("–" if value is None or value != value else f"{value * 100:.0f} %")
        links = [
            (translate("Overview", "PLC"), cell["Links.Plc"]),
            (translate("Overview", "Power source"), cell["Links.PowerSource"]),
            (translate("Overview", "Robot"), cell["Links.Robot"]),
        ]
        self.links.setText(
            "   ".join(
                f"<span style='color:{'#81c784' if s == 'up' else '#ff8a80'}'>"
                f"● {n} {link_state(s)}</span>"
                for n, s in links
            )
        )
        self.trace.show_cell(cell)
        codes = cell["Faults.ActiveCodes"] or []
        texts = cell["Faults.ActiveTexts"] or []
        self.faults.setText(
            "<span style='color:#ff8a80'>"
            + "<br>".join(f"{c} {fault_text(c, t)}" for c, t in zip(codes, texts, strict=False))
            + "</span>"
            if codes
            else translate("Overview", "No active faults")
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
        self.downtime.set_may_command(may_command)
        self.resume.set_may_command(may_command)
        may_set_mode = self._connected and ROLE_RANK.get(self.role, 0) >= ROLE_RANK["engineer"]
        self.set_mode.setEnabled(may_set_mode)
        self.mode_choice.setEnabled(may_set_mode)

    def redraw(self) -> None:
        """Nothing to plot here: labels change with the data."""
