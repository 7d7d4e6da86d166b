"""What a test rig needs around a real controller: the `cellctl run` process, and a read-only
view of the production store it writes.

The rig meets the controller as an operator and an auditor would: it starts and stops the
process, and reads the store (SQLite, read-only, never holding it open between reads). It
imports nothing of the controller.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.devices.plc import SimulatedPlc

# The simulated devices run real-time (SCHED_FIFO where the process may) while a rig runs them:
# they stand for hardware of its own, which no load on the PC delays; the controller beside them
# (`cellctl run`) makes itself real-time at its own priority.
DEVICES_REALTIME_PRIORITY = 5
STOP_TIMEOUT_S = 20.0  # a clean shutdown (arc off, hold, close) takes well under this


class ControllerExited(RuntimeError):
    """The controller process ended without being asked to."""


class StoreView:
    """Read-only queries of the controller's SQLite store; empty while it does not exist yet
    or a table is not made yet."""

    def __init__(self, database: Path) -> None:
        self.database = database

    def query(self, sql: str, *params: Any) -> list[tuple]:
        if not self.database.exists():
            return []  # the controller has not opened its store yet
        with contextlib.closing(
            sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=5)
        ) as db:
            try:
                return db.execute(sql, params).fetchall()
            except sqlite3.OperationalError:
                return []

    def state(self) -> str:
        """The cell's PackML state, as the store last recorded it."""
        rows = self.query("SELECT to_state FROM state_changes ORDER BY id DESC LIMIT 1")
        return rows[0][0] if rows else "Stopped"


class ControllerProcess:
    """`cellctl run --config CONFIG` as a child process, its output appended to ``log``."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        self.process: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        with self.log.open("a") as output:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cellctl.cli.main", "run", "--config", str(self.config)],
                stdout=output,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def check_alive(self) -> None:
        """``ControllerExited`` if it has ended by itself."""
        if self.process is not None and self.process.poll() is not None:
            raise ControllerExited(
                f"the controller exited with code {self.process.returncode}; see {self.log}"
            )

    async def stop(self) -> None:
        """SIGTERM (a clean shutdown), SIGKILL if that does not end it in time."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await _reaped(process, STOP_TIMEOUT_S)
        except TimeoutError:
            process.kill()
            process.wait()

    async def kill(self) -> None:
        """SIGKILL, as a power loss would end it, and reap it."""
        process, self.process = self.process, None
        if process is not None:
            os.kill(process.pid, signal.SIGKILL)
            await _reaped(process, 10.0)


async def _reaped(process: subprocess.Popen, timeout_s: float) -> None:
    """Wait for ``process`` to end without a thread (a test's event loop keeps none)."""
    deadline = time.monotonic() + timeout_s
    while process.poll() is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"process {process.pid} still running after {timeout_s:g} s")
        await asyncio.sleep(0.01)


# A released button stays released this long before the next press: a few PLC scans, so the
# controller's scan sees it up between two presses.
RELEASED_FOR_S = 0.06


async def let_go(plc: SimulatedPlc, button: str) -> None:
    """Before pressing ``button`` on the simulated PLC again, as a person
    does: wait until its last press has ended and it has been up ``RELEASED_FOR_S``. A press
    on a button still held only holds it longer, and the controller, which acts on a press's
    edge, sees none."""
    held_until = plc.field.buttons_until.get(button, 0.0)
    if held_until > time.monotonic():
        await asyncio.sleep(held_until - time.monotonic() + RELEASED_FOR_S)


async def until_or_after(
    condition: Callable[[], bool], at_most_s: float, poll_s: float = 0.02
) -> None:
    """Wait until ``condition()`` holds, or ``at_most_s`` has passed (time for a button's
    press to end and the controller to take it, before the operator presses again), looking
    every ``poll_s``. The cell's answer is usually there within a scan: a fixed wait of the
    longest made every scenario 1.5 s longer, and every power-loss round 0.3 s."""
    deadline = time.monotonic() + at_most_s
    while not condition():
        if time.monotonic() >= deadline:
            return
        await asyncio.sleep(poll_s)
