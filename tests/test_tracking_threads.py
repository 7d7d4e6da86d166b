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
