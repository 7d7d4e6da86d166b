"""The resume box on the Overview screen (issue 17): a part the controller's last stop
interrupted, which the operator may confirm for resume (``cellctl.weld.resume``).

Shown only while the controller reports such a part (``Resume.PartIds``, with its serial, part
program and where the next Start would weld: ``Resume.Seams``, ``Resume.NextPasses`` of
``Resume.PassCounts``) or a part is armed (``Resume.Armed``). One row per part with a "Resume
this part" button (operator role, like the other commands). A press does not send yet: the box
asks whether the part is on the fixture as the stop left it, and only "Yes, resume it" calls
``ResumePart`` with the part's id; "Cancel" goes back. The controller's answer (what the next
Start welds, or why it refuses) is shown in the box.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QGridLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from cellctl.gui.i18n import Texts, translate

MAX_ROWS = 3  # a stop interrupts one part per cell; a few rows are room enough
ASKING_STYLE = (
    "QGroupBox { border: 3px solid #c98a00; background: #2a2412; } "
    "QLabel { background: transparent; }"
)


def offers_of(cell: dict[str, Any]) -> list[dict[str, Any]]:
    """The interrupted parts the controller offers for resume, one dict each."""
    columns = (
        "Resume.PartIds",
        "Resume.Serials",
        "Resume.Programs",
        "Resume.Seams",
        "Resume.NextPasses",
        "Resume.PassCounts",
    )
    keys = ("part_id", "serial", "program", "seam", "next_pass", "passes")
    rows = zip(*((cell.get(c) or []) for c in columns), strict=False)
    return [dict(zip(keys, row, strict=True)) for row in rows]


def where_text(offer: dict[str, Any]) -> str:
    """Where the next Start would weld the part, in the operator's language."""
    if int(offer["next_pass"]) <= 1:
        return translate("Resume", "seam %1 from its start").replace("%1", offer["seam"])
    return (
        translate("Resume", "seam %1, pass %2 of %3")
        .replace("%1", offer["seam"])
        .replace("%2", str(offer["next_pass"]))
        .replace("%3", str(offer["passes"]))
    )


def part_text(offer: dict[str, Any]) -> str:
    serial = offer["serial"] or translate("Resume", "no serial")
    return (
        translate("Resume", "Part %1 (%2, %3): the next Start welds %4")
        .replace("%1", str(offer["part_id"]))
        .replace("%2", serial)
        .replace("%3", offer["program"])
        .replace("%4", where_text(offer))
    )


class ResumePrompt(QGroupBox):
    def __init__(self, send: Callable[..., None]) -> None:
        super().__init__()
        self._send = send
        self._cell: dict[str, Any] | None = None
        self._offers: list[dict[str, Any]] = []
        self._may_command = False
        self._asking: dict[str, Any] | None = None  # the offer whose confirmation is asked
        self.texts = Texts()
        self.texts.bind(
            self.setTitle, lambda: translate("Resume", "Part interrupted by the controller's stop")
        )
        self.rows: list[tuple[QLabel, QPushButton]] = []
        grid = QGridLayout()
        for row in range(MAX_ROWS):
            label = QLabel()
            label.setWordWrap(True)
            button = QPushButton()
            button.setMinimumHeight(52)
            self.texts.bind(button.setText, lambda: translate("Resume", "Resume this part"))
            button.clicked.connect(lambda _=False, r=row: self._ask(r))
            grid.addWidget(label, row, 0)
            grid.addWidget(button, row, 1)
            self.rows.append((label, button))
        grid.setColumnStretch(0, 1)
        self.question = QLabel()
        self.question.setWordWrap(True)
        self.confirm = QPushButton()
        self.confirm.setMinimumHeight(52)
        self.texts.bind(self.confirm.setText, lambda: translate("Resume", "Yes, resume it"))
        self.confirm.clicked.connect(self._confirmed)
        self.cancel = QPushButton()
        self.cancel.setMinimumHeight(52)
        self.texts.bind(self.cancel.setText, lambda: translate("Resume", "Cancel"))
        self.cancel.clicked.connect(self._cancelled)
        confirm_row = QHBoxLayout()
        confirm_row.addWidget(self.question, 1)
        confirm_row.addWidget(self.confirm)
        confirm_row.addWidget(self.cancel)
        self.armed = QLabel()
        self.armed.setWordWrap(True)
        self.armed.setStyleSheet("color: #81c784;")
        self.answer = QLabel()
        self.answer.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(grid)
        layout.addLayout(confirm_row)
        layout.addWidget(self.armed)
        layout.addWidget(self.answer)
        self.answer.setVisible(False)  # until the controller answers
        self._show()

    @property
    def offers(self) -> list[dict[str, Any]]:
        return list(self._offers)

    def set_may_command(self, may: bool) -> None:
        self._may_command = may
        if not may:
            self._asking = None
        self._show()

    def retranslate(self) -> None:
        self.texts.apply()
        self._show()

    def show_cell(self, cell: dict[str, Any]) -> None:
        self._cell = cell
        self._offers = offers_of(cell)
        if self._asking is not None and self._asking not in self._offers:
            self._asking = None  # the part is no longer offered (resumed, or the cell moved on)
        self._show()

    def show_answer(self, status: str, message: str) -> None:
        """The controller's answer to ``ResumePart`` (its refusal says why)."""
        good = status == "Good"
        self.answer.setStyleSheet(f"color: {'#81c784' if good else '#ff8a80'};")
        say = translate("Resume", "Confirmed: %1") if good else translate("Resume", "Refused: %1")
        # The server's refusal starts "ResumePart refused: "; the box says "refused" itself.
        self.answer.setText(say.replace("%1", message.removeprefix("ResumePart refused: ")))
        self.answer.setVisible(True)

    def _ask(self, row: int) -> None:
        if row < len(self._offers):
            self._asking = self._offers[row]
            self.answer.setText("")
            self.answer.setVisible(False)
            self._show()

    def _confirmed(self) -> None:
        if self._asking is not None and self._may_command:
            self._send("ResumePart", str(self._asking["part_id"]))
        self._asking = None
        self._show()

    def _cancelled(self) -> None:
        self._asking = None
        self._show()

    def _show(self) -> None:
        """Rows, question and armed part as they stand; the box hides when there is none."""
        armed = int((self._cell or {}).get("Resume.Armed") or 0)
        asking = self._asking
        for index, (label, button) in enumerate(self.rows):
            offer = self._offers[index] if index < len(self._offers) else None
            # While asking, the question names the part: the rows give it their room.
            shown = offer is not None and asking is None
            label.setVisible(shown)
            button.setVisible(shown)
            if offer is not None:
                label.setText(part_text(offer))
                button.setEnabled(self._may_command and offer["part_id"] != armed)
        for widget in (self.question, self.confirm, self.cancel):
            widget.setVisible(asking is not None)
        self.confirm.setEnabled(self._may_command)
        if asking is not None:
            self.question.setText(
                translate(
                    "Resume",
                    "Is part %1 on the fixture as the stop left it? The next Start welds %2; "
                    "passes already recorded are not welded again.",
                )
                .replace("%1", str(asking["part_id"]))
                .replace("%2", where_text(asking))
            )
        self.setStyleSheet(ASKING_STYLE if asking is not None else "")
        self.armed.setVisible(bool(armed))
        self.armed.setText(
            translate("Resume", "Part %1 is confirmed: the next Start reopens it.").replace(
                "%1", str(armed)
            )
        )
        self.setVisible(bool(self._offers or armed))
