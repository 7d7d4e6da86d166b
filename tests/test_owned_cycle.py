"""The robot-owned seam cycle against the simulated cell with a KUKA on RSI: the job through the
PLC (Modbus TCP), the arc on the power source (Modbus RTU on a pty), corrections through RSI
(UDP). The faults it reports go to a fault book of the test's (the controller's reaction is
not this cycle's business)."""

from __future__ import annotations

import asyncio
import contextlib
import types

import pytest

from cellctl.cell.faults import FaultCode
from cellctl.config import load_cell_config
from cellctl.weld.owned_cycle import CycleInterrupted, HeldOffset, OwnedSeamCycle
from cellctl.weld.robot_job import PlcRobotJobIo
from drivers.plc import PlcDriver
from drivers.power_source import PowerSourceDriver
from drivers.robot.kuka_rsi import KukaRsiDriver
from rigs.cell import write_config
from rigs.owned import kuka_rsi
from sim.cell import SimulatedCell
from sim.cellfile import load_cell_devices
from sim.clock import SimClock
from tests.waiting import eventually


class FaultBook:
    def __init__(self) -> None:
        self.raised: list[tuple[FaultCode, str]] = []

    def raise_fault(self, code, detail="", cause_seen=None, *, device_answered=False) -> None:
        self.raised.append((code, detail))

    def codes(self) -> list[FaultCode]:
        return [code for code, _ in self.raised]


class Ramp(HeldOffset):
    """A part whose joint runs away from the taught line: 1 mm at the start, +1 mm per 100 mm."""

    def correction_at(self, position_mm: float) -> tuple[float, float]:
        return (self.lateral_mm + 0.01 * position_mm, 0.0)


class Rig:
    def __init__(self, tmp_path) -> None:
        path = write_config(tmp_path, kuka_rsi)
        self.config = load_cell_config(path)
        devices = load_cell_devices(path)
        self.sim = SimulatedCell(devices, SimClock(20))
        cell = self.config.cell
        self.plc = PlcDriver(cell.plc)
        self.power_source = PowerSourceDriver(cell.power_source)
        self.rsi = KukaRsiDriver(cell.robot.kuka_rsi)
        self.image: dict | None = None
        self.faults = FaultBook()
        self.cycle = OwnedSeamCycle(
            job=PlcRobotJobIo(self.plc, lambda: self.image, scan_period_s=0.02),
            robot=self.rsi,
            robot_settings=cell.robot,
            power_source=self.power_source,
            faults=self.faults,
            settings=cell.controller,
        )
        part = self.config.parts["bracket-a12"]
        self.seam = part.seams_in_order()[0]
        self.procedure = self.config.procedures[self.seam.procedure]

    async def scan(self) -> None:  # the controller's PanelScan
        while True:
            with contextlib.suppress(Exception):
                self.image = await self.plc.read_inputs()
            await asyncio.sleep(0.02)


@pytest.fixture
async def rig(tmp_path):
    rig = Rig(tmp_path)
    await rig.sim.start()
    await rig.plc.connect()
    await rig.power_source.connect()
    await rig.rsi.start_link()
    scan = asyncio.create_task(rig.scan())
    try:
        await rig.plc.link.wait_connected(3.0)
        await rig.power_source.link.wait_connected(3.0)
        await rig.plc.write_output("robot_enable_request", True)
        await eventually(lambda: rig.image and rig.image["robot_ready"], what="robot ready")
        yield rig
    finally:
        scan.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await scan
        await rig.rsi.stop_link()
        await rig.power_source.close()
        await rig.plc.close()
        await rig.sim.close()


async def test_a_seam_is_welded_by_its_job_with_the_correction_followed(rig):
    summary = await rig.cycle.weld_seam(rig.seam, rig.procedure, Ramp(1.0, 0.0))
    assert rig.faults.raised == []
    assert summary.arc_time_s > 0
    # Heat input from the robot's own travel speed (its clock, not ours: the cell runs at 20x),
    # as the serial cycle gets for this seam.
    assert summary.heat_input_kj_per_mm == pytest.approx(0.539, rel=0.1)
    assert not rig.sim.power_source.arc.burning
    # The seam runs along +y: lateral (left of travel) is -x. At its end, 1 + 150/100 mm.
    assert rig.sim.robot.offset_mm[0] == pytest.approx(-2.5, abs=0.05)
    assert rig.cycle.position_mm == pytest.approx(rig.seam.length_mm, abs=1.0)
    assert rig.cycle.corrections_sent > 20  # one per new telegram sample, as the loop allows
    assert rig.sim.robot.signals()["robot_job_done"]


async def test_a_pulled_cable_mid_seam_is_a_robot_link_fault(rig):
    weld = asyncio.create_task(rig.cycle.weld_seam(rig.seam, rig.procedure, HeldOffset()))
    await eventually(lambda: rig.sim.power_source.arc.burning, what="the arc")
    rig.sim.robot.unplug()
    with pytest.raises(CycleInterrupted):
        await weld
    assert rig.faults.codes()[0] is FaultCode.ROBOT_LINK
    assert "no RSI telegram" in rig.faults.raised[0][1]


async def test_the_robot_stopping_on_late_answers_is_an_interface_stop(rig):
    weld = asyncio.create_task(rig.cycle.weld_seam(rig.seam, rig.procedure, HeldOffset()))
    await eventually(lambda: rig.sim.power_source.arc.burning, what="the arc")
    rig.sim.robot.answer_delay_ms = 10.0
    with pytest.raises(CycleInterrupted):
        await weld
    assert FaultCode.ROBOT_INTERFACE_STOP in rig.faults.codes()
    assert FaultCode.ROBOT_LINK not in rig.faults.codes()


async def test_a_robot_without_drives_is_not_ready(rig):
    await rig.plc.write_output("robot_enable_request", False)
    await eventually(lambda: not rig.image["robot_ready"], what="not ready")
    with pytest.raises(CycleInterrupted):
        await rig.cycle.weld_seam(rig.seam, rig.procedure, HeldOffset())
    assert rig.faults.codes() == [FaultCode.ROBOT_NOT_READY]
    assert rig.sim.robot.job is None  # nothing was started
    assert not rig.sim.power_source.arc.burning


class LaserLookingFurther:
    """The laser's seam finding as the search sees it, on a sensor mounted 40 mm ahead: it
    needs the job's search position 36 mm before the start. (Its ``find_ahead`` is never
    reached: the search position is checked first.)"""

    def __init__(self) -> None:
        from cellctl.config.sensor_models import SensorSettings

        settings = SensorSettings(lookahead_mm=40.0)
        self.finder = types.SimpleNamespace(settings=settings, lookahead_mm=40.0)
        self.asked = 0

    async def find_ahead(self, seam):
        self.asked += 1
        return (0.0, 0.0)

    def seed_prescan(self, start, prescan) -> None:
        raise AssertionError("no pre-scan after a wrong search position")


async def test_a_job_standing_elsewhere_than_the_search_needs_is_f147_before_any_arc(rig):
    laser = LaserLookingFurther()
    rig.cycle.search.laser = laser  # the robot's job stops 26 mm before the start (30 - 4)
    with pytest.raises(CycleInterrupted):
        await rig.cycle.weld_seam(rig.seam, rig.procedure, HeldOffset())
    assert rig.faults.codes() == [FaultCode.SEARCH_POSITION_WRONG]
    detail = rig.faults.raised[0][1]
    assert "10.0 mm from where the laser sees" in detail
    assert "(400.0, -101.0, 8.0) mm" in detail  # where the job stood: 26 mm before the start
    assert "36 mm before the start" in detail
    assert laser.asked == 0
    assert rig.sim.robot.signals()["robot_at_search"]
    assert not rig.sim.power_source.arc.burning
