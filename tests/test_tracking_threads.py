"""What the seam tracker's three threads share, each with one owner or one lock.

The sensor's reader thread measures frames, the correction stream's thread sends corrections,
and the event loop runs the cycle; ``cellctl.sensing.laser`` names the owner of each structure they
share. These tests run both threads at full rate, or force the interleaving, where today's
races were found (a "deque mutated during iteration" in the frame handler, seen on the bench).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import numpy as np
import pytest

from cellctl.sensing.correction import CorrectionHistory
from drivers.codecs.sensor_protocol import Frame, encode_frame
from drivers.sensor import SensorDriver
from tests.waiting import eventually

STRESS_S = 0.5


def test_corrections_looked_up_while_the_stream_appends_at_full_rate():
    """The reader thread asks what the robot had at each exposure while the correction
    stream appends as fast as it can. Every answer is a correction sent before the exposure
    (lateral = its time, vertical = minus it: a torn one would show), or (0, 0) before any."""
    history = CorrectionHistory()
    stop = threading.Event()
    appended = 0

    def stream() -> None:
        nonlocal appended
        while not stop.is_set():
            t = time.monotonic()
            history.append(t, 0.0, t, -t)
            appended += 1

    writer = threading.Thread(target=stream, name="correction stream (test)")
    writer.start()
    lookups = 0
    try:
        end = time.monotonic() + STRESS_S
        while time.monotonic() < end:
            exposure = time.monotonic()
            lateral, vertical = history.at(exposure)
            assert lateral == -vertical
            assert lateral <= exposure
            lookups += 1
    finally:
        stop.set()
        writer.join()
    assert appended > CorrectionHistory.LOOKUP_DEPTH  # the deque wrapped while read
    assert lookups > 100
    assert history.count == appended == len(history.rows())


def test_a_lookup_before_any_correction_is_zero_and_after_is_the_last_one_before():
    history = CorrectionHistory()
    assert history.at(5.0) == (0.0, 0.0)
    history.append(1.0, 0.0, 0.1, 0.2)
    history.append(2.0, 1.0, 0.3, 0.4)
    assert history.at(0.5) == (0.0, 0.0)
    assert history.at(1.5) == (0.1, 0.2)
    assert history.at(2.0) == (0.3, 0.4)
    assert [row[1] for row in history.rows()] == [0.0, 1.0]


async def test_detaching_the_frame_handler_waits_for_the_frame_in_progress():
    """``stop_tracking`` reads the figures the frame handler writes: once the handler is
    detached, the call in progress must have returned, or the figures change under the read."""
    server = socket.create_server(("127.0.0.1", 0))
    server.setblocking(False)
    port = server.getsockname()[1]
    busy, go_on, returned = threading.Event(), threading.Event(), threading.Event()

    def on_frame(frame: Frame) -> None:
        busy.set()
        go_on.wait(5)
        returned.set()

    driver = SensorDriver("tcp", f"127.0.0.1:{port}", frame_timeout_ms=5000)
    driver.on_frame = on_frame
    try:
        # connect() returns once the first frame has come (or the attempt failed).
        connecting = asyncio.create_task(driver.connect())
        connection, _ = await asyncio.get_running_loop().sock_accept(server)
        connection.setblocking(True)
        with connection:
            connection.sendall(encode_frame(Frame(1, 1_000_000, np.zeros((8, 8), np.uint8))))
            await connecting
            await eventually(busy.is_set, 5, "the handler busy with frame 1")
            handler_had_returned: list[bool] = []

            def detach() -> None:
                driver.detach_frame_handler()
                handler_had_returned.append(returned.is_set())

            detaching = threading.Thread(target=detach, name="detach (test)")
            detaching.start()
            await asyncio.sleep(0.2)
            assert not handler_had_returned  # still waiting for the frame in progress
            go_on.set()
            await eventually(lambda: bool(handler_had_returned), 5, "the detach to return")
            detaching.join()
            assert handler_had_returned == [True]
            assert driver.on_frame is None
    finally:
        go_on.set()
        await driver.close()
        server.close()


def _python_without_a_pause(for_s: float) -> int:
    """Pure Python for ``for_s``, no call that lets go of the GIL: a stall of whoever runs it."""
    started, busy = time.monotonic(), 0
    while time.monotonic() - started < for_s:
        busy += 1
    return busy


def _slow_frame_in_the_reader(for_s: float) -> int:
    """A frame whose vision runs ``for_s`` of Python, in a thread of its own, inside the
    reader's ``gil_kept`` (``laser.FRAME_GIL_KEPT_S``), as the sensor's reader measures."""
    from cellctl.sensing.laser import FRAME_GIL_KEPT_S
    from drivers.realtime import gil_kept

    result: list[int] = []

    def measure() -> None:
        with gil_kept(FRAME_GIL_KEPT_S):
            result.append(_python_without_a_pause(for_s))

    reader = threading.Thread(target=measure, name="sensor reader (test)")
    reader.start()
    reader.join()
    return result[0]


@pytest.mark.parametrize(
    "stall",
    [_python_without_a_pause, _slow_frame_in_the_reader],
    ids=["the event loop stalled", "a slow frame in the reader"],
)
async def test_the_correction_stream_ticks_on_while_python_elsewhere_holds_on(stall):
    """Neither a stalled event loop nor a slow frame stops the corrections: while the event
    loop runs Python without a pause (holding the GIL as long as CPython lets it), or the
    reader spends long on a frame's vision (keeping the GIL for ``FRAME_GIL_KEPT_S`` each
    time it is asked), the stream's thread still gets the GIL and sends."""
    import sys

    from cellctl.config.sensor_models import TrackingSettings
    from cellctl.sensing.correction import CorrectionLaw, LatencyWindow
    from cellctl.sensing.run import TrackingRun
    from cellctl.sensing.stream import GIL_SWITCH_INTERVAL_S, CorrectionStream
    from cellctl.sensing.torch import TorchEstimate
    from cellctl.sensing.track import SeamTrack

    class Robot:
        def __init__(self) -> None:
            self.sent_at: list[float] = []

        def send_correction(self, lateral_mm: float, vertical_mm: float) -> None:
            self.sent_at.append(time.monotonic())

    track = SeamTrack(TrackingSettings())
    track.seed(0.0, 0.0, 0.0)
    law = CorrectionLaw(
        track, max_correction_mm=5, max_rate_mm_per_s=50, correction_rate_hz=250,
        coast_mm=1e6, lookahead_mm=30, path_length_mm=100,
    )  # fmt: skip
    run = TrackingRun(
        seam=None, path_id=1, track=track, finder=None, max_correction_mm=5,
        max_rate_mm_per_s=50, path_length_mm=100,
    )  # fmt: skip
    robot = Robot()
    stream = CorrectionStream(
        robot=robot, run=run, law=law, torch=TorchEstimate(), latencies=LatencyWindow(),
        rate_hz=250, lead_s=0.006, observer=None, sensor_trouble=lambda: "",
        internal_error=lambda where, error: None,
    )  # fmt: skip
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)  # as the controller sets it (LaserSensing)
    stream.start()
    try:
        await eventually(lambda: len(robot.sent_at) >= 5, what="the stream's first ticks")
        stalled_from = time.monotonic()
        busy = stall(0.4)
        stalled_to = time.monotonic()
    finally:
        stream.stop()
        sys.setswitchinterval(switch_interval)
    during = [t for t in robot.sent_at if stalled_from <= t <= stalled_to]
    # 100 ticks fall in the stall; a stream that waited for the stall sends none of them.
    assert len(during) >= 30
    assert busy > 0
    assert run.lost is None
