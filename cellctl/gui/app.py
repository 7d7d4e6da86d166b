"""``cellctl gui``: start the HMI (or, with ``--screenshot DIR``, save every screen and exit)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QEvent
from PySide6.QtWidgets import QApplication, QInputDialog, QLineEdit, QWidget

from cellctl.gui import i18n
from cellctl.gui.i18n.choices import LanguageChoices, machine_language, user_settings_path
from cellctl.gui.link import CellLink
from cellctl.gui.window import HmiWindow
from cellctl.plant.opcua.certs import ClientTrust

SCREENSHOT_CONNECT_TIMEOUT_S = 20.0
SCREENSHOT_FILL_S = 3.0  # live traces need a few seconds of samples to show anything
SCREEN_SIZE = (1600, 1000)


def process_events_until(
    app: QApplication, condition: Callable[[], bool], timeout_s: float
) -> bool:
    """Run the Qt event loop until ``condition()`` or the timeout; returns ``condition()``."""
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    return condition()


def save_screenshots(app: QApplication, window: HmiWindow, folder: Path) -> list[Path]:
    """One PNG per screen, named after it (``overview.png``, ...)."""
    folder.mkdir(parents=True, exist_ok=True)
    saved = []
    for screen in window.screens:
        window.tabs.setCurrentWidget(screen)
        app.processEvents()
        screen.redraw()
        app.processEvents()
        path = folder / f"{screen.title.lower()}.png"
        if not window.grab().save(str(path)):
            raise OSError(f"could not write {path}")
        saved.append(path)
    return saved


def run_gui(args: argparse.Namespace) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    language = getattr(args, "language", None)
    settings = getattr(args, "settings", None)
    languages = LanguageChoices(
        Path(settings) if settings else user_settings_path(), language or machine_language()
    )
    if args.user:
        i18n.install(languages.language_of(args.user))  # the password prompt in theirs
    password = args.password
    if args.user and password is None:
        if args.screenshot or os.environ.get("QT_QPA_PLATFORM") == "offscreen":
            print("cellctl gui: --password is needed with --user here", file=sys.stderr)
            return 2
        password, ok = QInputDialog.getText(
            None,
            "cellctl",
            i18n.translate("Window", "Password for %1:").replace("%1", args.user),
            QLineEdit.EchoMode.Password,
        )
        if not ok:
            return 1
    trust = ClientTrust(Path(args.trust_dir)) if getattr(args, "trust_dir", None) else None
    link = CellLink(args.endpoint, args.user, password, trust)
    window = HmiWindow(link, languages)
    if args.screenshot and language:
        # What was asked for, not what the user chose last; and no change to their choice.
        window.set_language(language, remember=False)
    window.resize(*SCREEN_SIZE)
    link.start()
    code = 0
    try:
        if args.screenshot:
            window.show()
            if not process_events_until(
                app, lambda: window.cells_seen > 0, SCREENSHOT_CONNECT_TIMEOUT_S
            ):
                print(f"cellctl gui: no answer from {args.endpoint}", file=sys.stderr)
                return 1
            process_events_until(app, lambda: False, SCREENSHOT_FILL_S)
            for path in save_screenshots(app, window, Path(args.screenshot)):
                print(path)
        else:
            if args.full_screen:
                window.showFullScreen()
            else:
                window.show()
            code = app.exec()
    finally:
        link.stop()
        window.redraw_timer.stop()
        window.close()
        dispose(window)
    return code


def dispose(widget: QWidget) -> None:
    """Delete a widget now, with its children, while the application still exists: widgets
    that outlive it crash the interpreter at exit (PySide6 6.12, see shared PITFALLS).
    ``processEvents`` alone does not run deferred deletions; ``sendPostedEvents`` does."""
    widget.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QCoreApplication.processEvents()
