"""Weld monitoring, the fault book, interlocks and the production store, on their own."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from cellctl.cell.faults import CATALOGUE, FaultBook, Severity
from cellctl.cell.interlocks import CellContext, Interlocks
from cellctl.config.models import Band, Procedure
from cellctl.records.store import AsyncStore, ProductionStore
from cellctl.weld.monitoring import SeamMonitor


@pytest.fixture
def procedure(repo) -> Procedure:
    import yaml

    data = yaml.safe_load((repo / "config/procedures/mag-fillet-a4.yaml").read_text())
    return Procedure.model_validate(data)


def weld(monitor: SeamMonitor, seconds: float, current_a: float, period_s: float = 0.025,
         start_s: float = 0.0, voltage_v: float = 24.5, wire: float = 9.5) -> float:  # fmt: skip
    t = start_s
    while t < start_s + seconds - 1e-9:
        t += period_s
        monitor.add(t, current_a, voltage_v, wire)
    return t


def test_heat_input_follows_iso_tr_17671(procedure):
    monitor = SeamMonitor("s1", procedure, reaction_time_s=0.3, max_sample_gap_s=0.1)
    t = 0.0
    while t < 10.0 - 1e-9:
        t += 0.025
        monitor.add(t, 220.0, 24.5, 9.5, tool_speed_mm_per_s=8.0)
    summary = monitor.summary(welded_length_mm=80.0)
    # 220 A x 24.5 V = 5390 W at 8 mm/s: 0.8 x 5390 / 8 / 1000 = 0.539 kJ/mm.
    assert summary.heat_input_kj_per_mm == pytest.approx(0.539)
    assert summary.travel_speed_mm_per_s == pytest.approx(8.0)
    assert summary.arc_time_s == pytest.approx(10.0 - 0.025, abs=1e-6)
    assert summary.arc_energy_kj == pytest.approx(5.390 * 9.975, rel=1e-6)
    assert summary.current_mean_a == pytest.approx(220.0)
    assert summary.verdict == "good"
    assert summary.reasons == []


def test_an_excursion_counts_only_after_the_reaction_time(procedure):
    monitor = SeamMonitor("s1", procedure, reaction_time_s=0.3, max_sample_gap_s=0.1)
    t = weld(monitor, 1.0, 220.0)
    t = weld(monitor, 0.2, 260.0, start_s=t)  # a spike shorter than the reaction time
    t = weld(monitor, 1.0, 220.0, start_s=t)
    # The length welded at the WPS's 8 mm/s: the heat input stays inside its WPQR's range.
    assert monitor.summary(8.0 * monitor.arc_time_s).verdict == "good"
    t = weld(monitor, 0.6, 260.0, start_s=t)  # a real excursion: 0.6 s above 240 A
    weld(monitor, 1.0, 220.0, start_s=t)
    summary = monitor.summary(8.0 * monitor.arc_time_s)
    assert summary.verdict == "bad"
    assert summary.excursions == 1
    assert summary.out_of_band_s == pytest.approx(0.6, abs=0.03)
    assert "current out of band 0.6" in summary.reasons[0]


def test_crater_fill_is_not_judged_against_the_main_band(procedure):
    monitor = SeamMonitor("s1", procedure, reaction_time_s=0.3, max_sample_gap_s=0.1)
    t = weld(monitor, 2.0, 220.0)
    for _ in range(20):
        t += 0.025
        monitor.add(t, 150.0, 19.5, 5.5, check_band=False)
    summary = monitor.summary(8.0 * monitor.arc_time_s)
    assert summary.verdict == "good"
    assert summary.current_min_a == 220.0  # the run's statistics leave the crater out
    assert summary.arc_time_s == pytest.approx(2.5, abs=0.03)  # but its arc time counts


def test_gaps_between_samples_are_not_arc_time(procedure):
    monitor = SeamMonitor("s1", procedure, reaction_time_s=0.3, max_sample_gap_s=0.1)
    monitor.add(0.0, 220, 24.5, 9.5)
    monitor.add(5.0, 220, 24.5, 9.5)  # five seconds with no sample: a held cycle
    assert monitor.arc_time_s == pytest.approx(0.1)


def test_the_sample_that_finds_the_robot_arrived_does_not_make_the_travel_stand(procedure):
    """The travel speed between two samples is the mean of both: the last sample of a path,
    taken after a slow answer, finds the robot standing at its end, and the interval before
    it (spent travelling, at most ``max_sample_gap_s``) is not all standing."""
    monitor = SeamMonitor("s1", procedure, reaction_time_s=0.3, max_sample_gap_s=0.1)
    t = 0.0
    for _ in range(20):  # 0.5 s at 8 mm/s
        t += 0.025
        monitor.add(t, 220, 24.5, 9.5, tool_speed_mm_per_s=8.0)
    monitor.add(t + 0.1, 220, 24.5, 9.5, tool_speed_mm_per_s=0.0)  # arrived, 100 ms later
    mean = monitor.summary(80).travel_speed_mm_per_s
    assert mean == pytest.approx((0.475 * 8.0 + 0.1 * 4.0) / 0.575)  # the first sample: no time
    assert mean > 0.9 * 8.0  # the old weighting: 6.6 mm/s, a fifth more heat input


def test_a_dry_run_has_no_verdict_on_the_weld(procedure):
    monitor = SeamMonitor("s1", procedure, 0.3, 0.1, dry_run=True)
    summary = monitor.summary(100)
    assert summary.verdict == "dry_run"
    assert summary.heat_input_kj_per_mm is None


def test_bands_must_be_ordered():
    with pytest.raises(ValueError, match="must be above min"):
        Band(min=5, max=5)


def test_every_fault_in_the_catalogue_tells_the_operator_what_to_do():
    for code, kind in CATALOGUE.items():
        assert kind.code == code
        assert kind.text
        assert kind.action.endswith(".")
        if code.startswith("F19"):
            # Traceability's remarks (F190-F199, the range given to it): warnings that leave
            # the cell as it is, though their letter is F.
            assert kind.severity is Severity.WARNING
            continue
        assert code[0] == ("W" if kind.severity is Severity.WARNING else "F")


def test_a_fault_is_raised_once_acknowledged_and_cleared_only_without_its_cause():
    book = FaultBook()
    first = book.raise_fault("F101", "door open", state="Execute", phase="welding")
    assert first is not None
    assert book.raise_fault("F101", "still open") is None  # not once per scan
    assert book.raise_fault("W200", "s1") is not None
    assert [f.code for f in book.active] == ["F101"]  # warnings are not active faults
    cleared, remaining = book.clear(still_present=set())
    assert cleared == []  # not acknowledged yet
    book.acknowledge_all("operator")
    cleared, remaining = book.clear(still_present={"F101"})
    assert cleared == []  # the door is still open
    cleared, remaining = book.clear(still_present=set())
    assert [f.code for f in cleared] == ["F101"]
    assert remaining == []
    assert cleared[0].acknowledged_by == "operator"


def test_interlocks_apply_in_their_scope_and_explain_start_refusals():
    interlocks = Interlocks()
    healthy = {
        "estop_chain_ok": True, "door_closed": True, "light_curtain_clear": True,
        "part_present": True, "clamps_closed": True, "gas_pressure_ok": True,
        "air_pressure_ok": True, "robot_enabled": True, "watchdog_tripped": False,
    }  # fmt: skip
    active = CellContext(active=True, clamped=True, drives_requested=True)
    assert interlocks.check(healthy, active) == []
    door_open = {**healthy, "door_closed": False, "robot_enabled": False}
    assert interlocks.check(door_open, CellContext()) == []  # loading a part: fine
    assert [c for c, _ in interlocks.check(door_open, active)] == ["F101"]  # not also F103
    drives_dropped = {**healthy, "robot_enabled": False}
    assert [c for c, _ in interlocks.check(drives_dropped, active)] == ["F103"]
    estop = {**healthy, "estop_chain_ok": False}
    assert [c for c, _ in interlocks.check(estop, CellContext())] == ["F100"]
    assert interlocks.start_blockers({**healthy, "gas_pressure_ok": False}) == ["gas pressure low"]
    assert interlocks.causes_present({**healthy, "part_present": False}) == set()


def test_the_store_keeps_parts_seams_and_marks_interrupted_parts(tmp_path, procedure):
    path = tmp_path / "production.db"
    store = ProductionStore(path)
    config_id = store.record_config("abc", {"cell.yaml": "x"})
    assert store.record_config("abc", {"cell.yaml": "x"}) == config_id
    part = store.start_part("bracket-a12", config_id, "production")
    monitor = SeamMonitor("gusset-left", procedure, 0.3, 0.1)
    weld(monitor, 2.0, 220.0)
    store.record_seam(part, monitor.summary(16.0), 1.0, 3.0)
    row = store.finish_part(part, "complete", "good")
    assert row["status"] == "complete"
    assert row["arc_time_s"] == pytest.approx(1.975)
    interrupted = store.start_part("bracket-a12", config_id, "production")
    store.record_seam(interrupted, monitor.summary(16.0), 4.0, 6.0)
    store.close()  # as if the controller died here

    reopened = ProductionStore(path)
    assert reopened.recovered_incomplete == 1
    parts = reopened.parts()
    assert [p["status"] for p in parts] == ["complete", "incomplete"]
    assert parts[1]["verdict"] is None
    assert len(reopened.seams(interrupted)) == 1  # the committed seam is kept
    counters = reopened.counters()
    assert (counters.parts_processed, counters.parts_good, counters.parts_incomplete) == (1, 1, 1)
    assert reopened.config_files(config_id) == {"cell.yaml": "x"}
    assert reopened.integrity_check() == "ok"
    reopened.close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_the_async_store_runs_on_one_worker_thread(tmp_path):
    store = AsyncStore(tmp_path / "p.db")
    try:
        config_id = await store.record_config("d", {})
        part = await store.start_part("p", config_id, "production")
        threads = {await store.call(lambda: threading.current_thread().name) for _ in range(5)}
        assert len(threads) == 1
        assert threads.pop().startswith("production-store")
        await store.finish_part(part, "incomplete", None, "test")
        assert (await store.counters()).parts_incomplete == 1
    finally:
        store.close()
