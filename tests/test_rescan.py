"""Re-scan between passes: the groove measured from the laser's profiles, and the passes
adapted to it within the pass table's limits (``cellctl.sensing.groove``,
``cellctl.weld.rescan``)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from cellctl.config.models import PassRescan, WeldPass
from cellctl.sensing.groove import GrooveMeasure, groove_of, measure_groove
from cellctl.sensing.vision.calibration import Calibration
from cellctl.sensing.vision.pipeline import JointFinder
from cellctl.weld.rescan import decide
from sim.devices.sensor_render import (
    V_GROOVE_HALF_ANGLE_DEG,
    V_GROOVE_PLATE_MM,
    CameraModel,
    Disturbances,
    GrooveLayer,
    JointView,
    StripeRenderer,
    filled_groove,
)

REPO = Path(__file__).resolve().parent.parent
CALIBRATION = Calibration.load(REPO / "config" / "sensor-calibration.yaml")
GAP_MM = 2.0
LAYERS = (GrooveLayer(20.0, 0.0, 6.0, 1.2), GrooveLayer(24.0, 0.0, 8.0, 0.9))
TAN = math.tan(math.radians(V_GROOVE_HALF_ANGLE_DEG))


def scanned(
    layers, sensor_height_mm: float, frames: int = 12, root_ahead_mm: float = 0.0
) -> GrooveMeasure:
    """The groove's measure from ``frames`` rendered profiles, the sensor's origin
    ``sensor_height_mm`` over the root under the torch, the root where the laser crosses it
    ``root_ahead_mm`` aside, through the controller's own vision."""
    renderer = StripeRenderer(CameraModel(), Disturbances(), seed=8)
    finder = JointFinder(CALIBRATION, "v_groove_butt", 0.0)
    profiles = []
    for _ in range(frames):
        view = JointView(
            "v_groove_butt", root_ahead_mm, -sensor_height_mm, GAP_MM, 0.0, 0.0, layers=layers
        )
        x, z, _ = finder.profile(renderer.render(view).pixels)
        profiles.append(measure_groove(x, z, 0.0, sensor_height_mm, (root_ahead_mm, 0.0)))
    return groove_of(profiles, frames)


def test_the_rescan_measures_what_is_left_of_a_partly_filled_groove():
    (surface,) = filled_groove(GAP_MM, 0.0, LAYERS)
    level = float(np.interp(0.0, surface[:, 0], surface[:, 1]))
    measure = scanned(LAYERS, sensor_height_mm=level + 3.0)
    assert measure.top_mm == pytest.approx(V_GROOVE_PLATE_MM, abs=0.1)
    assert measure.surface_mm == pytest.approx(level, abs=0.1)
    assert measure.middle_surface_mm == pytest.approx(0.0, abs=0.15)
    # The walls: the V's width at a height is the gap and its flanks' run.
    top_width = GAP_MM + 2 * TAN * (V_GROOVE_PLATE_MM - 0.5)
    assert measure.width_top_mm == pytest.approx(top_width, abs=0.2)
    assert measure.width_at(7.0) == pytest.approx(GAP_MM + 2 * TAN * 7.0, abs=0.3)
    assert measure.surface_at(0.0) == pytest.approx(level, abs=0.1)
    # A root path that bends within the look-ahead: measured from where it crosses the line.
    bent = scanned(LAYERS, sensor_height_mm=level + 3.0, root_ahead_mm=2.5)
    assert bent.middle_surface_mm == pytest.approx(0.0, abs=0.15)
    assert bent.surface_mm == pytest.approx(level, abs=0.1)
    # An empty groove: its surface is the root gap's bottom, far below.
    assert scanned((LAYERS[0],), 5.0).surface_mm < level - 2.0


def measure_at(surface_mm: float) -> GrooveMeasure:
    """A V-groove (10 mm, 60°, gap 2) filled flat to ``surface_mm``."""
    return GrooveMeasure(
        profiles=30,
        frames=40,
        top_mm=10.0,
        surface_mm=surface_mm,
        width_surface_mm=GAP_MM + 2 * TAN * (surface_mm + 1.0),
        middle_surface_mm=0.2,
        width_top_mm=GAP_MM + 2 * TAN * 9.5,
    )


TABLE = [
    WeldPass(kind="root", layer=1),
    WeldPass(kind="fill", layer=2, vertical_offset_mm=3.0),
    WeldPass(kind="fill", layer=3, lateral_offset_mm=-2.0, vertical_offset_mm=6.0),
    WeldPass(kind="fill", layer=3, lateral_offset_mm=2.0, vertical_offset_mm=6.0),
    WeldPass(kind="cap", layer=4, vertical_offset_mm=8.5),
]
LIMITS = PassRescan(max_offset_change_mm=2.0, max_extra_passes=1, max_skipped_passes=1)


def test_a_fill_pass_follows_the_measured_surface_and_the_groove_s_width():
    decision = decide(TABLE, 2, measure_at(6.8), LIMITS, skipped=0, added=0)
    assert decision.action == "adapt"
    assert decision.problem is None
    adapted = decision.weld_pass
    assert adapted.vertical_offset_mm == pytest.approx(6.8)
    # The same share of a wider groove, from its measured middle.
    share = -2.0 / (GAP_MM + 2 * TAN * 7.0)
    assert adapted.lateral_offset_mm == pytest.approx(
        0.2 + share * (GAP_MM + 2 * TAN * 7.8), abs=0.02
    )
    assert decision.record["planned"] == {"lateral_offset_mm": -2.0, "vertical_offset_mm": 6.0}
    assert decision.record["changed"] == "offsets"
    assert decision.record["measured"]["surface_mm"] == 6.8


def test_a_fill_pass_is_left_out_or_one_added_within_the_table_s_limits():
    # Filled to the cap's level already: the last fill is left out, once.
    full = measure_at(8.0)
    assert decide(TABLE, 3, full, LIMITS, skipped=0, added=0).action == "skip"
    assert decide(TABLE, 3, full, LIMITS, skipped=1, added=0).action == "adapt"
    # Still deep before the cap: a copy of the last fill added, once.
    deep = measure_at(6.2)
    added = decide(TABLE, 4, deep, LIMITS, skipped=0, added=0)
    assert added.action == "add"
    assert added.weld_pass.kind == "fill"
    assert added.weld_pass.vertical_offset_mm == pytest.approx(6.2)
    assert decide(TABLE, 4, deep, LIMITS, skipped=0, added=1).action == "adapt"
    # With no room for either in the table: never.
    none = PassRescan(max_extra_passes=0, max_skipped_passes=0)
    assert decide(TABLE, 3, full, none, skipped=0, added=0).action == "adapt"
    assert decide(TABLE, 4, deep, none, skipped=0, added=0).action == "adapt"


def test_an_offset_further_than_the_table_allows_is_a_problem_not_a_weld():
    decision = decide(TABLE, 1, measure_at(6.5), LIMITS, skipped=0, added=0)
    assert decision.problem is not None
    assert "vertical offset would be 6.5 mm, the table's 3 mm" in decision.problem
