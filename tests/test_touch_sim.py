"""The simulated torch against the true plates: contact, collision, the robot's search."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from cellctl.motion.tool_offset import ToolOffsetRobot
from drivers.codecs.robot_protocol import (
    FaultCode,
    Pose,
    ResultCode,
    RobotState,
    Search,
    SearchOutcome,
)
from sim.cellfile import load_cell_devices
from sim.devices.robot_motion import RobotMotion
from sim.devices.touch import TcpChecker, TorchContact
from sim.truth.part import Placement, VisionScenario, load_true_part
from sim.truth.torch import TrueTorch

CONFIG = Path(__file__).resolve().parents[1] / "config"
COUPON = CONFIG / "parts" / "coupon-fillet-80.yaml"  # a fillet along +y at x 300, z 8
LEAN_AWAY_FROM_WALL = (0.0, -45.0, 0.0)  # the wall stands on +x: the torch leans to -x
# The robot samples its touch-sense input once per physics step: at 10 mm/s it latches at
# most 0.02 mm past the contact.
LATCH_MM = 0.021


def _contact(placement: Placement | None = None, torch: TrueTorch | None = None, sensing=True):
    scenario = VisionScenario(name="test", placement=placement or Placement())
    part = load_true_part(COUPON, scenario)
    checker = TcpChecker((-400.0, 400.0, 100.0))
    return TorchContact(part, torch or TrueTorch(), checker, lambda: sensing)


def _search(contact: TorchContact, start: Pose, direction, distance_mm=40.0, search_id=1):
    limits = load_cell_devices(CONFIG / "cell.yaml").robot.limits
    motion = RobotMotion(limits, start.position_mm, 0.0)
    motion.touch_probe = contact.probe
    motion.probe_clearance = contact.clearance_mm
    motion.on_collision = contact.collided
    search = Search(start, direction, 10.0, distance_mm, search_id)
    assert motion.check_search(search) is ResultCode.OK
    motion.start_search(search)
    motion.advance_to(10.0)
    return motion, motion.search_result(search_id)


def test_a_downward_search_stops_on_the_placed_base_plate():
    contact = _contact(Placement(z_mm=0.3))
    motion, result = _search(contact, Pose(290.0, 0.0, 30.0), (0.0, 0.0, -1.0))
    assert result.outcome is SearchOutcome.CONTACT
    assert result.pose.z_mm == pytest.approx(8.3, abs=LATCH_MM)
    assert motion.state is RobotState.IDLE
    assert motion.tool_pose().z_mm == pytest.approx(8.3, abs=LATCH_MM)  # stopped at contact


def test_the_wire_sticking_out_further_touches_earlier():
    contact = _contact(torch=TrueTorch(stick_out_error_mm=0.8))
    _, result = _search(contact, Pose(290.0, 0.0, 30.0), (0.0, 0.0, -1.0))
    assert result.pose.z_mm == pytest.approx(8.8, abs=LATCH_MM)


def test_a_bent_torch_touches_off_its_tcp():
    contact = _contact(torch=TrueTorch(bend_mm=(1.0, 0.0, 0.0)))
    _, result = _search(contact, Pose(280.0, 0.0, 12.0, *LEAN_AWAY_FROM_WALL), (1.0, 0.0, 0.0))
    assert result.outcome is SearchOutcome.CONTACT
    # The bend is the tool's: 1 mm along the tool's x is, leaning 45°, 0.71 mm ahead in the
    # cell's x (and 0.71 mm up).
    assert result.pose.x_mm == pytest.approx(300.0 - math.sqrt(0.5), abs=LATCH_MM)


def test_the_tool_offset_turns_with_the_torch_as_the_bent_neck_does():
    """The TCP offset the controller applies (in the tool's frame, turned by each pose's
    angles) puts the simulator's bent torch's real tip where the cell meant, at any angles;
    an offset kept in the cell's frame would not, once the torch leans."""
    bend = (0.8, -0.6, 0.3)  # as the TCP check measures it, the torch upright
    torch = TrueTorch(bend_mm=bend)
    robot = ToolOffsetRobot(None)  # type: ignore[arg-type]  (only its pose arithmetic here)
    robot.offset_mm = bend
    for angles in [(0.0, 0.0, 0.0), (45.0, 10.0, 0.0), (0.0, -45.0, 30.0), (-20.0, 35.0, 170.0)]:
        meant = Pose(300.0, 12.0, 8.0, *angles)
        told = robot._out(meant)
        assert math.dist(torch.nominal_tip(told), meant.position_mm) < 1e-9, angles
        assert robot._in(told) == pytest.approx(meant)
    leaning = Pose(300.0, 12.0, 8.0, 45.0, 10.0, 0.0)
    unturned = tuple(c - b for c, b in zip(leaning.position_mm, bend, strict=True))
    assert math.dist(torch.nominal_tip(Pose(*unturned, 45.0, 10.0, 0.0)), (300, 12, 8)) > 0.6


def test_a_leaning_torch_touches_the_wall_with_its_wire():
    contact = _contact(Placement(x_mm=1.0))
    _, result = _search(contact, Pose(280.0, 0.0, 12.0, *LEAN_AWAY_FROM_WALL), (1.0, 0.0, 0.0))
    assert result.outcome is SearchOutcome.CONTACT
    assert result.pose.x_mm == pytest.approx(301.0, abs=LATCH_MM)


def test_an_upright_torch_meets_the_wall_with_its_nozzle_first_a_collision():
    contact = _contact()
    motion, result = _search(contact, Pose(280.0, 0.0, 12.0), (1.0, 0.0, 0.0))
    assert result.outcome is SearchOutcome.ABORTED
    assert motion.fault is FaultCode.TORCH_COLLISION
    assert motion.state is RobotState.FAULT
    assert result.pose.x_mm == pytest.approx(300.0 - 8.0, abs=1e-3)  # the nozzle's radius
    assert contact.collisions == 1
    assert contact.torch.bend_mm[0] < 0  # bent back
    assert contact.breakaway_open()


def test_without_the_sensing_voltage_the_search_finds_nothing_and_runs_its_distance():
    contact = _contact(sensing=False)
    _, result = _search(contact, Pose(290.0, 0.0, 40.0), (0.0, 0.0, -1.0), distance_mm=20.0)
    assert result.outcome is SearchOutcome.NOT_FOUND
    assert result.travelled_mm == pytest.approx(20.0, abs=1e-3)


def test_a_search_away_from_the_part_finds_nothing():
    contact = _contact()
    _, result = _search(contact, Pose(290.0, 0.0, 30.0), (0.0, 0.0, 1.0), distance_mm=15.0)
    assert result.outcome is SearchOutcome.NOT_FOUND


def test_a_search_must_start_where_the_tool_stands():
    limits = load_cell_devices(CONFIG / "cell.yaml").robot.limits
    motion = RobotMotion(limits, (0.0, 0.0, 100.0), 0.0)
    search = Search(Pose(10.0, 0.0, 100.0), (0.0, 0.0, -1.0), 10.0, 5.0, 1)
    assert motion.check_search(search) is ResultCode.NOT_ALLOWED
    fast = Search(Pose(0.0, 0.0, 100.0), (0.0, 0.0, -1.0), 80.0, 5.0, 1)
    assert motion.check_search(fast) is ResultCode.SPEED_OVER_LIMIT
    assert motion.search_result(9).outcome is SearchOutcome.UNKNOWN


def test_the_tcp_checker_beam_stops_a_search():
    contact = _contact()
    # Along x, 10 mm beside the beam along x: the wire (upright, from its tip at z 95 up)
    # crosses the beam along y (x -400, z 100) when its surface reaches it.
    _, result = _search(contact, Pose(-420.0, 410.0, 95.0), (1.0, 0.0, 0.0))
    assert result.outcome is SearchOutcome.CONTACT
    assert result.pose.x_mm == pytest.approx(-400.6, abs=LATCH_MM)


def test_a_weld_path_into_the_wall_stops_the_robot_where_the_nozzle_meets_it():
    """The nozzle is guarded on weld paths too, not only in searches: the coupon turned 5°
    about its seam's start, so that its wall crosses the taught path; welded blind along it,
    the nozzle (leaning 45° off the wall) meets the wall before the path's end."""
    turned = Placement(rz_deg=5.0, about_mm=(300.0, -40.0, 8.0))
    contact = _contact(turned, sensing=False)
    limits = load_cell_devices(CONFIG / "cell.yaml").robot.limits
    motion = RobotMotion(limits, (300.0, -40.0, 38.0), 0.0)
    motion.nozzle_guard = contact.weld_nozzle_hits
    motion.on_collision = contact.collided
    motion.queue(Pose(300.0, -40.0, 8.0, 45.0, 10.0, 0.0), 50.0, 0)  # the approach
    motion.queue(Pose(300.0, 40.0, 8.0, 45.0, 10.0, 0.0), 10.0, 1)  # the weld, taught
    motion.advance_to(20.0)
    stopped = motion.tool_pose()
    assert motion.fault is FaultCode.TORCH_COLLISION
    assert motion.state is RobotState.FAULT
    assert contact.collisions == 1
    assert contact.breakaway_open()
    assert math.hypot(*contact.torch.bend_mm) == pytest.approx(1.5)
    # The nozzle's rim stands 4.7 mm off the wall on the seam: the turned wall closes that
    # in some 54 mm (a little more to the rim's nearest tested point); the robot stops
    # there, neither at the start nor at the end.
    assert 50.0 < stopped.y_mm - -40.0 < 62.0, stopped
    # Cheap per step: the plates are looked at only as often as the nozzle could reach them.
    steps = 54.0 / 10.0 / 0.002
    assert contact.nozzle_looks < steps / 20
