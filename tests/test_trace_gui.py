"""The operator screen's traceability panel, offscreen: the work order in progress and the
queue, the next part's serial, the welder with their qualification, the lots; and what it
shows when nothing has been entered."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from cellctl.gui.overview import OverviewScreen
from cellctl.gui.style import STYLESHEET
from cellctl.plant.opcua.nodes import VARIABLES
from tests.gui_rig import artifacts


def a_cell(**values) -> dict:
    """Every variable of the Cell object at a plausible value, then ``values``."""
    cell = {v.path: ([] if v.array else ("" if v.type == "String" else 0)) for v in VARIABLES}
    cell.update({"State": "Idle", "Mode": "production", "Phase": "no part",
                 "Links.Plc": "up", "Links.PowerSource": "up", "Links.Robot": "up"})  # fmt: skip
    cell.update(values)
    return cell


def test_the_overview_shows_the_order_serial_welder_and_lots(qapp, tmp_path):
    sent: list[tuple] = []
    screen = OverviewScreen(send=lambda *args: sent.append(args))
    screen.setStyleSheet(STYLESHEET)
    screen.resize(1400, 1000)
    screen.show()
    try:
        screen.show_cell(a_cell())
        panel = screen.trace
        assert panel.order.text() == "none"
        assert panel.serial.text() == "not scanned"
        assert panel.welder.text() == "nobody logged in"
        queue = [
            "WO-4711 A12-100-01 x3, 1 made, due 2026-12-05 14:00",
            "WO-4712 LB-200-07 x1, 0 made, due 2026-12-06 06:00",
        ]
        screen.show_cell(a_cell(**{
            "Orders.InProgress": queue[0], "Orders.Queue": queue,
            "Trace.Serial": "BM-2026-0002", "Trace.Welder": "wang.lei",
            "Trace.Qualification": "ISO 14732 ISO14732-CN-0419 until 2028-06-30",
            "Trace.WireLot": "W-2411-0187", "Trace.GasLot": "G-M21-5520",
        }))  # fmt: skip
        qapp.processEvents()
        assert panel.order.text() == queue[0]
        assert panel.queue.text() == queue[1]
        assert panel.serial.text() == "BM-2026-0002"
        assert panel.lots.text() == "W-2411-0187 / G-M21-5520"
        assert "ISO14732-CN-0419" in panel.qualification.text()
        shot = artifacts(tmp_path, "hmi-trace") / "overview-trace.png"
        assert screen.grab().save(str(shot))
        # A keyboard-wedge scanner types the label's text and Enter into the focused field;
        # only a user who may command has the field.
        entry = panel.serial_entry
        assert not entry.isEnabled()
        screen.set_connection(True, "operator", "olga")
        assert entry.isEnabled()
        entry.setFocus()
        QTest.keyClicks(entry, "BM-2026-0003")
        QTest.keyClick(entry, Qt.Key.Key_Return)
        assert sent == [("EnterSerial", "BM-2026-0003")]
        assert entry.text() == ""
    finally:
        screen.close()
        screen.deleteLater()
        qapp.processEvents()
