"""A barcode or QR scanner on a serial port: each scan is one line of text.

Scanners in their serial (RS-232, or USB CDC) mode send what they read followed by a suffix,
CR, LF or CR LF. ``LineScanner`` reads the port through the event loop (no thread), splits
the bytes into lines and hands each line to ``on_scan``, or a line it cannot take (not ASCII
text, longer than ``MAX_LINE_BYTES``) to ``on_garbled``, naming the port. A port that is
absent or goes away (unplugged) is reopened every ``reopen_delay_s``; ``on_link`` says when
the link comes and goes. A scanner sends only when someone scans: a quiet port is no fault.

Imports no project code (``drivers`` is the bottom layer).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable

import serial

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 128  # longer than any serial number a cell uses: a run-on line is garbage


class LineScanner:
    """Reads scans from ``port`` (a device path or pyserial URL) until ``close``."""

    def __init__(
        self,
        port: str,
        baud: int,
        on_scan: Callable[[str], None],
        on_garbled: Callable[[str], None],
        on_link: Callable[[bool, str], None] = lambda up, why: None,
        reopen_delay_s: float = 1.0,
    ) -> None:
        self.port_name = port
        self.baud = baud
        self.on_scan = on_scan
        self.on_garbled = on_garbled
        self.on_link = on_link
        self.reopen_delay_s = reopen_delay_s
        self.scans = 0
        self.garbled = 0
        self._port: serial.SerialBase | None = None
        self._buffer = bytearray()
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._up = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="barcode scanner")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._release()

    @property
    def up(self) -> bool:
        return self._up

    async def _run(self) -> None:
        said_absent = False
        while True:
            try:
                port = serial.serial_for_url(self.port_name, baudrate=self.baud, timeout=0)
                os.set_blocking(port.fileno(), False)
            except (serial.SerialException, OSError, ValueError) as error:
                if not said_absent:
                    self._link(False, f"scanner {self.port_name}: cannot open: {error}")
                    said_absent = True
                await asyncio.sleep(self.reopen_delay_s)
                continue
            said_absent = False
            self._port = port
            self._buffer.clear()  # bytes of an earlier link are not part of this one
            self._lost = asyncio.Event()
            asyncio.get_running_loop().add_reader(port.fileno(), self._on_readable)
            self._link(True, f"scanner {self.port_name}: open")
            await self._lost.wait()
            self._release()
            self._link(False, f"scanner {self.port_name}: link lost")
            await asyncio.sleep(self.reopen_delay_s)

    def _link(self, up: bool, why: str) -> None:
        if up != self._up or not up:
            self._up = up
            self.on_link(up, why)

    def _release(self) -> None:
        port, self._port = self._port, None
        if port is None:
            return
        with contextlib.suppress(OSError, ValueError):
            asyncio.get_running_loop().remove_reader(port.fileno())
        with contextlib.suppress(OSError, serial.SerialException):
            port.close()

    def _on_readable(self) -> None:
        port = self._port
        if port is None:
            return
        try:
            data = port.read(4096)
        except (serial.SerialException, OSError) as error:
            log.warning("scanner %s: read failed: %s", self.port_name, error)
            self._lost.set()
            return
        self.feed(data)

    def feed(self, data: bytes) -> None:
        """Bytes from the port: every complete line goes out (public for the codec's tests)."""
        self._buffer += data
        while True:
            ends = [i for i in (self._buffer.find(b"\r"), self._buffer.find(b"\n")) if i >= 0]
            if not ends:
                break
            end = min(ends)
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            if line:
                self._line(line)
        if len(self._buffer) > MAX_LINE_BYTES:
            self.garbled += 1
            self.on_garbled(
                f"scanner {self.port_name}: {len(self._buffer)} bytes without a line end"
            )
            self._buffer.clear()

    def _line(self, line: bytes) -> None:
        if len(line) > MAX_LINE_BYTES:
            self.garbled += 1
            self.on_garbled(f"scanner {self.port_name}: a line of {len(line)} bytes")
            return
        try:
            text = line.decode("ascii")
        except UnicodeDecodeError:
            text = ""
        if not text.isprintable() or not text.strip():
            self.garbled += 1
            self.on_garbled(f"scanner {self.port_name}: unreadable scan {line[:40]!r}")
            return
        self.scans += 1
        self.on_scan(text.strip())
