"""Weld monitoring: the arc's actual current, voltage and wire feed against the procedure.

While the arc burns the controller samples the power source's actuals (``sample_period_ms``,
at least 20 Hz) into a ``SeamMonitor``. Each quantity is checked against its band from the WPS
the way Fronius' Limit Monitoring does it: a value outside its band counts only once it has
stayed outside for longer than the reaction time, so that a spatter spike or the ignition
transient is not a defect, while a wandering arc is.

A weaving torch makes the arc ripple with the weave: as it swings towards a groove's flank or
a fillet's leg its stick-out shortens and the current rises, twice a cycle. That ripple is
the procedure working, not the arc wandering: with a weave, each quantity is judged against
its band by its mean over the last weave period (``window_s``), which takes the ripple out and
still shows a drift within a period; the minimum and maximum on the record stay the raw
samples', so the ripple's size is kept.

At the seam's end ``summary()`` gives the record the store keeps: arc time, time-weighted mean,
minimum and maximum of each quantity, time out of band, arc energy, and heat input

    Q = k x P / v   [kJ/mm]   (P in W, v in mm/s, / 1000)

with P the time-weighted mean of the sampled U x I (so it holds for pulsed arcs too), v the
robot's actual travel speed while welding as it reports it, and k the thermal efficiency of the
process (ISO/TR 17671-1: 0.8 for MIG/MAG, processes 131 and 135). Taking v from the robot rather
than from a clock keeps heat input right when the simulator runs faster than real time. The arc
energy is the integral of U x I over the controller's clock.
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass, field

from cellctl.cell.records import SeamSummary
from cellctl.config.models import THERMAL_EFFICIENCY, Band, Procedure


@dataclass
class QuantityTrack:
    """One quantity (e.g. current) against its band, with time-weighted statistics."""

    band: Band | None
    reaction_s: float
    weighted_sum: float = 0.0
    seconds: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf
    out_of_band_s: float = 0.0  # total length of excursions that outlasted the reaction time
    excursions: int = 0
    # The band judges the mean over this long (a weave period; 0: every sample as it is).
    window_s: float = 0.0
    _window: collections.deque[tuple[float, float, float]] = field(
        default_factory=collections.deque
    )  # (t_s, value, dt_s) of the samples in the window
    _outside_since: float | None = None
    _counted: bool = False

    def add(self, t_s: float, value: float, dt_s: float, check_band: bool) -> None:
        self.weighted_sum += value * dt_s
        self.seconds += dt_s
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)
        judged = self._window_mean(t_s, value, dt_s) if self.window_s > 0 else value
        if self.band is None or not check_band or self.band.contains(judged):
            self._end_excursion(dt_s)
            return
        if self._outside_since is None:
            self._outside_since = t_s - dt_s / 2
        duration = t_s - self._outside_since
        if duration > self.reaction_s:
            if not self._counted:
                # The whole excursion counts once it has outlasted the reaction time.
                self._counted = True
                self.excursions += 1
                self.out_of_band_s += duration
            else:
                self.out_of_band_s += dt_s

    def _window_mean(self, t_s: float, value: float, dt_s: float) -> float:
        """The time-weighted mean of the samples of the last ``window_s``, this one included."""
        window = self._window
        if dt_s == 0:
            window.clear()  # a new stretch of arc (after a gap): the old samples are not it
        window.append((t_s, value, dt_s))
        while window and t_s - window[0][0] >= self.window_s:
            window.popleft()
        seconds = sum(dt for _, _, dt in window)
        if seconds <= 0:
            return value
        return sum(v * dt for _, v, dt in window) / seconds

    def _end_excursion(self, dt_s: float) -> None:
        if self._counted:
            # The value crossed back somewhere between the two samples: count half the gap.
            self.out_of_band_s += dt_s / 2
        self._outside_since = None
        self._counted = False

    @property
    def mean(self) -> float | None:
        return self.weighted_sum / self.seconds if self.seconds > 0 else None


class SeamMonitor:
    """Collects the samples of one seam's arc and judges them against the procedure."""

    def __init__(
        self,
        seam: str,
        procedure: Procedure,
        reaction_time_s: float,
        max_sample_gap_s: float,
        dry_run: bool = False,
    ) -> None:
        self.seam = seam
        self.procedure = procedure
        self.dry_run = dry_run
        self.max_sample_gap_s = max_sample_gap_s
        bands = procedure.bands
        # With a weave, the bands judge each weave period's mean (see the module docstring).
        window_s = procedure.weave.period_s(procedure.travel_speed_mm_per_s) or 0.0
        self.current = QuantityTrack(bands.current_a, reaction_time_s, window_s=window_s)
        self.voltage = QuantityTrack(bands.voltage_v, reaction_time_s, window_s=window_s)
        self.wire_feed = QuantityTrack(
            bands.wire_feed_m_per_min, reaction_time_s, window_s=window_s
        )
        self.arc_energy_j = 0.0
        self.arc_time_s = 0.0
        self.power = QuantityTrack(None, reaction_time_s)  # U x I, W
        self.travel_speed = QuantityTrack(None, reaction_time_s)  # as the robot reports it
        self.samples = 0
        self.arc_breaks = 0
        self.restarts = 0
        self.notes: list[str] = []  # what the cycle wants on the record (interruptions)
        self._last_t_s: float | None = None
        self._first_t_s: float | None = None
        self._last_speed_mm_per_s: float | None = None  # the speed sampled before this one
        # (seconds since the first sample, current, voltage) of the band-checked arc.
        self._trace: list[tuple[float, float, float]] = []

    def add(
        self,
        t_s: float,
        current_a: float,
        voltage_v: float,
        wire_feed_m_per_min: float,
        check_band: bool = True,
        tool_speed_mm_per_s: float | None = None,
    ) -> None:
        """One sample taken at ``t_s`` (monotonic seconds) while the arc burns.

        ``check_band`` is False during crater fill, which runs at its own reduced setpoints.
        ``tool_speed_mm_per_s`` is the robot's speed along the seam at the sample, if known.
        """
        if self._last_t_s is None:
            dt_s = 0.0
        else:
            # A gap (a held cycle, a slow link) is not arc time at the last sampled power.
            dt_s = min(max(0.0, t_s - self._last_t_s), self.max_sample_gap_s)
        self._last_t_s = t_s
        self.samples += 1
        self.arc_time_s += dt_s
        self.arc_energy_j += voltage_v * current_a * dt_s
        if not check_band:
            # Crater fill: arc time and energy, but not the run's statistics or heat input,
            # which describe the weld at its procedure's parameters.
            return
        if self._first_t_s is None:
            self._first_t_s = t_s
        self._trace.append((t_s - self._first_t_s, current_a, voltage_v))
        self.current.add(t_s, current_a, dt_s, check_band)
        self.voltage.add(t_s, voltage_v, dt_s, check_band)
        self.wire_feed.add(t_s, wire_feed_m_per_min, dt_s, check_band)
        self.power.add(t_s, voltage_v * current_a, dt_s, check_band=False)
        if tool_speed_mm_per_s is not None:
            # The speed between two samples as the mean of both (trapezoids): the robot's
            # speed steps at the path's ends, and the sample that finds it arrived (0 mm/s)
            # would otherwise take the whole interval before it, spent travelling. At the
            # scenarios' 20x time scale a 100 ms interval there lowered a seam's mean speed
            # by a fifth and put its heat input outside the qualified range (W200).
            before = self._last_speed_mm_per_s
            between = tool_speed_mm_per_s if before is None else (before + tool_speed_mm_per_s) / 2
            self.travel_speed.add(t_s, between, dt_s, check_band=False)
            self._last_speed_mm_per_s = tool_speed_mm_per_s

    def arc_interrupted(self) -> None:
        """The arc went out (a break, a hold): the next sample starts a new stretch."""
        self._last_t_s = None
        self._last_speed_mm_per_s = None

    def summary(
        self, welded_length_mm: float, extra_reasons: list[str] | None = None
    ) -> SeamSummary:
        reasons = list(extra_reasons or []) + self.notes
        for label, track in (
            ("current", self.current),
            ("voltage", self.voltage),
            ("wire feed", self.wire_feed),
        ):
            if track.excursions:
                reasons.append(
                    f"{label} out of band {track.out_of_band_s:.2f} s in {track.excursions} "
                    "excursion(s)"
                )
        if self.arc_breaks:
            reasons.append(f"{self.arc_breaks} arc break(s)")
        arc_energy_kj = self.arc_energy_j / 1000
        efficiency = THERMAL_EFFICIENCY[self.procedure.process]
        mean_power_w = self.power.mean
        travel_speed = self.travel_speed.mean
        if travel_speed is None and self.arc_time_s > 0:
            travel_speed = welded_length_mm / self.arc_time_s
        heat_input = None
        if not self.dry_run and mean_power_w is not None and travel_speed:
            heat_input = efficiency * mean_power_w / travel_speed / 1000
        heat_input_qualified = None
        qualified = self.procedure.qualified
        if qualified is not None and heat_input is not None:
            allowed = qualified.heat_input_kj_per_mm
            heat_input_qualified = allowed.contains(heat_input)
            if not heat_input_qualified:
                reasons.append(
                    f"heat input {heat_input:.3f} kJ/mm outside the range qualified by "
                    f"{self.procedure.wpqr} ({allowed.min:g}..{allowed.max:g} kJ/mm)"
                )
        if self.dry_run:
            verdict = "dry_run"
        elif self.samples < 2 or self.arc_time_s <= 0:
            verdict = "bad"
            reasons.append("no arc recorded")
        else:
            verdict = "bad" if reasons else "good"

        def finite(value: float) -> float | None:
            return value if math.isfinite(value) else None

        return SeamSummary(
            seam=self.seam,
            procedure=self.procedure.name,
            length_mm=welded_length_mm,
            arc_time_s=self.arc_time_s,
            samples=self.samples,
            current_mean_a=self.current.mean,
            current_min_a=finite(self.current.minimum),
            current_max_a=finite(self.current.maximum),
            voltage_mean_v=self.voltage.mean,
            voltage_min_v=finite(self.voltage.minimum),
            voltage_max_v=finite(self.voltage.maximum),
            wire_feed_mean_m_per_min=self.wire_feed.mean,
            wire_feed_min_m_per_min=finite(self.wire_feed.minimum),
            wire_feed_max_m_per_min=finite(self.wire_feed.maximum),
            out_of_band_s=self.current.out_of_band_s
            + self.voltage.out_of_band_s
            + self.wire_feed.out_of_band_s,
            excursions=self.current.excursions
            + self.voltage.excursions
            + self.wire_feed.excursions,
            arc_energy_kj=arc_energy_kj,
            heat_input_kj_per_mm=heat_input,
            travel_speed_mm_per_s=travel_speed,
            arc_breaks=self.arc_breaks,
            restarts=self.restarts,
            dry_run=self.dry_run,
            verdict=verdict,
            reasons=reasons,
            procedure_revision=self.procedure.revision,
            heat_input_qualified=heat_input_qualified,
            trace=thinned_trace(self._trace),
        )


TRACE_POINTS = 300  # a seam's plot in the weld record: enough for a 10 cm wide figure


def thinned_trace(
    samples: list[tuple[float, float, float]], points: int = TRACE_POINTS
) -> dict[str, list[float]] | None:
    """At most ``points`` samples of (t, current, voltage), each kept point the one of its
    stretch furthest from the stretch's mean current, so that a short excursion a band
    check counted still shows in the plot (None without samples)."""
    if not samples:
        return None
    step = max(1, math.ceil(len(samples) / points))
    kept = []
    for start in range(0, len(samples), step):
        chunk = samples[start : start + step]
        mean = sum(c for _, c, _ in chunk) / len(chunk)
        kept.append(max(chunk, key=lambda sample: abs(sample[1] - mean)))
    return {
        "t_s": [round(t, 3) for t, _, _ in kept],
        "current_a": [round(c, 1) for _, c, _ in kept],
        "voltage_v": [round(u, 2) for _, _, u in kept],
    }
