"""Touch sensing in the simulated cell: a part found by the wire alone, and what goes wrong.

The real controller welds the fillet coupon programmed for touch sensing
(``config/parts/coupon-fillet-touch.yaml``) with the laser sensor off. The simulator clamps
the coupon off its taught place: shifted and turned about the vertical. The controller finds
the coupon's frame by four wire touches and the seam's corner by two more, then welds; the
simulator's truth scores where the torch really went against the true joint.
"""

from __future__ import annotations

import asyncio
import math

import pytest
import yaml

from cellctl.cell.faults import FaultCode
from cellctl.cell.packml import State
from rigs.cell import REPO, running_cell
from sim.truth.part import Placement, VisionScenario
from sim.wire.injection import inject

PART = "coupon-fillet-touch"
TIME_SCALE = 20.0
PLACED = Placement(x_mm=1.5, y_mm=-1.0, z_mm=0.4, rz_deg=1.5, about_mm=(300.0, 0.0, 8.0))
WITHIN_MM = 0.3


def touch_part(cell: dict) -> None:
    cell["controller"]["cycle"]["active_part"] = PART


def placed(**extra) -> VisionScenario:
    return VisionScenario(name="placed", placement=PLACED, **extra)


def weld_samples_off_the_joint(rig, after_s: float = -math.inf) -> list[float]:
    """How far the wire's true tip (the tool point plus the torch's true bend, turned with its
    angles) was from the true root at every physics step of the weld path (the path with an
    id: the weld, not the air moves and searches), after the simulator's ``after_s``. The
    torch's bend is taken as it is now: steps from before it bent would be scored wrong."""
    seam = rig.sim.touch.part.seams[0]
    torch = rig.sim.touch.torch
    offsets = []
    for sample in rig.sim.robot.trajectory:
        if sample.path_id == 0 or sample.sim_time_s <= after_s:
            continue
        tip = torch.nominal_tip(sample.pose)  # the bend turned with the torch's angles
        s, lateral, vertical = seam.locate(tip)
        if not 1.0 <= s <= seam.length_mm - 1.0:
            continue
        joint = seam.joint_at(s)
        offsets.append(math.hypot(lateral - joint.lateral_mm, vertical - joint.vertical_mm))
    return offsets


async def test_a_part_found_by_touch_alone_is_welded_on_its_true_joint(tmp_path):
    async with running_cell(tmp_path, TIME_SCALE, touch_part, placed()) as rig:
        await rig.to_idle()
        record = await rig.weld_part_without_faults(90)
        frame = rig.controller.part_run.touch.figures
        offsets = weld_samples_off_the_joint(rig)
        seam = rig.sim.touch.part.seams[0]
        events = [e.text for e in rig.controller.events.log]
    assert (record["status"], record["verdict"]) == ("complete", "good"), record
    assert frame.searches == 6  # four for the frame, two for the seam's corner
    assert any("part frame found by touch" in text for text in events)
    # The welded path lies on the true joint, placed 1.5 mm, 1.0 mm, 0.4 mm and 1.5° off.
    assert len(offsets) > 500
    assert max(offsets) < WITHIN_MM, max(offsets)
    # The true start moved by 1.97 mm: the taught path alone would have missed it.
    assert math.dist(seam.true_point(0.0), (300.0, -40.0, 8.0)) > 1.5


async def until_fault(rig, code: FaultCode, timeout_s: float = 30.0):
    await rig.until(
        lambda: any(f.code == code for f in rig.controller.faults.active),
        f"fault {code}",
        timeout_s,
    )
    return next(f for f in rig.controller.faults.active if f.code == code)


async def test_a_touch_that_finds_nothing_is_a_fault_naming_the_search(tmp_path):
    far = VisionScenario(name="far", placement=Placement(x_mm=20.0, about_mm=(300.0, 0.0, 8.0)))
    async with running_cell(tmp_path, TIME_SCALE, touch_part, far) as rig:
        await rig.to_idle()
        rig.sim.plc.set_part_loaded(True)
        await rig.press("start_button")
        fault = await until_fault(rig, FaultCode.TOUCH_NOT_FOUND)
        await rig.until_state(State.HELD)
        robot = rig.sim.robot.snapshot()
        source = rig.sim.power_source
        touches = rig.sim.touch
    # The base plate was found; the wall, 20 mm beyond where it was taught, was not.
    assert "'wall-a'" in fault.detail
    assert "30 mm" in fault.detail
    assert robot["tool_speed_mm_per_s"] == 0
    assert not source.arc.burning
    assert not source.commands.touch_sense_on  # the sensing voltage is off again
    assert touches.collisions == 0


def upright_wall_search(tmp_path):
    """The touch coupon with its first wall search made with an upright torch: the nozzle
    (8 mm radius) meets the wall before the wire can."""

    def edit(cell: dict) -> None:
        program = yaml.safe_load((REPO / "config" / "parts" / f"{PART}.yaml").read_text())
        program["name"] = f"{PART}-upright"
        program["touch_frame"]["searches"][1]["torch_deg"] = [0, 0, 0]
        (tmp_path / "config" / "parts" / f"{PART}-upright.yaml").write_text(yaml.safe_dump(program))
        cell["parts"].append(f"parts/{PART}-upright.yaml")
        cell["controller"]["cycle"]["active_part"] = f"{PART}-upright"

    return edit


async def test_a_nozzle_meeting_the_wall_first_is_a_collision(tmp_path):
    async with running_cell(tmp_path, TIME_SCALE, upright_wall_search(tmp_path), placed()) as rig:
        await rig.to_idle()
        rig.sim.plc.set_part_loaded(True)
        await rig.press("start_button")
        await until_fault(rig, FaultCode.TORCH_COLLISION)
        await rig.until_state(State.ABORTED)
        robot = rig.sim.robot.snapshot()
        touches = rig.sim.touch
    assert robot["tool_speed_mm_per_s"] == 0
    assert touches.collisions == 1
    assert math.hypot(*touches.torch.bend_mm) == pytest.approx(1.5)  # the neck bent back


def blind_coupon(tmp_path):
    """The fillet coupon welded on its taught path alone: no seam finding, no tracking."""

    def edit(cell: dict) -> None:
        program = yaml.safe_load((REPO / "config" / "parts" / "coupon-fillet-80.yaml").read_text())
        program["name"] = "coupon-blind"
        program["seams"][0]["sensing"] = {"seam_finding": "none", "tracking": False}
        (tmp_path / "config" / "parts" / "coupon-blind.yaml").write_text(yaml.safe_dump(program))
        cell["parts"].append("parts/coupon-blind.yaml")
        cell["controller"]["cycle"]["active_part"] = "coupon-blind"

    return edit


async def test_a_weld_path_into_the_part_is_a_collision_the_cell_reacts_to(tmp_path):
    # The coupon turned 5° about its seam's start in the fixture: its wall crosses the taught
    # path, and the nozzle meets it some 55 mm into the 80 mm seam.
    turned = VisionScenario(
        name="turned", placement=Placement(rz_deg=5.0, about_mm=(300.0, -40.0, 8.0))
    )
    async with running_cell(tmp_path, TIME_SCALE, blind_coupon(tmp_path), turned) as rig:
        await rig.to_idle()
        rig.sim.plc.set_part_loaded(True)
        await rig.press("start_button")
        await rig.until_phase("welding", 60)
        fault = await until_fault(rig, FaultCode.TORCH_COLLISION, 30)
        await rig.until_state(State.ABORTED)
        stopped_by = {f.code for f in rig.controller.faults.active}
        burning = rig.sim.power_source.arc.burning
        robot = rig.sim.robot.snapshot()
        stopped_y = rig.sim.robot.motion.tool_pose().y_mm
        touches = rig.sim.touch
        due = rig.controller.part_run.torch_care.tcp_check_due
    assert stopped_by == {FaultCode.TORCH_COLLISION}, fault
    assert not burning
    assert robot["tool_speed_mm_per_s"] == 0
    assert touches.collisions == 1
    assert math.hypot(*touches.torch.bend_mm) == pytest.approx(1.5)  # bent by the hit
    assert 10.0 < stopped_y < 22.0  # where the wall meets the nozzle, not at the end (40)
    assert due  # a TCP check before the next weld


async def test_a_bent_torch_is_found_corrected_and_recorded(tmp_path):
    bend = (0.8, -0.6, 0.3)
    async with running_cell(tmp_path, TIME_SCALE, touch_part, placed()) as rig:
        await rig.to_idle()
        await inject(rig.sim, f"torch_bend {bend[0]} {bend[1]} {bend[2]}")
        rig.controller.request_tcp_check()
        record = await rig.weld_part_without_faults(120)
        care = rig.controller.part_run.torch_care
        first = care.checks[0]
        offsets = weld_samples_off_the_joint(rig)
        # A second check with the correction applied finds (almost) nothing left.
        rig.controller.request_tcp_check()
        await rig.weld_part_without_faults(120)
        second = care.checks[1]
        audit = await rig.controller.store.audit_rows()
    assert (record["status"], record["verdict"]) == ("complete", "good"), record
    assert first.offset_after_mm == pytest.approx(bend, abs=0.05)
    assert second.error_size_mm < 0.05
    # The part found by touch with the bent torch, welded with the correction: on the joint.
    assert max(offsets) < WITHIN_MM, max(offsets)
    checks = [row for row in audit if row["action"] == "tcp_check"]
    assert len(checks) == 2
    assert all(row["result"] == "offset applied" for row in checks)


async def test_after_a_collision_the_tcp_is_checked_before_the_next_weld(tmp_path):
    async with running_cell(tmp_path, TIME_SCALE, touch_part, placed()) as rig:
        await rig.to_idle()
        rig.sim.plc.set_part_loaded(True)
        await rig.press("start_button")
        await rig.until_phase("welding", 60)
        await inject(rig.sim, "torch_collision")  # the breakaway switch, the robot stops
        fault = await until_fault(rig, FaultCode.TORCH_COLLISION, 10)
        await rig.until_state(State.ABORTED)
        # The robot's own collision stop (its fault 3) is the same event: F153, not also F140.
        stopped_by = {f.code for f in rig.controller.faults.active}
        source_burning = rig.sim.power_source.arc.burning
        robot_speed = rig.sim.robot.snapshot()["tool_speed_mm_per_s"]
        care = rig.controller.part_run.torch_care
        due = care.tcp_check_due
        await asyncio.sleep(1.2)  # the switch closes once the robot has stopped
        await rig.reset_to_idle()
        # Only the weld after the check: the aborted one went on with the torch straight
        # before it bent (at 20x, past the seam's first millimetre now and then).
        bent_at_s = rig.sim.robot.trajectory[-1].sim_time_s
        record = await rig.weld_part_without_faults(120)
        checks = list(care.checks)
        offsets = weld_samples_off_the_joint(rig, after_s=bent_at_s)
        bend = rig.sim.touch.torch.bend_mm
    assert fault.code == FaultCode.TORCH_COLLISION
    assert stopped_by == {FaultCode.TORCH_COLLISION}, stopped_by
    assert not source_burning
    assert robot_speed == 0
    assert due
    assert len(checks) == 1
    assert checks[0].offset_after_mm == pytest.approx(bend, abs=0.05)
    assert (record["status"], record["verdict"]) == ("complete", "good"), record
    assert max(offsets) < WITHIN_MM, max(offsets)


async def test_a_torch_bent_beyond_its_limit_asks_for_a_torch_change(tmp_path):
    async with running_cell(tmp_path, TIME_SCALE, touch_part, placed()) as rig:
        await rig.to_idle()
        await inject(rig.sim, "torch_bend 2.5 0 0")
        rig.controller.request_tcp_check()
        rig.sim.plc.set_part_loaded(True)
        await rig.press("start_button")
        fault = await until_fault(rig, FaultCode.TCP_OUT_OF_LIMITS, 60)
        await rig.until_state(State.ABORTED)
        burning = rig.sim.power_source.arc.burning
        offset = rig.controller.robot.offset_mm
    assert "2.50 mm" in fault.detail
    assert "change" in fault.kind.text
    assert not burning
    assert offset == (0.0, 0.0, 0.0)  # not applied


async def test_the_service_cycle_reams_sprays_cuts_the_wire_and_checks_the_tcp(tmp_path):
    # The wire sticks out 1 mm too far: touches would find every plate 1 mm early. The service
    # cycle the operator asks for cuts it back before the part's searches.
    long_wire = placed(stick_out_error_mm=1.0)
    async with running_cell(tmp_path, TIME_SCALE, touch_part, long_wire) as rig:
        await rig.to_idle()
        rig.controller.request_torch_service()
        record = await rig.weld_part_without_faults(120)
        station = rig.sim.station
        care = rig.controller.part_run.torch_care
        offsets = weld_samples_off_the_joint(rig)
        stick_out = rig.sim.touch.torch.stick_out_error_mm
        audit = await rig.controller.store.audit_rows()
    assert station.done == {"reamer_on": 1, "spray_on": 1, "wire_cutter_on": 1}
    assert not station.missed
    assert stick_out == pytest.approx(0.05)  # cut back to nominal
    assert care.services == 1
    assert len(care.checks) == 1  # the TCP check that ends the service
    assert [row["action"] for row in audit if row["actor"] == "torch"] == ["service", "tcp_check"]
    assert (record["status"], record["verdict"]) == ("complete", "good"), record
    assert max(offsets) < WITHIN_MM, max(offsets)
