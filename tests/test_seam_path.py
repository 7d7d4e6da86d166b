"""Seam paths of lines and arcs (drivers.codecs.seam_path): the geometry the controller, the
simulated robot and the simulated true part share."""

from __future__ import annotations

import math

import pytest

from drivers.codecs.seam_path import Arc, Line, PathError, SeamPath, arc_through, build_path


def test_an_arc_through_three_points_finds_its_centre_and_sweep():
    arc = arc_through((10.0, 5.0, 3.0), (12.0, 9.0, 3.0), (7.0, 11.0, 3.0))
    for p in ((10.0, 5.0, 3.0), (12.0, 9.0, 3.0), (7.0, 11.0, 3.0)):
        assert math.dist(arc.centre, p) == pytest.approx(arc.radius_mm)
    assert arc.end == pytest.approx((7.0, 11.0, 3.0))
    assert math.dist(arc.via, arc.centre) == pytest.approx(arc.radius_mm)
    with pytest.raises(ValueError, match="one line"):
        arc_through((0, 0, 0), (1, 0, 0), (2, 0, 0))


def test_a_full_circle_about_a_centre_is_two_half_arcs_that_close():
    path = build_path((0, 0, 8), [{"arc": {"centre": [0, 50, 8], "sweep_deg": 360}}])
    assert len(path.pieces) == 2
    assert all(isinstance(p, Arc) and p.sweep_rad == pytest.approx(math.pi) for p in path.pieces)
    assert path.length_mm == pytest.approx(2 * math.pi * 50)
    assert path[-1] == pytest.approx(path[0], abs=1e-9)
    # Left of travel (counter-clockwise) is the centre; the frame follows the tangent.
    travel, lateral, up = path.frame_at(path.length_mm / 4)
    assert travel == pytest.approx((0, 1, 0), abs=1e-9)
    assert lateral == pytest.approx((-1, 0, 0), abs=1e-9)
    assert up == pytest.approx((0, 0, 1), abs=1e-9)
    # Near the closure, the hint picks the end over the start.
    s, lateral_mm, vertical_mm = path.locate((-0.5, 0.002, 9.0), hint_s_mm=path.length_mm - 1)
    assert s == pytest.approx(path.length_mm - 0.5, abs=0.01)
    assert vertical_mm == pytest.approx(1.0, abs=1e-3)
    s, lateral_mm, _ = path.locate((0.5, 0.002, 8.0), hint_s_mm=1.0)
    assert s == pytest.approx(0.5, abs=0.01)
    # A point 2 mm inside the circle is 2 mm to the left.
    s, lateral_mm, _ = path.locate((48.0, 50.0, 8.0))
    assert (s, lateral_mm) == pytest.approx((path.length_mm / 4, 2.0), abs=1e-6)


def test_blend_radii_round_the_corners_with_tangent_arcs():
    path = build_path(
        (0, 0, 0),
        [
            {"line": {"to": [100, 0, 0], "blend_radius_mm": 10}},
            {"line": {"to": [100, 100, 0], "blend_radius_mm": 20}},
            {"line": {"to": [0, 100, 0]}},
        ],
    )
    kinds = [type(p) for p in path.pieces]
    assert kinds == [Line, Arc, Line, Arc, Line]
    assert path.length_mm == pytest.approx(300 - 2 * 10 - 2 * 20 + 5 * math.pi + 10 * math.pi)
    assert path.pieces[1].radius_mm == pytest.approx(10)
    assert path.pieces[3].radius_mm == pytest.approx(20)
    # Tangent at every joint between pieces: no kink.
    for s in path.starts_mm[1:]:
        assert path.tangent_at(s - 1e-6) == pytest.approx(path.tangent_at(s + 1e-6), abs=1e-4)
    rest = path.remaining(95.0)
    assert rest.length_mm == pytest.approx(path.length_mm - 95.0)
    assert rest[0] == pytest.approx(path.point_at(95.0))
    moved = path.shifted((1.0, 2.0, 3.0))
    assert moved.point_at(120) == pytest.approx(
        tuple(a + b for a, b in zip(path.point_at(120), (1, 2, 3), strict=True))
    )


def test_a_blend_radius_longer_than_its_lines_is_refused_naming_the_segment():
    with pytest.raises(PathError, match=r"needs 40\.0 mm") as error:
        build_path(
            (0, 0, 0),
            [
                {"line": {"to": [30, 0, 0], "blend_radius_mm": 40}},
                {"line": {"to": [30, 100, 0]}},
            ],
        )
    assert error.value.where[:2] == ("segments", 0)


def test_a_polyline_is_a_seam_path_of_lines():
    path = SeamPath.polyline([(0, 0, 0), (100, 0, 0), (100, 50, 0)])
    assert list(path) == [(0, 0, 0), (100, 0, 0), (100, 50, 0)]
    assert not path.curved
    assert path.locate((50, 3, 1)) == pytest.approx((50, 3, 1))
