"""The whole controller with a robot that owns its motion, each backend alike (KUKA RSI and ABB
EGM, ``rigs.owned``): a pulled cable answered as every link fault is (arc off, hold through
the PLC), and a part welded by the robot's jobs with a seam held mid-way by the operator and
taken up again after Unhold the way the serial cycle does it, the arc restarting
``arc.restart_overlap_mm`` back over the bead. The PLC on
Modbus TCP, the power source on Modbus RTU over a pty, the robot's stream on UDP over loopback:
nothing is mocked."""

from __future__ import annotations

import asyncio
import json

import pytest

from cellctl.cell.faults import FaultCode
from cellctl.cell.packml import State
from rigs.cell import CellRig, running_cell
from rigs.owned import BACKENDS

pytestmark = pytest.mark.parametrize("backend", sorted(BACKENDS))
OVERLAP_MM = 10.0  # the shipped cell's arc.restart_overlap_mm


def along_seam(rig: CellRig, number: int) -> float:
    """How far along job ``number``'s taught seam the simulated robot's tool stands, mm."""
    robot = rig.sim.robot
    job = robot.jobs[number]
    seam = getattr(job, "path", None) or job.seam  # RSI's TaughtJob, EGM's EgmJob
    return seam.locate(robot.actual_tool_pose().position_mm)[0]


async def test_a_pulled_cable_mid_seam_is_a_robot_link_fault_arc_off_and_hold(tmp_path, backend):
    async with running_cell(tmp_path, edit=BACKENDS[backend]) as rig:
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


async def test_a_seam_held_mid_way_restarts_over_its_bead_after_unhold(tmp_path, backend):
    async with running_cell(tmp_path, edit=BACKENDS[backend]) as rig:
        await rig.to_idle()
        await rig._start_part()
        await rig.until(lambda: rig.sim.power_source.arc.burning, "the arc", 30)
        await rig.until(lambda: along_seam(rig, 1) > 3 * OVERLAP_MM, "the seam under way", 10)
        await rig.controller.command("hold", by="test")
        await rig.until_state(State.HELD)
        assert not rig.sim.power_source.arc.burning
        assert rig.sim.plc.output("robot_hold") is True
        await asyncio.sleep(0.2)  # standing, held through its I/O
        held_at_mm = along_seam(rig, 1)
        await asyncio.sleep(0.1)
        assert along_seam(rig, 1) == pytest.approx(held_at_mm, abs=0.05)

        await rig.controller.command("unhold", by="test")
        # The job backs up along the seam and stands there; the arc strikes before the go.
        await rig.until(lambda: rig.sim.power_source.arc.burning, "the arc again", 10)
        assert along_seam(rig, 1) == pytest.approx(held_at_mm - OVERLAP_MM, abs=1.0)
        await rig.until_state(State.IDLE, 40)
        part = (await rig.controller.store.parts())[-1]
        assert (part["status"], part["verdict"]) == ("complete", "good")
        seams = await rig.controller.store.seams(part["id"])
        assert [s["seam"] for s in seams] == ["gusset-left", "gusset-right"]
        for seam in seams:  # the held one's samples from before and after the hold
            assert json.loads(seam["summary_json"])["samples"] >= 20
            assert seam["verdict"] == "good"
        assert not rig.controller.faults.active
        robot = rig.sim.robot
        assert [robot.jobs[n].name for n in sorted(robot.jobs)] == [
            "BRACKET_A12_S1",
            "BRACKET_A12_S2",
        ]
        assert robot.signals()["robot_job_done"]
        # The controller never moved the robot: its own moves were refused, none was tried.
        assert rig.controller.robot.stats.refused_writes == 0
