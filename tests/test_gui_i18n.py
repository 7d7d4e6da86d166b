"""The HMI in both languages (issue 19): the zh_CN translation is complete and compiled, every
fault of the catalogue has its Chinese text and action, the shipped CJK font covers every
translated character, the panel switches language at run time and remembers each user's
choice, and no button's text overflows it in either language. Real Qt, offscreen."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

import pyqtgraph as pg
import pytest
from PySide6.QtCore import QRectF
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QGraphicsItem, QGraphicsTextItem, QLabel, QPushButton

from cellctl.cell.downtime import DowntimeReason
from cellctl.cell.faults import CATALOGUE, FaultCode
from cellctl.gui import i18n
from cellctl.gui.app import dispose
from cellctl.gui.downtime import REASON_TEXTS, DowntimePrompt
from cellctl.gui.faults import FaultsScreen
from cellctl.gui.i18n import build
from cellctl.gui.i18n.choices import LanguageChoices
from cellctl.gui.link import CellLink
from cellctl.gui.window import HmiWindow
from cellctl.plant.opcua.certs import ClientTrust
from tests.gui_rig import APP

ZH_TS = i18n.ts_path("zh_CN")
NOWHERE = "opc.tcp://127.0.0.1:9"  # no controller: the window shows "not connected"


@pytest.fixture
def english_after():
    yield
    i18n.install(i18n.SOURCE_LANGUAGE)


@pytest.fixture
def window_for(tmp_path, english_after):
    made: list[HmiWindow] = []

    def make(user: str | None = None, languages: LanguageChoices | None = None) -> HmiWindow:
        link = CellLink(NOWHERE, user, "x" if user else None, ClientTrust(tmp_path / "trust"))
        window = HmiWindow(link, languages)
        window.resize(1600, 1000)
        window.show()
        APP.processEvents()
        made.append(window)
        return window

    yield make
    for window in made:
        window.redraw_timer.stop()
        window.close()
        dispose(window)


def test_every_fault_code_has_a_zh_cn_text_and_action(english_after):
    i18n.install("zh_CN")
    missing = []
    for code in FaultCode:
        kind = CATALOGUE[code]
        if i18n.fault_text(code) in ("", kind.text):
            missing.append(f"{code} text {kind.text!r}")
        if i18n.fault_action(code) in ("", kind.action):
            missing.append(f"{code} action {kind.action!r}")
    assert not missing, (
        f"no zh_CN translation in {ZH_TS} (contexts Fault / FaultAction) for: "
        + "; ".join(missing)
        + ". Run `make translations`, then translate them in the .ts."
    )


def test_every_downtime_reason_has_a_text_in_both_languages(english_after):
    from cellctl.gui.downtime import reason_text

    missing = [str(r) for r in DowntimeReason if str(r) not in REASON_TEXTS]
    assert not missing, f"no text in cellctl.gui.downtime.REASON_TEXTS for {missing}"
    i18n.install("zh_CN")
    untranslated = [w for w in REASON_TEXTS if reason_text(w) == REASON_TEXTS[w]]
    assert not untranslated, f"no zh_CN text in {ZH_TS} (context Downtime) for {untranslated}"


def test_the_downtime_prompt_asks_and_sends_the_reason(english_after):
    sent: list[tuple[str, ...]] = []
    prompt = DowntimePrompt(lambda *args: sent.append(args))
    prompt.set_may_command(True)
    cell = {
        "Downtime.StandingSinceUnixS": float("nan"),
        "Downtime.ReasonNeeded": False,
        "Downtime.Reason": "",
        "Downtime.ShiftReasons": [],
        "Downtime.ShiftSeconds": [],
        "Faults.ActiveCodes": [],
    }
    try:
        prompt.show_cell(cell)
        assert not prompt.buttons["meal_break"].isEnabled()  # producing: nothing to say
        assert prompt.shift.text() == "This shift: no downtime"
        cell |= {
            "Downtime.StandingSinceUnixS": time.time() - 400,
            "Downtime.ReasonNeeded": True,
            "Downtime.ShiftReasons": ["fault", "meal_break"],
            "Downtime.ShiftSeconds": [900.0, 600.0],
        }
        prompt.show_cell(cell)
        assert prompt.asking
        assert "without a reason" in prompt.question.text()
        assert "#c98a00" in prompt.styleSheet()
        assert prompt.shift.text() == "This shift: Faults 15 min   Meal break 10 min"
        prompt.buttons["meal_break"].click()
        assert sent == [("RecordDowntimeReason", "meal_break")]
        i18n.install("zh_CN")
        prompt.retranslate()
        assert prompt.buttons["meal_break"].text() == "就餐"
        assert "尚未填写原因" in prompt.question.text()
        assert prompt.shift.text() == "本班停机：故障 15 分钟   就餐 10 分钟"
        prompt.set_may_command(False)  # anonymous: may not say
        assert not prompt.buttons["meal_break"].isEnabled()
    finally:
        dispose(prompt)


def test_the_zh_cn_translation_has_no_unfinished_message():
    unfinished = []
    for context in ET.parse(ZH_TS).getroot().iter("context"):
        name = context.findtext("name")
        for message in context.iter("message"):
            translation = message.find("translation")
            assert translation is not None
            kind = translation.get("type")
            if kind in ("unfinished", "vanished", "obsolete") or not (translation.text or ""):
                unfinished.append(f"{name}: {message.findtext('source')!r} ({kind or 'empty'})")
    assert not unfinished, f"{ZH_TS} is not finished:\n" + "\n".join(unfinished)


def test_the_translations_are_up_to_date_with_the_sources_and_compiled(tmp_path):
    """The .ts has every text of the GUI's sources and no other (lupdate changes nothing),
    and the .qm is what lrelease makes of it."""
    assert build.problems() == []
    before = ZH_TS.read_text(encoding="utf-8")
    fresh = tmp_path / ZH_TS.name
    fresh.write_text(before, encoding="utf-8")
    done = build.subprocess.run(
        [build.tool("pyside6-lupdate"), "-locations", "none", "-no-obsolete",
         "-source-language", "en", "-target-language", "zh_CN",
         *build.sources(), "-ts", str(fresh)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "(0 new and" in done.stdout, done.stdout
    assert fresh.read_text(encoding="utf-8") == before, (
        f"{ZH_TS} is not what lupdate makes of the GUI's sources: run `make translations`"
    )


def test_the_shipped_font_draws_every_translated_character(english_after):
    families = i18n.load_fonts()
    assert families == ("Noto Sans CJK SC",), families
    metrics = QFontMetrics(QFont("Noto Sans CJK SC"))
    texts = "".join(t.text or "" for t in ET.parse(ZH_TS).getroot().iter("translation"))
    lacking = sorted({c for c in texts if not c.isspace() and not metrics.inFontUcs4(ord(c))})
    assert not lacking, f"the shipped font lacks {''.join(lacking)!r}: build.py --font"


def test_switching_language_changes_every_screen_at_once(window_for):
    window = window_for()
    overview = window.overview
    assert overview.buttons["Start"].text() == "Start"
    assert window.tabs.tabText(0) == "Overview"
    # Unknown until the link gives up on the (absent) controller, then No connection.
    assert overview.banner.text() in ("UNKNOWN", "NO CONNECTION")
    assert "NOT CONNECTED" in window.banner.text()

    window.language_choice.setCurrentIndex(window.language_choice.findData("zh_CN"))
    assert window.language == "zh_CN"
    assert overview.buttons["Start"].text() == "启动"
    assert overview.acknowledge.text() == "确认故障"
    assert [window.tabs.tabText(i) for i in range(5)] == [
        "总览",
        "生产",
        "故障",
        "焊接",
        "焊缝跟踪",
    ]
    # PackML's names stay the standard's English, the Chinese beside them.
    assert overview.banner.text() in ("UNKNOWN  未知", "NO CONNECTION  无连接")
    assert "未连接控制器" in window.banner.text()
    assert overview.mode_choice.currentText() == "生产"
    assert overview.mode_choice.currentData() == "production"  # what SetMode sends
    assert window.faults.history.horizontalHeaderItem(0).text() == "代码"
    assert window.weld.heat.plotItem.titleLabel.text == "各焊缝热输入"

    window.set_language("en")
    assert overview.buttons["Start"].text() == "Start"
    assert window.tabs.tabText(4) == "Tracking"
    assert window.faults.history.horizontalHeaderItem(0).text() == "Code"


def test_each_user_keeps_the_language_they_chose(window_for, tmp_path):
    choices = LanguageChoices(tmp_path / "hmi.ini", default="en")
    olga = window_for("olga", choices)
    assert olga.language == "en"
    olga.set_language("zh_CN")
    # Another HMI later, the same settings file: olga's choice is hers, erik's is the default.
    again = LanguageChoices(tmp_path / "hmi.ini", default="en")
    assert again.language_of("olga") == "zh_CN"
    assert again.language_of("erik") == "en"
    olga_again = window_for("olga", again)
    assert olga_again.overview.buttons["Stop"].text() == "停止"
    erik = window_for("erik", again)
    assert erik.overview.buttons["Stop"].text() == "Stop"
    assert "[language]\nolga=zh_CN\n" in (tmp_path / "hmi.ini").read_text()


def test_a_fault_shows_its_chinese_text_and_action(english_after):
    i18n.install("zh_CN")
    screen = FaultsScreen(lambda *args: None)
    screen.resize(1400, 800)
    try:
        cell = {
            "Faults.ActiveCodes": ["F110"],
            "Faults.ActiveSeverities": ["hold"],
            "Faults.ActiveAcknowledged": [False],
            "Faults.ActiveDetails": [""],
            "Faults.ActiveTexts": ["Shielding gas supply pressure low"],
            "Faults.ActiveRaisedUnixS": [1_700_000_000.0],
            "Faults.HistoryCodes": ["F110"],
            "Faults.HistoryRaisedUnixS": [1_700_000_000.0],
            "Faults.HistoryClearedUnixS": [float("nan")],
            "Faults.HistorySeverities": ["hold"],
            "Faults.HistoryTexts": ["Shielding gas supply pressure low"],
        }
        screen.show_cell(cell)
        text = screen.active.item(0, 4).text()
        assert text.startswith("保护气供气压力低\n→ 更换或打开保护气瓶")
        assert screen.active.item(0, 1).text() == "暂停"
        assert screen.active.item(0, 3).text() == "否"
        t = time.localtime(1_700_000_000)  # not today: shown with its date, zh_CN's way
        assert screen.active.item(0, 2).text() == (
            f"{t.tm_year}/{t.tm_mon}/{t.tm_mday} {t.tm_hour:02}:{t.tm_min:02}"
        )
        assert screen.history.item(0, 2).text() == "未解除"
        i18n.install("en")
        screen.retranslate()
        assert screen.active.item(0, 4).text().startswith("Shielding gas supply pressure low\n→")
        assert screen.active.item(0, 2).text() == (
            f"{t.tm_mday:02}/{t.tm_mon:02}/{t.tm_year} {t.tm_hour:02}:{t.tm_min:02}"
        )
    finally:
        screen.close()
        dispose(screen)


@pytest.mark.parametrize("language", ["en", "zh_CN"])
def test_no_button_or_tab_text_overflows(window_for, language):
    window = window_for()
    window.set_language(language, remember=False)
    APP.processEvents()
    cramped = []
    for screen in window.screens:
        window.tabs.setCurrentWidget(screen)
        APP.processEvents()
        for button in screen.findChildren(QPushButton):
            room = button.contentsRect().width() - 2 * 18  # the style sheet's padding
            needed = button.fontMetrics().horizontalAdvance(button.text())
            if needed > room:
                cramped.append(f"{screen.title}: {button.text()!r} needs {needed}, has {room}")
    # Nothing wants the window wider or taller than the panel it was made for.
    hint = window.minimumSizeHint()
    if hint.width() > 1600 or hint.height() > 1000:
        cramped.append(f"the window needs {hint.width()} x {hint.height()}")
    bar = window.tabs.tabBar()
    for index in range(bar.count()):
        needed = bar.fontMetrics().horizontalAdvance(bar.tabText(index))
        if needed > bar.tabRect(index).width():
            cramped.append(f"tab {bar.tabText(index)!r}")
    assert not cramped, cramped


@pytest.mark.parametrize("language", ["en", "zh_CN"])
def test_every_tracking_screen_text_fits_its_pane(window_for, language):
    """Titles, axis labels, legends and the "no profile yet" note of the tracking screen's
    plots lie wholly inside what their plot shows (a long title was cut at a pane's edge)."""
    window = window_for()
    window.set_language(language, remember=False)
    window.tabs.setCurrentWidget(window.tracking)
    APP.processEvents()
    cut = []
    for label in window.tracking.findChildren(QLabel):
        if label.fontMetrics().horizontalAdvance(label.text()) > label.contentsRect().width():
            cut.append(f"label {label.text()!r}")
    for plot in window.tracking.findChildren(pg.PlotWidget):
        shown = plot.mapToScene(plot.viewport().rect()).boundingRect()
        texts = [i for i in plot.scene().items() if isinstance(i, QGraphicsTextItem)]
        assert texts, "no text items found: the check would check nothing"
        for item in texts:
            if not item.isVisible() or not item.toPlainText().strip():
                continue
            room = QRectF(shown)
            parent = item.parentItem()
            while parent is not None:  # a view box clips what it holds to itself
                if parent.flags() & QGraphicsItem.GraphicsItemFlag.ItemClipsChildrenToShape:
                    room = room.intersected(parent.sceneBoundingRect())
                parent = parent.parentItem()
            # The text's box without the document's margin; the CJK font's line box is 2 px
            # taller than its glyphs (a title's box pokes 1 px above a pane, its ink does not).
            margin = item.document().documentMargin()
            text = item.sceneBoundingRect().adjusted(margin, margin + 2, -margin, -margin - 2)
            if not room.contains(text):
                cut.append(f"{item.toPlainText()!r} at {text.getRect()} outside {room.getRect()}")
    assert not cut, cut


@pytest.mark.slow
def test_the_hmi_in_chinese_against_a_welding_cell(tmp_path, qapp, english_after):
    """A real controller welding in the simulator, the HMI as olga who chose zh_CN: live data,
    a Start from the Chinese screen, a fault shown in Chinese with its action; then switched to
    English at the panel. Screenshots of every screen in both languages (docs/hmi)."""
    import asyncio

    from cellctl.cell.packml import State
    from tests.gui_rig import CellInThread, artifacts, hmi, pump, screenshots
    from tests.test_gui import _feed_tracking

    def ask_soon(config: dict) -> None:
        config["opcua"]["downtime_reason_after_s"] = 1.0

    choices = LanguageChoices(tmp_path / "hmi.ini", default="en")
    choices.remember("olga", "zh_CN")
    with CellInThread(tmp_path, edit=ask_soon) as cell:
        rig, server = cell.rig, cell.server
        cell.run(rig.to_idle())
        stop_feed = cell.call(asyncio.Event)
        feed = cell.call(asyncio.ensure_future, _feed_tracking(server, stop_feed))
        try:
            with hmi(qapp, server.endpoint, "olga", languages=choices) as window:
                overview = window.overview
                pump(qapp, lambda: window.connected and window.cells_seen > 0, "connected")
                assert window.language == "zh_CN"
                assert overview.banner.text() == "IDLE  空闲"
                assert overview.user.text() == "已登录：olga (操作员)"
                cell.call(rig.sim.plc.set_part_loaded, True)
                overview.buttons["Start"].click()  # "启动"
                pump(qapp, lambda: rig.state is State.EXECUTE, "Execute after 启动")
                pump(
                    qapp,
                    lambda: overview.banner.text() == "EXECUTE  运行",
                    f"the banner EXECUTE  运行 (it says {overview.banner.text()!r}, the cell "
                    f"is {rig.state.label})",
                )
                pump(qapp, lambda: window.weld.arc.text() == "燃弧", "the arc on")
                # The screenshots after the part: a screenshot takes a second of this one
                # process's time, which a cell in the same process must not lose mid-weld.
                cell.run(rig.until_state(State.IDLE, 60))
                # The cell stands in Idle: past a second the controller asks why.
                prompt = overview.downtime
                pump(qapp, lambda: prompt.asking, "the downtime prompt")
                assert "尚未填写原因" in prompt.question.text()
                window.redraw_all()
                screenshots(qapp, window, artifacts(tmp_path, "hmi-zh_CN-after-part"))
                prompt.buttons["meal_break"].click()  # "就餐"
                store = rig.controller.store
                pump(
                    qapp,
                    lambda: [d["reason"] for d in cell.run(store.downtimes())] == ["meal_break"],
                    "the meal break in the store",
                )
                pump(qapp, lambda: not prompt.asking, "the question withdrawn")
                assert prompt.question.text().endswith("就餐")

                cell.call(rig.sim.plc.set_estop, True)
                faults = window.faults
                pump(qapp, lambda: faults.active.rowCount() == 1, "the e-stop fault")
                # The detail is the controller's own words (English); text and action are ours.
                shown = faults.active.item(0, 4).text()
                assert shown.startswith("急停回路断开: ")
                assert "\n→ 找到被按下的急停按钮" in shown
                assert faults.active.item(0, 1).text() == "中止"
                pump(qapp, lambda: "急停回路断开" in overview.faults.text(), "the fault on 总览")
                pump(qapp, lambda: faults.history.rowCount() >= 1, "the history")
                window.redraw_all()
                screenshots(qapp, window, artifacts(tmp_path, "hmi-zh_CN"))

                window.language_choice.setCurrentIndex(window.language_choice.findData("en"))
                shown = faults.active.item(0, 4).text()
                assert shown.startswith("E-stop chain open: ")
                assert "\n→ Find the pressed e-stop" in shown
                assert overview.banner.text().startswith("ABORT")
                assert overview.user.text() == "logged in: olga (operator)"
                screenshots(qapp, window, artifacts(tmp_path, "hmi-en"))
                cell.call(rig.sim.plc.set_estop, False)
        finally:
            cell.call(stop_feed.set)
            cell.run(asyncio.wait_for(feed, 5))
    assert LanguageChoices(tmp_path / "hmi.ini").language_of("olga") == "en"


@pytest.mark.slow
def test_cellctl_gui_screenshots_in_chinese(tmp_path):
    """`cellctl gui --screenshot DIR --language zh_CN` against a running controller: a PNG per
    screen, drawn in Chinese; the user's stored choice is not changed by it."""
    import os
    import subprocess
    import sys

    from PySide6.QtGui import QImage

    from tests.gui_rig import artifacts
    from tests.process_cell import ProcessCell

    settings = tmp_path / "hmi.ini"
    LanguageChoices(settings, default="en").remember("olga", "en")
    before = settings.read_text()
    with ProcessCell(tmp_path) as cell:
        shots = artifacts(tmp_path, "cellctl-gui-screenshot-zh_CN")
        done = subprocess.run(
            [sys.executable, "-m", "cellctl.cli.main", "gui", "--endpoint", cell.endpoint,
             "--user", "olga", "--password", "operator-pass-1", "--language", "zh_CN",
             "--settings", str(settings), "--screenshot", str(shots),
             "--trust-dir", str(tmp_path / "hmi-trust")],
            capture_output=True, text=True, timeout=90,
            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    names = sorted(p.name for p in shots.glob("*.png"))
    assert names == ["faults.png", "overview.png", "production.png", "tracking.png", "weld.png"]
    assert all(QImage(str(p)).width() == 1600 for p in shots.glob("*.png"))
    assert settings.read_text() == before
