"""The whole controller with a KUKA on RSI: parts welded by the robot's own jobs in the simulated
cell, and a lost or late stream answered as every link fault is (arc off, hold through I/O)."""

from __future__ import annotations

import json

from cellctl.cell.faults import FaultCode
from rigs.cell import running_cell
from tests.test_kuka_rsi_cell import _kuka


async def test_parts_are_welded_by_the_robots_jobs(tmp_path):
    async with running_cell(tmp_path, edit=_kuka) as rig:
        await rig.to_idle()
        part = await rig.weld_part_without_faults(timeout_s=60)
        assert (part["status"], part["verdict"]) == ("complete", "good")
        seams = await rig.controller.store.seams(part["id"])
        assert [s["seam"] for s in seams] == ["gusset-left", "gusset-right"]
        for seam in seams:
            summary = json.loads(seam["summary_json"])
            assert summary["samples"] >= 20
            assert seam["verdict"] == "good"
        robot = rig.sim.robot
        assert [robot.jobs[n].name for n in sorted(robot.jobs)] == [
            "BRACKET_A12_S1",
            "BRACKET_A12_S2",
        ]
        assert robot.counters.telegrams_sent > 100
        assert robot.step.value == "done"
        # The controller never moved the robot: its own moves were refused, none was tried.
        assert rig.controller.robot.stats.refused_writes == 0


async def test_a_pulled_rsi_cable_mid_seam_is_a_robot_link_fault_arc_off_and_hold(tmp_path):
    async with running_cell(tmp_path, edit=_kuka) as rig:
        await rig.to_idle()
        await rig._start_part()
        await rig.until(lambda: rig.sim.power_source.arc.burning, "the arc", 30)
        rig.sim.robot.unplug()
        await rig.until(
            lambda: any(f.code is FaultCode.ROBOT_LINK for f in rig.controller.faults.active),
            "F132",
            5,
        )
        await rig.until(lambda: not rig.sim.power_source.arc.burning, "arc off", 5)
        await rig.until(lambda: rig.sim.plc.output("robot_hold") is True, "hold through I/O", 5)


async def test_late_answers_stop_the_robot_and_abort_the_part_with_f135(tmp_path):
    async with running_cell(tmp_path, edit=_kuka) as rig:
        await rig.to_idle()
        await rig._start_part()
        await rig.until(lambda: rig.sim.power_source.arc.burning, "the arc", 30)
        rig.sim.robot.answer_delay_ms = 10.0
        await rig.until(
            lambda: any(
                f.code is FaultCode.ROBOT_INTERFACE_STOP for f in rig.controller.faults.active
            ),
            "F135",
            5,
        )
        await rig.until(lambda: not rig.sim.power_source.arc.burning, "arc off", 5)
        assert rig.sim.robot.stop_error.startswith("RSI: late packets exceeded")
