"""Waiting, in a test, for what another task, thread or process makes true."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

POLL_S = 0.005


async def eventually(
    condition: Callable[[], object], timeout_s: float = 3.0, what: str = "condition"
) -> None:
    """Poll ``condition()`` until it is true; fail the test naming ``what`` after
    ``timeout_s`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(POLL_S)
