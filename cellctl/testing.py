"""Rig helpers shared by the demo, the tests and the benchmarks: a free port, stopping a child
process, and an operator that drives a running simulated cell from outside.

The controller's package may not import the simulator, so the operator speaks the
simulator's control channel (JSON lines, ``sim/control.py``) and reads the production store
read-only, exactly as a test rig outside both processes would. (The scenario runner lives in
the simulator, which may not import this package; it has its own ``sim.scenario.rig``.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

STOP_TIMEOUT_S = 15.0  # a controller's shutdown: arc off and hold first, then the links


class OperatorRefused(RuntimeError):
    """The simulator refused a command on its control channel."""


def free_port() -> int:
    """A TCP port on loopback nobody listens on now (the kernel's pick)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stop_process(process: subprocess.Popen, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM (a clean shutdown), SIGKILL if that has not ended it in ``timeout_s``; reaped."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Operator:
    """An operator's hands on a running simulated cell (its panel, through the simulator's
    control channel) and eyes on its records (the production store, read-only)."""

    def __init__(self, control_port: int, database: Path) -> None:
        self.control_port = control_port
        self.database = database

    async def do(self, cmd: str, **args: Any) -> Any:
        """One command on the control channel, e.g. ``do("plc.press", button="start_button")``;
        its result, or ``OperatorRefused`` with the simulator's reason."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.control_port)
        try:
            writer.write(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
            await writer.drain()
            line = await reader.readline()
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        answer = json.loads(line) if line else {"ok": False, "error": "no answer"}
        if not answer.get("ok"):
            raise OperatorRefused(f"simulator refused {cmd}: {answer.get('error')}")
        return answer.get("result")

    def query(self, sql: str, *params: Any) -> list[sqlite3.Row]:
        """Rows of the production store (none before the controller has made it)."""
        if not self.database.exists():
            return []
        with contextlib.closing(
            sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=5)
        ) as db:
            db.row_factory = sqlite3.Row
            try:
                return db.execute(sql, params).fetchall()
            except sqlite3.OperationalError:
                return []  # the controller has not created the schema yet

    def state(self) -> str:
        rows = self.query("SELECT to_state FROM state_changes ORDER BY id DESC LIMIT 1")
        return rows[0]["to_state"] if rows else "Stopped"

    def last_fault_id(self) -> int:
        rows = self.query("SELECT MAX(id) AS id FROM faults")
        return (rows[0]["id"] if rows else None) or 0

    def faults_after(self, fault_id: int) -> list[dict[str, Any]]:
        """The faults that stop the cell (every severity but warning) raised after
        ``fault_id``, oldest first."""
        return [
            dict(row)
            for row in self.query(
                "SELECT id, code, severity, text, detail, phase, part_id FROM faults "
                "WHERE id > ? AND severity != 'warning' ORDER BY id",
                fault_id,
            )
        ]
