"""The simulator fills a V-groove pass by pass: the metal each pass lays, where it lands, and
the laser profile of the partly filled groove as the controller's own vision measures it."""

from __future__ import annotations

import math
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
)
from sim.truth.bead import BeadRecord, BeadShape
from sim.truth.groove import wire_over_groove
from sim.truth.part import VisionScenario, load_true_part
from sim.truth.v_groove import (
    DEFAULT_SHAPE,
    GrooveShape,
    groove_layers,
    surface_height_mm,
)

groove_surface = DEFAULT_SHAPE.bare_surface  # the unwelded groove (10 mm plate, 60°)

REPO = Path(__file__).resolve().parent.parent
CALIBRATION = Calibration.load(REPO / "config" / "sensor-calibration.yaml")
IDEAL = VisionScenario(name="ideal")
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


def test_the_arc_and_the_laser_meet_one_groove_the_boom_as_prepared():
    """The boom's 20 mm plates with a 1.5 mm root face and a 2 mm gap, from its part program:
    with a root and a hot pass laid, the surface the arc meets under a third pass's wire
    (``sim.truth.groove``) is the one the renderer draws (``sim.truth.v_groove``), and the one
    the controller's vision measures in the rendered frame."""
    part = load_true_part(REPO / "config" / "parts" / "loader-boom-side-plate.yaml", IDEAL)
    (seam,) = part.seams
    assert seam.groove == GrooveShape(20.0, 60.0, 1.5)
    assert seam.joint_at(100.0).gap_mm == 2.0
    beads, shape = BeadRecord(), BeadShape()
    for s in np.arange(90.0, 110.0, 0.25):
        beads.lay(seam.name, s, 0.0, 0.0, pass_id=1, area_mm2=shape.deposit_mm2(4.8, 4.0))
        beads.lay(seam.name, s, 0.0, 4.0, (1.5, 1.5), pass_id=2, area_mm2=26.0)
    s_mm = 101.0  # the middle of the arc's 2 mm stretch: both look at the same place
    layers = groove_layers(beads, shape, seam.name, s_mm, 0.0)
    assert len(layers) == 2
    (drawn,) = filled_groove(2.0, 0.0, layers, seam.groove)
    point, (_, lateral_axis, up) = seam.path.point_at(s_mm), seam.path.frame_at(s_mm)
    laterals = np.arange(-4.0, 4.01, 0.5)
    met = []
    for lateral in laterals:
        tip = tuple(
            p + lateral * a + 12.0 * u for p, a, u in zip(point, lateral_axis, up, strict=True)
        )
        over = wire_over_groove(part, tip, beads, shape, path_id=3)
        assert over is not None
        assert over.s_mm == pytest.approx(s_mm)
        met.append(over.bottom_mm)
        assert over.bottom_mm == pytest.approx(surface_height_mm(drawn, lateral), abs=1e-9)
    # The wire of the hot pass itself meets only the root's metal.
    over = wire_over_groove(part, tip, beads, shape, path_id=2)
    (root_only,) = filled_groove(2.0, 0.0, layers[:1], seam.groove)
    assert over.bottom_mm == pytest.approx(surface_height_mm(root_only, laterals[-1]), abs=1e-9)
    # The laser's frame of that groove, measured by the controller's vision: the same surface.
    renderer = StripeRenderer(CameraModel(), Disturbances(), seed=4)
    finder = JointFinder(CALIBRATION, "v_groove_butt", 0.0)
    view = JointView("v_groove_butt", 0.0, 0.0, 2.0, 0.0, 0.0, layers=layers)
    view.groove = seam.groove
    x, z, _ = finder.profile(renderer.render(view).pixels)
    order = np.argsort(x)
    seen = np.interp(laterals, x[order], z[order])
    assert np.abs(seen - np.array(met)).max() < 0.1, list(zip(laterals, seen, met, strict=True))
    # 20 mm deep: the plates' top where the profile leaves the groove.
    assert np.median(z[np.abs(x) > 13.0]) == pytest.approx(20.0, abs=0.1)


def test_the_bare_groove_has_the_parts_depth_and_root_faces():
    shape = GrooveShape(20.0, 60.0, 1.5)
    x = np.array([-20.0, -1.0 - shape.bevel_width_mm, -1.0 - 1e-3, 0.0, 1.0 + 1e-3, 20.0])
    assert shape.bare_surface(2.0, 0.0, x) == pytest.approx([20, 20, 1.5, 0, 1.5, 20], abs=0.01)
    assert shape.top_width_mm(2.0) == pytest.approx(2.0 + 2 * 18.5 * math.tan(math.pi / 6))
    with pytest.raises(ValueError, match="root face 20"):
        GrooveShape(20.0, 60.0, 20.0)
