"""The correction stream's phase lock onto the sensor's exposures (``cellctl.tracking``).

The stream's ``CorrectionGrid`` driven with frame exposure and landing times instead of the
clock: every tick comes exactly at its deadline.
"""

from __future__ import annotations

import numpy as np
import pytest

from cellctl.tracking import (
    MAX_PHASE_STEP_S,
    PHASE_MARGIN_S,
    CorrectionGrid,
    LatencyWindow,
)

PERIOD_S = 0.004  # 250 Hz


def run_grid(
    frame_period_s: float,
    seconds: float,
    latency_s: np.ndarray,
    first_tick_s: float,
    window: LatencyWindow | None = None,
):
    """Tick times, and for each frame the time from its exposure to the first tick after it
    landed (``latency_s``: each frame's exposure to measured)."""
    exposures = np.arange(0.0005, seconds, frame_period_s)[: len(latency_s)]
    landed = exposures + latency_s[: len(exposures)]
    grid = CorrectionGrid(PERIOD_S, first_tick_s - PERIOD_S, window)
    ticks, to_tick = [], []
    newest = (-np.inf, 0.0)
    next_frame = 0
    while (deadline := grid.advance()) < seconds:
        ticks.append(deadline)
        while next_frame < len(landed) and landed[next_frame] <= deadline:
            newest = (exposures[next_frame], landed[next_frame])
            to_tick.append(deadline - exposures[next_frame])
            next_frame += 1
        assert grid.ticked(deadline, *newest) == 0.0
    return np.array(ticks), np.array(to_tick)


def latencies(count: int, slow_share: float = 0.0, seed: int = 3) -> np.ndarray:
    """1 ms of processing and up to 0.3 ms of jitter; ``slow_share`` of the frames 2 ms more."""
    rng = np.random.default_rng(seed)
    latency = 0.001 + rng.uniform(0, 0.0003, count)
    latency[rng.random(count) < slow_share] += 0.002
    return latency


def assert_regular(ticks: np.ndarray, seconds: float, rel: float) -> None:
    intervals = np.diff(ticks)
    assert np.all(np.abs(intervals - PERIOD_S) <= MAX_PHASE_STEP_S + 1e-12)
    assert len(ticks) / seconds == pytest.approx(250, rel=rel)


@pytest.mark.parametrize("first_tick_s", [0.0, 0.0013, 0.0031])
def test_frames_at_a_whole_number_of_ticks_reach_the_robot_as_soon_as_most_are_measured(
    first_tick_s,
):
    latency = latencies(1250)
    ticks, to_tick = run_grid(2 * PERIOD_S, 10.0, latency, first_tick_s)
    settled = to_tick[len(to_tick) // 5 :]
    # The grid sits just after the frames' 99th percentile: barely later than that, and only
    # the slowest percent or so wait a tick more.
    slow = np.quantile(latency, 0.99)
    assert np.quantile(settled, 0.99) <= slow + PHASE_MARGIN_S + MAX_PHASE_STEP_S
    assert np.mean(settled > slow + PHASE_MARGIN_S + MAX_PHASE_STEP_S) <= 0.02
    assert_regular(ticks, 10.0, rel=0.002)


def test_a_few_slow_frames_wait_a_tick_more_instead_of_delaying_every_frame():
    latency = latencies(1250)
    slow = [300, 800, 1100]  # one frame in 300 to 500, 2 ms slower
    latency[slow] += 0.002
    ticks, to_tick = run_grid(2 * PERIOD_S, 10.0, latency, 0.0)
    typical = np.quantile(latency[latency < 0.002], 0.99) + PHASE_MARGIN_S
    late = np.nonzero(to_tick > typical + MAX_PHASE_STEP_S)[0]
    # The slow ones, and only they (once settled): a whole tick later, not the grid moved to
    # wait for them.
    assert list(late[late >= 250]) == slow
    assert np.all(to_tick[slow] >= latency[slow] + PERIOD_S / 2)
    assert_regular(ticks, 10.0, rel=0.002)


def test_when_many_frames_are_slow_the_grid_waits_for_them():
    latency = latencies(1250, slow_share=0.05)  # 5 %: more than the quantile leaves out
    ticks, to_tick = run_grid(2 * PERIOD_S, 10.0, latency, 0.0)
    settled = to_tick[len(to_tick) // 5 :]
    assert np.quantile(settled, 0.99) <= np.quantile(latency, 0.99) + 2 * MAX_PHASE_STEP_S
    assert np.mean(settled > PERIOD_S) <= 0.02
    assert_regular(ticks, 10.0, rel=0.002)


def test_at_other_frame_rates_the_grid_only_wanders_by_bounded_steps():
    ticks, to_tick = run_grid(0.010, 10.0, latencies(1000), 0.0)  # 100 frames/s: 2.5 ticks
    assert_regular(ticks, 10.0, rel=0.01)
    assert to_tick.max() <= 0.0013 + PERIOD_S + MAX_PHASE_STEP_S


def test_the_next_seam_starts_where_the_seams_before_left_the_grid():
    # The latencies are the sensor's and the vision's: a new seam's grid starts from them
    # instead of learning afresh (its first frames would wait on a guess).
    window = LatencyWindow()
    latency = latencies(1250, slow_share=0.001)
    run_grid(2 * PERIOD_S, 10.0, latency, 0.0, window)
    next_seam = CorrectionGrid(PERIOD_S, 0.0, window)
    assert next_seam.delay_s == pytest.approx(
        np.quantile(latency, 0.995) + PHASE_MARGIN_S, abs=0.0002
    )
    _, to_tick = run_grid(2 * PERIOD_S, 2.0, latencies(250, seed=4), 0.0013, window)
    # From its first frames on (once the grid has stepped into phase: a dozen frames).
    assert np.quantile(to_tick[12:], 0.99) <= (
        np.quantile(latency, 0.995) + PHASE_MARGIN_S + 2 * MAX_PHASE_STEP_S
    )


def test_the_latency_window_keeps_the_newest_and_answers_their_quantile():
    rng = np.random.default_rng(5)
    values = rng.exponential(0.001, 3000)
    window = LatencyWindow(size=1000)
    assert np.isnan(window.quantile(0.995))
    for i, value in enumerate(values, 1):
        window.add(0.0, float(value))
        newest = np.sort(values[max(0, i - 1000) : i])
        assert window.quantile(0.995) == newest[min(len(newest) - 1, int(0.995 * len(newest)))]
    assert len(window) == 1000


def test_a_grid_that_knows_the_last_frame_is_in_phase_from_its_first_tick():
    window = LatencyWindow()
    latency = latencies(1250)
    run_grid(2 * PERIOD_S, 10.0, latency, 0.0, window)
    delay = CorrectionGrid(PERIOD_S, 0.0, window).delay_s
    # The next seam's frames keep the sensor's 8 ms rhythm, which the window's newest
    # exposure carries; the grid's clock starts at any phase.
    for first_tick_s in (0.0, 0.0013, 0.0031):
        _, to_tick = run_grid(2 * PERIOD_S, 1.0, latencies(125, seed=6), first_tick_s, window)
        assert np.all(to_tick <= delay + 1e-9)
