"""The correction stream's phase lock onto the sensor's exposures (``cellctl.sensing.laser``).

The stream's ``CorrectionGrid`` driven with frame exposure and landing times instead of the
clock: every tick comes exactly at its deadline.
"""

from __future__ import annotations

import numpy as np
import pytest

from cellctl.sensing.correction import (
    DEADLINE_GUARD_S,
    MAX_PHASE_STEP_S,
    PHASE_MARGIN_S,
    WAIT_QUANTILE,
    CorrectionGrid,
    LatencyWindow,
)

PERIOD_S = 0.004  # 250 Hz
LATEST_S = PERIOD_S - DEADLINE_GUARD_S  # the latest the grid aims after an exposure


def run_grid(
    frame_period_s: float,
    seconds: float,
    latency_s: np.ndarray,
    first_tick_s: float,
    window: LatencyWindow | None = None,
):
    """Tick times, and for each frame the time from its exposure to the first tick after it
    landed (``latency_s``: each frame's exposure to measured). Each frame goes into the
    window as it lands, as the sensor's reader thread puts it there."""
    exposures = np.arange(0.0005, seconds, frame_period_s)[: len(latency_s)]
    landed = exposures + latency_s[: len(exposures)]
    window = window if window is not None else LatencyWindow()
    grid = CorrectionGrid(PERIOD_S, first_tick_s - PERIOD_S, window)
    ticks, to_tick = [], []
    next_frame = 0
    while (deadline := grid.advance()) < seconds:
        ticks.append(deadline)
        while next_frame < len(landed) and landed[next_frame] <= deadline:
            window.add(exposures[next_frame], landed[next_frame])
            to_tick.append(deadline - exposures[next_frame])
            next_frame += 1
        assert grid.ticked(deadline) == 0.0
    return np.array(ticks), np.array(to_tick)


SLOW_S = LATEST_S - 0.0014  # a slow frame's more: measured 0.1 to 0.4 ms short of the deadline


def latencies(count: int, slow_share: float = 0.0, seed: int = 3) -> np.ndarray:
    """1 ms of processing and up to 0.3 ms of jitter; ``slow_share`` of the frames SLOW_S
    more (some 2 ms)."""
    rng = np.random.default_rng(seed)
    latency = 0.001 + rng.uniform(0, 0.0003, count)
    latency[rng.random(count) < slow_share] += SLOW_S
    return latency


def assert_regular(ticks: np.ndarray, seconds: float, rel: float) -> None:
    intervals = np.diff(ticks)
    assert np.all(np.abs(intervals - PERIOD_S) <= MAX_PHASE_STEP_S + 1e-12)
    assert len(ticks) / seconds == pytest.approx(250, rel=rel)


@pytest.mark.parametrize("first_tick_s", [0.0, 0.0013, 0.0031])
def test_frames_at_a_whole_number_of_ticks_reach_the_robot_as_soon_as_nearly_all_are_measured(
    first_tick_s,
):
    latency = latencies(1250)
    ticks, to_tick = run_grid(2 * PERIOD_S, 10.0, latency, first_tick_s)
    settled = to_tick[len(to_tick) // 5 :]
    # The grid sits just after nearly every frame is measured, far short of the deadline,
    # and none waits a tick more.
    nearly_all = np.quantile(latency, WAIT_QUANTILE) + PHASE_MARGIN_S
    assert settled.max() <= nearly_all + MAX_PHASE_STEP_S
    assert nearly_all < LATEST_S / 2
    assert_regular(ticks, 10.0, rel=0.002)


def test_slow_frames_within_the_deadline_are_waited_for():
    latency = latencies(1250)
    slow = list(range(300, 1250, 100))  # one frame in a hundred SLOW_S slower: still in time
    latency[slow] += SLOW_S
    ticks, to_tick = run_grid(2 * PERIOD_S, 10.0, latency, 0.0)
    # The first one finds the grid where the others put it and waits a tick; from then on
    # the grid waits for such frames, as they would otherwise miss the robot's next cycle.
    assert to_tick[300] > PERIOD_S
    assert to_tick[310:].max() <= latency.max() + PHASE_MARGIN_S + MAX_PHASE_STEP_S
    assert to_tick[310:].max() <= LATEST_S + MAX_PHASE_STEP_S
    assert_regular(ticks, 10.0, rel=0.002)


def test_frames_that_miss_the_deadline_wait_a_tick_more_without_holding_back_the_rest():
    latency = latencies(1250)
    slow = [300, 520, 800, 1000, 1100]  # measured after the robot's next cycle
    latency[slow] += 0.0035
    ticks, to_tick = run_grid(2 * PERIOD_S, 10.0, latency, 0.0)
    late = np.nonzero(to_tick > LATEST_S + MAX_PHASE_STEP_S)[0]
    late = late[late >= 12]  # once in phase (a grid with no latencies yet steps there)
    # The slow ones, and only they: a whole tick later. The grid went no further than the
    # deadline for them, so every other frame still made it in time.
    assert list(late) == slow
    assert np.all(to_tick[slow] <= latency[slow] + PERIOD_S)  # the first tick after them
    assert_regular(ticks, 10.0, rel=0.002)


def test_when_many_frames_are_slow_the_grid_waits_for_them_up_to_the_deadline():
    latency = latencies(1250, slow_share=0.05)  # 5 %, all of them 0.1-0.4 ms short of it
    ticks, to_tick = run_grid(2 * PERIOD_S, 10.0, latency, 0.0)
    settled = to_tick[len(to_tick) // 5 :]
    assert settled.max() <= LATEST_S + MAX_PHASE_STEP_S
    assert np.quantile(settled, 0.5) >= LATEST_S - MAX_PHASE_STEP_S
    assert_regular(ticks, 10.0, rel=0.002)


def test_when_most_frames_cannot_make_the_deadline_the_grid_waits_for_them_beyond_it():
    # Vision slower than a tick (a large frame on a slow computer): a tick more for each
    # frame would be later still than waiting a little beyond the deadline.
    latency = latencies(1250) + 0.0025  # 3.5 to 3.8 ms
    ticks, to_tick = run_grid(2 * PERIOD_S, 10.0, latency, 0.0)
    settled = to_tick[len(to_tick) // 5 :]
    assert settled.max() <= np.quantile(latency, WAIT_QUANTILE) + PHASE_MARGIN_S + 1e-4
    assert settled.max() < PERIOD_S + 0.001
    assert_regular(ticks, 10.0, rel=0.002)


def test_at_other_frame_rates_the_grid_only_wanders_by_bounded_steps():
    ticks, to_tick = run_grid(0.010, 10.0, latencies(1000), 0.0)  # 100 frames/s: 2.5 ticks
    assert_regular(ticks, 10.0, rel=0.01)
    assert to_tick.max() <= 0.0013 + PERIOD_S + MAX_PHASE_STEP_S


def test_the_next_seam_starts_where_the_seams_before_left_the_grid():
    # The latencies are the sensor's and the vision's: a new seam's grid starts from them
    # instead of learning afresh (its first frames would wait on a guess).
    window = LatencyWindow()
    latency = latencies(1250)
    run_grid(2 * PERIOD_S, 10.0, latency, 0.0, window)
    next_seam = CorrectionGrid(PERIOD_S, 0.0, window)
    assert next_seam.delay_s == pytest.approx(
        np.quantile(latency[-1000:], WAIT_QUANTILE) + PHASE_MARGIN_S, abs=1e-5
    )
    _, to_tick = run_grid(2 * PERIOD_S, 2.0, latencies(250, seed=4), 0.0013, window)
    assert to_tick.max() <= np.quantile(latency, WAIT_QUANTILE) + PHASE_MARGIN_S + 1e-4


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


@pytest.mark.parametrize("stall_s", [0.0183, 0.0307])
def test_a_stalled_stream_skips_the_ticks_it_missed_and_stays_in_phase(stall_s):
    window = LatencyWindow()
    run_grid(2 * PERIOD_S, 10.0, latencies(1250), 0.0, window)
    grid = CorrectionGrid(PERIOD_S, 0.0, window)
    deadline = grid.advance()
    woke = deadline + stall_s  # the whole machine stopped (seen: 10-20 ms on the bench)
    assert grid.ticked(woke) == pytest.approx(stall_s)
    # No burst of catch-up ticks: the next one is the next in phase after the stall.
    following = grid.advance()
    assert woke < following <= woke + PERIOD_S
    phase = (following - (window.last_exposure_s + grid.delay_s)) % PERIOD_S
    assert min(phase, PERIOD_S - phase) == pytest.approx(0.0, abs=1e-9)
