"""The simulator fills a V-groove pass by pass: the metal each pass lays, where it lands, and
the laser profile of the partly filled groove as the controller's own vision measures it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cellctl.sensing.vision.calibration import Calibration
from cellctl.sensing.vision.pipeline import JointFinder
from sim.devices.sensor_render import (
    CameraModel,
    Disturbances,
    GrooveLayer,
    JointView,
    StripeRenderer,
    filled_groove,
    groove_surface,
)
from sim.truth.bead import BeadRecord, BeadShape

REPO = Path(__file__).resolve().parent.parent
CALIBRATION = Calibration.load(REPO / "config" / "sensor-calibration.yaml")
GAP_MM = 2.0
# A root, a hot pass, then a layer split in two beads, one either side (10 mm plate, 60°).
LAYERS = (
    GrooveLayer(18.0, 0.0, 6.0, 1.2),
    GrooveLayer(22.0, 0.0, 8.0, 0.9),
    GrooveLayer(14.0, -2.5, 7.0, 1.0),
    GrooveLayer(14.0, 2.5, 7.0, 1.0),
)


def filled_height(layers, x_mm: np.ndarray) -> np.ndarray:
    (surface,) = filled_groove(GAP_MM, 0.0, layers)
    return np.interp(x_mm, surface[:, 0], surface[:, 1])


def test_each_pass_lays_its_metal_in_the_groove_and_the_groove_fills_up():
    x = np.arange(-15.0, 15.0, 0.01)
    bare = groove_surface(GAP_MM, 0.0, x)
    middle = []
    for n in range(len(LAYERS) + 1):
        height = filled_height(LAYERS[:n], x)
        # No metal lost or made: what stands above the bare groove is the passes' metal.
        assert (height - bare).sum() * 0.01 == pytest.approx(
            sum(a.area_mm2 for a in LAYERS[:n]), abs=0.05
        )
        assert (height >= bare - 1e-9).all()
        middle.append(float(height[np.abs(x) < 0.5].mean()))
    assert middle[0] == pytest.approx(-0.0, abs=1e-9)  # the gap, open to the underside
    assert middle[1] > middle[0] + 1.0
    assert middle[2] > middle[1] + 1.0
    # The split layer's beads lean on their walls: the first one fills the left side first.
    split = filled_height(LAYERS[:3], x) - filled_height(LAYERS[:2], x)
    assert split[x < 0].sum() > 2 * split[x > 0].sum()


def test_the_laser_profile_of_a_partly_filled_groove_shows_the_filled_cross_section():
    renderer = StripeRenderer(CameraModel(), Disturbances(), seed=4)
    finder = JointFinder(CALIBRATION, "v_groove_butt", 0.0)
    x_check = np.arange(-3.0, 3.0, 0.25)
    for n in (0, 1, 2, 4):
        finder.reset()
        image = renderer.render(
            JointView("v_groove_butt", 0.0, 0.0, GAP_MM, 0.0, 0.0, layers=LAYERS[:n])
        )
        x, z, _ = finder.profile(image.pixels)
        order = np.argsort(x)
        x, z = x[order], z[order]
        if n == 0:
            # Unwelded: the laser goes through the root gap (no line there).
            assert not (np.abs(x) < GAP_MM / 2 - 0.3).any()
            continue
        # Welded: the measured surface across the groove's middle is the filled one.
        seen = np.interp(x_check, x, z)
        assert np.abs(seen - filled_height(LAYERS[:n], x_check)).max() < 0.1, n
        assert np.abs(seen - groove_surface(GAP_MM, 0.0, x_check)).max() > 1.0


def test_the_bead_record_keeps_every_pass_in_order_with_its_metal():
    beads = BeadRecord()
    shape = BeadShape()
    root_mm2 = shape.deposit_mm2(4.8, 4.0)  # wire 1.2 mm at 4.8 m/min, 4 mm/s: 22.6 mm²
    assert root_mm2 == pytest.approx(4800 / 60 * np.pi * 0.36 / 4.0, rel=1e-6)
    for s in np.arange(0.0, 20.0, 0.1):
        beads.lay("butt", s, 0.1, 0.0, pass_id=7, area_mm2=root_mm2)
        beads.lay("butt", s, -1.5, 3.0, (2.0, 2.0), pass_id=9, area_mm2=20.0)
    laid = beads.passes_at("butt", 10.0)
    assert [(p.lateral_mm, p.area_mm2) for p in laid] == [(0.1, root_mm2), (-1.5, 20.0)]
    assert laid[1].weave_mm == (2.0, 2.0)
    assert beads.at("butt", 10.0) == (-1.5, 3.0)  # the bead on top
    assert beads.passes_at("butt", 30.0) == []
    beads.clear()
    assert beads.passes_at("butt", 10.0) == []
