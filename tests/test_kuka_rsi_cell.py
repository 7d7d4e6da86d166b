"""A KUKA with RSI in the simulated cell: its job through the PLC (Modbus TCP), its corrections
through RSI (UDP), both with the controller's own drivers, as the cell's robot-owned cycle uses
them."""

from __future__ import annotations

import asyncio
import contextlib
import math

import pytest

from cellctl.weld.robot_job import PlcRobotJobIo, RobotJobFaulted, RobotJobTimeout
from drivers.codecs.seam_path import SeamPath
from drivers.errors import WriteRefused
from drivers.plc import PlcDriver
from drivers.robot.kuka_rsi import KukaRsiDriver
from drivers.robot.owned import OwnedLinkState, PathCorrection
from rigs.cell import write_config
from rigs.owned import kuka_rsi
from sim.cell import SimulatedCell
from sim.cellfile import load_cell_devices
from sim.clock import SimClock
from sim.devices.robot_rsi import JobStep
from tests.waiting import eventually


class Cell:
    """The simulated cell with a KUKA, and the controller's PLC and RSI drivers on it."""

    def __init__(self, sim: SimulatedCell, plc: PlcDriver, rsi: KukaRsiDriver) -> None:
        self.sim, self.plc, self.rsi = sim, plc, rsi
        self.image: dict | None = None
        self.job = PlcRobotJobIo(plc, lambda: self.image, scan_period_s=0.02)

    async def scan(self) -> None:  # what the controller's PanelScan does
        while True:
            self.image = await self.plc.read_inputs()
            await asyncio.sleep(0.02)


@pytest.fixture
async def cell(tmp_path):
    devices = load_cell_devices(write_config(tmp_path, kuka_rsi))
    sim = SimulatedCell(devices, SimClock(20))
    await sim.start()
    plc = PlcDriver(devices.plc)
    rsi = KukaRsiDriver(devices.robot.kuka_rsi)
    rig = Cell(sim, plc, rsi)
    await plc.connect()
    await rsi.start_link()
    scan = asyncio.create_task(rig.scan())
    try:
        await plc.link.wait_connected(3.0)
        await plc.write_output("robot_enable_request", True)
        await eventually(lambda: sim.plc.logic.robot_enabled, what="drives on")
        await eventually(lambda: rig.image and rig.image["robot_ready"], what="robot ready")
        yield rig
    finally:
        scan.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await scan
        await rsi.stop_link()
        await plc.close()
        await sim.close()


async def test_a_job_runs_its_seam_through_the_plcs_signals_with_the_correction(cell):
    seam = cell.sim.robot.jobs[1].path
    await cell.job.start_job(1)
    assert cell.sim.plc.output("robot_job_start") is False  # the pulse is over
    # The job stops at its search position, 26 mm before the start on the seam's line, until
    # seam finding is done.
    await cell.job.wait_for(lambda s: s.at_search, "at the search position", 5.0)
    s_mm, lateral_mm, _ = seam.locate(cell.sim.robot.actual_tool_pose().position_mm)
    assert (s_mm, lateral_mm) == (pytest.approx(-26.0, abs=0.01), pytest.approx(0.0, abs=0.01))
    assert not cell.job.signals().at_seam_start
    await cell.job.set_search_done(True)
    await cell.job.wait_for(lambda s: s.at_seam_start, "at seam start", 5.0)
    # Seam finding's offset goes in through RSI before the arc (held through the seam).
    cell.rsi.expect_stream(True)
    cell.rsi.set_path_correction(PathCorrection(1.5, 0.0, seam.frame_at(0.0)))
    await eventually(lambda: abs(cell.sim.robot.offset_mm[0] + 1.5) < 1e-3, what="offset")
    await cell.job.set_seam_go(True)
    await cell.job.wait_for(lambda s: s.at_seam_end, "at seam end", 10.0)
    feedback = cell.rsi.latest_feedback()
    assert feedback is not None
    # Path position from the robot's actual pose, projected on the taught path: the end.
    s_mm, lateral_mm, _ = seam.locate(feedback.position_mm)
    assert s_mm == pytest.approx(seam.length_mm, abs=1.0)
    assert lateral_mm == pytest.approx(1.5, abs=0.01)
    await cell.job.set_seam_go(False)
    cell.rsi.expect_stream(False)
    await cell.job.wait_for(lambda s: s.job_done, "job done", 5.0)
    assert cell.rsi.state is not OwnedLinkState.LOST
    assert cell.rsi.counters().telegrams_received > 50


async def test_hold_and_resume_go_through_the_plc(cell):
    await cell.job.start_job(1)
    await cell.job.wait_for(lambda s: s.at_search, "at the search position", 5.0)
    await cell.job.set_search_done(True)
    await cell.job.wait_for(lambda s: s.at_seam_start, "at seam start", 5.0)
    await cell.job.set_seam_go(True)
    await eventually(lambda: cell.sim.robot.step is JobStep.WELDING, what="welding")
    await cell.job.set_hold(True)
    await eventually(lambda: cell.sim.robot.motion.state.name == "HELD", what="held")
    held_at = cell.sim.robot.actual_tool_pose().position_mm
    await asyncio.sleep(0.1)
    assert math.dist(held_at, cell.sim.robot.actual_tool_pose().position_mm) < 1e-6
    await cell.job.set_hold(False)
    await eventually(lambda: cell.sim.robot.motion.state.name == "MOVING", what="moving again")
    await cell.job.stop_job()
    await eventually(lambda: cell.sim.robot.step is JobStep.IDLE, what="job ended")


async def test_the_robot_stopping_on_rsi_is_a_job_fault_and_an_interface_error(cell):
    await cell.job.start_job(1)
    await cell.job.wait_for(lambda s: s.at_search, "at the search position", 5.0)
    await cell.job.set_search_done(True)
    await cell.job.wait_for(lambda s: s.at_seam_start, "at seam start", 5.0)
    cell.rsi.expect_stream(True)
    cell.sim.robot.answer_delay_ms = 10.0  # every answer reaches the robot after its cycle
    with pytest.raises(RobotJobFaulted, match="reports a fault"):
        await cell.job.wait_for(lambda s: s.at_seam_end, "at seam end", 5.0)
    await eventually(lambda: cell.rsi.state is OwnedLinkState.STOPPED_WITH_ERROR, what="F135")


async def test_a_job_that_never_starts_is_a_timeout_and_the_pulse_is_dropped(cell):
    cell.job.start_timeout_s = 0.3
    with pytest.raises(RobotJobTimeout, match="no job 7 to start"):
        await cell.job.start_job(7)  # the robot has no job 7
    assert cell.sim.plc.output("robot_job_start") is False
    with pytest.raises(WriteRefused, match=r"not in 1\.\.65535"):
        await cell.job.start_job(0)


def test_a_held_seam_restarts_its_overlap_back_along_the_seam_never_before_its_start():
    from sim.devices.robot_job import back_along, restart_from_mm

    seam = SeamPath.polyline([[0.0, 0.0, 0.0], [100.0, 0.0, 0.0], [100.0, 50.0, 0.0]])
    assert restart_from_mm(104.0, 10.0) == 94.0
    assert restart_from_mm(6.0, 10.0) == 0.0
    # Back round the corner, in chords, ending on the restart point.
    points = back_along(seam, 104.0, 94.0, 2.0)
    assert points[0] == pytest.approx((100.0, 2.0, 0.0))
    assert points[-1] == pytest.approx((94.0, 0.0, 0.0))
    assert (100.0, 0.0, 0.0) in [tuple(round(c, 9) for c in p) for p in points]
