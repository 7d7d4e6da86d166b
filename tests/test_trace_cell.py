"""Traceability in the simulated cell: serials scanned through a simulated barcode scanner on a
pty, a welder logged in with their ISO 14732 qualification, consumable lots entered, parts
welded, and each part's record saying who and what made it (``cellctl.trace``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from cellctl.cell.packml import Mode, State
from cellctl.cli.main import main as cellctl
from cellctl.trace.identity import TraceRefused
from rigs.cell import CellRig, running_cell

WELDERS = [
    {
        "name": "wang.lei",
        "full_name": "Wang Lei",
        "qualification": {
            "number": "ISO14732-CN-0419",
            "scope": "MAG 135, mechanised, PA/PB, FW + BW",
            "expires": "2099-06-30",
        },
    },
    {
        "name": "li.na",
        "full_name": "Li Na",
        "qualification": {
            "number": "ISO14732-CN-0077",
            "scope": "MAG 135",
            "expires": "2020-01-31",
        },
    },
]


def traced(tmp_path: Path):
    def edit(cell: dict) -> None:
        cell["traceability"] = {
            "serial": {"required": True, "sources": ["scanner", "operator"]},
            "scanner": {"port": str(tmp_path / "scanner"), "reopen_delay_s": 0.1},
            "welder_required": True,
            "welders": WELDERS,
            "lots_required": True,
            "work_orders": {
                "folder": str(tmp_path / "orders"),
                "poll_period_s": 0.1,
                "part_numbers": {"A12-100-01": "bracket-a12"},
            },
        }

    return edit


async def scan(rig: CellRig, serial: str) -> None:
    """The operator scans a label; wait until the controller holds it for the next part."""
    rig.sim.scanner.scan(serial)
    trace = rig.controller.trace
    await rig.until(
        lambda: trace.pending is not None and trace.pending.serial == serial, f"serial {serial}"
    )


async def fault_codes(rig: CellRig) -> list[str]:
    return [f["code"] for f in await rig.controller.store.faults()]


async def until_recorded(rig: CellRig, code: str, times: int = 1) -> dict:
    """Wait until ``code`` is in the fault history ``times`` times (a remark's row is written
    by a task of its own); its last row."""
    for _ in range(500):
        rows = [f for f in await rig.controller.store.faults() if f["code"] == code]
        if len(rows) >= times:
            return rows[-1]
        await asyncio.sleep(0.01)
    pytest.fail(f"{code} not recorded {times} time(s): {await fault_codes(rig)}")


async def test_three_parts_with_serials_welder_and_lots_are_on_record(tmp_path):
    async with running_cell(tmp_path, 40.0, edit=traced(tmp_path)) as rig:
        await rig.until(lambda: rig.controller.trace.scanner.up, "the scanner's port open")
        await rig.to_idle()
        controller = rig.controller
        store = controller.store

        # Nothing entered: Start is refused, and the operator reads why (F190).
        rig.sim.plc.set_part_loaded(True)
        await rig.press("start_button")
        assert rig.state is State.IDLE
        refused = await until_recorded(rig, "F190")
        for missing in ("no serial number", "no welder logged in", "no wire and no gas lot"):
            assert missing in refused["detail"]

        # An expired qualification is refused at login, with its date.
        with pytest.raises(TraceRefused, match="ISO14732-CN-0077 expired on 2020-01-31"):
            await controller.trace_command("LogInWelder", "li.na", by="opcua:olga")
        assert "expired on 2020-01-31" in (await until_recorded(rig, "F194"))["detail"]
        await controller.trace_command("LogInWelder", "wang.lei", by="opcua:olga")
        await controller.trace_command("SetWireLot", "W-2411-0187", by="opcua:olga")
        await controller.trace_command("SetGasLot", "G-M21-5520", by="opcua:olga")

        # The MES drops a work order for 3 parts, and a file with a mistake in it.
        orders = tmp_path / "orders"
        (orders / "bad.csv").write_text(
            "order,part_number,quantity,due\nWO-9,A12-100-01,3,2026-12-05T14:00\n"
            "WO-10,A12-999-99,1,2026-12-05T15:00\n"
        )
        (orders / "wo-4711.json").write_text(
            '{"order": "WO-4711", "part_number": "A12-100-01", "quantity": 3,\n'
            ' "due": "2026-12-05T14:00"}\n'
        )
        queue = controller.trace.orders
        await rig.until(lambda: len(queue.open) == 1, "the work order queued", 10)
        await rig.until(lambda: (orders / "rejected" / "bad.csv.error.txt").exists(), "refusal")
        error = (orders / "rejected" / "bad.csv.error.txt").read_text()
        assert error.startswith("bad.csv:3: part_number: 'A12-999-99' is not a part number")
        assert (orders / "rejected" / "bad.csv").exists()  # nothing the MES sent is lost
        assert (orders / "accepted" / "wo-4711.json").exists()
        assert "bad.csv:3: part_number" in (await until_recorded(rig, "F195"))["detail"]
        assert queue.current["order_no"] == "WO-4711"
        assert controller.trace.snapshot()["order"].startswith("WO-4711 A12-100-01 x3, 0 made")

        serials = ["BM-2026-0001", "BM-2026-0002", "BM-2026-0003"]
        welded = []
        for made, serial in enumerate(serials, start=1):
            await scan(rig, serial)
            welded.append(await rig.weld_good_part())
            assert controller.trace.pending is None  # a serial serves one part
            if made < 3:
                assert queue.current["made"] == made
        assert queue.open == []  # the order is made in full

        for serial, part in zip(serials, welded, strict=True):
            [row] = await store.parts_with_serial(serial)
            assert row["id"] == part["id"]
            assert row["serial_source"] == "scanner"
            assert row["work_order"] == "WO-4711"
            assert row["welder"] == "wang.lei"
            qualification = json.loads(row["qualification_json"])
            assert qualification["number"] == "ISO14732-CN-0419"
            assert qualification["expires"] == "2099-06-30"
            assert json.loads(row["lots_json"]) == {"gas": "G-M21-5520", "wire": "W-2411-0187"}
            procedures = json.loads(row["procedures_json"])
            assert procedures == {
                "mag-fillet-a4": {"revision": "B", "wpqr": "WPQR-0398 (ISO 15614-1, t=10 mm FW)"}
            }
            for seam in await store.seams(part["id"]):
                summary = json.loads(seam["summary_json"])
                assert summary["procedure_revision"] == "B"
                assert summary["heat_input_qualified"] is True
                assert len(summary["trace"]["current_a"]) >= 10  # at 20x: ~1 s of arc a seam

        # The same label again: refused (F191) until quality releases one rework.
        rig.sim.scanner.scan(serials[0])
        refused = await until_recorded(rig, "F191")
        assert f"serial {serials[0]} was welded as part {welded[0]['id']}" in refused["detail"]
        assert controller.trace.pending is None
        await controller.trace_command("ReleaseRework", serials[0], by="opcua:qa")
        await scan(rig, serials[0])
        rework = await rig.weld_good_part()
        rows = await store.parts_with_serial(serials[0])
        assert [r["id"] for r in rows] == [welded[0]["id"], rework["id"]]
        assert rows[-1]["rework_of_part"] == welded[0]["id"]
        # The release served that one part.
        rig.sim.scanner.scan(serials[0])
        await until_recorded(rig, "F191", times=2)
        assert controller.trace.pending is None

        # A damaged label (bytes that are not text) is refused as unreadable (F192).
        rig.sim.scanner.send_raw(b"\xff\xfe\x01BM\r\n")
        assert "unreadable scan" in (await until_recorded(rig, "F192"))["detail"]
        assert controller.trace.pending is None

        store_path = str(store.path)

    # Each part's weld record as a PDF, from the store the controller wrote (read-only).
    last_part = {serial: part["id"] for serial, part in zip(serials, welded, strict=True)}
    last_part[serials[0]] = rework["id"]
    for serial in serials:
        pdf = tmp_path / f"{serial}.pdf"
        args = ["record", serial, "--store", store_path, "--cell", "*", "--out", str(pdf)]
        assert cellctl(args) == 0
        text = pdf_text(pdf)
        for expected in (
            f"Weld record - serial {serial}",
            f"Part id {last_part[serial]}",
            "Work order WO-4711" if serial != serials[0] else "Work order -",
            "Wang Lei (wang.lei)",
            "ISO 14732 ISO14732-CN-0419",
            "W-2411-0187",
            "G-M21-5520",
            "mag-fillet-a4 rev. B",
            "WPQR-0398",
            "Seam gusset-left",
            "Seam gusset-right",
            "Signature",
        ):
            assert expected in text, f"{expected!r} not in the record of {serial}:\n{text}"
        assert text.count("GOOD") >= 3  # the part and its two seams
    # The rework's record names the part it reworks; the first weld is still there by --part.
    assert f"rework of part {welded[0]['id']}" in pdf_text(tmp_path / f"{serials[0]}.pdf")
    first = tmp_path / "first.pdf"
    part_args = ["--part", str(welded[0]["id"]), "--out", str(first)]
    assert cellctl(["record", serials[0], "--store", store_path, "--cell", "*", *part_args]) == 0
    assert "first weld" in pdf_text(first)
    # An unknown serial: exit 1, no file.
    missing = tmp_path / "missing.pdf"
    args = ["record", "NO-SUCH-1", "--store", store_path, "--cell", "*", "--out", str(missing)]
    assert cellctl(args) == 1
    assert not missing.exists()


def pdf_text(path: Path) -> str:
    """The PDF's text as a reader extracts it (pypdf: an independent reader of the file)."""
    from pypdf import PdfReader

    reader = PdfReader(path)
    # Table cells come out one per line: words separated by single spaces compare simply.
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def serial_from_plc(cell: dict) -> None:
    """Serials from the PLC's registers (``drivers.codecs.serial_text``): 30-47 in, 130 out."""
    inputs = cell["plc"]["registers"]["inputs"]
    inputs["serial_strobe"] = {"address": 30, "type": "uint16"}
    inputs["serial_length"] = {"address": 31, "type": "uint16"}
    for i in range(16):
        inputs[f"serial_chars_{i:02d}"] = {"address": 32 + i, "type": "uint16"}
    cell["plc"]["registers"]["outputs"]["serial_ack"] = {"address": 130, "type": "uint16"}
    cell["traceability"] = {"serial": {"required": True, "sources": ["plc", "operator"]}}


async def test_a_serial_presented_by_the_plc_is_taken_acknowledged_and_recorded(tmp_path):
    async with running_cell(tmp_path, edit=serial_from_plc) as rig:
        await rig.to_idle()
        trace = rig.controller.trace
        strobe = rig.sim.plc.present_serial("BM-PLC-0001")
        await rig.until(lambda: trace.pending is not None, "the PLC's serial taken")
        assert (trace.pending.serial, trace.pending.source) == ("BM-PLC-0001", "plc")
        await rig.until(lambda: rig.sim.plc.output("serial_ack") == strobe, "the acknowledge")
        # A dry run welds nothing: it leaves the serial for the real part.
        rig.controller.set_mode(Mode.DRY_RUN)
        dry = await rig.weld_part()
        assert dry["verdict"] == "dry_run"
        assert trace.pending is not None
        rig.controller.set_mode(Mode.PRODUCTION)
        part = await rig.weld_good_part()
        [row] = await rig.controller.store.parts_with_serial("BM-PLC-0001")
        assert (row["id"], row["serial_source"]) == (part["id"], "plc")
        # Registers that do not hold a serial (a blank inside): refused, acknowledged.
        strobe = rig.sim.plc.present_serial("BM 0002")
        assert "not printable ASCII" in (await until_recorded(rig, "F192"))["detail"]
        await rig.until(lambda: rig.sim.plc.output("serial_ack") == strobe, "the acknowledge")
        assert trace.pending is None
