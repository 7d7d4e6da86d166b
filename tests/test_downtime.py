"""Downtime reasons beyond faults (issue 19): the standstill watch, the store's downtime table
(real SQLite), and OEE and the shift report with planned and unplanned stops."""

from __future__ import annotations

import io

import pytest

from cellctl.cell.downtime import DowntimeReason, NotStanding, StandstillWatch
from cellctl.records.oee import throughput
from cellctl.records.report import build_report, print_report
from cellctl.records.store import ProductionStore

HOUR = 3600.0


def test_the_watch_asks_only_after_the_cell_stood_long_enough_without_a_reason():
    watch = StandstillWatch(ask_after_s=120)
    assert watch.observe(1000.0, producing=True, faulted=False) is None
    watch.observe(1010.0, producing=False, faulted=False)  # the cell stops producing
    assert watch.standing_since == 1010.0
    assert not watch.reason_needed(1129.0)
    assert watch.reason_needed(1130.0)
    given = watch.give(DowntimeReason.WAITING_FOR_PARTS, 1200.0)
    assert (given.started_at, given.ends_previous_at) == (1010.0, None)  # from the stop on
    assert not watch.reason_needed(1300.0)
    # A second reason in the same standstill: the first span ends, the new one starts now.
    given = watch.give(DowntimeReason.MEAL_BREAK, 1300.0)
    assert (given.started_at, given.ends_previous_at) == (1300.0, 1300.0)
    assert watch.observe(2000.0, producing=True, faulted=False) == 2000.0  # span ends
    assert watch.standing_since is None
    assert watch.reason is None


def test_a_fault_explains_the_stop_by_itself():
    watch = StandstillWatch(ask_after_s=60)
    watch.observe(0.0, producing=False, faulted=True)
    assert not watch.reason_needed(1000.0)
    with pytest.raises(NotStanding):
        watch.give(DowntimeReason.BLOCKED_DOWNSTREAM, 1000.0)
    watch.observe(1000.0, producing=False, faulted=False)  # cleared, still not producing
    assert not watch.reason_needed(1059.0)
    assert watch.reason_needed(1060.0)
    with pytest.raises(ValueError, match="above 0"):
        StandstillWatch(0)


def _part(part_id: int, started: float, cycle_s: float, verdict: str = "good") -> dict:
    return {
        "id": part_id,
        "started_at": started,
        "finished_at": started + cycle_s,
        "status": "complete",
        "mode": "production",
        "verdict": verdict,
        "cycle_time_s": cycle_s,
        "arc_time_s": cycle_s / 2,
    }


def _fault(raised: float, cleared: float | None, severity: str = "hold") -> dict:
    return {"raised_at": raised, "cleared_at": cleared, "severity": severity}


def _stop(reason: DowntimeReason, started: float, ended: float | None) -> dict:
    return {
        "reason": str(reason),
        "planned": reason.planned,
        "started_at": started,
        "ended_at": ended,
    }


def test_oee_takes_planned_stops_out_of_the_planned_time_and_counts_the_rest_as_lost():
    """An 8 h shift: a 30 min meal break and a 10 min torch cleaning (planned), 20 min waiting
    for parts, and a 15 min fault of which 5 min fall inside the meal break. 200 parts of an
    ideal 120 s, 190 good."""
    start = 0.0
    end = 8 * HOUR
    parts = [_part(i, 60.0 + i * 130.0, 125.0, "good" if i < 190 else "bad") for i in range(200)]
    faults = [_fault(4 * HOUR - 600, 4 * HOUR + 300), _fault(100.0, 200.0, "warning")]
    stops = [
        _stop(DowntimeReason.MEAL_BREAK, 4 * HOUR - 300, 4 * HOUR + 1500),  # 30 min
        _stop(DowntimeReason.TORCH_CLEANING, 2 * HOUR, 2 * HOUR + 600),  # 10 min
        _stop(DowntimeReason.WAITING_FOR_PARTS, 6 * HOUR, 6 * HOUR + 1200),  # 20 min
    ]
    figures = throughput(parts, faults, start, end, 120.0, downtimes=stops)
    planned_s = 8 * HOUR - 1800 - 600
    lost_s = 1200 + 300  # waiting + the fault's 5 min before the meal break began
    assert figures.planned_stop_s == pytest.approx(2400)
    assert figures.unplanned_downtime_s == pytest.approx(lost_s)
    assert figures.fault_downtime_s == pytest.approx(900)  # faults alone, as before
    assert figures.availability == pytest.approx((planned_s - lost_s) / planned_s)
    assert figures.performance == pytest.approx(120.0 * 200 / (planned_s - lost_s))
    assert figures.quality == pytest.approx(0.95)
    assert figures.oee == pytest.approx(figures.availability * figures.performance * 0.95)
    assert figures.downtime_by_reason_s == pytest.approx(
        {"fault": 900, "meal_break": 1800, "torch_cleaning": 600, "waiting_for_parts": 1200}
    )
    # Without reasons the same records give the fault-only figures of before.
    plain = throughput(parts, faults, start, end, 120.0)
    assert plain.availability == pytest.approx((8 * HOUR - 900) / (8 * HOUR))
    assert plain.downtime_by_reason_s == {"fault": pytest.approx(900)}


def test_an_open_standstill_counts_until_the_end_of_the_window():
    stops = [_stop(DowntimeReason.BLOCKED_DOWNSTREAM, 7 * HOUR, None)]
    figures = throughput([], [], 0.0, 8 * HOUR, 120.0, downtimes=stops)
    assert figures.unplanned_downtime_s == pytest.approx(HOUR)
    assert figures.availability == pytest.approx(7 / 8)


def test_the_store_keeps_downtime_and_the_report_shows_time_per_reason(tmp_path):
    store = ProductionStore(tmp_path / "cell.db", cell="cell-01")
    try:
        config_id = store.record_config("digest", {"cell.yaml": "cell: {}"})
        part = store.start_part("bracket", config_id, "production")
        store.finish_part(part, "complete", "good", 10.0)
        t0 = store.parts()[0]["started_at"]
        meal = store.start_downtime("meal_break", True, t0 + 100, "opcua:olga")
        waiting = store.start_downtime("waiting_for_parts", False, t0 + 400, "opcua:olga")
        store.end_downtime(meal, t0 + 400)
        store.end_downtime(waiting, t0 + 700)
        store.end_downtime(waiting, t0 + 9999)  # ended once: a second end changes nothing
        open_one = store.start_downtime("blocked_downstream", False, t0 + 800, "opcua:erik")
        rows = store.downtimes(t0)
        assert [(r["reason"], r["planned"], r["ended_at"]) for r in rows] == [
            ("meal_break", 1, t0 + 400),
            ("waiting_for_parts", 0, t0 + 700),
            ("blocked_downstream", 0, None),
        ]
        assert rows[2]["id"] == open_one
        assert rows[2]["given_by"] == "opcua:erik"
        assert store.downtimes(t0 + 750) == rows[2:]  # spans still open at or after then
        assert store.close_open_downtime(t0 + 900) == 1

        report = build_report(store, (t0, t0 + 1000))
        assert report.figures.downtime_by_reason_s == pytest.approx(
            {"meal_break": 300, "waiting_for_parts": 300, "blocked_downstream": 100}
        )
        assert report.figures.planned_stop_s == pytest.approx(300)
        assert report.figures.availability == pytest.approx((700 - 400) / 700)
        out = io.StringIO()
        print_report(report, out)
        text = out.getvalue()
        assert "Downtime by reason" in text
        assert "Planned: meal break" in text
        assert "Waiting for parts" in text
    finally:
        store.close()
    # Another cell's rows are not this cell's.
    other = ProductionStore(tmp_path / "cell.db", cell="cell-02")
    try:
        assert other.downtimes() == []
    finally:
        other.close()


@pytest.mark.slow
async def test_the_operator_gives_a_reason_through_opc_ua_and_it_is_recorded(tmp_path):
    """End to end: the real controller and OPC UA server; the cell stands in Idle past the
    configured time, ReasonNeeded turns true; a reason from the operator is recorded from the
    standstill's start; a second one replaces it; a started part ends it; a fault refuses one."""
    import asyncio

    from cellctl.cell.packml import State
    from cellctl.plant.opcua.client import call_method, cell_namespace, read_cell
    from tests.opcua_rig import cell_with_opcua, client_as

    def ask_soon(cell: dict) -> None:
        cell["opcua"]["downtime_reason_after_s"] = 0.5

    async def until(condition, what: str, timeout_s: float = 15.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not await condition():
            if loop.time() > deadline:
                pytest.fail(f"timed out waiting for {what}")
            await asyncio.sleep(0.05)

    async with cell_with_opcua(tmp_path, edit=ask_soon) as (rig, server):
        await rig.to_idle()
        store = rig.controller.store
        async with (
            client_as(server.endpoint, None) as anonymous,
            client_as(server.endpoint, "olga") as operator,
        ):
            ns = await cell_namespace(operator)

            async def cell() -> dict:
                return await read_cell(operator, ns)

            async def asked() -> bool:
                return (await cell())["Downtime.ReasonNeeded"]

            await until(asked, "Downtime.ReasonNeeded")
            standing_since = (await cell())["Downtime.StandingSinceUnixS"]
            assert (await cell())["Downtime.Reasons"] == [r.value for r in DowntimeReason]

            refused = await call_method(anonymous, ns, "RecordDowntimeReason", "meal_break")
            assert refused.status == "BadUserAccessDenied"
            bad = await call_method(operator, ns, "RecordDowntimeReason", "coffee")
            assert bad.status == "BadInvalidArgument"
            assert "waiting_for_parts" in bad.message
            assert await store.downtimes() == []

            done = await call_method(operator, ns, "RecordDowntimeReason", "waiting_for_parts")
            assert done.ok, done.message
            await until(lambda: _not(asked), "the question withdrawn")
            assert (await cell())["Downtime.Reason"] == "waiting_for_parts"
            rows = await store.downtimes()
            assert [(r["reason"], r["planned"], r["ended_at"]) for r in rows] == [
                ("waiting_for_parts", 0, None)
            ]
            assert rows[0]["started_at"] == pytest.approx(standing_since)
            assert rows[0]["given_by"] == "opcua:olga"

            done = await call_method(operator, ns, "RecordDowntimeReason", "meal_break")
            assert done.ok, done.message
            rows = await store.downtimes()
            assert [(r["reason"], r["planned"]) for r in rows] == [
                ("waiting_for_parts", 0),
                ("meal_break", 1),
            ]
            assert rows[0]["ended_at"] == rows[1]["started_at"]

            # The part starts: the standstill, and its reason's span, end.
            rig.sim.plc.set_part_loaded(True)
            started = await call_method(operator, ns, "Start")
            assert started.ok, started.message
            await rig.until_state(State.EXECUTE, 20)

            async def meal_ended() -> bool:
                return (await store.downtimes())[-1]["ended_at"] is not None

            await until(meal_ended, "the meal break's end")
            assert (await cell())["Downtime.Reason"] == ""
            await rig.until_state(State.IDLE, 60)

            async def in_shift_figures() -> bool:
                return "meal_break" in (await cell())["Downtime.ShiftReasons"]

            await until(in_shift_figures, "the shift's time per reason")
            assert (await cell())["Production.PlannedStopS"] > 0

            # A fault explains its own stop: no reason taken.
            rig.sim.plc.set_estop(True)
            await rig.until_state(State.ABORTED, 20)
            refused = await call_method(operator, ns, "RecordDowntimeReason", "tip_change")
            assert refused.status == "BadInvalidState"
            assert "fault" in refused.message
            rig.sim.plc.set_estop(False)
        audit = [
            (r["actor"], r["action"], r["result"].split(":")[0])
            for r in await store.audit_rows()
            if r["action"] == "RecordDowntimeReason"
        ]
        assert audit == [
            ("opcua:anonymous", "RecordDowntimeReason", "refused"),
            ("opcua:olga", "RecordDowntimeReason", "refused"),
            ("opcua:olga", "RecordDowntimeReason", "ok"),
            ("opcua:olga", "RecordDowntimeReason", "ok"),
            ("opcua:olga", "RecordDowntimeReason", "refused"),
        ]


async def _not(condition) -> bool:
    return not await condition()
