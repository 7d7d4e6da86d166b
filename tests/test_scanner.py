"""The barcode scanner driver on a real pty (``drivers.scanner``): lines in any suffix, bytes
that are not text, a line without an end, and a port that is absent at first."""

from __future__ import annotations

import asyncio

import pytest

from drivers.scanner import MAX_LINE_BYTES, LineScanner
from sim.devices.scanner import SimulatedScanner


async def until(condition, what: str) -> None:
    for _ in range(300):
        if condition():
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"timed out waiting for {what}")


async def test_scans_garbage_and_a_port_that_comes_late(tmp_path):
    scans: list[str] = []
    garbled: list[str] = []
    links: list[bool] = []
    path = tmp_path / "scanner"
    reader = LineScanner(str(path), 9600, scans.append, garbled.append,
                         lambda up, why: links.append(up), reopen_delay_s=0.02)  # fmt: skip
    reader.start()
    peer = SimulatedScanner(path)
    try:
        await until(lambda: links == [False], "the absent port reported once")
        await asyncio.sleep(0.1)
        assert links == [False]  # absent: said once, not at every attempt
        await peer.start()
        await until(lambda: reader.up, "the port opened once it is there")
        peer.scan("BM-2026-0001")
        peer.send_raw(b"BM-2026-0002\nBM-2026-0003\r")  # LF, CR: each ends a line
        await until(lambda: len(scans) == 3, "three scans")
        assert scans == ["BM-2026-0001", "BM-2026-0002", "BM-2026-0003"]
        peer.send_raw(b"\xff\xfeBM\r\n")
        await until(lambda: len(garbled) == 1, "a scan that is not text")
        assert "unreadable scan" in garbled[0]
        peer.send_raw(b"X" * (MAX_LINE_BYTES + 5))
        await until(lambda: len(garbled) == 2, "a run-on line")
        assert "without a line end" in garbled[1]
        peer.scan("BM-2026-0004")  # the reader is fine afterwards
        await until(lambda: scans[-1] == "BM-2026-0004", "the next scan")
    finally:
        await reader.close()
        await peer.close()
