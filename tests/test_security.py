"""Security at the doors: every listening socket of the simulator and the controller binds the
loopback address unless the config says otherwise; writes outside a register map are refused
before the wire.

The listeners are read from the kernel (/proc/<pid>/fd and /proc/net/tcp*), not from the
code's own idea of what it opened, so a listener anyone adds later is covered too.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cellctl.testing import free_port
from drivers.codecs.robot_protocol import Pose
from drivers.errors import WriteRefused
from rigs.cell import running_cell
from sim.scenario.runner import ScenarioFile, prepare_config
from tests.process_table import listening_addresses

REPO = Path(__file__).resolve().parent.parent
LOOPBACK = {"127.0.0.1", "::1"}


def _wait_for(condition, what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")
def test_every_listener_of_the_simulator_and_the_controller_binds_loopback(tmp_path: Path):
    config = prepare_config(
        REPO / "config" / "cell.yaml",
        tmp_path,
        ScenarioFile(name="listen", config={"opcua": {"enabled": True}}),
    )
    ready = tmp_path / "ready.json"
    control_port = free_port()
    sim = subprocess.Popen(
        [sys.executable, "-m", "sim.cli", "all", "--config", str(config), "--time-scale", "20",
         "--ready-file", str(ready), "--control-port", str(control_port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    controller = None
    log = tmp_path / "controller.log"
    try:
        _wait_for(ready.exists, "the simulator's ready file")
        endpoints = json.loads(ready.read_text())
        with log.open("w") as output:
            controller = subprocess.Popen(
                [sys.executable, "-m", "cellctl.cli.main", "run", "--config", str(config)],
                stdout=output, stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip
        _wait_for(lambda: "OPC UA server at" in log.read_text(), "the controller's OPC UA server")
        sim_listeners = listening_addresses(sim.pid)
        controller_listeners = listening_addresses(controller.pid)
        # The simulator serves the PLC (Modbus TCP) and its control channel at least.
        ports = {port for _, port in sim_listeners}
        assert control_port in ports, (sim_listeners, endpoints)
        assert len(sim_listeners) >= 2
        opcua_port = int(log.read_text().split("OPC UA server at opc.tcp://")[1].split()[0]
                         .split(":")[1].rstrip("/"))  # fmt: skip
        assert opcua_port in {port for _, port in controller_listeners}
        for who, listeners in (("cellsim", sim_listeners), ("cellctl run", controller_listeners)):
            exposed = sorted(a for a in listeners if a[0] not in LOOPBACK)
            assert not exposed, f"{who} listens beyond this machine: {exposed}"
    finally:
        for process in (controller, sim):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def test_the_listener_check_sees_a_socket_on_every_address(tmp_path: Path):
    """The check above can fail: a socket bound to 0.0.0.0 is seen as such."""
    with socket.socket() as wide:
        wide.bind(("0.0.0.0", 0))
        wide.listen()
        port = wide.getsockname()[1]
        assert ("0.0.0.0", port) in listening_addresses(os.getpid())


# -- audit ------------------------------------------------------------------------------------


async def _audit_rows(controller, action: str, count: int) -> list[dict]:
    for _ in range(200):
        rows = [r for r in await controller.store.audit_rows() if r["action"] == action]
        if len(rows) >= count:
            return rows
        await asyncio.sleep(0.01)
    pytest.fail(f"fewer than {count} audit rows '{action}'")


async def test_writes_outside_the_map_are_refused_before_the_wire_and_audited(tmp_path: Path):
    async with running_cell(tmp_path) as rig:
        plc, robot = rig.controller.plc, rig.controller.robot
        writes_before = list(rig.sim.plc.image.writes_seen)
        with pytest.raises(WriteRefused, match="register"):
            await plc.link.write_registers(999, [1], allowed={100, 101})
        with pytest.raises(WriteRefused, match="not_a_signal"):
            await plc.write_outputs({"not_a_signal": True})
        with pytest.raises(WriteRefused, match="outside the workspace"):
            await robot.move_linear(Pose(5000.0, 0.0, 0.0), 50.0)
        rows = await _audit_rows(rig.controller, "write refused", 3)
        details = " | ".join(r["detail"] for r in rows)
        assert "plc at 127.0.0.1" in details
        assert "register(s) [999]" in details
        assert "not_a_signal" in details
        assert "robot" in details
        assert all(r["result"] == "refused" and r["actor"] == "controller" for r in rows)
        # Nothing reached the devices.
        new_writes = rig.sim.plc.image.writes_seen[len(writes_before) :]
        assert all(address < 999 for address, _ in new_writes)
        assert not [e for e in rig.sim.events.events if e.what.startswith("MOVE_")]


async def test_every_config_change_is_audited_with_the_hash_before_and_after(tmp_path: Path):
    async with running_cell(tmp_path) as rig:
        first = rig.controller.config.digest
        rows = await _audit_rows(rig.controller, "config changed", 1)
        assert rows[-1]["detail"] == f"before none after {first}"

    def slower_scan(cell: dict) -> None:
        cell["plc"]["scan_period_ms"] = 25
        cell["controller"]["store_path"] = str(tmp_path / "production.db")  # the same records

    async with running_cell(tmp_path / "again", edit=slower_scan) as rig:
        second = rig.controller.config.digest
        assert second != first
        rows = await _audit_rows(rig.controller, "config changed", 2)
        assert rows[-1]["detail"] == f"before {first} after {second}"
        # The same config again is loaded, not changed.
        await rig.controller.events.audit_config(rig.controller.store, second)
        loaded = await _audit_rows(rig.controller, "config loaded", 1)
        assert loaded[-1]["detail"] == f"before {second} after {second}"
