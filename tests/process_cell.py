"""A simulated cell and a real controller as child processes (``cellsim all``, ``cellctl run``),
for clients that must run their own event loop (the Qt HMI) and for restarting the controller.

The controller serves OPC UA at ``endpoint`` with the users of ``tests.opcua_rig``; ``panel``
is the simulator's control channel (the operator's hands: load a part, press a button).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from cellctl.cli.demo import prepare_run_folder
from cellctl.testing import Operator, free_port, stop_process
from tests.opcua_rig import with_opcua

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 30.0


class ProcessCell:
    def __init__(self, run_dir: Path, time_scale: float = 10.0) -> None:
        self.run_dir = run_dir
        self.time_scale = time_scale
        self.config = prepare_run_folder(REPO / "config" / "cell.yaml", run_dir, None)
        self.port = free_port()
        cell = yaml.safe_load(self.config.read_text())
        with_opcua(self.port)(cell)
        self.config.write_text(yaml.safe_dump(cell))
        self.endpoint = f"opc.tcp://127.0.0.1:{self.port}"
        self.control_port = free_port()
        self.panel = Operator(self.control_port, run_dir / "production.db")
        self.sim: subprocess.Popen | None = None
        self.controller: subprocess.Popen | None = None
        self._logs: list[Any] = []

    def __enter__(self) -> ProcessCell:
        ready = self.run_dir / "cellsim.ready.json"
        self.sim = self._spawn(
            "cellsim",
            ["-m", "sim.cli", "all", "--config", str(self.config), "--time-scale",
             str(self.time_scale), "--control-port", str(self.control_port),
             "--ready-file", str(ready)],
        )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready.exists():
            if self.sim.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError(f"the simulator did not start; see {self.run_dir}")
            time.sleep(0.05)
        self.start_controller()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_controller()
        if self.sim is not None:
            stop_process(self.sim)
            self.sim = None
        for log in self._logs:
            log.close()
        self._logs = []

    def start_controller(self) -> None:
        self.controller = self._spawn(
            "controller", ["-m", "cellctl.cli.main", "run", "--config", str(self.config)]
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _listening(self.port):
            if self.controller.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the controller did not serve OPC UA; see {self.run_dir}")
            time.sleep(0.1)

    def stop_controller(self) -> None:
        if self.controller is not None:
            stop_process(self.controller)
            self.controller = None

    def do(self, cmd: str, **args: Any) -> Any:
        """One command on the simulator's panel, e.g. ``do("plc.load", loaded=True)``."""
        return asyncio.run(self.panel.do(cmd, **args))

    def state(self) -> str:
        return self.panel.state()

    def log(self, name: str) -> str:
        return (self.run_dir / f"{name}.log").read_text()

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.run_dir / f"{name}.log", "a")  # noqa: SIM115 (closed in __exit__)
        self._logs.append(log)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        return subprocess.Popen(
            [sys.executable, *args], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO
        )


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def dump(value: Any) -> str:
    return json.dumps(value, indent=1, default=str)
