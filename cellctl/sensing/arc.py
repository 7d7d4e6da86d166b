"""Through-arc seam tracking: the welding current as the sensor, while the torch weaves.

A constant-voltage arc draws more current the shorter the wire's stick-out. A torch weaving
across a groove comes nearer one flank at one extreme of its weave than at the other when it
is off the groove's centre: the current at that extreme is higher. And the mean current over
a weave period rises when the torch is too low. The power source measures this itself, in
phase with the robot's weave sync, and publishes one result per weave period
(``drivers.codecs.power_source_protocol.WeavePeriodCurrents``; the decision and the register
map: docs/architecture.md, "Through-arc seam tracking"). ``ArcTracking`` reads that result a
few times a period and, at each new one:

- lateral: the left extreme's mean current less the right's (less a reference: 0 for a pass
  on the groove's centre, which balances the flanks; for a pass placed off it, a split
  layer's bead, the difference of its first ``reference_periods`` periods, which it keeps),
  past a deadband, times a gain, is how far the joint lies to the side of the lower current
  from where the torch wove;
- vertical: the period's mean current less a reference (the mean of the pass's first
  ``reference_periods`` periods), past a deadband, times a gain, is how far too low it wove;
- the joint's deviation from the path is then what the robot had as its correction during
  that period plus those two, put in a look-ahead buffer (``SeamTrack``) at the path position
  of the period's middle.

From there it is the laser's loop, unchanged: the same correction law (``CorrectionLaw``:
clamped, rate-limited, coasting) stepped by the same correction stream
(``CorrectionStream``: 250 Hz, its own thread) on the robot's one correction channel. The
sensor is at the torch (``lookahead_mm`` 0), so every period corrects what follows it: an
integrating loop, stable for a loop gain (the gain times the groove's amps per mm) below 2.

Threads: the event loop reads the power source and fills the buffer (locked inside);
the correction stream's thread steps the law. ``check`` (event loop) raises ``TrackingLost``
once the stream has coasted ``coast_mm`` past the last usable period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from dataclasses import dataclass, field

from cellctl.cell.geometry import Point, length_mm
from cellctl.config.arc_models import ArcSensingSettings
from cellctl.config.models import Seam
from cellctl.config.sensor_models import TrackingSettings
from cellctl.sensing.correction import LatencyWindow
from cellctl.sensing.protocol import TrackingLost, TrackingObserver
from cellctl.sensing.run import TrackingRun, tracking_figures
from cellctl.sensing.stream import CorrectionStream, start_stream
from cellctl.sensing.torch import TorchEstimate
from cellctl.sensing.track import SeamTrack
from drivers.codecs.power_source_protocol import WeavePeriodCurrents
from drivers.codecs.weave import WeaveShape
from drivers.errors import DeviceError
from drivers.power_source import PowerSourceDriver
from drivers.robot import Robot

log = logging.getLogger(__name__)


def shrink(value: float, deadband: float) -> float:
    """``value`` less the deadband towards 0 (0 within it): no step for what is noise."""
    if abs(value) <= deadband:
        return 0.0
    return value - math.copysign(deadband, value)


@dataclass
class ArcLaw:
    """From one weave period's currents to the correction's step (lateral, vertical) mm.
    Pure; owned by whoever feeds it the periods (``ArcTracking``: the event loop)."""

    settings: ArcSensingSettings
    # The left-right difference a pass keeps: 0.0 for one centred in the groove; None to learn
    # it from the first periods (a pass placed off the centre).
    difference_reference_a: float | None = 0.0
    reference_a: float | None = None  # the mean current's, learned
    _first_means: list[float] = field(default_factory=list)
    _first_differences: list[float] = field(default_factory=list)

    def step_mm(self, period: WeavePeriodCurrents) -> tuple[float, float]:
        s = self.settings
        difference = period.left_current_a - period.right_current_a
        learning = self.reference_a is None
        if learning:
            self._first_means.append(period.mean_current_a)
            self._first_differences.append(difference)
            if len(self._first_means) >= s.reference_periods:
                self.reference_a = sum(self._first_means) / len(self._first_means)
                if self.difference_reference_a is None:
                    self.difference_reference_a = sum(self._first_differences) / len(
                        self._first_differences
                    )
        if self.difference_reference_a is None:
            return 0.0, 0.0  # still learning where this pass sits between the flanks
        # Higher current at the left extreme: the left flank is nearer, the joint lies right
        # (lateral is positive to the left).
        lateral = -s.lateral_gain_mm_per_a * shrink(
            difference - self.difference_reference_a, s.lateral_deadband_a
        )
        vertical = 0.0
        if not learning:
            # Higher mean current: a shorter stick-out, the torch too low: up.
            vertical = s.vertical_gain_mm_per_a * shrink(
                period.mean_current_a - self.reference_a, s.vertical_deadband_a
            )
        limit = s.max_step_mm_per_period
        return max(-limit, min(limit, lateral)), max(-limit, min(limit, vertical))

    def plausible(self, period: WeavePeriodCurrents) -> bool:
        """Whether the period's currents are those of a burning arc (else it is refused)."""
        currents = (period.left_current_a, period.right_current_a, period.mean_current_a)
        return all(0 < a <= self.settings.max_current_a for a in currents)


@dataclass
class ArcRun:
    """One arc-tracked path: what the event loop keeps of it beside the shared
    ``TrackingRun`` (the event loop's own)."""

    run: TrackingRun
    law: ArcLaw
    weave: WeaveShape
    last_count: int | None = None  # the power source's period number last seen
    last_period_at: float | None = None  # monotonic, when it was seen
    periods: int = 0  # new periods seen
    periods_used: int = 0
    periods_missed: int = 0  # completed between two reads (the reads too slow)
    periods_refused: int = 0  # too few samples, or currents no arc draws
    differences_a: list[float] = field(default_factory=list)
    read_errors: int = 0


class ArcTracking:
    """Through-arc seam tracking of the pass being welded (see the module docstring)."""

    def __init__(
        self,
        settings: ArcSensingSettings,
        power_source: PowerSourceDriver,
        robot: Robot,
        correction_rate_hz: float,
        correction_lead_ms: float,
    ) -> None:
        self.settings = settings
        self.power_source = power_source
        self.robot = robot
        self.correction_rate_hz = correction_rate_hz
        self.correction_lead_s = correction_lead_ms / 1000
        self.torch = TorchEstimate()
        robot.add_status_listener(self.torch.on_status)
        # The look-ahead buffer's settings: its window narrower than a period's spacing (each
        # period's estimate stands until the next), no outlier gate (a period is a mean of
        # hundreds of samples already; the gain is the filter).
        self._track_settings = TrackingSettings(
            correction_rate_hz=correction_rate_hz,
            filter_window_mm=1.0,
            outlier_gate_mm=10.0,
            coast_mm=settings.coast_mm,
        )
        self._latencies = LatencyWindow()  # stays empty: the grid runs on its own clock
        self._arc: ArcRun | None = None
        self._stream: CorrectionStream | None = None
        self._poll: asyncio.Task[None] | None = None
        self.last_run: ArcRun | None = None
        self.observer: TrackingObserver | None = None  # set by `cellctl run` (OPC UA)

    def show_to(self, observer: TrackingObserver) -> None:
        """Tell ``observer`` of every correction sent from now on (as the laser's tracking
        does; the arc has no profile to show)."""
        self.observer = observer

    @property
    def tracking(self) -> bool:
        return self._arc is not None

    async def start(
        self,
        seam: Seam,
        path: list[Point],
        path_id: int,
        weave: WeaveShape,
        off_centre: bool = False,
        resuming: bool = False,
    ) -> None:
        """Track path ``path_id`` (``path``, woven as ``weave``) by the arc from now on;
        ``off_centre``: the pass is placed off the groove's centre (a lateral offset), so it
        keeps the flanks' difference it starts with. ``resuming``: the same pass goes on after
        an arc break (its rest of the path): the joint is taken to be where the last run had
        it, and the references it learnt stay; otherwise the path as planned until the first
        period."""
        previous = self.last_run if resuming else None
        if previous is not None and previous.run.seam.name != seam.name:
            previous = None
        await self.stop()
        if not weave.weaving:
            raise ValueError(f"seam {seam.name}: arc tracking needs a weave")
        limits = self.robot.settings.limits
        max_correction = float(limits.max_path_correction_mm)
        if seam.sensing.max_correction_mm is not None:
            max_correction = min(max_correction, seam.sensing.max_correction_mm)
        track = SeamTrack(self._track_settings)
        rows = previous.run.corrections.rows() if previous is not None else []
        track.seed(0.0, *(rows[-1][2:4] if rows else (0.0, 0.0)))
        run = TrackingRun(
            seam=seam,
            path_id=path_id,
            track=track,
            finder=None,
            max_correction_mm=max_correction,
            max_rate_mm_per_s=float(limits.max_correction_rate_mm_per_s),
            path_length_mm=length_mm(path),
            weave=weave,
        )
        law_of_arc = ArcLaw(self.settings, difference_reference_a=None if off_centre else 0.0)
        if previous is not None:
            law_of_arc.reference_a = previous.law.reference_a
            law_of_arc.difference_reference_a = previous.law.difference_reference_a
        arc = ArcRun(run, law_of_arc, weave)
        self._arc = arc
        self._stream = start_stream(
            run,
            robot=self.robot,
            torch=self.torch,
            latencies=self._latencies,
            rate_hz=self.correction_rate_hz,
            lead_s=self.correction_lead_s,
            coast_mm=self.settings.coast_mm,
            lookahead_mm=0.0,  # the arc senses at the torch
            observer=self.observer,
            sensor_trouble=lambda: self._trouble(arc),
            internal_error=self._internal_error,
        )
        self._poll = asyncio.get_running_loop().create_task(
            self._read_periods(arc), name="arc sensing"
        )

    def check(self) -> None:
        """Raise ``TrackingLost`` once tracking has coasted as far as it may."""
        arc = self._arc
        if arc is not None and arc.run.lost:
            raise TrackingLost(f"arc sensing: {arc.run.lost}")

    async def stop(self) -> dict[str, float] | None:
        """End tracking; its figures for the seam's record (None when not tracking)."""
        arc, self._arc = self._arc, None
        if self._poll is not None:
            poll, self._poll = self._poll, None
            poll.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poll
        if self._stream is not None:
            stream, self._stream = self._stream, None
            stream.stop()  # from here on no correction is sent
        if arc is None:
            return None
        self.last_run = arc
        figures = tracking_figures(arc.run)
        for name in ("frames", "frame_first", "frame_last", "frames_with_joint"):
            figures.pop(name, None)  # the laser's
        figures |= {
            "tracking_source_arc": 1,
            "arc_periods": arc.periods,
            "arc_periods_used": arc.periods_used,
            "arc_periods_missed": arc.periods_missed,
            "arc_periods_refused": arc.periods_refused,
            "arc_read_errors": arc.read_errors,
        }
        if arc.law.reference_a is not None:
            figures["arc_reference_current_a"] = round(arc.law.reference_a, 1)
        if arc.law.difference_reference_a is not None:
            figures["arc_reference_difference_a"] = round(arc.law.difference_reference_a, 2)
        if arc.differences_a:
            d = arc.differences_a
            figures["arc_difference_rms_a"] = round(math.sqrt(sum(x * x for x in d) / len(d)), 2)
        return figures

    # -- the event loop's part ----------------------------------------------------------------

    async def _read_periods(self, arc: ArcRun) -> None:
        """Read the power source's last period every ``poll_interval_ms``; use each new one.
        A failed read is counted and skipped: the cycle's own status reads see a lost link
        (and fault); a silent sensor ends in coasting."""
        interval_s = self.settings.poll_interval_ms / 1000
        while True:
            try:
                period = await self.power_source.read_weave_period()
            except DeviceError as error:
                arc.read_errors += 1
                log.debug("arc sensing: period not read: %s", error)
            else:
                self._on_period(arc, period, time.monotonic())
            await asyncio.sleep(interval_s)

    def _on_period(self, arc: ArcRun, period: WeavePeriodCurrents, now_s: float) -> None:
        if arc.last_count is None:
            arc.last_count = period.period_count  # begun before this path: not its own
            arc.last_period_at = now_s
            return
        new = period.periods_since(arc.last_count)
        if new == 0:
            return
        arc.periods += 1
        arc.periods_missed += new - 1
        arc.last_count = period.period_count
        previous_at, arc.last_period_at = arc.last_period_at, now_s
        if period.samples < self.settings.min_samples_per_period or not arc.law.plausible(period):
            arc.periods_refused += 1
            return
        run = arc.run
        # The period's middle: half a weave pitch back along the path; the correction the
        # robot had then, half the time between the last two periods seen back.
        s_torch = self.torch.position_mm(now_s, run.path_id)
        s_middle = max(0.0, s_torch - arc.weave.pitch_mm / 2)
        half_period_s = (now_s - previous_at) / 2 if previous_at is not None else 0.0
        lateral_c, vertical_c = run.corrections.at(now_s - half_period_s)
        step_lateral, step_vertical = arc.law.step_mm(period)
        arc.differences_a.append(period.left_current_a - period.right_current_a)
        run.track.add(s_middle, lateral_c + step_lateral, vertical_c + step_vertical, now_s)
        arc.periods_used += 1

    def _trouble(self, arc: ArcRun) -> str:
        """Why no usable period came (for the text of lost tracking)."""
        if not self.power_source.link.connected:
            return "power source link down"
        if arc.periods == 0:
            return "the power source reported no weave period (is the weave sync wired?)"
        errors = f", {arc.read_errors} reads failed" if arc.read_errors else ""
        return f"{arc.periods_used} of {arc.periods} weave periods usable{errors}"

    def _internal_error(self, where: str, error: BaseException) -> None:
        log.error("%s failed", where, exc_info=error)
