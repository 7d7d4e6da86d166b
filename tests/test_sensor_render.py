"""The simulated sensor's compiled rendering (``sim/devices/_sensor_render.c``) against its
numpy passes, which stand in where the machine has no C compiler: the same truth (stripe rows
within 1e-9 px), the same frames (pixels within one gray level), the same random draws."""

from __future__ import annotations

import numpy as np
import pytest

import sim.devices.sensor_render as render
from sim.devices.sensor_render import (
    CameraModel,
    Disturbances,
    GrooveLayer,
    JointView,
    StripeRenderer,
)

JOINTS = ("fillet", "v_groove_butt", "square_butt", "lap")
DIRTY = Disturbances(
    noise_sigma=3,
    speckle=0.15,
    stripe_width_variation=0.2,
    spatter_per_frame=6,
    glare=0.5,
    reflection=0.35,
    dropout_probability=0.1,
)
FILL = (
    GrooveLayer(area_mm2=14.0, centre_lateral_mm=0.0, width_mm=5.0, crown_mm=1.0),
    GrooveLayer(area_mm2=22.0, centre_lateral_mm=-1.2, width_mm=7.0, crown_mm=0.8),
    GrooveLayer(area_mm2=22.0, centre_lateral_mm=1.2, width_mm=7.0, crown_mm=0.8),
)


@pytest.fixture
def numpy_passes(monkeypatch):
    """Within the test, the renderer as it runs where ``_sensor_render`` is not built."""

    def use(compiled: bool) -> None:
        monkeypatch.setattr(render, "_sensor_render", compiled_module if compiled else None)

    compiled_module = render._sensor_render
    # Without it built each comparison would hold the numpy passes to themselves.
    assert compiled_module is not None, "sim/devices/_sensor_render.c is not built: run `make venv`"
    return use


def views(count_per_joint: int, seed: int) -> list[JointView]:
    """Joints of every kind about the working range: off the centre, gaps and mismatches,
    tilted both ways (a shadow falls on some), with and without a bead; V-grooves filled."""
    rng = np.random.default_rng(seed)
    out = []
    for joint in JOINTS:
        for _ in range(count_per_joint):
            bead = float(rng.choice([0.0, rng.uniform(4, 10)]))
            out.append(
                JointView(
                    joint,
                    root_x_mm=float(rng.uniform(-6, 6)),
                    root_z_mm=float(rng.uniform(-3, 3)),
                    gap_mm=float(rng.choice([0.0, rng.uniform(0.2, 3)])),
                    mismatch_mm=float(rng.uniform(-1, 1)),
                    work_angle_deg=float(
                        rng.uniform(-20, 60) if joint == "fillet" else rng.uniform(-40, 40)
                    ),
                    bead_width_mm=bead,
                    bead_height_mm=float(rng.uniform(0.5, 2)),
                )
            )
    for k in range(count_per_joint):
        angle_deg = 10.0 * (k % 5) - 20
        out.append(
            JointView("v_groove_butt", 0.3 * k, 0.2, 1.5, 0.0, angle_deg, layers=FILL[: k % 3 + 1])
        )
    return out


def test_the_compiled_rendering_is_built():
    """`make venv` builds it; the benchmarks' latency stands on it (issue 16)."""
    assert render._sensor_render is not None, (
        "sim/devices/_sensor_render.c is not built: run `make venv`"
    )


def test_the_truth_is_the_numpy_passes_truth(numpy_passes):
    """The stripe's true row in every column, shadows, beads and filled grooves included: the
    same columns drawn, each within 1e-9 px."""
    renderer = StripeRenderer(CameraModel())  # its truth draws nothing at random
    for view in views(25, seed=3):
        numpy_passes(True)
        compiled = renderer.stripe_rows(view)
        numpy_passes(False)
        plain = renderer.stripe_rows(view)
        assert np.array_equal(np.isnan(compiled), np.isnan(plain)), view
        assert np.isfinite(compiled).sum() > 50, view
        np.testing.assert_allclose(compiled, plain, rtol=0, atol=1e-9, equal_nan=True)
    numpy_passes(True)


def test_shadows_are_cut_where_the_numpy_passes_cut_them(numpy_passes):
    """``visible_parts`` (its faces cut at the shadows' edges) and ``in_plain_view`` agree
    with the numpy passes on tilted profiles, where the camera or the laser is blocked."""
    eyes = CameraModel().eyes_xz_mm
    cut_somewhere = 0
    for view in views(25, seed=4):
        profile = render.profile_pieces(view.joint, view.gap_mm, view.mismatch_mm, view.groove)
        a = np.radians(view.work_angle_deg)
        rotation = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        surface = [piece @ rotation.T + (view.root_x_mm, view.root_z_mm) for piece in profile]
        results = []
        for compiled in (True, False):
            numpy_passes(compiled)
            results.append(render.visible_parts(surface, eyes))
        compiled_parts, plain_parts = results
        assert len(compiled_parts) == len(plain_parts), view
        for c, p in zip(compiled_parts, plain_parts, strict=True):
            np.testing.assert_allclose(c, p, rtol=0, atol=1e-12)
        cut_somewhere += sum(len(p) for p in plain_parts) != sum(len(p) for p in surface)
    assert cut_somewhere >= 5, "too few views with a shadow to compare the cuts"
    numpy_passes(True)


def test_frames_are_the_numpy_passes_frames_within_a_gray_level(numpy_passes):
    """Every disturbance on (noise, glare, speckle, width variation, reflection, spatter,
    dropouts): the same frames within one gray level, and the same random draws (the next
    draw after 60 frames is the same)."""
    camera = CameraModel()
    frames = []
    next_draws = []
    for compiled in (True, False):
        numpy_passes(compiled)
        renderer = StripeRenderer(camera, DIRTY, seed=21)
        frames.append([renderer.render(view).pixels.copy() for view in views(12, seed=5)])
        next_draws.append(renderer.rng.random())
    numpy_passes(True)
    assert next_draws[0] == next_draws[1]
    differing = 0
    for compiled_frame, plain_frame in zip(*frames, strict=True):
        difference = np.abs(compiled_frame.astype(int) - plain_frame.astype(int))
        assert difference.max() <= 1
        differing += int(np.count_nonzero(difference))
    pixels = sum(frame.size for frame in frames[0])
    assert differing < pixels * 1e-5, f"{differing} of {pixels} pixels differ"


def test_a_stripe_at_the_image_edge_writes_each_row_once_as_numpy(numpy_passes):
    """Rows that clip to the image's first or last row: written once, by the last of them,
    as numpy's take and put do (not summed)."""
    image = np.full((40, 64), 10, np.uint8)
    cols = np.arange(64, dtype=np.int64)
    centres = np.where(cols < 32, 3.2, 36.6)
    sigma = np.full(64, 3.0)
    grain = np.random.default_rng(1).standard_normal(10_000).astype(np.float32)
    out = []
    for stripe in (render._sensor_render.draw_stripe, render._draw_stripe_numpy):
        drawn = image.copy()
        stripe(drawn, 64, cols, centres, sigma, 190.0, 12, grain, 17, 0.15)
        out.append(drawn)
    assert np.abs(out[0].astype(int) - out[1].astype(int)).max() <= 1
    # The first row, 3.2 rows off the centre, once: some 100 gray levels over the 10 (summed
    # over the ten rows clipped to it, it would be white); the last row likewise.
    for row in (out[0][0, :32], out[0][-1, 32:]):
        assert row.min() > 60
        assert row.max() < 250
