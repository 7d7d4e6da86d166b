"""The downtime prompt on the Overview screen (issue 19): while the cell stands, a button per
reason (waiting for parts, blocked downstream, the planned stops); once it has stood longer
than the controller's ``downtime_reason_after_s`` with no reason (``Downtime.ReasonNeeded``),
the box turns amber and asks. A press calls ``RecordDowntimeReason``; the controller records
it. Below, the shift's downtime per reason."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QT_TRANSLATE_NOOP
from PySide6.QtWidgets import QGridLayout, QGroupBox, QLabel, QPushButton, QVBoxLayout

from cellctl.gui.i18n import Texts, clock, number, translate
from cellctl.gui.style import caption

# Each reason the controller takes (``Downtime.Reasons``), by its word; "fault" is the shift
# figures' name for fault downtime.
REASON_TEXTS = {
    "waiting_for_parts": QT_TRANSLATE_NOOP("Downtime", "Waiting for parts"),
    "blocked_downstream": QT_TRANSLATE_NOOP("Downtime", "Blocked downstream"),
    "torch_cleaning": QT_TRANSLATE_NOOP("Downtime", "Torch cleaning"),
    "tip_change": QT_TRANSLATE_NOOP("Downtime", "Contact tip change"),
    "meal_break": QT_TRANSLATE_NOOP("Downtime", "Meal break"),
    "fault": QT_TRANSLATE_NOOP("Downtime", "Faults"),
}
# The buttons in two rows, unplanned and planned: shorter rows than one, and the operator sees
# which kind of stop a reason makes (planned stops are no loss of availability).
ROWS = (
    (QT_TRANSLATE_NOOP("Downtime", "Unplanned"), ("waiting_for_parts", "blocked_downstream")),
    (QT_TRANSLATE_NOOP("Downtime", "Planned"), ("torch_cleaning", "tip_change", "meal_break")),
)
ASKING_STYLE = (
    "QGroupBox { border: 3px solid #c98a00; background: #2a2412; } "
    "QLabel { background: transparent; }"
)


def reason_text(word: str) -> str:
    source = REASON_TEXTS.get(word)
    return word if source is None else translate("Downtime", source)


class DowntimePrompt(QGroupBox):
    def __init__(self, send: Callable[..., None]) -> None:
        super().__init__()
        self._send = send
        self._cell: dict[str, Any] | None = None
        self._may_command = False
        self._standing = False
        self.texts = Texts()
        self.texts.bind(self.setTitle, lambda: translate("Downtime", "Why does the cell stand?"))
        self.question = QLabel()
        self.question.setWordWrap(True)
        self.buttons: dict[str, QPushButton] = {}
        grid = QGridLayout()
        for row, (kind, words) in enumerate(ROWS):
            label = caption("")
            self.texts.bind(label.setText, lambda k=kind: translate("Downtime", k))
            grid.addWidget(label, row, 0)
            for column, word in enumerate(words, start=1):
                button = QPushButton()
                button.setMinimumHeight(52)
                self.texts.bind(button.setText, lambda w=word: reason_text(w))
                button.clicked.connect(
                    lambda _=False, w=word: self._send("RecordDowntimeReason", w)
                )
                grid.addWidget(button, row, column)
                self.buttons[word] = button
        grid.setColumnStretch(4, 1)
        self.shift = QLabel()
        self.shift.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.question)
        layout.addLayout(grid)
        layout.addWidget(self.shift)
        self._gate()

    @property
    def asking(self) -> bool:
        return bool(self._cell and self._cell["Downtime.ReasonNeeded"])

    def set_may_command(self, may: bool) -> None:
        self._may_command = may
        self._gate()

    def retranslate(self) -> None:
        self.texts.apply()
        if self._cell is not None:
            self.show_cell(self._cell)

    def show_cell(self, cell: dict[str, Any]) -> None:
        self._cell = cell
        since = cell["Downtime.StandingSinceUnixS"]
        standing = since is not None and not math.isnan(since)
        given = cell["Downtime.Reason"]
        if not standing and cell["Faults.ActiveCodes"]:
            self.question.setText(translate("Downtime", "A fault stops the cell: it says why."))
        elif not standing:
            self.question.setText(translate("Downtime", "The cell is producing."))
        elif given:
            self.question.setText(
                translate("Downtime", "Standing since %1: %2")
                .replace("%1", clock(since))
                .replace("%2", reason_text(given))
            )
        else:
            self.question.setText(
                translate("Downtime", "The cell has stood since %1 without a reason. Why?").replace(
                    "%1", clock(since)
                )
            )
        self.setStyleSheet(ASKING_STYLE if self.asking else "")
        reasons = cell["Downtime.ShiftReasons"] or []
        seconds = cell["Downtime.ShiftSeconds"] or []
        minutes = translate("Downtime", "min")
        parts = [
            f"{reason_text(r)} {number(s / 60.0, 1 if s < 600 else 0)} {minutes}"
            for r, s in zip(reasons, seconds, strict=False)
        ]
        self.shift.setText(
            translate("Downtime", "This shift: %1").replace(
                "%1", "   ".join(parts) or translate("Downtime", "no downtime")
            )
        )
        self._standing = standing
        self._gate()

    def _gate(self) -> None:
        for button in self.buttons.values():
            button.setEnabled(self._may_command and self._standing)
