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
