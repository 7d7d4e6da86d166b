"""Touch sensing's geometry: shifts from one, two and three touches; the part frame."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from cellctl.config.touch_models import PartFrameTouch, TouchSearch
from cellctl.sensing.touch_fit import PartFrame, Touch, fit_part_frame, shift_from_touches
from drivers.codecs.seam_path import SeamPath, arc_through


def _touch(name, expected, direction, frame: PartFrame) -> Touch:
    """The contact a search along ``direction`` finds on a part moved by ``frame`` when the
    programmed plate through ``expected`` is perpendicular to it."""
    normal = frame.turn(direction)
    moved = frame.apply(expected)
    # Along the search line from expected: where it meets the moved plane.
    along = sum(n * (m - e) for n, m, e in zip(normal, moved, expected, strict=True)) / sum(
        n * d for n, d in zip(normal, direction, strict=True)
    )
    found = tuple(e + along * d for e, d in zip(expected, direction, strict=True))
    return Touch(name, expected, found, direction)


def test_one_touch_shifts_along_its_direction_only():
    frame = PartFrame(shift_mm=(1.0, 2.0, -0.5))
    touch = _touch("top", (0.0, 0.0, 10.0), (0.0, 0.0, -1.0), frame)
    assert shift_from_touches([touch]) == pytest.approx((0.0, 0.0, -0.5))


def test_the_two_plates_of_a_fillet_give_the_corner():
    frame = PartFrame(shift_mm=(1.5, 2.0, -0.5))
    touches = [
        _touch("base", (290.0, 0.0, 8.0), (0.0, 0.0, -1.0), frame),
        _touch("wall", (300.0, 0.0, 12.0), (1.0, 0.0, 0.0), frame),
    ]
    assert shift_from_touches(touches) == pytest.approx((1.5, 0.0, -0.5))


def test_three_or_more_touches_give_the_frame_with_its_turn():
    truth = PartFrame(shift_mm=(2.0, -1.5, 0.4), turn_deg=1.5, pivot_mm=(300.0, 0.0, 0.0))
    programmed = [
        ("base", (290.0, 0.0, 8.0), (0.0, 0.0, -1.0)),
        ("wall-a", (300.0, -30.0, 12.0), (1.0, 0.0, 0.0)),
        ("wall-b", (300.0, 30.0, 12.0), (1.0, 0.0, 0.0)),
        ("end", (305.0, -40.0, 12.0), (0.0, 1.0, 0.0)),
    ]
    touches = [_touch(n, p, d, truth) for n, p, d in programmed]
    found = fit_part_frame(touches, (300.0, 0.0, 0.0))
    assert found.turn_deg == pytest.approx(1.5, abs=1e-6)
    assert found.shift_mm == pytest.approx((2.0, -1.5, 0.4), abs=1e-6)
    assert found.max_residual_mm < 1e-6
    for point in [(300.0, -40.0, 8.0), (300.0, 40.0, 8.0)]:
        assert math.dist(found.apply(point), truth.apply(point)) < 1e-6


def test_a_touch_on_something_else_shows_in_the_residuals():
    truth = PartFrame(shift_mm=(1.0, 0.0, 0.0))
    touches = [
        _touch("base", (290.0, 0.0, 8.0), (0.0, 0.0, -1.0), truth),
        _touch("wall-a", (300.0, -30.0, 12.0), (1.0, 0.0, 0.0), truth),
        _touch("wall-b", (300.0, 30.0, 12.0), (1.0, 0.0, 0.0), truth),
        _touch("end", (305.0, -40.0, 12.0), (0.0, 1.0, 0.0), truth),
        _touch("end-2", (303.0, -40.0, 30.0), (0.0, 1.0, 0.0), PartFrame(shift_mm=(0, 3.0, 0))),
    ]
    assert fit_part_frame(touches, (300.0, 0.0, 0.0)).max_residual_mm > 1.0


def test_a_moved_path_keeps_its_arcs():
    arc = arc_through((0.0, 0.0, 0.0), (10.0, 10.0, 0.0), (20.0, 0.0, 0.0))
    path = SeamPath((arc,))
    frame = PartFrame(shift_mm=(1.0, 2.0, 3.0), turn_deg=10.0)
    moved = frame.moved_path(path)
    assert moved.length_mm == pytest.approx(path.length_mm)
    assert moved[-1] == pytest.approx(frame.apply((20.0, 0.0, 0.0)))


def _search(name, start, direction, expect=10.0):
    return {"name": name, "start_mm": start, "direction": direction, "distance_mm": 30.0,
            "expect_mm": expect}  # fmt: skip


def test_a_search_names_what_is_wrong_with_it():
    with pytest.raises(ValidationError, match="not a unit vector"):
        TouchSearch.model_validate(_search("a", (0, 0, 0), (0, 0, -0.5)))
    with pytest.raises(ValidationError, match="greater than 0"):
        TouchSearch.model_validate({**_search("a", (0, 0, 0), (0, 0, -1)), "distance_mm": -3})
    with pytest.raises(ValidationError, match="not within distance_mm"):
        TouchSearch.model_validate(_search("a", (0, 0, 0), (0, 0, -1), expect=40.0))


def test_frame_searches_that_cannot_pin_the_turn_are_refused():
    parallel = [
        _search("a", (0, 0, 20), (0, 0, -1)),
        _search("b", (10, 0, 20), (0, 0, -1)),
        _search("c", (0, 10, 20), (1, 0, 0)),
    ]
    with pytest.raises(ValidationError, match="cannot find the part's frame"):
        PartFrameTouch.model_validate({"searches": parallel})
    enough = [
        _search("wall-a", (290, -30, 12), (1, 0, 0)),
        _search("wall-b", (290, 30, 12), (1, 0, 0)),
        _search("end", (305, -60, 12), (0, 1, 0)),
    ]
    assert len(PartFrameTouch.model_validate({"searches": enough}).searches) == 3
