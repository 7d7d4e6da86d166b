"""Traceability through the controller's OPC UA interface, with each role: the operator types
a serial, logs a welder in, enters lots and records a repair; only the quality role releases a
welded serial for a rework and releases or scraps a non-conforming part; every call is audited.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from cellctl.cell.packml import State
from cellctl.cell.records import SeamSummary
from cellctl.plant.opcua.client import call_method, cell_namespace, read_cell
from tests.opcua_rig import cell_with_opcua, client_as
from tests.test_trace_cell import WELDERS

pytestmark = pytest.mark.slow


def typed_serials(cell: dict) -> None:
    cell["traceability"] = {
        "serial": {"required": True, "sources": ["operator"]},
        "welder_required": True,
        "welders": WELDERS,
        "work_orders": {"part_numbers": {"A12-100-01": "bracket-a12"}},
    }


def bad_seam(seam: str) -> SeamSummary:
    """What the weld monitor makes of a seam whose arc left its band (see test_monitoring)."""
    return SeamSummary(
        seam=seam, procedure="mag-fillet-a4", length_mm=150, arc_time_s=19, samples=700,
        current_mean_a=250, current_min_a=245, current_max_a=262, voltage_mean_v=24.5,
        voltage_min_v=24, voltage_max_v=25, wire_feed_mean_m_per_min=9.5,
        wire_feed_min_m_per_min=9.4, wire_feed_max_m_per_min=9.6, out_of_band_s=18.5,
        excursions=1, arc_energy_kj=116, heat_input_kj_per_mm=0.61, travel_speed_mm_per_s=8,
        arc_breaks=0, restarts=0, dry_run=False, verdict="bad",
        reasons=["current out of band 18.50 s in 1 excursion(s)"],
    )  # fmt: skip


async def test_serials_welders_reworks_and_nonconformances_by_role(tmp_path):
    async with cell_with_opcua(tmp_path, edit=typed_serials) as (rig, server):
        await rig.to_idle()
        store = rig.controller.store
        async with (
            client_as(server.endpoint, "olga") as operator,
            client_as(server.endpoint, "quinn") as quality,
            client_as(server.endpoint, "erik") as engineer,
        ):
            ns = await cell_namespace(operator)

            async def call(client, method: str, *args: str):
                return await call_method(client, ns, method, *args)

            expired = await call(operator, "LogInWelder", "li.na")
            assert expired.status == "BadInvalidArgument"
            assert "ISO14732-CN-0077 expired on 2020-01-31" in expired.message
            assert (await call(operator, "LogInWelder", "wang.lei")).ok
            garbled = await call(operator, "EnterSerial", "bm 17!")
            assert garbled.status == "BadInvalidArgument"
            assert "is not a serial number of this cell" in garbled.message
            assert (await call(operator, "EnterSerial", "BM-2026-0100")).ok
            order = '{"order": "WO-77", "part_number": "A12-100-01", "quantity": 1, "due": "%s"}'
            due = "2026-12-05T14:00"
            denied = await call(operator, "AddWorkOrder", order % due)
            assert denied.status == "BadUserAccessDenied"
            bad = await call(engineer, "AddWorkOrder", order % "soon")
            assert bad.status == "BadInvalidArgument"
            assert "due: expected a date and time" in bad.message
            assert (await call(engineer, "AddWorkOrder", order % due)).ok

            async def shown() -> dict:
                return await read_cell(operator, ns)

            for _ in range(100):  # the Cell object is refreshed every publish period
                cell = await shown()
                if cell["Orders.InProgress"] and cell["Trace.Serial"]:
                    break
                await asyncio.sleep(0.05)
            assert cell["Trace.Serial"] == "BM-2026-0100"
            assert cell["Trace.Welder"] == "wang.lei"
            assert cell["Trace.Qualification"] == "ISO 14732 ISO14732-CN-0419 until 2099-06-30"
            assert cell["Orders.InProgress"].startswith("WO-77 A12-100-01 x1, 0 made, due")
            assert cell["Orders.Queue"] == [cell["Orders.InProgress"]]

            rig.sim.plc.set_part_loaded(True)
            assert (await call(operator, "Start")).ok
            await rig.until(lambda: rig.state is not State.IDLE, "the part started")
            # Its end (good, or cut short by a link lost under a loaded machine: either way
            # the serial has been welded on) is what the rest needs.
            await rig.until(
                lambda: rig.state in (State.IDLE, State.ABORTED, State.STOPPED),
                "the part ended",
                60,
            )
            [part] = await store.parts_with_serial("BM-2026-0100")
            assert (part["serial_source"], part["welder"]) == ("operator", "wang.lei")
            assert part["work_order"] == "WO-77"

            # Welded once: typed again it is refused until quality releases a rework.
            again = await call(operator, "EnterSerial", "BM-2026-0100")
            assert again.status == "BadInvalidArgument"
            assert "a rework needs a release by quality" in again.message
            denied = await call(operator, "ReleaseRework", "BM-2026-0100")
            assert denied.status == "BadUserAccessDenied"
            assert "quality" in denied.message
            assert (await call(quality, "ReleaseRework", "BM-2026-0100")).ok
            assert "rework" in (await call(operator, "EnterSerial", "BM-2026-0100")).message

            # A bad seam on the part opens a non-conformance with the seam's record.
            now = time.time()
            await store.record_seam(part["id"], bad_seam("gusset-left"), now - 20, now)
            [nc] = await store.nonconformances("open")
            assert nc["serial"] == "BM-2026-0100"
            assert "current out of band" in nc["reason"]
            refused = await call(operator, "ReleasePart", f"{nc['id']} looks fine")
            assert refused.status == "BadUserAccessDenied"
            repaired = await call(operator, "RecordRepair", f"{nc['id']} ground out, rewelded")
            assert repaired.ok, repaired.message
            [repair] = await store.repairs(nc["id"])
            assert (repair["welder"], repair["by_actor"]) == ("wang.lei", "opcua:olga")
            released = await call(quality, "ReleasePart", "BM-2026-0100 MT inspection passed")
            assert released.ok, released.message
            [decided] = await store.nonconformances(None, part["id"])
            assert (decided["status"], decided["decided_by"]) == ("released", "opcua:quinn")
            assert decided["decision_note"] == "MT inspection passed"
            twice = await call(quality, "ScrapPart", f"{nc['id']} changed my mind")
            assert twice.status == "BadInvalidArgument"
            assert "already released by opcua:quinn" in twice.message

        audit = await store.audit_rows()
        trail = [(row["actor"], row["action"], row["result"][:7]) for row in audit]
        for expected in (
            ("opcua:olga", "LogInWelder", "refused"),
            ("opcua:olga", "ReleaseRework", "refused"),
            ("opcua:quinn", "ReleaseRework", "ok"),
            ("opcua:olga", "RecordRepair", "ok"),
            ("opcua:quinn", "ReleasePart", "ok"),
        ):
            assert expected in trail, trail
