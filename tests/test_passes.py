"""Multi-pass seams without a cell: the pass plan, the root path's memory, a later pass's path,
the seam's record from its passes' and the operator's pass text (``cellctl.weld.passes``)."""

from __future__ import annotations

import itertools
import math

import pytest

from cellctl.cell.records import SeamSummary
from cellctl.cell.steps import Activity, Step
from cellctl.config.models import Seam
from cellctl.weld.passes import RootPathMemory, pass_path, plan_passes, seam_of_passes
from drivers.codecs.weave import WeavePattern, WeaveShape
from sim.truth.torch import weld_axis

# A seam along +y: the seam frame's lateral axis is up × travel = -x, vertical is +z.
SEAM = Seam.model_validate(
    {
        "name": "butt",
        "order": 1,
        "joint": "v_groove_butt",
        "procedure": "root-wps",
        "path_mm": [[300.0, 0.0, 0.0], [300.0, 100.0, 0.0]],
        "torch": {"work_angle_deg": 0, "travel_angle_deg": 5},
        "passes": [
            {"kind": "root", "layer": 1},
            {"kind": "hot", "layer": 2, "vertical_offset_mm": 3.0},
            {
                "kind": "fill",
                "layer": 3,
                "procedure": "fill-wps",
                "lateral_offset_mm": 2.0,
                "vertical_offset_mm": 7.0,
                "travel_angle_change_deg": -10,
                "reversed": True,
            },
        ],
    }
)


def test_the_pass_plan_names_each_pass_its_procedure_and_torch():
    plans = plan_passes(SEAM)
    assert [p.label for p in plans] == [
        "pass 1 of 3, root",
        "pass 2 of 3, hot",
        "pass 3 of 3, fill",
    ]
    assert [p.procedure for p in plans] == ["root-wps", "root-wps", "fill-wps"]
    assert plans[2].torch(SEAM).travel_angle_deg == -5
    single = plan_passes(SEAM.model_copy(update={"passes": []}))
    assert [(p.label, p.procedure) for p in single] == [("", "root-wps")]
    assert str(Activity(Step.WELDING, "butt", plans[2].label)) == (
        "seam butt, pass 3 of 3, fill: welding"
    )
    assert str(Activity(Step.WELDING, "butt")) == "seam butt: welding"


FILLET = Seam.model_validate(
    {
        "name": "stiffener",
        "order": 1,
        "joint": "fillet",
        "procedure": "root-wps",
        "path_mm": [[0.0, 0.0, 0.0], [100.0, 0.0, 0.0]],
        "torch": {"work_angle_deg": 45, "travel_angle_deg": 10},
        "passes": [
            {"kind": "root", "layer": 1},
            {"kind": "fill", "layer": 2, "lateral_offset_mm": 1.5, "vertical_offset_mm": 1.0,
             "work_angle_change_deg": 5, "reversed": True},
        ],
    }
)  # fmt: skip


def test_a_reversed_pass_keeps_its_torch_on_its_side_of_the_joint():
    """The robot turns the work angle towards the lateral of the path it runs (left of
    travel); reversed, that is the other side of the joint. The pass's angle is mirrored, and
    the torch's axis (as the simulator's nozzle guard turns it) leans to the same side as the
    root's; unmirrored, the reversed fill leaned into the fillet's wall (F153)."""
    root, fill = plan_passes(FILLET)
    assert root.torch(FILLET).work_angle_deg == 45
    assert fill.torch(FILLET).work_angle_deg == -50
    assert fill.torch(FILLET).travel_angle_deg == 10  # against the travel, whichever it is
    up = (0.0, 0.0, 1.0)
    forward = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), up)  # travel, lateral (left), vertical
    backward = ((-1.0, 0.0, 0.0), (0.0, -1.0, 0.0), up)
    root_axis = weld_axis(45, 10, forward)
    fill_axis = weld_axis(fill.torch(FILLET).work_angle_deg, 10, backward)
    assert root_axis[1] > 0.5
    assert fill_axis[1] > 0.5  # the same side of the joint: away from the wall


def test_a_reversed_pass_runs_its_weave_mirrored():
    """A weave wider to one plate stays wider to that plate on a reversed pass: the robot
    weaves in the frame of the path it runs, whose left is the other plate."""
    shape = WeaveShape(WeavePattern.TRIANGLE, 2.0, 1.0, 4.0, plane_angle_deg=10.0)
    root, fill = plan_passes(FILLET)
    assert root.weave(shape) == shape
    mirrored = fill.weave(shape)
    assert (mirrored.amplitude_left_mm, mirrored.amplitude_right_mm) == (1.0, 2.0)
    assert mirrored.plane_angle_deg == -10.0


def test_the_root_path_is_the_welded_path_with_the_corrections_the_robot_applied():
    memory = RootPathMemory()
    # The robot's statuses along the path: 1 mm to the lateral side by 50 mm, back by 100.
    for s in range(0, 101, 2):
        lateral = s / 50 if s <= 50 else (100 - s) / 50
        memory.add(float(s), lateral, 0.5)
    root = memory.root_path([(300.0, 0.0, 0.0), (300.0, 100.0, 0.0)])
    # Sampled every 5 mm, and the points on a straight line between others left out.
    assert len(root) == 3
    assert root[0] == pytest.approx((300.0, 0.0, 0.5))
    assert root[1] == pytest.approx((299.0, 50.0, 0.5))  # lateral +1 mm is -x here
    assert root[2] == pytest.approx((300.0, 100.0, 0.5))


def test_a_bent_root_path_keeps_its_bends_within_the_robots_queue():
    memory = RootPathMemory()
    for s in range(0, 2001, 2):
        memory.add(float(s), 2.0 * math.sin(s / 40), 0.0)
    welded = [(0.0, 0.0, 0.0), (0.0, 200.0, 0.0)]
    short = memory.root_path(welded)
    assert 10 < len(short) <= 41  # every 5 mm at most
    for s_mm in range(0, 201, 1):  # the chords within a few hundredths of the bends
        assert _off_path(short, -2.0 * math.sin(s_mm / 40), float(s_mm)) < 0.05
    long = memory.root_path([(0.0, 0.0, 0.0), (0.0, 2000.0, 0.0)])
    assert len(long) <= 48


def _off_path(path, x_mm: float, y_mm: float) -> float:
    """How far the polyline ``path`` is across (x) at ``y_mm``."""
    for a, b in itertools.pairwise(path):
        if a[1] <= y_mm <= b[1]:
            f = (y_mm - a[1]) / (b[1] - a[1])
            return abs(a[0] + f * (b[0] - a[0]) - x_mm)
    raise AssertionError(y_mm)


def test_a_later_pass_runs_the_root_path_shifted_by_its_offsets_and_reversed():
    root = [(300.0, 0.0, 0.0), (299.0, 50.0, 0.0), (299.0, 100.0, 0.0)]
    hot = pass_path(root, SEAM.passes[1])
    for point, wanted in zip(hot, [(300, 0, 3), (299, 50, 3), (299, 100, 3)], strict=True):
        assert point == pytest.approx(wanted)
    fill = pass_path(root, SEAM.passes[2])
    # Reversed: from the end to the start. Lateral +2 mm stays on the same side of the seam
    # (-x here) whichever way the pass travels; each point in its root segment's frame.
    assert fill[0] == pytest.approx((297.0, 100.0, 7.0))
    assert fill[1] == pytest.approx((297.0, 50.0, 7.0))  # the later segment's frame at a corner
    assert fill[2][1] == pytest.approx(-2.0 * 1 / 50.01, abs=1e-3)  # the first segment's slant
    assert fill[2][0] == pytest.approx(300.0 - 2.0 * 50 / 50.01, abs=1e-3)
    assert all(p[2] == pytest.approx(7.0) for p in fill)


def summary(verdict: str, arc_time_s: float, reasons: list[str] | None = None) -> SeamSummary:
    return SeamSummary(
        seam="butt",
        procedure="x",
        length_mm=100.0,
        arc_time_s=arc_time_s,
        samples=10,
        current_mean_a=200.0,
        current_min_a=190.0,
        current_max_a=210.0,
        voltage_mean_v=25.0,
        voltage_min_v=24.0,
        voltage_max_v=26.0,
        wire_feed_mean_m_per_min=7.0,
        wire_feed_min_m_per_min=6.8,
        wire_feed_max_m_per_min=7.2,
        out_of_band_s=0.5 if verdict == "bad" else 0.0,
        excursions=1 if verdict == "bad" else 0,
        arc_energy_kj=10.0,
        heat_input_kj_per_mm=0.8,
        travel_speed_mm_per_s=5.0,
        arc_breaks=0,
        restarts=0,
        dry_run=False,
        verdict=verdict,
        reasons=reasons or [],
    )


def test_the_seams_verdict_comes_from_all_its_passes():
    good = seam_of_passes([summary("good", 20), summary("good", 18)], SEAM)
    assert (good.verdict, good.arc_time_s, good.arc_energy_kj) == ("good", 38, 20)
    bad = seam_of_passes(
        [summary("good", 20), summary("bad", 18, ["current out of band"]), summary("good", 1)],
        SEAM,
    )
    assert bad.verdict == "bad"
    assert bad.reasons == ["pass 2: current out of band"]
    assert bad.out_of_band_s == 0.5
    assert bad.weld_pass == {"passes": 3, "verdicts": ["good", "bad", "good"]}
