"""A seam's measured heat input against the range its procedure's WPQR covers."""

from __future__ import annotations

import pytest
import yaml

from cellctl.config.models import Procedure
from cellctl.weld.monitoring import SeamMonitor, thinned_trace


@pytest.fixture
def procedure(repo) -> Procedure:
    data = yaml.safe_load((repo / "config/procedures/mag-fillet-a4.yaml").read_text())
    return Procedure.model_validate(data)


def welded(procedure: Procedure, speed_mm_per_s: float) -> SeamMonitor:
    monitor = SeamMonitor("s1", procedure, reaction_time_s=0.3, max_sample_gap_s=0.1)
    t = 0.0
    while t < 10.0 - 1e-9:
        t += 0.025
        monitor.add(t, 220.0, 24.5, 9.5, tool_speed_mm_per_s=speed_mm_per_s)
    return monitor


def test_a_heat_input_inside_the_qualified_range_is_good_and_carries_the_revision(procedure):
    summary = welded(procedure, 8.0).summary(welded_length_mm=80.0)
    assert summary.heat_input_kj_per_mm == pytest.approx(0.539)
    assert summary.heat_input_qualified is True
    assert summary.procedure_revision == "B"
    assert summary.verdict == "good"


def test_a_heat_input_outside_the_qualified_range_makes_the_seam_bad_and_says_why(procedure):
    # The same arc at 5.5 mm/s: 0.784 kJ/mm, above the WPQR's 0.70 (the robot slow, the
    # arc within its bands: only the heat input shows it).
    summary = welded(procedure, 5.5).summary(welded_length_mm=55.0)
    assert summary.heat_input_kj_per_mm == pytest.approx(0.784, abs=1e-3)
    assert summary.heat_input_qualified is False
    assert summary.verdict == "bad"
    assert any(
        "heat input 0.784 kJ/mm outside the range qualified by WPQR-0398" in r
        for r in summary.reasons
    ), summary.reasons


def test_without_a_qualified_range_nothing_is_judged(procedure):
    bare = procedure.model_copy(update={"qualified": None})
    summary = welded(bare, 5.5).summary(welded_length_mm=55.0)
    assert summary.heat_input_qualified is None
    assert summary.verdict == "good"


def test_the_trace_keeps_a_short_excursion_while_thinning():
    samples = [(i * 0.025, 220.0, 24.5) for i in range(3000)]
    samples[1234] = (1234 * 0.025, 400.0, 24.5)  # one spike
    trace = thinned_trace(samples, points=300)
    assert trace is not None
    assert len(trace["t_s"]) == 300
    assert max(trace["current_a"]) == 400.0
    assert thinned_trace([]) is None
