"""The HMI under test: a real ``HmiWindow`` (Qt offscreen) with its real OPC UA link.

The cell (simulator, controller and its OPC UA server, as in ``tests.opcua_rig``) runs on its
own event loop in a thread (``CellInThread``), so that the test's Qt work (a screenshot takes a
second here) never starves the controller: in the field the HMI is another process, and a
controller silent for 0.5 s trips the power source's interface watchdog. ``pump`` runs Qt's
events until a condition holds.
Screenshots go to ``$CELLCTL_ARTIFACTS/<test>`` if that is set, else to the test's tmp folder;
the test prints where.
The HMI's link keeps its certificate and pins in a folder of its own per window (never the
user's ``~/.config``).
"""

from __future__ import annotations

import asyncio
import atexit
import gc
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from cellctl.gui import i18n
from cellctl.gui.app import dispose, save_screenshots
from cellctl.gui.i18n.choices import LanguageChoices
from cellctl.gui.link import CellLink
from cellctl.gui.window import HmiWindow
from cellctl.plant.opcua.certs import ClientTrust
from rigs.cell import CellRig
from tests.opcua_rig import PASSWORDS, cell_with_opcua

# One application for the whole session, made at import (collection) time: Qt's own event
# descriptors then predate every test's leak check, and no widget outlives it.
APP = QApplication.instance() or QApplication([])
T = TypeVar("T")


# The warm-up window's link never reaches a server: nothing is written here.
_TRUST_DIR = Path(tempfile.gettempdir()) / "cellctl-hmi-warm-up"


def _warm_up() -> None:
    """Show one window before any test: Qt opens descriptors once per application then."""
    window = HmiWindow(CellLink("opc.tcp://127.0.0.1:9", trust=ClientTrust(_TRUST_DIR)))
    window.show()
    APP.processEvents()
    window.redraw_timer.stop()
    window.close()
    dispose(window)


class _QtPoolKeeper:
    """Keeps Qt's GUI thread pool warm for the whole session.

    Qt converts large images (a window's backing store) on a private thread pool of its own
    ("Thread (pooled)"), one thread per core, each with an eventfd; idle threads exit after
    30 s and are started again by the next window. A test that runs more than 30 s after the
    previous window would see the new threads' eventfds as its own leak. This thread converts a
    large image every few seconds, which reuses the pool's threads and keeps them alive; it
    starts at collection, before any test's leak check, and stops at exit.
    """

    PERIOD_S = 5.0

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="qt pool keeper", daemon=True)
        self._thread.start()
        atexit.register(self.stop)

    def _run(self) -> None:
        image = QImage(1024, 1024, QImage.Format.Format_ARGB32)
        image.fill(0)
        while True:
            image.convertToFormat(QImage.Format.Format_RGB888)
            if self._stop.wait(self.PERIOD_S):
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


_warm_up()
_POOL_KEEPER = _QtPoolKeeper()


@contextmanager
def hmi(
    app: QApplication,
    endpoint: str,
    user: str | None,
    trust: ClientTrust | None = None,
    languages: LanguageChoices | None = None,
) -> Iterator[HmiWindow]:
    """The HMI as ``user``; its certificate and pins in ``trust``, else a fresh folder; each
    user's language remembered in ``languages``, else English for this window only."""
    folder = None
    if trust is None:
        folder = Path(tempfile.mkdtemp(prefix="cellctl-hmi-trust-"))
        trust = ClientTrust(folder)
    link = CellLink(endpoint, user, PASSWORDS[user] if user else None, trust)
    window = HmiWindow(link, languages)
    window.resize(1600, 1000)
    window.show()
    link.start()
    freeze_heap()
    try:
        yield window
    finally:
        link.stop()
        window.redraw_timer.stop()
        window.close()
        dispose(window)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        i18n.install(i18n.SOURCE_LANGUAGE)  # the next test's window starts in English


class CellInThread:
    """``cell_with_opcua`` on an event loop of its own thread; ``run`` awaits a coroutine
    there, ``call`` runs a plain function there (the simulator and controller are not
    thread-safe: touch them only through these)."""

    def __init__(self, tmp_path: Path, edit: Callable[[dict], None] | None = None) -> None:
        self._context = cell_with_opcua(tmp_path, edit=edit)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="cell under test")
        self.rig: CellRig
        self.server: Any

    def __enter__(self) -> CellInThread:
        self._thread.start()
        try:
            self.rig, self.server = self.run(self._context.__aenter__())
        except BaseException:
            self._end()
            raise
        freeze_heap()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.run(self._context.__aexit__(None, None, None))
        finally:
            self._end()

    def _end(self) -> None:
        async def drain() -> None:
            await self._loop.shutdown_asyncgens()
            await self._loop.shutdown_default_executor()

        asyncio.run_coroutine_threadsafe(drain(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._loop.close()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout_s: float = 120.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout_s)

    def call(self, function: Callable[..., T], *args: Any) -> T:
        async def on_loop() -> T:
            return function(*args)

        return self.run(on_loop())


def freeze_heap() -> None:
    """Move what the test made so far (the cell, asyncua's address space, the HMI's widgets)
    out of the garbage collector's reach, as the conftest does at each test's setup: a full
    collection of it stopped every thread for 450-660 ms on a loaded machine, mid-weld, and the
    power source's interface watchdog tripped (F131) while the simulated devices stood. No
    ``gc.collect()`` first: with the cell running, that is the very pause to avoid (freezing
    keeps what garbage there is until the process ends; a test's worth)."""
    gc.freeze()


def pump(app: QApplication, condition: Callable[[], bool], what: str, timeout_s: float = 20.0):
    """Qt's events until ``condition()``; fails naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:g} s waiting for {what}")
        app.processEvents()
        time.sleep(0.02)
    app.processEvents()


def artifacts(tmp_path: Path, name: str) -> Path:
    root = os.environ.get("CELLCTL_ARTIFACTS")
    folder = Path(root) / name if root else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def screenshots(app: QApplication, window: HmiWindow, folder: Path) -> list[Path]:
    saved = save_screenshots(app, window, folder)
    print(f"\nHMI screenshots: {folder}")
    return saved
