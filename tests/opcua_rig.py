"""A running cell with its OPC UA server, and clients logged in as each role.

The users and their passwords below exist only in the tests' private config copy.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from asyncua import Client

from cellctl.plant.opcua.server import CellOpcUaServer
from cellctl.plant.opcua.users import hash_password
from tests.cell_rig import CellRig, running_cell

PASSWORDS = {"olga": "operator-pass-1", "erik": "engineer-pass-1"}
ROLES = {"olga": "operator", "erik": "engineer"}
_HASHES = {name: hash_password(password) for name, password in PASSWORDS.items()}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def with_opcua(port: int, edit: Callable[[dict], None] | None = None) -> Callable[[dict], None]:
    def apply(cell: dict) -> None:
        cell["opcua"] = {
            "endpoint": f"opc.tcp://127.0.0.1:{port}",
            "publish_period_ms": 50,
            "users": [
                {"name": name, "role": ROLES[name], "password_hash": _HASHES[name]}
                for name in PASSWORDS
            ],
        }
        if edit is not None:
            edit(cell)

    return apply


@asynccontextmanager
async def cell_with_opcua(
    tmp_path: Path, time_scale: float = 20.0, edit: Callable[[dict], None] | None = None
) -> AsyncIterator[tuple[CellRig, CellOpcUaServer]]:
    port = free_port()
    async with running_cell(tmp_path, time_scale, with_opcua(port, edit)) as rig:
        server = CellOpcUaServer(
            rig.controller,
            rig.controller.store,
            rig.controller.config,
            rig.controller.config.cell.opcua,
        )
        await server.start()
        try:
            yield rig, server
        finally:
            await server.stop()
            # asyncua loads its standard address space on the loop's default executor
            # (asyncio.to_thread); `cellctl run`'s asyncio.run shuts that down, a test does here.
            await asyncio.get_running_loop().shutdown_default_executor()


@asynccontextmanager
async def client_as(endpoint: str, user: str | None) -> AsyncIterator[Client]:
    client = Client(endpoint, timeout=5)
    if user is not None:
        client.set_user(user)
        client.set_password(PASSWORDS[user])
    await client.connect()
    try:
        yield client
    finally:
        await client.disconnect()
