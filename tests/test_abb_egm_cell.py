"""The whole controller with an ABB on EGM (``robot.interface: abb_egm``): a part welded by the
robot's own jobs in the simulated cell, the laser's corrections through EGM path correction and
scored against the true part, and the robot's own comm-timeout stop answered as every link fault
is (arc off, hold through I/O); what both backends share (a pulled cable, hold and resume) is in
tests/test_owned_robot_cell.py. The PLC on Modbus TCP, the power source on Modbus RTU over a
pty, EGM on UDP over loopback: nothing is mocked."""

from __future__ import annotations

import json

import pytest

from cellctl.cell.faults import FaultCode
from rigs.cell import running_cell
from rigs.owned import BENT_BRACKET, abb_egm, with_laser
from sim.devices.robot_egm import JobStep
from sim.truth.part import VisionScenario


async def test_the_laser_tracks_a_part_through_egm_against_the_truth(tmp_path, caplog):
    vision = VisionScenario.model_validate(BENT_BRACKET)
    async with running_cell(
        tmp_path, time_scale=4.0, edit=with_laser(abb_egm), vision=vision
    ) as rig:
        await rig.to_idle()
        part = await rig.weld_part_without_faults(timeout_s=120)
        assert (part["status"], part["verdict"]) == ("complete", "good")
        seams = await rig.controller.store.seams(part["id"])
        assert [s["seam"] for s in seams] == ["gusset-left", "gusset-right"]
        tracking = [json.loads(s["summary_json"])["tracking"] for s in seams]
        # Found at the job's search position and its pre-scan to the start: the joint at the
        # start itself, 1.5 + 1.0 sin(0) mm.
        for seam in tracking:
            assert seam["found_lateral_mm"] == pytest.approx(1.5, abs=0.1)
            assert seam["frames_with_joint"] > 100
        # EGM applies a path correction only while EGMMoveL/EGMMoveC run, so the found offset
        # went to the job as a frame offset (the PLC's robot_offset_*), which it took at its
        # search position: the seam runs on the joint from its start, no slew onto it.
        robot = rig.sim.robot
        # The bracket's seams run along +y and -y: lateral (left of travel) is -x, then +x.
        assert abs(robot.frame_offset_mm[0]) == pytest.approx(1.5, abs=0.15)
        # The torch against the true joint, every physics step, far inside the taught line's.
        scores = rig.sim.tracking_score.figures()
        assert len(scores) == 2
        for score in scores:
            assert score["taught_rms_mm"] > 2.0
            assert score["rms_mm"] < 0.1
            assert score["max_mm"] < 0.3
        status = robot.status()
        assert status.step is JobStep.DONE
        assert status.counters.corrections_applied > 100
        assert status.counters.comm_timeouts == 0
        # The controller never moved the robot: its own moves were refused, none was tried.
        assert rig.controller.robot.stats.refused_writes == 0
        # Nor waited for the robot to stand on the found offset before the arc (EGM cannot).
        assert "robot not on the found offset" not in caplog.text


async def test_the_robots_comm_timeout_stop_is_the_interface_fault(tmp_path):
    async with running_cell(tmp_path, edit=abb_egm) as rig:
        await rig.to_idle()
        await rig._start_part()
        await rig.until(lambda: rig.sim.power_source.arc.burning, "the arc", 30)
        # The sensor's messages are lost on the way in; the robot's feedback still goes out.
        rig.sim.robot.drop_sensor_messages()
        await rig.until(
            lambda: any(
                f.code is FaultCode.ROBOT_INTERFACE_STOP for f in rig.controller.faults.active
            ),
            "F135",
            5,
        )
        await rig.until(lambda: not rig.sim.power_source.arc.burning, "arc off", 5)
        # The robot's own stop (ERR_UDPUC_COMM; the controller's robot_stop has since cleared
        # the job fault, as the template's ExitCycle does).
        assert rig.sim.robot.status().counters.comm_timeouts == 1
        # The stream itself never stopped: the robot's stop is no lost link.
        assert not any(f.code is FaultCode.ROBOT_LINK for f in rig.controller.faults.active)
