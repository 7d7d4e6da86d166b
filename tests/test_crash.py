"""kill -9 of the controller mid-part: the devices make themselves safe, the database is intact
with every committed seam, and the interrupted part is marked incomplete on the next start.

The controller runs as its own process (``cellctl run``), as on the shop floor; the simulated
cell runs in the test, so its ground truth is at hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import sqlite3
import time

import pytest

from cellctl.records.store import ProductionStore
from drivers.codecs.robot_protocol import RobotState
from rigs.cell import write_config
from sim.cell import SimulatedCell
from sim.cellfile import load_cell_devices
from sim.clock import SimClock
from sim.scenario.rig import ControllerProcess, StoreView


async def until(condition, what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def operator_to_idle(sim: SimulatedCell, store: StoreView, controller) -> None:
    deadline = time.monotonic() + 20
    while store.state() != "Idle":
        assert controller.running, "controller exited"
        if time.monotonic() > deadline:
            pytest.fail(f"controller did not reach Idle, state {store.state()}")
        sim.plc.press("reset_button")
        await asyncio.sleep(0.4)


@pytest.mark.slow
async def test_kill_9_mid_part_loses_no_committed_seam(tmp_path):
    config = write_config(tmp_path)
    database = tmp_path / "production.db"
    log = tmp_path / "controller.log"
    sim = SimulatedCell(load_cell_devices(config), SimClock(20))
    await sim.start()
    records = StoreView(database)
    controller = ControllerProcess(config, log)
    controller.start()
    try:
        await operator_to_idle(sim, records, controller)
        sim.plc.set_part_loaded(True)
        sim.plc.press("start_button")
        # Wait until the first seam is committed and the second is being welded.
        await until(lambda: records.query("SELECT COUNT(*) FROM seams")[0][0] == 1, "seam 1")
        await until(lambda: sim.power_source.arc.burning, "the arc of seam 2")
        await controller.kill()

        # Nobody commands the cell now: the devices' own watchdogs make it safe.
        await until(lambda: not sim.power_source.arc.burning, "the power source to end the arc")
        await until(
            lambda: sim.robot.state is not RobotState.MOVING, "the robot to hold", timeout_s=5
        )
        held_at = sim.robot.status().pose.position_mm
        await asyncio.sleep(0.5)
        assert math.dist(held_at, sim.robot.status().pose.position_mm) < 0.01
        assert sim.power_source.interface_timeouts == 1
        await until(lambda: not sim.plc.logic.robot_enabled, "the PLC to drop drive enable")

        # The database as the killed controller left it.
        with contextlib.closing(sqlite3.connect(database)) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            seams = db.execute("SELECT seam, verdict FROM seams").fetchall()
            parts = db.execute("SELECT id, status FROM parts").fetchall()
        assert seams == [("gusset-left", "good")]
        assert parts == [(1, "in_progress")]

        # The next start marks the interrupted part incomplete, never good.
        controller.start()
        await until(
            lambda: records.query("SELECT status FROM parts WHERE id=1") == [("incomplete",)],
            "the part marked incomplete",
        )
        sim.power_source.clear_faults()
        await operator_to_idle(sim, records, controller)
        sim.plc.set_part_loaded(True)
        sim.plc.press("start_button")
        await until(
            lambda: records.query("SELECT status FROM parts WHERE id=2") == [("complete",)],
            "a new part welded after the restart",
            timeout_s=40,
        )
    finally:
        await controller.stop()
        await sim.close()
    store = ProductionStore(database)
    try:
        counters = store.counters()
        assert (counters.parts_processed, counters.parts_good, counters.parts_incomplete) == (
            1,
            1,
            1,
        )
        assert counters.seams_welded == 3  # the committed seam of part 1 + both of part 2
        assert store.integrity_check() == "ok"
    finally:
        store.close()
    assert "shutting down: arc off, robot hold" in log.read_text()
