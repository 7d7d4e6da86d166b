"""A simulated barcode scanner: the other end of the controller's scanner port, on a pty.

A real scanner in serial mode sends each code it reads as one line of text with its suffix
(CR LF here). ``scan(text)`` does what an operator pulling the trigger over a part's label
does; ``send_raw(data)`` puts any bytes on the wire (a damaged label, line noise) for the
tests of what the controller does with them.
"""

from __future__ import annotations

import os
from pathlib import Path

from sim.events import EventLog
from sim.wire.pty_link import PtyEndpoint

SUFFIX = b"\r\n"


class SimulatedScanner:
    def __init__(self, link_path: str | Path | None) -> None:
        self.link_path = link_path
        self.endpoint: PtyEndpoint | None = None
        self.events: EventLog | None = None
        self.scanned: list[str] = []

    async def start(self) -> None:
        self.endpoint = PtyEndpoint(self.link_path)

    async def close(self) -> None:
        if self.endpoint is not None:
            self.endpoint.close()
            self.endpoint = None

    @property
    def port(self) -> str:
        assert self.endpoint is not None, "scanner not started"
        return self.endpoint.port

    def describe(self) -> str:
        return f"serial scanner on {self.endpoint.describe() if self.endpoint else '(closed)'}"

    def scan(self, text: str) -> None:
        """One scanned code, as the scanner sends it: its text and the suffix."""
        self.send_raw(text.encode("ascii") + SUFFIX)
        self.scanned.append(text)
        if self.events is not None:
            self.events.record("scanner", "scan", text)

    def send_raw(self, data: bytes) -> None:
        assert self.endpoint is not None, "scanner not started"
        # A pty takes a few kB at once; a scan is a few dozen bytes.
        written = os.write(self.endpoint.master_fd, data)
        if written != len(data):
            raise OSError(f"scanner pty took {written} of {len(data)} bytes")
