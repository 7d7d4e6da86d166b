"""The simulated sensor's camera head: its trigger, its rendering and its TCP stream, in a
thread of its own ("simulated sensor camera"), off the simulator's event loop.

Why a thread: rendering a frame (0.4-1 ms of numpy and OpenCV) and sending it (300 KB into a
socket) on the event loop held up everything else the loop answers for (the robot's
corrections, the PLC, the power source) once every frame, and waited behind them in turn.
The truth of a frame, where the laser line lies at the exposure instant, is found in this
thread too where it can be (``observe_here``: the robot's tool point from its recent physics
steps, ``sim.devices.pose_history``; the true part, never changed; the beads, locked): asking
the loop for it made each frame wait for whatever the loop was doing (0.35 ms p50, 0.9 ms p99
of the bench's frames beside a CPU hog). Only where those steps do not say (the robot standing
still) does it ask the loop (``observe``).

Contract (unchanged from the sensor's on the loop):

- the trigger keeps the camera's clock (``next_trigger_s``) on the monotonic clock, with a
  sleep's resolution (microseconds), not the loop's timers' (a millisecond);
- each trigger gets the frame's truth at that instant (``observe_here``, else ``observe`` on
  the loop): a trigger got to more than a period late is dropped (``None``), and a frame got
  to within ``MAX_EXPOSURE_LAG_S`` is stamped with the trigger's instant;
- frames go to every client in the order they connected, each frame whole, the header and
  payload of ``drivers.codecs.sensor_protocol``; a client that has not taken the previous
  frame yet is skipped (it gets the next one: a sensor never queues stale frames).

Ownership: this thread alone owns the renderer (its random draws and noise fields), the frame
buffers, the listening socket and the client sockets. Others talk to it through
``unplug()`` and ``stop()`` (flags, then a byte on the wake-up socket) and through the loop's
answer to ``observe`` (handed over under ``_answer_lock``); its counters are ints written
here and only read elsewhere. The truth it renders (a ``JointView``) is made here or on the
event loop, and never changed after it is made.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import os
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from drivers.codecs.sensor_protocol import (
    FLAG_LASER_ON,
    HEADER_BYTES,
    FrameHeader,
    encode_header,
)
from drivers.realtime import gil_kept
from sim.devices.sensor_render import JointView, StripeRenderer

log = logging.getLogger(__name__)

MAX_EXPOSURE_LAG_S = 0.004  # a later wake-up (a busy machine) exposes when it wakes
SERVE_UNTIL_S = 0.002  # the last stretch before a trigger is slept, not polled (ms resolution)
RENDER_TIMES_KEPT = 10_000
# While it renders a frame, the camera's thread keeps the GIL when the loop asks for it, up
# to this long (``drivers.realtime.gil_kept``): a frame's rendering is some 0.4 ms.
RENDER_GIL_KEPT_S = 0.001


class AskTheLoop:
    """``observe_here``'s answer when it cannot say without the event loop (``ASK_THE_LOOP``)."""


ASK_THE_LOOP = AskTheLoop()


@dataclass(frozen=True, slots=True)
class FrameOrder:
    """What the event loop answers a trigger with: the frame's number, exposure and view."""

    frame_number: int
    exposure_ns: int
    view: JointView | None


def next_trigger_s(previous_s: float, now_s: float, period_s: float) -> float:
    """The camera's next trigger after the one at ``previous_s``: a period on. A thread held
    up for longer than MAX_EXPOSURE_LAG_S (the whole machine stalls now and then) skips the
    triggers it missed, and keeps to the clock's phase, as a hardware trigger would."""
    next_s = previous_s + period_s
    behind_s = now_s - next_s
    if behind_s > MAX_EXPOSURE_LAG_S:
        next_s += math.ceil((behind_s - MAX_EXPOSURE_LAG_S) / period_s) * period_s
    return next_s


def _above_the_loop() -> None:
    """Where the simulator runs real-time (SCHED_FIFO: the benchmarks give it that), this
    thread one priority above the rest of it. The camera is hardware of its own in a cell;
    here it shares a core and the GIL with the event loop, and every numpy call that releases
    the GIL while it renders would otherwise let the loop's Python take the GIL back, for up to
    a switch interval each time. Above the loop on its core, it keeps the core while it
    renders, and the loop gets the GIL back once the frame is sent. Elsewhere: nothing."""
    try:
        if os.sched_getscheduler(0) != os.SCHED_FIFO:  # 0: this thread (Linux)
            return
        priority = os.sched_getparam(0).sched_priority + 1
        if priority <= os.sched_get_priority_max(os.SCHED_FIFO):
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except (AttributeError, OSError):
        pass


class _Client:
    """A connected client: its socket and what is left to send of the frame it is taking."""

    __slots__ = ("buffer", "rest", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.rest: memoryview | None = None  # unsent bytes of the frame it is taking
        self.buffer = -1  # which frame buffer ``rest`` lies in


class CameraStream:
    """The camera head (see the module docstring). ``observe(trigger_s)`` runs on ``loop``."""

    def __init__(
        self,
        renderer: StripeRenderer,
        period_s: float,
        observe: Callable[[float], FrameOrder | None],
        host: str,
        port: int,
        observe_here: Callable[[float], FrameOrder | AskTheLoop | None] | None = None,
    ) -> None:
        self.renderer = renderer
        self.period_s = period_s
        self._observe = observe
        # The same in this thread, without the loop, where it can (else ASK_THE_LOOP).
        self._observe_here = observe_here
        self._listener = socket.create_server((host, port))
        self._listener.setblocking(False)
        self.port = self._listener.getsockname()[1]
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._clients: list[_Client] = []  # in the order they connected
        self._buffers: list[tuple[bytearray, np.ndarray]] = []  # header + pixels, and the pixels
        self._stopping = False
        self._unplug = False
        self._answer_lock = threading.Lock()  # the loop's answer to the trigger asked about
        self._asked = 0  # which trigger was asked about (a count)
        self._answer: tuple[int, FrameOrder | None] | None = None
        self.render_s: collections.deque[float] = collections.deque(maxlen=RENDER_TIMES_KEPT)
        self.render_cpu_s: collections.deque[float] = collections.deque(maxlen=RENDER_TIMES_KEPT)
        # A frame's way through the camera head, per frame sent (s): the trigger's wake-up
        # after its instant, the wait for the truth at it (``observe``), and the trigger to
        # the frame's last byte handed to the first client's socket.
        self.wake_late_s: collections.deque[float] = collections.deque(maxlen=RENDER_TIMES_KEPT)
        self.truth_wait_s: collections.deque[float] = collections.deque(maxlen=RENDER_TIMES_KEPT)
        self.trigger_to_sent_s: collections.deque[float] = collections.deque(
            maxlen=RENDER_TIMES_KEPT
        )
        # The deques above and the two before: appended here, read by snapshot.
        self.render_times_lock = threading.Lock()
        self._trigger_s = math.nan  # the trigger of the frame the first client is taking
        self.frames_sent = 0
        self.frames_skipped = 0
        self._thread: threading.Thread | None = None

    # -- life cycle (the event loop's side) ----------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._thread = threading.Thread(
            target=self._run, args=(loop,), name="simulated sensor camera", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (it wakes at once) and close every socket."""
        self._stopping = True
        self._wake()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        for client in self._clients:
            client.sock.close()
        self._clients.clear()
        self._listener.close()
        self._wake_read.close()
        self._wake_write.close()

    def unplug(self) -> None:
        """Pull the cable: every client connection is reset (new ones are accepted)."""
        self._unplug = True
        self._wake()

    @property
    def clients(self) -> int:
        return len(self._clients)

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_write.send(b"!")

    # -- the thread --------------------------------------------------------------------------

    def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        _above_the_loop()
        next_at = time.monotonic()
        while not self._stopping:
            next_at = next_trigger_s(next_at, time.monotonic(), self.period_s)
            if not self._serve(until_s=next_at - SERVE_UNTIL_S):
                return
            time.sleep(max(0.0, next_at - time.monotonic()))  # to the microsecond
            if not self._clients:
                continue
            woke = time.monotonic()
            order = self._observe_here(next_at) if self._observe_here else ASK_THE_LOOP
            if isinstance(order, AskTheLoop):
                order = self._ask(loop, next_at)
            if order is None:
                continue  # the loop dropped it (too late), or stopping
            with self.render_times_lock:
                self.wake_late_s.append(woke - next_at)
                self.truth_wait_s.append(time.monotonic() - woke)
            self._trigger_s = next_at
            try:
                with gil_kept(RENDER_GIL_KEPT_S):
                    self._render_and_send(order)
            except Exception:  # a bug: said, and the next frame tried (the camera runs on)
                log.exception("simulated sensor camera: frame %d not sent", order.frame_number)

    def _ask(self, loop: asyncio.AbstractEventLoop, trigger_s: float) -> FrameOrder | None:
        """The loop's frame order for the trigger at ``trigger_s`` (None: dropped, stopping).
        Serves the sockets while it waits."""
        with self._answer_lock:
            self._asked += 1
            asked = self._asked
            self._answer = None
        try:
            loop.call_soon_threadsafe(self._answer_on_loop, asked, trigger_s)
        except RuntimeError:  # the loop has closed
            self._stopping = True
            return None
        while True:
            with self._answer_lock:
                answer = self._answer
            if answer is not None and answer[0] == asked:
                return answer[1]
            if not self._serve(until_s=None):
                return None

    def _answer_on_loop(self, asked: int, trigger_s: float) -> None:
        """On the event loop: the truth of the frame triggered at ``trigger_s``."""
        try:
            order = self._observe(trigger_s)
        except Exception:  # a bug: said, the frame dropped, and the camera not left waiting
            log.exception("simulated sensor: no frame for the trigger at %.6f s", trigger_s)
            order = None
        with self._answer_lock:
            self._answer = (asked, order)
        self._wake()

    def _serve(self, until_s: float | None) -> bool:
        """Accept clients, send what is left of frames, notice clients gone, until ``until_s``
        (None: until woken). False once stopping."""
        while not self._stopping:
            timeout_s = None if until_s is None else until_s - time.monotonic()
            if timeout_s is not None and timeout_s <= 0:
                return True
            poller = select.poll()
            poller.register(self._listener, select.POLLIN)
            poller.register(self._wake_read, select.POLLIN)
            by_fd = {}
            for client in self._clients:
                fd = client.sock.fileno()
                by_fd[fd] = client
                poller.register(fd, select.POLLIN | (select.POLLOUT if client.rest else 0))
            events = poller.poll(None if timeout_s is None else timeout_s * 1000)
            woken = False
            for fd, event in events:
                if fd == self._listener.fileno():
                    self._accept()
                elif fd == self._wake_read.fileno():
                    with contextlib.suppress(OSError):
                        self._wake_read.recv(4096)
                    woken = True
                elif (client := by_fd.get(fd)) is not None:
                    if event & (select.POLLIN | select.POLLHUP | select.POLLERR):
                        self._read_or_drop(client)
                    if event & select.POLLOUT and client in self._clients:
                        self._send_rest(client)
            if self._unplug:
                self._unplug = False
                self._drop_all()
            if woken and until_s is None:
                return not self._stopping
        return False

    def _accept(self) -> None:
        try:
            sock, _ = self._listener.accept()
        except OSError:
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._clients.append(_Client(sock))

    def _read_or_drop(self, client: _Client) -> None:
        """Nothing comes from a client but its hang-up (EOF, a reset)."""
        try:
            if client.sock.recv(4096):
                return
        except BlockingIOError:
            return
        except OSError:
            pass
        self._drop(client)

    def _drop(self, client: _Client) -> None:
        with contextlib.suppress(ValueError):
            self._clients.remove(client)
        client.sock.close()

    def _drop_all(self) -> None:
        for client in list(self._clients):
            with contextlib.suppress(OSError):  # a reset, as a pulled cable's peer sees
                client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self._drop(client)

    def _send_rest(self, client: _Client) -> None:
        assert client.rest is not None
        try:
            sent = client.sock.send(client.rest)
        except BlockingIOError:
            return
        except OSError:
            self._drop(client)
            return
        client.rest = client.rest[sent:] if sent < len(client.rest) else None
        if client.rest is None:
            client.buffer = -1
            if self._clients and client is self._clients[0] and math.isfinite(self._trigger_s):
                with self.render_times_lock:
                    self.trigger_to_sent_s.append(time.monotonic() - self._trigger_s)
                self._trigger_s = math.nan

    def _free_buffer(self) -> int:
        """A frame buffer no client is still taking a frame from (a new one if none is)."""
        taken = {client.buffer for client in self._clients}
        for index in range(len(self._buffers)):
            if index not in taken:
                return index
        height, width = self.renderer.camera.height_px, self.renderer.camera.width_px
        data = bytearray(HEADER_BYTES + width * height)
        pixels = np.frombuffer(data, np.uint8, offset=HEADER_BYTES).reshape(height, width)
        self._buffers.append((data, pixels))
        return len(self._buffers) - 1

    def _render_and_send(self, order: FrameOrder) -> None:
        index = self._free_buffer()
        data, pixels = self._buffers[index]
        started, started_cpu = time.perf_counter(), time.thread_time()
        rendered = self.renderer.render(order.view, out=pixels)
        took, took_cpu = time.perf_counter() - started, time.thread_time() - started_cpu
        with self.render_times_lock:
            self.render_s.append(took)
            self.render_cpu_s.append(took_cpu)
        height, width = pixels.shape
        flags = FLAG_LASER_ON if rendered.laser_on else 0
        header = FrameHeader(order.frame_number, order.exposure_ns, width, height, flags=flags)
        data[:HEADER_BYTES] = encode_header(header)
        frame = memoryview(data)
        for client in list(self._clients):
            if client.rest is not None:
                self._send_rest(client)  # a last chance for the frame before
                if client.rest is not None:
                    self.frames_skipped += 1
                    continue
            if client not in self._clients:
                continue
            client.rest, client.buffer = frame, index
            self._send_rest(client)
            self.frames_sent += 1
