"""The operator confirms the resume of an interrupted part at the HMI (issue 17), in Chinese,
against a real controller: its OPC UA server offers the part the last stop left in progress
(``Resume.*``), the Overview shows it with "resume this part", asks first, and shows the
controller's answer to ``ResumePart``."""

from __future__ import annotations

import shutil
from pathlib import Path

from cellctl.config.load import load_cell_config
from cellctl.gui.i18n import translate
from cellctl.records.store import ProductionStore, store_location
from cellctl.testing import free_port
from rigs.cell import write_config
from tests.gui_rig import CellInThread, artifacts, hmi, pump
from tests.opcua_rig import with_opcua

SERIAL = "BM-2026-0417"


def interrupted_part(tmp_path: Path) -> tuple:
    """A cell config with its ports fixed, and a production store in which a part of it was
    left in progress (as a controller killed mid-part leaves it): the controller started on
    that store marks it incomplete and may resume it; and a dry-run part after it, which is
    not resumed (not offered). Returns (config edit, the part id, the dry run's id)."""
    plc, sensor, opcua = free_port(), free_port(), free_port()

    def fixed_ports(cell: dict) -> None:
        # The config the controller loads must be the version the part was started under.
        cell["plc"]["link"]["port"] = plc
        if "sensor" in cell:
            cell["sensor"]["source"] = f"127.0.0.1:{sensor}"
        cell["opcua"]["endpoint"] = f"opc.tcp://127.0.0.1:{opcua}"

    config = load_cell_config(write_config(tmp_path, with_opcua(opcua, fixed_ports)))
    store = ProductionStore(store_location(config), config.cell.cell.name, recover=False)
    try:
        config_id = store.record_config(config.digest, config.files)
        part_id = store.start_part(config.active_part.name, config_id, "production")
        store.record_part_trace(part_id, SERIAL, "scanner", None, "wang.lei", None, {}, {}, None)
        dry_run = store.start_part(config.active_part.name, config_id, "dry_run")
    finally:
        store.close()
    shutil.rmtree(tmp_path / "config")  # written again, the same, by the cell under test
    return fixed_ports, part_id, dry_run


def test_the_operator_confirms_an_interrupted_part_for_resume_in_chinese(tmp_path, qapp):
    edit, part_id, dry_run = interrupted_part(tmp_path)
    with CellInThread(tmp_path, edit=edit) as cell:
        rig, server = cell.rig, cell.server
        assert rig.controller.store.recovered_part_ids == [part_id, dry_run]
        cell.run(rig.to_idle())
        with hmi(qapp, server.endpoint, None) as anonymous:
            box = anonymous.overview.resume
            pump(qapp, lambda: box.isVisible() and box.offers, "the interrupted part offered")
            assert not box.rows[0][1].isEnabled()  # reading only: no resume
        with hmi(qapp, server.endpoint, "olga") as window:
            window.set_language("zh_CN", remember=False)
            box = window.overview.resume
            pump(qapp, lambda: box.isVisible() and box.offers, "the interrupted part offered")
            program = rig.controller.config.active_part
            seam = program.seams_in_order()[0].name
            assert box.offers == [
                {"part_id": part_id, "serial": SERIAL, "program": program.name, "seam": seam,
                 "next_pass": 1, "passes": 1}
            ]  # fmt: skip
            label, button = box.rows[0]
            assert SERIAL in label.text()
            assert "工件" in label.text()
            assert button.isEnabled()
            # The first press only asks; Cancel sends nothing.
            button.click()
            assert box.confirm.isVisible()
            assert window.last_answer is None
            box.cancel.click()
            assert not box.confirm.isVisible()
            qapp.processEvents()
            assert rig.controller.resume_armed() is None
            button.click()
            qapp.processEvents()
            # Into the test's own folder (CELLCTL_ARTIFACTS to keep them), never into the
            # checkout: docs/hmi/zh_CN/overview-resume-*.png were copied from such a run, and a
            # test that rewrote them left every `make test` with a changed tree.
            shots = artifacts(tmp_path, "hmi-resume")
            assert window.overview.grab().save(str(shots / "overview-resume-confirm.png"))
            box.confirm.click()
            pump(qapp, lambda: window.last_answer is not None, "the answer to ResumePart")
            assert window.last_answer[:2] == ("ResumePart", "Good"), window.last_answer
            assert rig.controller.resume_armed() == part_id
            pump(qapp, lambda: box.armed.isVisible(), "the part shown confirmed")
            assert str(part_id) in box.armed.text()
            assert box.answer.text().startswith(translate("Resume", "Confirmed: %1")[:3])
            assert not button.isEnabled()  # confirmed already
            # A refusal is shown with the controller's reason (the dry run is not offered).
            window.link.command("ResumePart", str(dry_run))
            pump(qapp, lambda: window.last_answer[2].count("dry_run part"), "the refusal")
            assert window.last_answer[1] == "BadInvalidArgument"
            assert "被拒绝" in box.answer.text()
            assert f"part {dry_run} was a dry_run part" in box.answer.text()
            assert window.overview.grab().save(str(shots / "overview-resume-refused.png"))
