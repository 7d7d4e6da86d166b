"""The correction: the one law from the joint's deviation to what the robot is sent, when it
is sent, and what was sent.

- ``CorrectionLaw``: every tick, the filtered deviation where the torch will be when the
  correction takes effect (``SeamTrack.deviation_at``), clamped to the seam's and the robot's
  limit, its change per tick limited to the robot's rate; and coasting: how far the sensor
  may go past its last trustworthy measurement before tracking is lost. Live tracking
  (``cellctl.sensing.stream``) and ``cellctl replay`` both step this one law, so a replay with
  the recorded settings gives the recorded corrections by construction.
- ``CorrectionGrid``: when the ticks fall. They lock onto the sensor's exposures: a delay after
  each exposure that waits for all but the slowest 0.2 % of recent frames to be measured
  (``LatencyWindow``), but not past the deadline: a frame's correction is due within one tick
  of its exposure (the robot's next cycle), so the delay stops a guard short of a tick, and a
  frame measured later than that waits a tick more. (Only when more than a tenth of the
  frames would miss the deadline does the grid wait for them beyond it: a tick more for each
  would be later still.) With a frame period a whole number of ticks (125 frames/s at 250 Hz)
  a frame reaches the robot that delay after its exposure.
- ``CorrectionHistory``: the corrections sent, for the frame handler's "what did the robot have
  at this exposure" and the seam's record.
"""

from __future__ import annotations

import bisect
import collections
import math
import threading

from cellctl.sensing.track import SeamTrack

# The correction grid's phase lock (CorrectionGrid): ticks aim PHASE_MARGIN_S after the
# exposure-to-measured time that WAIT_QUANTILE of the last LATENCY_WINDOW measurements kept
# within, but no later than DEADLINE_GUARD_S short of a tick after the exposure while
# MOST_QUANTILE of them can make that; the grid moves by at most MAX_PHASE_STEP_S per tick
# (a correction interval stays within 5 % of its period at 250 Hz).
PHASE_MARGIN_S = 0.0003
WAIT_QUANTILE = 0.998  # of 1000 frames, all but the slowest one or two
MOST_QUANTILE = 0.9
LATENCY_WINDOW = 1000  # measurements: 8 s at 125 frames/s (a steady quantile)
# The tick's own wake-up after its deadline (p99 0.12-0.38 ms in `python -m bench vision`,
# correction_lateness_p99_ms), the correction's computation and its send (some 0.05 ms): a
# grid at the deadline sent its corrections 0.35-0.5 ms after it at p99 (exposure ->
# correction p99 3.75-3.90 ms where the 0.6 ms of old left 3.4), too near the 4 ms. The frames
# themselves are measured well before 3.2 ms since the simulated sensor's render is compiled
# (exposure -> measured p99 1.5-2.5 ms), so the guard takes the margin they gave up.
DEADLINE_GUARD_S = 0.0008
MAX_PHASE_STEP_S = 0.0002
PHASE_GAIN = 0.5


class CorrectionLaw:
    """The correction, tick by tick, for one tracked path (see the module docstring).

    Owned by whoever steps it (the correction stream's thread, or a replay); the track it
    reads is locked inside.
    """

    def __init__(
        self,
        track: SeamTrack,
        *,
        max_correction_mm: float,
        max_rate_mm_per_s: float,
        correction_rate_hz: float,
        coast_mm: float,
        lookahead_mm: float,
        path_length_mm: float,
    ) -> None:
        self.track = track
        self.max_correction_mm = max_correction_mm
        self.step_mm = max_rate_mm_per_s / correction_rate_hz  # the most a tick may change
        self.coast_mm = coast_mm
        self.lookahead_mm = lookahead_mm
        self.path_length_mm = path_length_mm
        self.lateral_mm = 0.0
        self.vertical_mm = 0.0

    def next(self, s_torch_mm: float) -> tuple[float, float]:
        """The correction (lateral, vertical) mm for the torch at ``s_torch_mm`` along the path:
        towards the filtered deviation there, clamped, at most ``step_mm`` from the last one.
        Before any measurement it stays where it is."""
        target = self.track.deviation_at(s_torch_mm)
        if target is not None:
            limit, step = self.max_correction_mm, self.step_mm
            target_l = min(limit, max(-limit, target[0]))
            target_v = min(limit, max(-limit, target[1]))
            self.lateral_mm += min(step, max(-step, target_l - self.lateral_mm))
            self.vertical_mm += min(step, max(-step, target_v - self.vertical_mm))
        return self.lateral_mm, self.vertical_mm

    def coasted(self, s_torch_mm: float) -> str | None:
        """Why tracking is lost with the torch at ``s_torch_mm`` (the sensor has gone
        ``coast_mm`` past its last trustworthy measurement), or None while it is not."""
        # The seed at the path's start is behind the sensor from the first instant; past the
        # path's end there is no joint to see, and none needed.
        last = max(self.track.last_position_mm or 0.0, self.lookahead_mm)
        s_sensor = min(s_torch_mm + self.lookahead_mm, self.path_length_mm)
        if s_sensor - last <= self.coast_mm:
            return None
        return (
            f"no trustworthy joint for {s_sensor - last:.1f} mm (coasting allowed "
            f"{self.coast_mm:g} mm) at {s_torch_mm:.1f} mm along the path"
        )


class CorrectionHistory:
    """The corrections sent on one tracked path, in order: (monotonic time sent, torch
    position along the path mm, lateral mm, vertical mm).

    One writer, the correction stream's thread (``append``); the sensor's reader thread asks
    what the robot had at a frame's exposure (``at``) and how many were sent (``count``) while
    it writes. The lock makes each of those one step: iterating a deque that another thread
    appends to raises "deque mutated during iteration" (shared/PITFALLS.md). ``rows`` is for
    after the stream has ended."""

    LOOKUP_DEPTH = 4096  # corrections searched back for an exposure: 16 s at 250 Hz

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._recent: collections.deque[tuple[float, float, float]] = collections.deque(
            maxlen=self.LOOKUP_DEPTH
        )
        self._rows: list[tuple[float, float, float, float]] = []

    def append(self, sent_s: float, position_mm: float, lateral_mm: float, vertical_mm: float):
        with self._lock:
            self._recent.append((sent_s, lateral_mm, vertical_mm))
            self._rows.append((sent_s, position_mm, lateral_mm, vertical_mm))

    def at(self, at_s: float) -> tuple[float, float]:
        """(lateral, vertical) the robot had at monotonic ``at_s``: the last correction sent
        before it; (0, 0) before the first."""
        with self._lock:
            for t, lateral, vertical in reversed(self._recent):
                if t <= at_s:
                    return lateral, vertical
        return 0.0, 0.0

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._rows)

    def rows(self) -> list[tuple[float, float, float, float]]:
        """A copy of every correction sent: (t, s, lateral, vertical)."""
        with self._lock:
            return list(self._rows)


class LatencyWindow:
    """The newest LATENCY_WINDOW exposure-to-measured times (s), kept sorted as well, so
    that a quantile is an index, at every frame; and the newest frame's exposure (the
    sensor's rhythm). Thread-safe: the sensor's reader thread adds each frame as it is
    measured, the correction stream reads."""

    def __init__(self, size: int = LATENCY_WINDOW) -> None:
        self._arrived: collections.deque[float] = collections.deque()
        self._sorted: list[float] = []
        self._size = size
        self._lock = threading.Lock()
        self.last_exposure_s: float | None = None  # monotonic

    def __len__(self) -> int:
        return len(self._arrived)

    def add(self, exposure_s: float, measured_s: float) -> None:
        """A frame exposed at ``exposure_s`` was measured at ``measured_s`` (monotonic)."""
        latency_s = measured_s - exposure_s
        with self._lock:
            self.last_exposure_s = exposure_s
            self._arrived.append(latency_s)
            bisect.insort(self._sorted, latency_s)
            if len(self._arrived) > self._size:
                del self._sorted[bisect.bisect_left(self._sorted, self._arrived.popleft())]

    def quantile(self, q: float) -> float:
        """The q quantile (of fewer than 1 / (1 - q) times, the slowest); NaN when empty."""
        with self._lock:
            n = len(self._sorted)
            return self._sorted[min(n - 1, int(q * n))] if n else math.nan


class CorrectionGrid:
    """When the correction stream ticks: every ``period_s``, the grid phase-locked onto the
    sensor's exposures (see the module docstring). Times are monotonic seconds.

    ``latencies``: the exposure-to-measured times, added to by whoever measures the frames
    (kept from seam to seam: they are the sensor's and the vision's, not the seam's). With
    them the grid starts in phase with the newest frame's exposure, and each tick that
    finds a newer one there moves the grid towards it."""

    def __init__(
        self, period_s: float, start_s: float, latencies: LatencyWindow | None = None
    ) -> None:
        self.period_s = period_s
        self._latencies = latencies if latencies is not None else LatencyWindow()
        # Exposure to tick: where the grid aims (NaN: no measurement yet).
        self.delay_s = self._aim()
        last_exposure_s = self._latencies.last_exposure_s
        self._seen_exposure_s = last_exposure_s if last_exposure_s is not None else -math.inf
        if last_exposure_s is not None and math.isfinite(self.delay_s):
            # In phase from the first tick: where the last frame seen puts the grid (the
            # frames come at a whole number of ticks), rather than stepping there.
            behind = (start_s - (last_exposure_s + self.delay_s)) % period_s
            start_s -= behind
        self.deadline_s = start_s

    def _aim(self) -> float:
        """Exposure to tick (s) from the latencies seen (see the module docstring): late
        enough for nearly every frame, but no later than the deadline while most frames can
        make it. NaN while there are none."""
        nearly_all = self._latencies.quantile(WAIT_QUANTILE) + PHASE_MARGIN_S
        most = self._latencies.quantile(MOST_QUANTILE) + PHASE_MARGIN_S
        deadline = self.period_s - DEADLINE_GUARD_S
        return min(nearly_all, deadline) if most <= deadline else nearly_all

    def advance(self) -> float:
        """The next tick's deadline."""
        self.deadline_s += self.period_s
        return self.deadline_s

    def ticked(self, now_s: float) -> float:
        """The tick for the current deadline came at ``now_s``. Returns its lateness (s)."""
        lateness_s = max(0.0, now_s - self.deadline_s)
        if lateness_s >= self.period_s:
            # The thread was held up (the whole machine stalls now and then: 10-20 ms seen
            # on the bench): the ticks missed are skipped rather than sent in a burst, and
            # the grid stays in phase, so the next frame is on time.
            self.deadline_s += lateness_s // self.period_s * self.period_s
        exposure_s = self._latencies.last_exposure_s
        if exposure_s is not None and exposure_s != self._seen_exposure_s:  # a new frame
            self._seen_exposure_s = exposure_s
            self.delay_s = self._aim()
            # Where this frame's tick should have been, on the grid's own clock.
            error = self.deadline_s - (exposure_s + self.delay_s)
            self.deadline_s += _phase_step(error, self.period_s)
        return lateness_s


def _phase_step(error_s: float, period_s: float) -> float:
    """How far to move the correction grid (s, negative: earlier) after a tick that came
    ``error_s`` after where the newest frame's tick should have been: towards it, bounded.
    Only the phase counts: an error of a whole period is none."""
    error = (error_s + period_s / 2) % period_s - period_s / 2
    return -max(-MAX_PHASE_STEP_S, min(MAX_PHASE_STEP_S, PHASE_GAIN * error))
