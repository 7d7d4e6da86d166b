"""The correction stream: a thread of its own that sends the robot its path correction at a
fixed rate (250 Hz) while a seam is tracked.

It is not an asyncio task: the event loop also serves OPC UA clients, the production records
and the PLC, and any of their callbacks would make a tick late. Each tick asks the correction
law (``cellctl.sensing.correction.CorrectionLaw``) for the correction where the torch will be
when it takes effect, and sends it (fire-and-forget); its ticks fall on the correction grid,
locked onto the sensor's exposures. The thread asks for a real-time priority (SCHED_FIFO)
where the process may.

Once ``stop`` returns, no correction follows: the last send and the stop are ordered by one
lock.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from cellctl.sensing.correction import CorrectionGrid, CorrectionLaw, LatencyWindow
from cellctl.sensing.run import TrackingRun
from cellctl.sensing.torch import TorchEstimate
from drivers.errors import DeviceError
from drivers.realtime import ask_for_realtime_or_say
from drivers.robot import Robot

if TYPE_CHECKING:
    from cellctl.sensing.protocol import TrackingObserver

log = logging.getLogger(__name__)

STREAM_JOIN_TIMEOUT_S = 0.5
# SCHED_FIFO, 1..99: above every normal thread, the sensor's reader (its frame's vision,
# ``laser.READER_REALTIME_PRIORITY``) and the rest of the controller (``cellctl run``).
STREAM_REALTIME_PRIORITY = 10
GIL_SWITCH_INTERVAL_S = 0.0002  # a tick's wait for the GIL (but a frame's vision: laser.py)


class CorrectionStream:
    """One tracked path's corrections, from ``start`` to ``stop`` (see the module).

    The thread owns the law, the grid and the run's stream figures (``lateness_s``,
    ``exposure_to_sent_s``) until ``stop`` has joined it; it writes ``run.lost`` (one str)
    for the weld cycle's check, and the run's ``corrections`` (locked inside).
    """

    def __init__(
        self,
        *,
        robot: Robot,
        run: TrackingRun,
        law: CorrectionLaw,
        torch: TorchEstimate,
        latencies: LatencyWindow,
        rate_hz: float,
        lead_s: float,
        observer: TrackingObserver | None,
        sensor_trouble: Callable[[], str],
        internal_error: Callable[[str, BaseException], None],
    ) -> None:
        self.robot = robot
        self.run = run
        self.law = law
        self.torch = torch
        self.latencies = latencies
        self.period_s = 1.0 / rate_hz
        self.lead_s = lead_s
        self.observer = observer
        self.sensor_trouble = sensor_trouble  # why the sensor is not seeing, for the lost text
        self.internal_error = internal_error
        self._stop = threading.Event()
        # Held while a correction goes out and while the stream is told to stop: once
        # ``stop`` has the lock and set the event, no correction follows.
        self._send_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="correction stream", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """No correction from here on; the thread is joined (it wakes on the event at once)."""
        with self._send_lock:
            self._stop.set()
        self._thread.join(STREAM_JOIN_TIMEOUT_S)
        if self._thread.is_alive():
            log.warning("the correction stream's thread did not end in time")

    def _run(self) -> None:
        """A failure of its own (not the link's) loses tracking, so the weld cycle faults and
        holds; and nobody expected it (F180)."""
        # A robot interface wants its tick on time even when the cores are busy (rendering,
        # the HMI); without the privilege the stream stays a normal thread.
        ask_for_realtime_or_say(STREAM_REALTIME_PRIORITY, "correction stream")
        try:
            self._ticks()
        except Exception as error:
            self.run.lost = f"the correction stream failed: {error!r}"
            self.internal_error("the correction stream", error)

    def _ticks(self) -> None:
        run, law = self.run, self.law
        grid = CorrectionGrid(self.period_s, time.monotonic(), self.latencies)
        while True:
            if self._stop.wait(max(0.0, grid.advance() - time.monotonic())):
                return
            now = time.monotonic()
            run.lateness_s.append(grid.ticked(now))
            s_torch = self.torch.position_mm(now + self.lead_s, run.path_id)
            lateral, vertical = law.next(s_torch)
            with self._send_lock:
                if self._stop.is_set():
                    return
                try:
                    self.robot.send_correction(lateral, vertical)
                except DeviceError as error:
                    log.debug("correction not sent: %s", error)
                    continue
                sent_at = time.monotonic()
            if self.observer is not None:
                self.observer.publish_tracking(lateral, vertical, s_torch)
            run.corrections.append(sent_at, s_torch, lateral, vertical)
            newest = run.track.last_exposure_s
            if math.isfinite(newest) and newest > run.last_reported_exposure:
                run.last_reported_exposure = newest
                run.exposure_to_sent_s.append(sent_at - newest)
            lost = law.coasted(s_torch)
            if lost is not None:
                trouble = self.sensor_trouble()
                run.lost = (
                    lost
                    + (f"; {trouble}" if trouble else "")
                    + (f"; last frame: {run.last_refusal}" if run.last_refusal else "")
                )


def start_stream(
    run: TrackingRun,
    *,
    robot: Robot,
    torch: TorchEstimate,
    latencies: LatencyWindow,
    rate_hz: float,
    lead_s: float,
    coast_mm: float,
    lookahead_mm: float,
    observer: TrackingObserver | None,
    sensor_trouble: Callable[[], str],
    internal_error: Callable[[str, BaseException], None],
) -> CorrectionStream:
    """The correction stream of ``run``, started: its law takes the run's buffer, limits and
    path length, corrects ``lookahead_mm`` ahead of the torch (0: the source senses at the
    torch, as the arc does) and coasts ``coast_mm`` past the last measurement. One place for
    every seam source (the laser, the arc), so that they stream alike."""
    law = CorrectionLaw(
        run.track,
        max_correction_mm=run.max_correction_mm,
        max_rate_mm_per_s=run.max_rate_mm_per_s,
        correction_rate_hz=rate_hz,
        coast_mm=coast_mm,
        lookahead_mm=lookahead_mm,
        path_length_mm=run.path_length_mm,
    )
    stream = CorrectionStream(
        robot=robot,
        run=run,
        law=law,
        torch=torch,
        latencies=latencies,
        rate_hz=rate_hz,
        lead_s=lead_s,
        observer=observer,
        sensor_trouble=sensor_trouble,
        internal_error=internal_error,
    )
    stream.start()
    return stream
