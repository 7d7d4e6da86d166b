"""The correction stream's phase lock onto the sensor's frames (``cellctl.tracking``).

The stream's ``CorrectionGrid`` driven with frame landing times instead of the clock: every
tick comes exactly at its deadline.
"""

from __future__ import annotations

import numpy as np
import pytest

from cellctl.tracking import MAX_PHASE_STEP_S, PHASE_MARGIN_S, CorrectionGrid

PERIOD_S = 0.004  # 250 Hz


def run_grid(frame_period_s: float, seconds: float, jitter_s: float, first_tick_s: float):
    """Tick times, and for each frame the wait from its landing to the next tick."""
    rng = np.random.default_rng(3)
    frames = np.arange(0.0005, seconds, frame_period_s) + rng.uniform(0, jitter_s, 1)[0]
    landed = frames + 0.001 + rng.uniform(0, jitter_s, len(frames))  # processing, then jitter
    grid = CorrectionGrid(PERIOD_S, first_tick_s - PERIOD_S)
    ticks, waits = [], []
    newest, next_frame = 0.0, 0
    while (deadline := grid.advance()) < seconds:
        ticks.append(deadline)
        while next_frame < len(landed) and landed[next_frame] <= deadline:
            newest = landed[next_frame]
            waits.append(deadline - newest)
            next_frame += 1
        assert grid.ticked(deadline, newest) == 0.0
    return np.array(ticks), np.array(waits)


@pytest.mark.parametrize("first_tick_s", [0.0, 0.0013, 0.0031])
def test_frames_at_a_whole_number_of_ticks_reach_the_robot_in_the_next_tick(first_tick_s):
    ticks, waits = run_grid(2 * PERIOD_S, 10.0, 0.0003, first_tick_s)
    settled = waits[len(waits) // 5 :]
    # Every frame (jitter included) is in the tick that follows it, within the margin's room.
    assert settled.max() <= PHASE_MARGIN_S + 0.0004
    assert settled.min() >= 0.0
    intervals = np.diff(ticks)
    assert np.all(np.abs(intervals - PERIOD_S) <= MAX_PHASE_STEP_S + 1e-12)
    assert len(ticks) / 10.0 == pytest.approx(250, rel=0.002)


def test_at_other_frame_rates_the_grid_only_wanders_by_bounded_steps():
    ticks, waits = run_grid(0.010, 10.0, 0.0003, 0.0)  # 100 frames/s: 2.5 ticks per frame
    intervals = np.diff(ticks)
    assert np.all(np.abs(intervals - PERIOD_S) <= MAX_PHASE_STEP_S + 1e-12)
    assert len(ticks) / 10.0 == pytest.approx(250, rel=0.01)
    assert waits.max() <= PERIOD_S + MAX_PHASE_STEP_S
