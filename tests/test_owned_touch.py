"""Touch sensing through the robot's own job (KUKA RSI, ABB EGM): the contact's pose from the
stream, and a part found by the wire alone and welded on its true joint in the simulated cell.

The cell test welds the touch coupon (``config/parts/coupon-fillet-touch.yaml``, its seam given
the robot job COUPON_FILLET_80) with the laser off, the coupon clamped shifted and turned as in
``tests/test_touch_cell.py``: the job runs its six searches (four for the part's frame, two for
the seam's corner), the controller latches each contact from the robot's stream, and the
welded path is scored against the true joint.
"""

from __future__ import annotations

import math
import random

import pytest

from cellctl.cell.faults import FaultCode
from cellctl.sensing.touch_fit import PartFrame
from cellctl.weld.owned_touch import StreamSample, offsets_along, pose_at
from drivers.codecs.seam_path import SeamPath
from rigs.cell import running_cell
from rigs.owned import TOUCH_PART, abb_egm, kuka_rsi, touch_job
from sim.truth.part import Placement, VisionScenario

PART = TOUCH_PART
PLACED = Placement(x_mm=1.5, y_mm=-1.0, z_mm=0.4, rz_deg=1.5, about_mm=(300.0, 0.0, 8.0))
WITHIN_MM = 0.3


def test_the_contact_pose_is_interpolated_on_the_robots_clock_not_on_arrival():
    # A search at 10 mm/s along x; the robot's clock runs twice ours (a simulator at 2x); every
    # sample reaches us 0..3 ms late, at random: arrival times would put the pose off by up
    # to 0.03 mm, the robot's clock does not.
    rng = random.Random(20)
    start_s = 100.0
    samples = []
    for k in range(200):
        robot_s = 5.0 + k * 0.008  # 4 ms of ours per sample
        ours_s = start_s + (robot_s - 5.0) / 2
        x = 10.0 * (ours_s - start_s)
        samples.append(StreamSample(robot_s, ours_s + rng.uniform(0.0, 0.003), (x, 2.0, 3.0)))
    contact_s = start_s + 0.4567  # between two samples
    found = pose_at(samples, contact_s)
    assert found[0] == pytest.approx(4.567, abs=0.002)
    assert found[1:] == (2.0, 3.0)
    # Before the first and past the last sample: the end samples.
    assert pose_at(samples, start_s - 1.0) == samples[0].position_mm
    assert pose_at(samples, start_s + 99.0) == samples[-1].position_mm


def test_a_turned_parts_correction_changes_along_the_taught_seam():
    # The coupon's seam, the part found shifted and turned 1.5° about the seam's middle: the
    # correction the robot's job gets at each taught path position is where the found path
    # lies there, in the taught seam frame (lateral left of travel, vertical up).
    taught = SeamPath.polyline([(300.0, -40.0, 8.0), (300.0, 40.0, 8.0)])
    frame = PartFrame((1.5, -1.0, 0.4), 1.5, (300.0, 0.0, 8.0))
    table = offsets_along(taught, frame.moved_path(taught))
    for s_mm in (0.0, 20.0, 40.0, 80.0):
        true_point = frame.apply(taught.point_at(s_mm))
        at, lateral, vertical = taught.locate(true_point)
        rows = [r for r in table if r[0] <= at] or table[:1]
        s0, l0, v0 = rows[-1]
        later = [r for r in table if r[0] > at] or table[-1:]
        s1, l1, v1 = later[0]
        f = (at - s0) / (s1 - s0) if s1 > s0 else 0.0
        assert l0 + f * (l1 - l0) == pytest.approx(lateral, abs=1e-6)
        assert v0 + f * (v1 - v0) == pytest.approx(vertical, abs=1e-6)
    # Travel +y: lateral (left) is -x. The turn (counter-clockwise) moves the far end 2.09 mm
    # further left than the near one.
    assert table[-1][1] - table[0][1] == pytest.approx(80 * math.sin(math.radians(1.5)), abs=0.01)


def off_the_joint(rig, samples) -> list[float]:
    """How far the tool point was from the true root at every physics step of the seam's move
    (the path with an id: not the air moves and searches)."""
    seam = rig.sim.touch.part.seams[0]
    offsets = []
    for sample in samples:
        if sample.path_id == 0:
            continue
        s, lateral, vertical = seam.locate(sample.pose.position_mm)
        if not 1.0 <= s <= seam.length_mm - 1.0:
            continue
        joint = seam.joint_at(s)
        offsets.append(math.hypot(lateral - joint.lateral_mm, vertical - joint.vertical_mm))
    return offsets


@pytest.mark.parametrize("interface", [kuka_rsi, abb_egm], ids=["kuka_rsi", "abb_egm"])
async def test_a_part_found_by_the_jobs_touches_alone_is_welded_on_its_true_joint(
    tmp_path, interface
):
    vision = VisionScenario(name="placed", placement=PLACED)
    async with running_cell(tmp_path, 2.0, touch_job(tmp_path, interface), vision) as rig:
        samples: list = []
        rig.sim.robot.on_trajectory_sample = samples.append
        await rig.to_idle()
        record = await rig.weld_part_without_faults(120)
        touches = rig.sim.robot.touches
        events = [e.text for e in rig.controller.events.log]
        offsets = off_the_joint(rig, samples)
        seam = rig.sim.touch.part.seams[0]
        collisions = rig.sim.touch.collisions
    assert (record["status"], record["verdict"]) == ("complete", "good"), record
    # Six searches (four for the frame, two for the seam's corner; one run again when a poll
    # came late around its contact), every one stopped at its contact by the controller.
    assert touches.runs >= 6
    assert touches.stops == touches.runs
    assert any("part frame found by touch" in text for text in events)
    assert collisions == 0
    assert len(offsets) > 200
    assert max(offsets) < WITHIN_MM, max(offsets)
    # The true start moved by ~2 mm: the taught path alone would have missed it.
    assert math.dist(seam.true_point(0.0), (300.0, -40.0, 8.0)) > 1.5


async def test_a_job_search_that_finds_nothing_is_f152_naming_it(tmp_path):
    far = VisionScenario(name="far", placement=Placement(x_mm=20.0, about_mm=(300.0, 0.0, 8.0)))
    async with running_cell(tmp_path, 4.0, touch_job(tmp_path, kuka_rsi), far) as rig:
        await rig.to_idle()
        rig.sim.plc.set_part_loaded(True)
        await rig.press("start_button")
        await rig.until(
            lambda: any(f.code == FaultCode.TOUCH_NOT_FOUND for f in rig.controller.faults.active),
            "F152",
            60,
        )
        fault = next(f for f in rig.controller.faults.active if f.code == FaultCode.TOUCH_NOT_FOUND)
        source = rig.sim.power_source
    assert "'wall-a'" in fault.detail
    assert not source.arc.burning
    assert not source.commands.touch_sense_on
