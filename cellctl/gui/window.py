"""The HMI's main window: the disconnected banner, the five screens, the fixed-rate redraw."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QComboBox, QLabel, QMainWindow, QTabWidget, QVBoxLayout, QWidget

from cellctl.gui import i18n
from cellctl.gui.faults import FaultsScreen
from cellctl.gui.i18n import LANGUAGES, translate
from cellctl.gui.i18n.choices import LanguageChoices
from cellctl.gui.link import CellLink
from cellctl.gui.overview import ROLE_RANK, OverviewScreen
from cellctl.gui.production import ProductionScreen
from cellctl.gui.style import STYLESHEET
from cellctl.gui.tracking import TrackingScreen
from cellctl.gui.weld import WeldScreen

REDRAW_HZ = 20


class HmiWindow(QMainWindow):
    """``languages``: where each user's language is remembered; without it the window starts
    in English and a switch lasts for this window only."""

    def __init__(self, link: CellLink, languages: LanguageChoices | None = None) -> None:
        super().__init__()
        self.link = link
        self.languages = languages
        self.language = languages.language_of(link.user) if languages else i18n.SOURCE_LANGUAGE
        i18n.install(self.language)
        self.setWindowTitle(f"cellctl — {link.endpoint}")
        self.setStyleSheet(STYLESHEET)
        self.cells_seen = 0
        self.fast_seen = 0
        self.last_answer: tuple[str, str, str] | None = None

        self.banner = QLabel()
        self.banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.banner.setWordWrap(True)  # a long reason must not widen the window
        self.banner.setStyleSheet(
            "background: #c0262d; color: white; font-size: 22pt; font-weight: bold; padding: 10px;"
        )
        self._banner_says = lambda: self._disconnected_text(translate("Window", "connecting …"))
        self.banner.setText(self._banner_says())

        self.overview = OverviewScreen(link.command)
        self.production = ProductionScreen()
        self.faults = FaultsScreen(link.command)
        self.weld = WeldScreen()
        self.tracking = TrackingScreen()
        self.screens: list[Any] = [
            self.overview, self.production, self.faults, self.weld, self.tracking,
        ]  # fmt: skip
        self.tabs = QTabWidget()
        for screen in self.screens:
            self.tabs.addTab(screen, i18n.screen_title(screen.title))
        # The language, in each language's own name, at the tabs' right: always in reach.
        self.language_choice = QComboBox()
        for code, name in LANGUAGES.items():
            self.language_choice.addItem(name, code)
        self.language_choice.setCurrentIndex(self.language_choice.findData(self.language))
        self.language_choice.currentIndexChanged.connect(
            lambda index: self.set_language(self.language_choice.itemData(index))
        )
        self.tabs.setCornerWidget(self.language_choice)

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.banner)
        layout.addWidget(self.tabs)
        self.setCentralWidget(central)

        link.cell_read.connect(self._on_cell)
        link.fast_read.connect(self._on_fast)
        link.connection_changed.connect(self._on_connection)
        link.command_done.connect(self._on_answer)
        # Plots redraw at a fixed rate from their buffers, however fast data arrives.
        self.redraw_timer = QTimer(self)
        self.redraw_timer.timeout.connect(self.redraw_current)
        self.redraw_timer.start(int(1000 / REDRAW_HZ))

    @property
    def connected(self) -> bool:
        return self.banner.isHidden()

    def set_language(self, language: str, remember: bool = True) -> None:
        """Switch every screen to ``language`` now (no restart) and, with ``remember``, keep
        it as this user's choice."""
        i18n.install(language)
        self.language = language
        if remember and self.languages is not None:
            self.languages.remember(self.link.user, language)
        index = self.language_choice.findData(language)
        if self.language_choice.currentIndex() != index:
            self.language_choice.blockSignals(True)
            self.language_choice.setCurrentIndex(index)
            self.language_choice.blockSignals(False)
        for position, screen in enumerate(self.screens):
            self.tabs.setTabText(position, i18n.screen_title(screen.title))
            screen.retranslate()
        self.banner.setText(self._banner_says())

    def _disconnected_text(self, why: str) -> str:
        return (
            translate("Window", "NOT CONNECTED to the controller (%1) — %2")
            .replace("%1", self.link.endpoint)
            .replace("%2", why)
        )

    def _on_connection(self, connected: bool, why: str) -> None:
        if connected:
            self.banner.hide()
        elif self.link.certificate_refusal:
            # Not "reconnecting": a person must decide whether the new certificate is the cell's.
            # (The refusal is the link's own English text, naming the file to remove.)
            refusal = self.link.certificate_refusal
            self._banner_says = lambda: refusal
            self.banner.setText(refusal)
            self.banner.show()
        else:
            self._banner_says = lambda: self._disconnected_text(
                translate("Window", "reconnecting … (%1)").replace("%1", why)
            )
            self.banner.setText(self._banner_says())
            self.banner.show()
        role = self.link.role
        self.overview.set_connection(connected, role, why)
        self.faults.set_may_command(connected and ROLE_RANK.get(role, 0) >= ROLE_RANK["operator"])

    def _on_cell(self, cell: dict) -> None:
        self.cells_seen += 1
        for screen in self.screens:
            screen.show_cell(cell)

    def _on_fast(self, t_s: float, values: dict) -> None:
        self.fast_seen += 1
        self.weld.show_fast(t_s, values)
        self.tracking.show_fast(t_s, values)

    def _on_answer(self, method: str, status: str, message: str) -> None:
        self.last_answer = (method, status, message)
        self.overview.show_answer(method, status, message)

    def redraw_current(self) -> None:
        current = self.tabs.currentWidget()
        if current is not None:
            current.redraw()

    def redraw_all(self) -> None:
        for screen in self.screens:
            screen.redraw()
