"""The laser seam sensor's driver: frames from a camera backend, always the newest one.

Backends, chosen by name from config (``SensorDriver(backend, source)``):

- ``tcp``: a network sensor (or the simulator) streaming ``drivers.codecs.sensor_protocol`` frames;
  ``source`` is ``host:port``;
- ``opencv``: ``cv2.VideoCapture`` on a USB/V4L2 device (``source`` a number or
  ``/dev/videoN``), a stream URL or a video file (played at its own frame rate);
- ``replay``: a recorded run (``record_frame`` writes one): a folder of PNG files named
  ``<frame number>_<exposure ns>.png``, played at the pace they were recorded, stamped with
  the time they are played.

Contract:

- A thread of the driver's own reads the backend as fast as frames come and keeps only the
  newest (a camera's buffer, the kernel's socket buffer and OpenCV's internal queue are
  emptied as they fill): ``latest()`` and ``next_frame()`` never hand out a stale frame when a
  newer one has arrived. ``on_frame`` (if set) is called in that thread with each frame, so
  that the vision can work on it at once, off the controller's event loop; but not with a
  frame that a newer one has already arrived behind (whole, in the socket's buffer) while
  the handler was busy with an earlier one or the machine stalled: the vision goes to the
  newest at once instead of working through a backlog (``frames_stale`` counts them).
  ``detach_frame_handler()`` stops the calls and waits for one in progress.
- ``connect()`` opens the first connection (a reader thread of its own) and returns once its
  first frame has come or the attempt has failed; from then on the link reconnects with
  doubling backoff until ``close()`` (``drivers.link.SupervisedLink``). A link counts as up
  once a frame has arrived on it; its state changes are told to its listeners at once.
- A lost link (EOF, a reset, no frame for ``frame_timeout_ms``, a garbled header) takes the
  link down: ``latest()`` and ``next_frame()`` then raise ``LinkDown``; it reconnects by itself.

Every error reads ``sensor at <source>: <what happened>``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import logging
import math
import socket
import struct
import sys
import termios
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from drivers.codecs.sensor_protocol import (
    HEADER_BYTES,
    Frame,
    FrameFormatError,
    decode_frame,
    decode_header,
)
from drivers.errors import DeviceTimeout, FramesRefused, LinkDown
from drivers.link import SupervisedLink
from drivers.realtime import ask_for_realtime_or_say

log = logging.getLogger(__name__)

BACKENDS = ("tcp", "opencv", "replay")


class _BackendLost(Exception):
    """The backend's link ended; the text says how."""


class _Backend:
    """One way of getting frames: open, read the next frame (blocking), close."""

    def open(self) -> None: ...

    def read(self) -> Frame: ...

    def interrupt(self) -> None:
        """Make a blocked ``read`` return (from another thread)."""

    def newer_waiting(self) -> bool:
        """Whether a whole frame more has already arrived behind the one just read."""
        return False

    def close(self) -> None: ...


class _TcpBackend(_Backend):
    def __init__(self, source: str, timeout_s: float) -> None:
        host, _, port = source.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"tcp source must be host:port, got {source!r}")
        self.address = (host, int(port))
        self.timeout_s = timeout_s
        self.sock: socket.socket | None = None
        self.header = bytearray(HEADER_BYTES)
        self.frame_bytes = 0  # the last frame's, header included

    def open(self) -> None:
        sock = socket.create_connection(self.address, timeout=self.timeout_s)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Blocking, with the frame timeout kept by the kernel (SO_RCVTIMEO), not Python's
        # poll-then-receive: a frame's 300 KB then come in one receive (MSG_WAITALL, ``_fill``)
        # and the reader takes the GIL back once a frame, not once per chunk of the socket's
        # buffer, each time behind whichever thread held it (up to a switch interval each).
        sock.settimeout(None)
        whole_s = int(self.timeout_s)
        timeval = struct.pack("ll", whole_s, int((self.timeout_s - whole_s) * 1e6))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
        self.sock = sock

    def _fill(self, view: memoryview) -> None:
        assert self.sock is not None
        got = 0
        while got < len(view):
            try:
                n = self.sock.recv_into(view[got:], 0, socket.MSG_WAITALL)
            except (BlockingIOError, TimeoutError) as error:  # SO_RCVTIMEO ran out
                raise _BackendLost(f"no frame within {self.timeout_s * 1000:.0f} ms") from error
            except OSError as error:
                raise _BackendLost(f"receive failed: {error}") from error
            if n == 0:
                raise _BackendLost("the sensor closed the connection")
            got += n

    def read(self) -> Frame:
        self._fill(memoryview(self.header))
        try:
            header = decode_header(self.header)
        except FrameFormatError as error:
            raise _BackendLost(f"garbled frame header: {error}") from error
        payload = bytearray(header.payload_bytes)  # the frame's own: no copy needed
        self._fill(memoryview(payload))
        received_s = time.monotonic()
        self.frame_bytes = HEADER_BYTES + header.payload_bytes
        return decode_frame(header, payload, copy=False, received_s=received_s)

    def newer_waiting(self) -> bool:
        # The bytes in the kernel's receive buffer: a sensor sends frames of one size.
        if self.sock is None or not self.frame_bytes:
            return False
        try:
            waiting = bytearray(4)
            fcntl.ioctl(self.sock.fileno(), termios.FIONREAD, waiting)
        except OSError:
            return False
        return int.from_bytes(waiting, sys.byteorder, signed=True) >= self.frame_bytes

    def interrupt(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class _OpenCvBackend(_Backend):
    def __init__(self, source: str, timeout_s: float) -> None:
        self.source: int | str = int(source) if source.isdigit() else source
        self.capture = None
        self.number = 0
        self.file = isinstance(self.source, str) and Path(self.source).is_file()
        self.period_s = 0.0
        self.next_at = 0.0

    def open(self) -> None:
        import cv2

        capture = cv2.VideoCapture(self.source)
        if not capture.isOpened():
            capture.release()
            raise _BackendLost(f"OpenCV cannot open {self.source!r}")
        self.capture = capture
        fps = capture.get(cv2.CAP_PROP_FPS) if self.file else 0
        self.period_s = 1.0 / fps if fps and fps > 0 else 0.0
        self.next_at = time.monotonic()

    def read(self) -> Frame:
        import cv2

        assert self.capture is not None
        if self.period_s:  # a file: play it at its own pace, as the camera recorded it
            self.next_at += self.period_s
            time.sleep(max(0.0, self.next_at - time.monotonic()))
        ok = self.capture.grab()
        exposure_ns = time.monotonic_ns()
        if not ok:
            raise _BackendLost("no more frames" if self.file else "the camera stopped")
        ok, image = self.capture.retrieve()
        if not ok or image is None:
            raise _BackendLost("frame could not be decoded")
        if image.ndim == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        self.number += 1
        return Frame(self.number, exposure_ns, np.ascontiguousarray(image))

    def close(self) -> None:
        if self.capture is not None:
            self.capture.release()
            self.capture = None


class _ReplayBackend(_Backend):
    def __init__(self, source: str, timeout_s: float) -> None:
        self.folder = Path(source)
        self.files: list[tuple[int, int, Path]] = []
        self.index = 0
        self.started_at = 0.0
        self.stop = threading.Event()

    def open(self) -> None:
        files = []
        for path in sorted(self.folder.glob("*.png")):
            number, _, exposure = path.stem.partition("_")
            if number.isdigit() and exposure.isdigit():
                files.append((int(number), int(exposure), path))
        if not files:
            raise _BackendLost(f"no recorded frames (<number>_<exposure ns>.png) in {self.folder}")
        self.files = files
        self.index = 0
        self.started_at = time.monotonic()

    def read(self) -> Frame:
        import cv2

        if self.index >= len(self.files):
            raise _BackendLost("end of the recording")
        number, exposure_ns, path = self.files[self.index]
        self.index += 1
        due = self.started_at + (exposure_ns - self.files[0][1]) / 1e9
        if self.stop.wait(max(0.0, due - time.monotonic())):
            raise _BackendLost("interrupted")
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise _BackendLost(f"{path.name} is not a readable image")
        return Frame(number, time.monotonic_ns(), image)

    def interrupt(self) -> None:
        self.stop.set()


def record_frame(folder: Path, frame: Frame) -> Path:
    """Write ``frame`` into a recording that the ``replay`` backend plays back."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{frame.frame_number:08d}_{frame.exposure_ns}.png"
    cv2.imwrite(str(path), frame.pixels)
    return path


class SensorDriver(SupervisedLink):
    """The controller's link to the laser seam sensor (see the module's contract).

    Connecting, supervising and backing off are ``drivers.link.SupervisedLink``'s: each
    connection is a reader thread of its own, and the link is up once its first frame came.
    """

    def __init__(
        self,
        backend: str,
        source: str,
        *,
        device: str = "sensor",
        frame_timeout_ms: int = 500,
        reconnect_delay_min_ms: int = 100,
        reconnect_delay_max_ms: int = 2000,
        frame_size_px: tuple[int, int] | None = None,
    ) -> None:
        """``frame_size_px`` (width, height): the only size the vision can use (its
        calibration's); frames of another size are refused (see ``latest``)."""
        if backend not in BACKENDS:
            raise ValueError(f"sensor backend {backend!r}: expected one of {', '.join(BACKENDS)}")
        super().__init__(device, reconnect_delay_min_ms / 1000, reconnect_delay_max_ms / 1000)
        self.backend_name = backend
        self.source = source
        self.frame_timeout_s = frame_timeout_ms / 1000
        self.on_frame: Callable[[Frame], None] | None = None
        # SCHED_FIFO priority the reader thread asks for (0: a normal thread): it calls
        # on_frame, which may be a control loop's measurement (``drivers.realtime``).
        self.reader_priority = 0
        self.frames_received = 0
        self.frames_missed = 0  # gaps in the sensor's frame numbers (it dropped, or we did)
        self.frames_stale = 0  # not given to on_frame: a newer one had arrived behind them
        self.frame_size_px = frame_size_px
        self.frames_refused = 0  # of another size than frame_size_px: never used
        # Why the newest frames are refused (None while they fit). Written by the reader
        # thread only, one str at a time; read by whoever asks for a frame.
        self.refusing: str | None = None
        # Told of an exception that escapes the frame handler or the reader itself (from the
        # reader thread): the reader lives on, but the controller must know (F180).
        self.on_internal_error: Callable[[str, BaseException], None] | None = None
        self._make = {"tcp": _TcpBackend, "opencv": _OpenCvBackend, "replay": _ReplayBackend}[
            backend
        ]
        self._lock = threading.Lock()
        self._newest: Frame | None = None
        self._stop = threading.Event()  # the current connection's reader: end now
        self._reader: threading.Thread | None = None
        self._backend: _Backend | None = None
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        # Held by the reader thread while it calls on_frame: whoever detaches the handler
        # waits on it for the call in progress, and may then read what the handler wrote.
        self._handler_busy = threading.Lock()

    @property
    def address(self) -> str:
        return f"{self.source} ({self.backend_name})"

    # -- the transport (drivers.link.SupervisedLink) --------------------------------------------

    async def _open(self) -> bool:
        """Start a reader thread on a new connection; up once its first frame has come."""
        self._stop.clear()
        backend = self._make(self.source, self.frame_timeout_s)
        self._backend = backend
        first_frame: concurrent.futures.Future[bool] = concurrent.futures.Future()
        self._reader = threading.Thread(
            target=self._read_connection,
            args=(backend, first_frame),
            name="sensor reader",
            daemon=True,
        )
        self._reader.start()
        return await asyncio.wrap_future(first_frame)

    async def _release(self, final: bool) -> None:
        self._stop.set()
        backend, reader = self._backend, self._reader
        if backend is not None:
            backend.interrupt()
        if reader is not None:
            # The interrupt makes a blocked read return at once; the join is short.
            reader.join(timeout=5)
        self._reader = self._backend = None

    def detach_frame_handler(self) -> None:
        """Call ``on_frame`` no more: clears it, and returns once a call in progress in the
        reader thread has returned (some milliseconds at most: one frame's vision), so that
        what the handler wrote can be read without it writing on. From the handler itself it
        only clears."""
        self.on_frame = None
        if threading.current_thread() is not self._reader:
            with self._handler_busy:
                pass

    # -- frames -------------------------------------------------------------------------------

    def latest(self) -> Frame | None:
        """The newest frame (None before the first). ``LinkDown`` while the link is down,
        ``FramesRefused`` while the sensor sends frames the vision cannot use."""
        if not self.connected:
            raise LinkDown(self.device, self.address, f"link is down: {self.stats.last_error}")
        refusing = self.refusing
        if refusing is not None:
            raise FramesRefused(self.device, self.address, refusing)
        with self._lock:
            return self._newest

    async def next_frame(self, after: int = -1, timeout_s: float | None = None) -> Frame:
        """The newest frame with a number above ``after``, waiting for one if need be."""
        timeout_s = self.frame_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout_s
        loop = asyncio.get_running_loop()
        while True:
            frame = self.latest()
            if frame is not None and frame.frame_number != after:
                return frame
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeviceTimeout(
                    self.device, self.address, f"no new frame within {timeout_s * 1000:.0f} ms"
                )
            event = asyncio.Event()
            entry = (loop, event)
            with self._lock:
                self._waiters.append(entry)
            try:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(remaining, 0.05)):
                        await event.wait()
            finally:
                with self._lock:
                    if entry in self._waiters:
                        self._waiters.remove(entry)

    # -- the reader thread ----------------------------------------------------------------------

    def _read_connection(
        self, backend: _Backend, first_frame: concurrent.futures.Future[bool]
    ) -> None:
        """The reader thread of one connection: open it, read until it is lost or released,
        and say which (``first_frame``'s result while the attempt waits, else ``_lost``)."""
        if self.reader_priority:
            ask_for_realtime_or_say(self.reader_priority, "sensor reader")
        try:
            backend.open()
            self._read_until_lost(backend, first_frame)
            reason = "released"
        except (_BackendLost, OSError, ValueError) as error:
            reason = str(error)
        except Exception as error:  # a bug: said, and the supervisor opens a new connection
            reason = f"the reader failed: {error!r}"
            self._internal_error("the sensor reader", error)
        finally:
            backend.close()
        with self._lock:
            self._newest = None
        if self._stop.is_set():
            reason = "released"
        else:
            self.stats.errors += 1
            self.stats.last_error = reason
            self.stats.last_error_at = time.time()
        if not first_frame.done():
            first_frame.set_result(False)
        elif not self._stop.is_set():
            self._lost_from_thread(reason)

    def _read_until_lost(
        self, backend: _Backend, first_frame: concurrent.futures.Future[bool]
    ) -> None:
        last_number: int | None = None
        while not self._stop.is_set():
            frame = backend.read()
            if last_number is not None and frame.frame_number > last_number + 1:
                self.frames_missed += frame.frame_number - last_number - 1
            last_number = frame.frame_number
            self.frames_received += 1
            if not first_frame.done():
                first_frame.set_result(True)  # frames arrive: the link is up
            self.stats.responses += 1
            if not self._fits(frame):
                continue
            with self._lock:
                self._newest = frame
                waiters, self._waiters = self._waiters, []
            for loop, event in waiters:
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    loop.call_soon_threadsafe(event.set)
            with self._handler_busy:  # see detach_frame_handler
                handler = self.on_frame  # once: another thread may clear it meanwhile
                if handler is None:
                    continue
                if backend.newer_waiting():
                    self.frames_stale += 1
                    continue
                try:
                    handler(frame)
                except Exception as error:  # the reader lives on whatever the vision does
                    self._internal_error(f"the frame handler (frame {frame.frame_number})", error)

    def _fits(self, frame: Frame) -> bool:
        """Whether ``frame`` has the size the vision is calibrated for; counts and says why
        not. A sensor set to another resolution is still connected: its link stays up."""
        if self.frame_size_px is None:
            return True
        height, width = frame.pixels.shape[:2]
        if (width, height) == self.frame_size_px:
            if self.refusing is not None:
                log.info("%s at %s: frames fit the calibration again", self.device, self.address)
            self.refusing = None
            return True
        self.frames_refused += 1
        if self.refusing is None:
            expected_w, expected_h = self.frame_size_px
            self.refusing = (
                f"sends frames of {width}×{height} px, calibrated for {expected_w}×{expected_h} "
                "px: refused"
            )
            log.warning("%s at %s: %s", self.device, self.address, self.refusing)
        with self._lock:
            self._newest = None  # an older fitting frame is not news
        return False

    def _internal_error(self, where: str, error: BaseException) -> None:
        log.error("sensor: %s failed", where, exc_info=error)
        report = self.on_internal_error
        if report is not None:
            report(where, error)


def frame_age_s(frame: Frame) -> float:
    """How long ago ``frame`` was exposed (monotonic clock)."""
    return max(0.0, time.monotonic() - frame.exposure_s) if math.isfinite(frame.exposure_s) else 0
