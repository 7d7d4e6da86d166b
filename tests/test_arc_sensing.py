"""Arc sensing's pieces: the true groove under the wire, the power source's weave periods (in
the model, and read by the real driver over a pty), the controller's law from currents to a
correction, and the pass table's ``tracking`` checked at its line."""

from __future__ import annotations

import asyncio
import itertools
import random
import shutil
from pathlib import Path

import pytest

from cellctl.config.arc_models import ArcSensingSettings
from cellctl.config.errors import ConfigInvalid
from cellctl.config.load import load_cell_config
from cellctl.sensing.arc import ArcLaw, shrink
from drivers.codecs.power_source_protocol import WeavePeriodCurrents
from drivers.codecs.weave import WeavePattern, WeaveShape
from drivers.power_source import PowerSourceDriver
from sim.clock import SimClock
from sim.devices.arc_sensing import WeavePeriodMeter, WeaveSide
from sim.devices.power_source import (
    CURRENT_PER_STICK_OUT_A_PER_MM,
    ArcModel,
    Commands,
    SimulatedPowerSource,
)
from sim.truth.bead import BeadRecord, BeadShape
from sim.truth.groove import fill_bottom_mm, tip_to_work_mm, v_groove_profile
from sim.truth.v_groove import DEFAULT_SHAPE, GrooveShape, groove_layers
from tests.test_power_source import source_settings, status_until

# -- the true groove ----------------------------------------------------------------------------

THICK = GrooveShape(plate_thickness_mm=20.0)  # a 20 mm plate's 60° V-groove, no root face


def test_the_wire_nears_the_flank_it_weaves_towards():
    groove = v_groove_profile(gap_mm=1.5, bottom_mm=2.0, shape=THICK)
    # Centred 1.5 mm above the bottom: the same arc at both extremes of a 2.5 mm weave.
    left, right = tip_to_work_mm(groove, 2.5, 3.5), tip_to_work_mm(groove, -2.5, 3.5)
    assert left == pytest.approx(right)
    # In the middle: the bottom 1.5 mm down, the flanks some 2.4 mm away, shortening it a
    # little (the arc's spread); far from any flank, the distance itself.
    assert 0.5 < tip_to_work_mm(groove, 0.0, 3.5) < 1.5
    wide = v_groove_profile(gap_mm=30.0, bottom_mm=2.0, shape=THICK)
    assert tip_to_work_mm(wide, 0.0, 3.5) == pytest.approx(1.5, abs=0.01)
    # Nearer a flank, shorter, steadily: 1 mm to the left, the left extreme into the flank
    # (inside the metal: negative), the right one further from its flank.
    sideways = [tip_to_work_mm(groove, y, 3.5) for y in (-1.5, -0.5, 0.5, 1.5, 2.5, 3.5)]
    assert all(b < a for a, b in itertools.pairwise(sideways[2:]))  # from the middle leftwards
    assert tip_to_work_mm(groove, 3.5, 3.5) < 0 < left < tip_to_work_mm(groove, -1.5, 3.5)
    # The difference between the extremes grows with the offset: what arc sensing reads.
    differences = [
        tip_to_work_mm(groove, -2.5 + e, 3.5) - tip_to_work_mm(groove, 2.5 + e, 3.5)
        for e in (0.0, 0.25, 0.5, 1.0)
    ]
    assert differences[0] == pytest.approx(0.0, abs=1e-9)
    assert all(b > a for a, b in itertools.pairwise(differences))
    # Continuous as the tip crosses into a flank (no jump for the current).
    edge = 0.75 + 3.5 * 0.57735  # the left flank at the tip's height
    assert tip_to_work_mm(groove, edge - 0.001, 3.5) == pytest.approx(
        tip_to_work_mm(groove, edge + 0.001, 3.5), abs=0.01
    )


def test_a_pass_meets_the_metal_of_earlier_passes_not_its_own():
    beads = BeadRecord()
    shape = BeadShape()
    for s in range(0, 20):
        beads.lay("butt", s * 0.5, 0.0, 0.0, pass_id=1, area_mm2=20.0)  # the root
    # Under its own wire the root meets the bare groove; the next pass meets the root's metal.
    assert groove_layers(beads, shape, "butt", 5.0, 0.0, leave_out_pass=1) == ()
    layers = groove_layers(beads, shape, "butt", 5.0, 0.0, leave_out_pass=2)
    assert fill_bottom_mm(DEFAULT_SHAPE, 1.5, 0.0, (), 0.0) == 0.0
    root_top = fill_bottom_mm(DEFAULT_SHAPE, 1.5, 0.0, layers, 0.0)
    assert 4.0 < root_top < 6.0  # 20 mm² in a 60° groove with a 1.5 mm gap: 4.7 mm, crowned
    # A bead laid left of the middle raises the surface there more than on the right.
    for s in range(0, 20):
        beads.lay("butt", s * 0.5, 2.0, 3.5, pass_id=2, area_mm2=15.0)
    layers = groove_layers(beads, shape, "butt", 5.0, 0.0, leave_out_pass=3)
    left = fill_bottom_mm(DEFAULT_SHAPE, 1.5, 0.0, layers, 2.0)
    right = fill_bottom_mm(DEFAULT_SHAPE, 1.5, 0.0, layers, -2.0)
    assert left > right > root_top - 0.5
    assert groove_layers(beads, shape, "butt", 50.0, 0.0) == ()  # nothing laid there
    beads.clear()
    assert groove_layers(beads, shape, "butt", 5.0, 0.0) == ()


# -- the weave sync and the power source's periods ----------------------------------------------


def test_the_weave_sync_marks_the_dwells_and_the_strokes_ends():
    shape = WeaveShape(
        WeavePattern.TRAPEZOID, 2.5, 2.5, pitch_mm=4.0, dwell_left_mm=0.5, dwell_right_mm=0.5
    )
    sides = [shape.extreme_side(i * 0.01) for i in range(400)]  # one pitch
    # Left dwell (0.5 mm) plus a fifth of the strokes either side of it (0.15 mm each).
    assert sides.count(1) == pytest.approx(80, abs=2)
    assert sides.count(-1) == pytest.approx(80, abs=2)
    assert sides[0] == 0
    assert sides[100] == 1
    assert sides[300] == -1
    assert WeaveShape(WeavePattern.NONE).extreme_side(1.0) == 0


def one_period(meter: WeavePeriodMeter, left_a: float, right_a: float, between_a: float):
    """Left extreme 10 samples, between 20, right 10, between 20 (1 ms each)."""
    for side, current, n in (
        (WeaveSide.LEFT, left_a, 10),
        (WeaveSide.BETWEEN, between_a, 20),
        (WeaveSide.RIGHT, right_a, 10),
        (WeaveSide.BETWEEN, between_a, 20),
    ):
        for _ in range(n):
            meter.sample(current, side, 0.001)


def test_a_period_is_published_when_the_next_begins():
    meter = WeavePeriodMeter()
    one_period(meter, 50.0, 50.0, 50.0)  # the first left extreme starts the first period
    assert meter.last is None  # not complete until the next left extreme begins
    one_period(meter, 230.0, 210.0, 200.0)
    first = meter.last
    assert first is not None
    assert first.count == 1
    assert (first.left_current_a, first.right_current_a) == (50.0, 50.0)
    meter.sample(230.0, WeaveSide.LEFT, 0.001)
    period = meter.last
    assert period is not None
    assert period.count == 2
    assert period.left_current_a == pytest.approx(230.0)
    assert period.right_current_a == pytest.approx(210.0)
    assert period.mean_current_a == pytest.approx((10 * 230 + 10 * 210 + 40 * 200) / 60)
    assert period.samples == 60
    assert period.period_ms == pytest.approx(60.0)
    # The arc out: the period under way is dropped, the last result stays.
    one_period(meter, 1.0, 1.0, 1.0)
    meter.reset()
    meter.sample(230.0, WeaveSide.LEFT, 0.001)
    assert meter.last.count == 2


def test_a_period_with_too_few_samples_at_a_side_is_not_published():
    meter = WeavePeriodMeter()
    for side in (WeaveSide.LEFT, WeaveSide.BETWEEN, WeaveSide.RIGHT, WeaveSide.LEFT):
        meter.sample(200.0, side, 0.001)  # one sample each: too few to tell the sides apart
    assert meter.last is None


def burning_arc(stick_out_mm, weave_side) -> tuple[ArcModel, Commands]:
    arc = ArcModel(random.Random(1), random.Random(2))
    arc.stick_out_change_mm = stick_out_mm
    arc.weave_side = weave_side
    commands = Commands(
        arc_on=True,
        current_setpoint_a=240.0,
        voltage_setpoint_v=27.0,
        wire_feed_setpoint_m_per_min=7.8,
    )
    for _ in range(200):
        arc.step(0.002, commands)
    assert arc.burning
    return arc, commands


def test_the_arc_reports_the_nearer_flank_as_the_higher_current():
    # The torch nearer the left flank: 1 mm shorter stick-out at the left extreme, 1 mm
    # longer at the right; the sync changes side every 0.1 s (a 2.5 Hz weave with dwells).
    clock = [0.0]

    def side() -> WeaveSide:
        phase = clock[0] % 0.4
        return WeaveSide.LEFT if phase < 0.1 else WeaveSide.RIGHT if 0.2 <= phase < 0.3 else (
            WeaveSide.BETWEEN
        )  # fmt: skip

    arc, commands = burning_arc(
        lambda: {WeaveSide.LEFT: -1.0, WeaveSide.RIGHT: 1.0}.get(side(), 0.0), side
    )
    for _ in range(2000):  # 4 s: ten periods
        clock[0] += 0.002
        arc.step(0.002, commands)
    period = arc.weave_periods.last
    assert period is not None
    assert period.count >= 8
    # 2 x 6 A/mm, less what the current's 30 ms lag takes off a 100 ms dwell (it reaches
    # 1 - 0.3 x (1 - e^-3.3) = 71 % on average); the noise and ripple average out over some
    # 50 samples a side.
    difference = period.left_current_a - period.right_current_a
    assert difference == pytest.approx(0.71 * 2 * CURRENT_PER_STICK_OUT_A_PER_MM, rel=0.25)
    assert period.mean_current_a == pytest.approx(240.0, abs=3.0)
    # Without the weave sync there is nothing to report.
    silent, commands = burning_arc(lambda: 0.0, None)
    for _ in range(500):
        silent.step(0.002, commands)
    assert silent.weave_periods.last is None


async def test_the_driver_reads_a_period_in_one_request_over_modbus_rtu(repo, tmp_path):
    link = tmp_path / "power_source"
    settings = source_settings(repo, str(link))
    source = SimulatedPowerSource(settings, SimClock(4), link_path=link)
    steps = [0]

    def side() -> WeaveSide:  # a fast test weave: 5 physics steps left, 5 right
        steps[0] += 1
        return WeaveSide.LEFT if steps[0] % 10 < 5 else WeaveSide.RIGHT

    source.arc.weave_side = side
    await source.start()
    driver = PowerSourceDriver(settings)
    try:
        await driver.connect()
        await driver.wait_connected(2)
        assert driver.has_arc_sensing
        before = await driver.read_weave_period()
        assert before.period_count == 0  # no period yet
        # The status read stays one request: the arc-sensing block is read on its own.
        requests = driver.stats.requests
        await driver.read_status()
        assert driver.stats.requests - requests == 1
        await driver.set_setpoints(240.0, 27.0, 7.8)
        await driver.arc_on()
        await status_until(driver, lambda s: s.arc_established, "arc established")
        await asyncio.sleep(0.2)
        requests = driver.stats.requests
        period = await driver.read_weave_period()
        assert driver.stats.requests - requests == 1
        assert period.period_count > 0
        assert period.periods_since(before.period_count) == period.period_count
        assert period.mean_current_a == pytest.approx(240.0, rel=0.1)
        assert period.samples >= 3
        await driver.arc_off()
    finally:
        await driver.close()
        await source.close()


def test_the_period_counter_wraps():
    period = WeavePeriodCurrents(2, 0.0, 0.0, 0.0, 0, 0.0)
    assert period.periods_since(65535) == 3


# -- the controller's law -----------------------------------------------------------------------


def period(left: float, right: float, mean: float) -> WeavePeriodCurrents:
    return WeavePeriodCurrents(1, left, right, mean, 100, 800.0)


def test_the_law_moves_away_from_the_higher_current_and_learns_the_height():
    settings = ArcSensingSettings(
        lateral_gain_mm_per_a=0.1,
        vertical_gain_mm_per_a=0.05,
        lateral_deadband_a=1.0,
        vertical_deadband_a=2.0,
        reference_periods=2,
        max_step_mm_per_period=2.0,
    )
    law = ArcLaw(settings)
    # Left higher: the joint lies right (negative lateral); within the deadband: nothing.
    assert law.step_mm(period(251.0, 240.0, 240.0)) == pytest.approx((-1.0, 0.0))
    assert law.reference_a is None
    assert law.step_mm(period(240.0, 240.5, 244.0)) == (0.0, 0.0)
    assert law.reference_a == pytest.approx(242.0)  # the first two periods' mean
    # Right higher: left. The mean 6 A above the reference: too low, up (past the deadband).
    assert law.step_mm(period(235.0, 241.0, 248.0)) == pytest.approx((0.5, 0.2))
    assert law.step_mm(period(240.0, 240.0, 238.0)) == pytest.approx((0.0, -0.1))
    assert shrink(-3.0, 1.0) == -2.0
    assert shrink(0.5, 1.0) == 0.0


# -- the pass table's tracking, checked at its line ---------------------------------------------

BOOM = "parts/loader-boom-side-plate.yaml"
FILL_PASS = "{kind: fill, layer: 3, procedure: mag-boom-fill, vertical_offset_mm: 7.0}"


def broken(repo: Path, tmp_path: Path, file: str, old: str, new: str) -> list[str]:
    config = tmp_path / "config"
    shutil.copytree(repo / "config", config)
    path = config / file
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigInvalid) as raised:
        load_cell_config(config / "cell.yaml")
    return [str(e) for e in raised.value.errors]


def line_of(repo: Path, file: str, text: str) -> int:
    lines = (repo / "config" / file).read_text().splitlines()
    return next(i for i, line in enumerate(lines, start=1) if text in line)


def test_arc_tracking_on_a_pass_without_weave_names_its_line(repo, tmp_path):
    errors = broken(
        repo,
        tmp_path,
        BOOM,
        FILL_PASS,
        FILL_PASS.replace("mag-boom-fill", "mag-fillet-a4").replace("}", ", tracking: arc}"),
    )
    line = line_of(repo, BOOM, FILL_PASS)
    assert any(
        e.endswith(
            f"{BOOM}:{line}: seams[0].passes[2].tracking: arc tracking needs a weave, and "
            'procedure "mag-fillet-a4" of this pass has none (weave.pattern)'
        )
        for e in errors
    ), errors


def test_laser_tracking_on_a_later_pass_is_refused(repo, tmp_path):
    errors = broken(repo, tmp_path, BOOM, FILL_PASS, FILL_PASS.replace("}", ", tracking: laser}"))
    line = line_of(repo, BOOM, FILL_PASS)
    assert any(
        f":{line}: seams[0].passes[2].tracking: the laser tracks only the root pass" in e
        for e in errors
    ), errors


def test_arc_tracking_needs_the_power_sources_arc_sensing_inputs(repo, tmp_path):
    config = tmp_path / "config"
    shutil.copytree(repo / "config", config)
    boom = config / BOOM
    boom.write_text(
        boom.read_text().replace(FILL_PASS, FILL_PASS.replace("}", ", tracking: arc}"), 1)
    )
    load_cell_config(config / "cell.yaml")  # with the shipped map: fine
    errors = broken(
        tmp_path,  # this copy, with the arc-tracked fill
        tmp_path / "second",
        "cell.yaml",
        "      arc_sensing_period_ms:       {address: 15, type: uint16, unit: ms}\n",
        "",
    )
    assert any(
        "seams[0].passes[2].tracking: arc tracking needs the power source's arc-sensing "
        "inputs; power_source.registers.inputs lacks arc_sensing_period_ms" in e
        for e in errors
    ), errors


def test_a_pass_off_the_centre_keeps_the_difference_it_starts_with():
    settings = ArcSensingSettings(
        lateral_gain_mm_per_a=0.1,
        lateral_deadband_a=1.0,
        reference_periods=2,
        max_step_mm_per_period=2.0,
    )
    law = ArcLaw(settings, difference_reference_a=None)  # a split layer's bead
    # Learning: its first periods (nearer the left flank by design) move nothing.
    assert law.step_mm(period(250.0, 240.0, 245.0)) == (0.0, 0.0)
    assert law.step_mm(period(252.0, 240.0, 245.0)) == (0.0, 0.0)
    assert law.difference_reference_a == pytest.approx(11.0)
    # The difference it learnt is its place: no step; 5 A more (the flank nearer): right.
    assert law.step_mm(period(251.0, 240.0, 245.0))[0] == 0.0
    assert law.step_mm(period(256.0, 240.0, 245.0))[0] == pytest.approx(-0.4)
    # A centred pass balances the flanks from the first period.
    assert ArcLaw(settings).step_mm(period(251.0, 240.0, 245.0))[0] == pytest.approx(-1.0)


def test_a_period_moves_the_correction_a_bounded_step_and_a_spoilt_one_is_refused():
    law = ArcLaw(ArcSensingSettings(lateral_gain_mm_per_a=0.1, max_step_mm_per_period=0.5))
    assert law.step_mm(period(300.0, 240.0, 250.0))[0] == pytest.approx(-0.5)
    assert law.plausible(period(240.0, 230.0, 235.0))
    assert not law.plausible(period(0.0, 230.0, 235.0))  # no arc at one side
    assert not law.plausible(period(6553.5, 230.0, 235.0))  # no arc draws that
