"""The weave: its patterns (drivers.codecs.weave), its message on the robot's wire, the
simulated robot that makes it (sim.devices.robot_motion), the simulated arc's ripple with it
and the weld monitoring that keeps its bands through that ripple (cellctl.weld.monitoring).
The whole of it in the simulated cell: tests/test_weave_cell.py."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from cellctl.config.models import Procedure
from cellctl.config.models import Weave as WeaveSettings
from cellctl.sensing.torch import TorchEstimate
from cellctl.sensing.weave import WeaveEstimate
from cellctl.weld.monitoring import SeamMonitor
from drivers.codecs.robot_protocol import (
    BadMessage,
    FrameDecoder,
    MessageType,
    Pose,
    ResultCode,
    RobotState,
    RobotStatus,
    Weave,
    crc16,
    decode_frame,
    encode_frame,
)
from drivers.codecs.settings import RobotLimits
from drivers.codecs.weave import NO_WEAVE, WeavePattern, WeaveShape
from sim.devices.power_source import CURRENT_PER_STICK_OUT_A_PER_MM, ArcModel, Commands
from sim.devices.robot_motion import RobotMotion

LENGTH_MM = 100.0  # a path long enough that the middle is far from both fades


def lateral(shape: WeaveShape, s_mm: float) -> float:
    return shape.offset_mm(s_mm, LENGTH_MM)[0]


# -- patterns ---------------------------------------------------------------------------------


def test_a_triangle_goes_left_then_right_in_straight_lines():
    shape = WeaveShape(WeavePattern.TRIANGLE, 1.5, 1.5, pitch_mm=4.0)
    start = 20.0  # a whole number of pitches: phase 0, the centre
    assert lateral(shape, start) == pytest.approx(0.0, abs=1e-9)
    assert lateral(shape, start + 1.0) == pytest.approx(1.5)  # a quarter: the left end
    assert lateral(shape, start + 0.5) == pytest.approx(0.75)  # straight on the way
    assert lateral(shape, start + 2.0) == pytest.approx(0.0, abs=1e-9)
    assert lateral(shape, start + 3.0) == pytest.approx(-1.5)  # three quarters: the right end
    assert lateral(shape, start + 4.0) == pytest.approx(0.0, abs=1e-9)
    s = np.linspace(10, 90, 4001)
    values = np.array([lateral(shape, x) for x in s])
    assert values.max() == pytest.approx(1.5, abs=1e-3)
    assert values.min() == pytest.approx(-1.5, abs=1e-3)
    # Straight lines at one speed: the slope is ±amplitude per quarter pitch everywhere.
    slopes = np.abs(np.diff(values) / np.diff(s))
    assert np.mean(np.isclose(slopes, 1.5, atol=0.01)) > 0.99  # (all but the turns)


def test_left_and_right_amplitudes_differ_and_the_plane_angle_tilts_the_weave():
    shape = WeaveShape(WeavePattern.TRIANGLE, 2.0, 1.0, pitch_mm=4.0, plane_angle_deg=30.0)
    left = shape.offset_mm(21.0, LENGTH_MM)
    right = shape.offset_mm(23.0, LENGTH_MM)
    assert math.hypot(left[0], left[1]) == pytest.approx(2.0)
    assert math.hypot(right[0], right[1]) == pytest.approx(1.0)
    assert math.degrees(math.atan2(left[1], left[0])) == pytest.approx(30.0)
    assert math.degrees(math.atan2(-right[1], -right[0])) == pytest.approx(30.0)
    assert left[2] == right[2] == 0.0  # a side pattern never moves along the path


def test_a_sine_is_a_sine():
    shape = WeaveShape(WeavePattern.SINE, 1.0, 1.0, pitch_mm=5.0)
    for s in np.linspace(10, 90, 37):
        assert lateral(shape, s) == pytest.approx(math.sin(2 * math.pi * s / 5.0), abs=1e-9)


def test_a_trapezoid_dwells_at_each_side_for_its_dwell_length():
    shape = WeaveShape(
        WeavePattern.TRAPEZOID, 1.0, 1.0, pitch_mm=6.0, dwell_left_mm=1.0, dwell_right_mm=2.0
    )
    s = np.linspace(30, 36, 6001)  # one whole cycle in the middle of the path
    values = np.array([lateral(shape, x) for x in s])
    step = s[1] - s[0]
    assert np.sum(np.isclose(values, 1.0)) * step == pytest.approx(1.0, abs=0.01)
    assert np.sum(np.isclose(values, -1.0)) * step == pytest.approx(2.0, abs=0.01)


def test_an_l_weave_has_two_legs_at_right_angles():
    # A fillet: one leg along the floor (lateral), the other up the wall (vertical).
    shape = WeaveShape(
        WeavePattern.L, 2.0, 1.5, pitch_mm=4.0, dwell_left_mm=0.4, dwell_right_mm=0.4
    )
    points = np.array([shape.offset_mm(x, LENGTH_MM) for x in np.linspace(40, 44, 2001)])
    floor = points[np.abs(points[:, 1]) < 1e-9]
    wall = points[np.abs(points[:, 0]) < 1e-9]
    assert len(floor) + len(wall) >= len(points)  # every point on one of the legs
    assert floor[:, 0].max() == pytest.approx(2.0)
    assert floor[:, 0].min() >= -1e-9  # the floor leg only to its side
    assert wall[:, 1].max() == pytest.approx(1.5)
    assert wall[:, 1].min() >= -1e-9
    assert np.all(points[:, 2] == 0)


def test_a_circle_goes_round_across_and_along():
    shape = WeaveShape(WeavePattern.CIRCLE, 1.0, 1.0, pitch_mm=4.0)
    for s in np.linspace(20, 80, 25):
        across, _, along = shape.offset_mm(s, LENGTH_MM)
        assert math.hypot(across, along) == pytest.approx(1.0)


@pytest.mark.parametrize("pattern", [p for p in WeavePattern if p is not WeavePattern.NONE])
def test_a_mirrored_weave_run_backwards_puts_the_torch_where_the_weave_did(
    pattern: WeavePattern,
):
    """A reversed pass runs its weave mirrored (``cellctl.weld.passes.PassPlan.weave``): in
    the frame of the path run backwards (lateral and along turned round, vertical kept), the
    torch goes through the same places, wider on the same plate, dwelling where it dwelt."""
    dwell = (0.4, 0.8) if pattern in (WeavePattern.TRAPEZOID, WeavePattern.L) else (0.0, 0.0)
    shape = WeaveShape(pattern, 2.0, 1.0, 4.0, *dwell, plane_angle_deg=20.0)
    mirrored = shape.mirrored()
    assert not mirrored.problems()
    for s in np.linspace(5, 95, 721):  # 100 mm: whole pitches, so s and 100 - s share phase
        lateral_mm, vertical_mm, along_mm = shape.offset_mm(s, LENGTH_MM)
        back = mirrored.offset_mm(LENGTH_MM - s, LENGTH_MM)
        assert back[0] == pytest.approx(-lateral_mm, abs=1e-9), s
        assert back[1] == pytest.approx(vertical_mm, abs=1e-9), s
        # A circle keeps its sense of turning (the pattern has no setting for the other).
        expected_along = along_mm if pattern is WeavePattern.CIRCLE else -along_mm
        assert back[2] == pytest.approx(expected_along, abs=1e-9), s
    assert mirrored.mirrored() == shape


def test_an_l_weave_below_the_horizontal_has_no_mirror():
    shape = WeaveShape(WeavePattern.L, 2.0, 1.0, 4.0, plane_angle_deg=-10.0)
    assert shape.mirrored().problems() == ["plane angle 100° is not in -90..90°"]


@pytest.mark.parametrize("pattern", [p for p in WeavePattern if p is not WeavePattern.NONE])
def test_every_pattern_starts_and_ends_on_the_path(pattern: WeavePattern):
    dwell = 0.5 if pattern in (WeavePattern.TRAPEZOID, WeavePattern.L) else 0.0
    shape = WeaveShape(pattern, 2.0, 2.0, 3.0, dwell, dwell)
    assert shape.offset_mm(0.0, 37.3) == (0.0, 0.0, 0.0)
    assert shape.offset_mm(37.3, 37.3) == (0.0, 0.0, 0.0)
    # ... fading in: nothing jumps at the start.
    first = shape.offset_mm(0.01, 37.3)
    assert math.hypot(*first) < 0.05


def test_no_weave_is_no_offset():
    assert NO_WEAVE.offset_mm(12.0, 50.0) == (0.0, 0.0, 0.0)
    assert not NO_WEAVE.problems()


@pytest.mark.parametrize(
    ("shape", "problem"),
    [
        (WeaveShape(WeavePattern.TRIANGLE, 1.0, 1.0, 0.0), "pitch 0 mm"),
        (WeaveShape(WeavePattern.TRIANGLE, 12.0, 1.0, 3.0), "left amplitude 12 mm"),
        (WeaveShape(WeavePattern.SINE, 0.0, 0.0, 3.0), "both amplitudes are 0"),
        (WeaveShape(WeavePattern.TRIANGLE, 1.0, 1.0, 3.0, 0.5), "triangle has no dwell"),
        (WeaveShape(WeavePattern.TRAPEZOID, 1.0, 1.0, 3.0, 1.5, 1.5), "leave too little"),
        (WeaveShape(WeavePattern.SINE, 1.0, math.nan, 3.0), "not a finite number"),
    ],
)
def test_a_weave_the_robot_cannot_run_says_why(shape: WeaveShape, problem: str):
    assert any(problem in p for p in shape.problems(max_amplitude_mm=8.0))


# -- the wire ---------------------------------------------------------------------------------

f32 = st.floats(width=32, allow_nan=False)
shapes = st.builds(WeaveShape, st.sampled_from(WeavePattern), f32, f32, f32, f32, f32, f32)


@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), shapes)
def test_the_weave_message_round_trips(seq: int, path_id: int, shape: WeaveShape):
    message = Weave(path_id, shape)
    assert decode_frame(encode_frame(seq, message)).message == message


def test_the_weave_message_is_idempotent_and_answered():
    assert Weave.idempotent
    assert Weave.expects_response
    assert MessageType.WEAVE == 0x08


def test_an_unknown_pattern_is_a_bad_message():
    frame = bytearray(encode_frame(3, Weave(5, WeaveShape(WeavePattern.SINE, 1, 1, 3))))
    frame[10] = 99  # the pattern byte, after the u16 path id
    frame[-2:] = crc16(frame[2:-2]).to_bytes(2, "little")
    (decoded,) = FrameDecoder().feed(bytes(frame))
    assert isinstance(decoded.message, BadMessage)


# -- the simulated robot makes it ------------------------------------------------------------


def limits() -> RobotLimits:
    return RobotLimits.model_validate(
        {
            "max_speed_mm_per_s": 500,
            "max_acceleration_mm_per_s2": 3000,
            "workspace_mm": {
                "x": {"min": -900, "max": 900},
                "y": {"min": -900, "max": 900},
                "z": {"min": -50, "max": 900},
            },
            "max_weave_amplitude_mm": 5.0,
        }
    )


def run_path(motion: RobotMotion, path_id: int, speed: float = 5.0) -> list:
    motion.queue(Pose(100.0, 0.0, 10.0), 50.0, 0)  # to the start
    motion.advance_to(motion.sim_time_s + 5.0)
    motion.queue(Pose(160.0, 0.0, 10.0), speed, path_id)  # along +x: lateral is +y
    motion.advance_to(motion.sim_time_s + 60.0 / speed + 2.0)
    return [s for s in motion.trajectory if s.path_id == path_id]


def test_the_simulated_robot_weaves_the_path_it_was_told_to():
    motion = RobotMotion(limits(), (0.0, 0.0, 10.0), 0.0)
    shape = WeaveShape(WeavePattern.TRIANGLE, 1.5, 1.0, pitch_mm=2.25)
    assert motion.set_weave(9, shape) is ResultCode.OK
    samples = run_path(motion, 9)
    s = np.array([x.path_position_mm for x in samples])
    y = np.array([x.pose.y_mm for x in samples])
    middle = (s > 5) & (s < 55)
    # The torch went across the seam by the amplitudes, once per pitch of path.
    assert y[middle].max() == pytest.approx(1.5, abs=0.02)
    assert y[middle].min() == pytest.approx(-1.0, abs=0.02)
    crossings = np.sum(np.diff(np.sign(y[middle])) > 0)  # right to left, once a cycle
    assert crossings == pytest.approx(50 / 2.25, abs=1.5)
    # ... and ends on the path, where the crater is filled.
    assert samples[-1].pose.position_mm == pytest.approx((160.0, 0.0, 10.0), abs=1e-6)
    assert max(abs(x.weave_mm[0] - x.pose.y_mm) for x in samples) < 1e-9
    assert samples[len(samples) // 2].weave_span_mm == (1.5, 1.0)


def test_a_path_not_told_to_weave_runs_straight():
    motion = RobotMotion(limits(), (0.0, 0.0, 10.0), 0.0)
    motion.set_weave(4, WeaveShape(WeavePattern.SINE, 1.0, 1.0, 3.0))
    samples = run_path(motion, 5)
    assert max(abs(x.pose.y_mm) for x in samples) == 0.0


def test_the_robot_refuses_a_weave_beyond_its_limits():
    motion = RobotMotion(limits(), (0.0, 0.0, 10.0), 0.0)
    too_wide = WeaveShape(WeavePattern.SINE, 6.0, 1.0, 3.0)
    assert motion.set_weave(3, too_wide) is ResultCode.WEAVE_OVER_LIMIT
    assert motion.set_weave(0, WeaveShape(WeavePattern.SINE, 1.0, 1.0, 3.0)) is (
        ResultCode.BAD_MESSAGE
    )


# -- the arc ripples with the weave; monitoring keeps its bands ----------------------------


def test_the_simulated_arc_draws_more_current_on_a_shorter_stick_out():
    arc = ArcModel(random.Random(1), random.Random(2))
    commands = Commands(
        arc_on=True, current_setpoint_a=165.0, voltage_setpoint_v=19.0,
        wire_feed_setpoint_m_per_min=4.8,
    )  # fmt: skip
    change = [0.0]
    arc.stick_out_change_mm = lambda: change[0]
    for _ in range(500):
        arc.step(0.002, commands)
    assert arc.burning
    assert arc.current_a == pytest.approx(165.0, abs=0.1)
    change[0] = -1.0  # the torch 1 mm nearer the work: a flank of the groove
    for _ in range(250):
        arc.step(0.002, commands)
    assert arc.current_a == pytest.approx(165.0 + CURRENT_PER_STICK_OUT_A_PER_MM, abs=0.1)


@pytest.fixture
def fillet_procedure(repo) -> Procedure:
    data = yaml.safe_load((repo / "config/procedures/mag-fillet-a4.yaml").read_text())
    return Procedure.model_validate(data)


def rippling_weld(monitor: SeamMonitor, seconds: float, base_a: float, start_s: float = 0.0):
    """The arc's current rising twice per weave cycle (0.5 Hz: each flank 1 s apart), as a
    weave across a groove makes it: up to 25 A over ``base_a``."""
    t = start_s
    while t < start_s + seconds - 1e-9:
        t += 0.025
        monitor.add(t, base_a + 25 * abs(math.sin(math.pi * t)), 24.5, 9.5)
    return t


def test_monitoring_judges_a_weaving_arc_by_the_mean_of_each_weave_period(fillet_procedure):
    # The band is 200..240 A; the ripple reaches 245 A for 0.4 s at a time, beyond the 0.3 s
    # reaction time, and its mean (about 236 A) is inside.
    weaving = fillet_procedure.model_copy(
        update={"weave": WeaveSettings(pattern="triangle", amplitude_mm=2.0, frequency_hz=0.5)}
    )
    straight = SeamMonitor("s", fillet_procedure, reaction_time_s=0.3, max_sample_gap_s=0.1)
    rippling_weld(straight, 6.0, 220.0)
    assert straight.summary(40).verdict == "bad"  # judged sample by sample: out of band
    woven = SeamMonitor("s", weaving, reaction_time_s=0.3, max_sample_gap_s=0.1)
    t = rippling_weld(woven, 6.0, 220.0)
    summary = woven.summary(40)
    assert summary.verdict == "good", summary.reasons
    assert summary.current_max_a > 240  # the ripple stays on the record
    # A real drift still shows through the ripple: 15 A more for 2 s.
    rippling_weld(woven, 2.0, 235.0, start_s=t)
    summary = woven.summary(40)
    assert summary.verdict == "bad"
    assert "current out of band" in summary.reasons[0]


# -- the controller's view of the weave at an exposure --------------------------------------


def moving(position_mm: float, speed: float = 10.0, path_id: int = 3) -> RobotStatus:
    return RobotStatus(
        RobotState.MOVING, Pose(0, 0, 0), path_id, position_mm, 100.0, speed, 1, 0, 0, 0, 0
    )


def test_the_weave_position_averages_out_the_statuses_timing():
    # Statuses every 20 ms at 10 mm/s, each stamped up to 3 ms off (when its answer was read).
    rng = random.Random(5)
    weave, torch = WeaveEstimate(), TorchEstimate()
    errors = {"weave": [], "torch": []}
    for i in range(1, 60):
        true_t = 0.02 * i
        stamped = true_t + rng.uniform(-0.003, 0.003)
        for listener in (weave, torch):
            listener.on_status(moving(10.0 * true_t), stamped)
        at = true_t + 0.01  # an exposure between two statuses
        if i >= 12:
            errors["weave"].append(weave.position_mm(at, 3) - 10.0 * at)
            errors["torch"].append(torch.position_mm(at, 3) - 10.0 * at)
    rms = {k: float(np.sqrt(np.mean(np.square(v)))) for k, v in errors.items()}
    assert rms["weave"] < rms["torch"] / 2
    assert rms["weave"] < 0.02  # mm; x2.7 across the seam for a 1.5 mm triangle at 2.25 mm


def test_no_weave_position_without_a_steady_stretch():
    estimate = WeaveEstimate()
    for i in range(3):
        estimate.on_status(moving(float(i)), float(i))
    assert estimate.position_mm(3.0, 3) is None  # too few statuses
    estimate.on_status(moving(3.0), 3.0)
    assert estimate.position_mm(4.0, 3) == pytest.approx(4.0)
    assert estimate.position_mm(4.0, 4) is None  # another path
    estimate.on_status(moving(4.0, speed=5.0), 4.0)  # the speed changed: a new stretch
    assert estimate.position_mm(5.0, 3) is None
