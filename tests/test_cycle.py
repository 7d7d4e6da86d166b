"""Full weld cycles: the real controller welds parts in the simulated cell over real wires,
and the production records say exactly what happened."""

from __future__ import annotations

import asyncio
import json

import pytest

from cellctl.cell.packml import CommandRefused, Mode, State
from cellctl.records.oee import throughput
from drivers.codecs.robot_protocol import MessageType, RobotState
from rigs.cell import running_cell


async def test_parts_are_welded_end_to_end_and_the_records_agree(tmp_path):
    async with running_cell(tmp_path) as rig:
        await rig.to_idle()
        welded = [await rig.weld_part() for _ in range(3)]
        store = rig.controller.store
        assert [p["status"] for p in welded] == ["complete"] * 3
        assert [p["verdict"] for p in welded] == ["good"] * 3
        for part in welded:
            seams = await store.seams(part["id"])
            assert [s["seam"] for s in seams] == ["gusset-left", "gusset-right"]
            for seam in seams:
                summary = json.loads(seam["summary_json"])
                assert seam["verdict"] == "good"
                assert seam["heat_input_kj_per_mm"] == pytest.approx(0.539, rel=0.1)
                assert summary["current_mean_a"] == pytest.approx(220, rel=0.05)
                assert summary["samples"] >= 20  # at least 20 Hz over the seam
                assert part["started_at"] <= seam["started_at"] <= seam["finished_at"]
            assert part["arc_time_s"] == pytest.approx(sum(s["arc_time_s"] for s in seams))
            assert part["cycle_time_s"] > part["arc_time_s"]
        counters = await store.counters()
        assert (counters.parts_processed, counters.parts_good, counters.seams_welded) == (3, 3, 6)
        # The exact config each part was welded with is on record.
        config_files = await store.config_files(welded[0]["config_id"])
        assert "parts/bracket-a12.yaml" in config_files
        assert config_files["cell.yaml"] == rig.config_path.read_text()
        # Every state change is on record, in order, and the PLC's watchdog never tripped.
        changes = await store.state_changes()
        assert [c["to_state"] for c in changes[:2]] == ["Resetting", "Idle"]
        assert sum(c["to_state"] == "Complete" for c in changes) == 3
        assert rig.sim.plc.logic.watchdog_trips == 0
        assert not await store.faults()
        parts = await store.parts()
        figures = throughput(parts, [], parts[0]["started_at"], parts[-1]["finished_at"], 3.0)
        assert figures.parts_processed == 3
        assert figures.quality == 1.0
        assert 0 < figures.arc_on_ratio < 1


async def test_a_dry_run_never_strikes_the_arc_and_counts_no_production(tmp_path):
    async with running_cell(tmp_path) as rig:
        await rig.to_idle()
        rig.controller.set_mode(Mode.DRY_RUN)
        part = await rig.weld_part()
        assert rig.sim.power_source.arc.arc_starts == 0
        assert (part["status"], part["verdict"], part["mode"]) == ("complete", "dry_run", "dry_run")
        seams = await rig.controller.store.seams(part["id"])
        assert [s["verdict"] for s in seams] == ["dry_run", "dry_run"]
        counters = await rig.controller.store.counters()
        assert (counters.parts_processed, counters.seams_welded) == (0, 0)


async def test_manual_mode_has_no_cycle_to_start(tmp_path):
    async with running_cell(tmp_path) as rig:
        await rig.to_idle()
        rig.controller.set_mode("manual")
        with pytest.raises(CommandRefused, match=r"start refused in state Idle \(manual mode\)"):
            await rig.controller.command("start")
        await rig.press("start_button")
        assert rig.state is State.IDLE
        assert "start_button: start refused" in rig.controller.events.log[-1].text


async def test_an_arc_that_fails_to_ignite_once_is_retried_after_a_wire_retract(tmp_path):
    async with running_cell(tmp_path) as rig:
        await rig.to_idle()
        rig.sim.power_source.inject("ignition_failure", count=1)
        part = await rig.weld_part()
        assert part["verdict"] == "good"
        assert rig.sim.power_source.arc.ignition_failures == 1
        assert rig.sim.power_source.arc.arc_starts == 3  # two seams, one retried
        assert any(
            address == 0 and words[0] & 0b1000  # the wire_retract bit
            for address, words in rig.sim.power_source.image.writes_seen
        )


def restart_on_break(cell: dict) -> None:
    cell["controller"]["arc"]["restart_on_break"] = True


async def test_an_arc_break_restarts_the_seam_with_an_overlap_when_configured(tmp_path):
    async with running_cell(tmp_path, edit=restart_on_break) as rig:
        await rig.to_idle()
        rig.sim.plc.set_part_loaded(True)
        await rig.press("start_button")
        await rig.until(lambda: rig._step() == "welding" and rig.sim.power_source.arc.burning,
                        "the arc")  # fmt: skip
        await asyncio.sleep(0.3)
        broke_near_mm = rig.sim.robot.status().path_position_mm
        rig.sim.power_source.inject("arc_break")
        await rig.until_state(State.IDLE, 40)
        part = (await rig.controller.store.parts())[-1]
        assert part["status"] == "complete"
        first = json.loads((await rig.controller.store.seams(part["id"]))[0]["summary_json"])
        assert (first["arc_breaks"], first["restarts"]) == (1, 1)
        assert first["verdict"] == "bad"  # an overlap restart is inspected: never silently good
        warnings = [f["code"] for f in await rig.controller.store.faults()]
        assert warnings == ["W201", "W200"]
        assert broke_near_mm > 10  # it broke mid-seam, and was welded on from there
        assert rig.sim.power_source.arc.arc_starts == 3


async def test_an_arc_off_its_band_makes_the_seam_and_the_part_bad(tmp_path):
    async with running_cell(tmp_path) as rig:
        await rig.to_idle()
        rig.sim.power_source.inject("current_offset:-40")  # 180 A against a 200-240 A band
        part = await rig.weld_part()
        assert (part["status"], part["verdict"]) == ("complete", "bad")
        seams = await rig.controller.store.seams(part["id"])
        for seam in seams:
            summary = json.loads(seam["summary_json"])
            assert seam["verdict"] == "bad"
            assert summary["current_mean_a"] == pytest.approx(180, rel=0.05)
            assert seam["out_of_band_s"] > 0
            assert summary["reasons"][0].startswith("current out of band")
        assert [f["code"] for f in await rig.controller.store.faults()] == ["W200", "W200"]
        assert (await rig.controller.store.counters()).parts_bad == 1


async def test_an_operator_hold_stops_arc_and_robot_and_unhold_finishes_the_seam(tmp_path):
    async with running_cell(tmp_path) as rig:
        await rig.to_idle()
        rig.sim.plc.set_part_loaded(True)
        await rig.press("start_button")
        await rig.until(lambda: rig._step() == "welding" and rig.sim.power_source.arc.burning,
                        "the arc")  # fmt: skip
        await asyncio.sleep(0.2)
        await rig.controller.command("hold", by="test")
        await rig.until_state(State.HELD)
        assert not rig.sim.power_source.arc.burning
        assert rig.sim.robot.state is RobotState.HELD
        await rig.controller.command("unhold", by="test")
        await rig.until_state(State.IDLE, 40)
        part = (await rig.controller.store.parts())[-1]
        assert part["status"] == "complete"
        seams = await rig.controller.store.seams(part["id"])
        assert len(seams) == 2


async def test_suspend_parks_the_cell_between_seams_until_unsuspend(tmp_path):
    async with running_cell(tmp_path) as rig:
        await rig.to_idle()
        rig.sim.plc.set_part_loaded(True)
        await rig.press("start_button")
        await rig.until(lambda: rig._step() == "welding", "the first seam")
        await rig.controller.command("suspend", by="test")
        await rig.until_state(State.SUSPENDED, 30)
        part = (await rig.controller.store.parts())[-1]
        assert len(await rig.controller.store.seams(part["id"])) == 1  # seam 1 finished
        assert not rig.sim.power_source.arc.burning
        await asyncio.sleep(0.3)
        assert rig.state is State.SUSPENDED
        await rig.controller.command("unsuspend", by="test")
        await rig.until_state(State.IDLE, 40)
        assert len(await rig.controller.store.seams(part["id"])) == 2


async def test_stop_mid_part_makes_safe_and_marks_the_part_incomplete(tmp_path):
    async with running_cell(tmp_path) as rig:
        await rig.to_idle()
        rig.sim.plc.set_part_loaded(True)
        await rig.press("start_button")
        await rig.until(lambda: rig.sim.power_source.arc.burning, "the arc")
        await rig.press("stop_button")
        await rig.until_state(State.STOPPED)
        assert not rig.sim.power_source.arc.burning
        await rig.until(lambda: rig.sim.robot.status().tool_speed_mm_per_s == 0, "robot still")
        part = (await rig.controller.store.parts())[-1]
        assert (part["status"], part["verdict"]) == ("incomplete", None)
        assert "stopped mid-part" in part["note"]
        await rig.press("reset_button")
        await rig.until_state(State.IDLE)
        assert (await rig.weld_part())["verdict"] == "good"


async def test_shutdown_switches_the_arc_off_and_holds_before_closing_links(tmp_path):
    async with running_cell(tmp_path) as rig:
        await rig.to_idle()
        rig.sim.plc.set_part_loaded(True)
        await rig.press("start_button")
        await rig.until(lambda: rig.sim.power_source.arc.burning, "the arc")
        await rig.until(lambda: rig.sim.robot.state is RobotState.MOVING, "the path")
        await rig.controller.shutdown()
        # The last things the devices heard: arc off, then a hold.
        assert rig.sim.power_source.commands.arc_on is False
        assert not rig.sim.power_source.arc.burning
        # Held on the path, then its drives dropped when the controller withdrew its request.
        assert rig.sim.robot.requests_received[MessageType.HOLD] >= 1
        assert rig.sim.robot.state in (RobotState.HOLDING, RobotState.HELD, RobotState.DRIVES_OFF)
        assert rig.sim.robot.status().tool_speed_mm_per_s == 0 or rig.sim.robot.state in (
            RobotState.HOLDING,
        )
        part = (await rig.controller.store.parts())[-1]
        assert part["status"] == "incomplete"
