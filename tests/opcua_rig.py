"""A running cell with its OPC UA server, and clients logged in as each role.

The users and their passwords below exist only in the tests' private config copy. Another
loopback address (127.0.0.2, ...) stands for another machine of the plant: ``ClientFrom`` and
``RawConnection`` leave from the address they are given.

The server serves one certificate made once per test process (``rig_certificate``), given in
the config as ``opcua.certificate``/``opcua.private_key``; the clients (``secured``) use
Basic256Sha256 SignAndEncrypt with a client certificate made once, and know the server's
certificate beforehand (the pins of trust on first use are tested on their own).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import shutil
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from asyncua import Client, ua
from asyncua.client.ua_client import UaClientState
from asyncua.ua.ua_binary import uatcp_to_binary

from cellctl.controller.controller import Controller
from cellctl.plant.opcua.certs import ClientTrust, application_uri, host_names, make_certificate
from cellctl.plant.opcua.client import secure
from cellctl.plant.opcua.server import CellOpcUaServer
from cellctl.plant.opcua.users import hash_password
from cellctl.testing import free_port
from rigs.cell import CellRig, running_cell

PASSWORDS = {"olga": "operator-pass-1", "erik": "engineer-pass-1", "quinn": "quality-pass-1"}
ROLES = {"olga": "operator", "erik": "engineer", "quinn": "quality"}
_HASHES = {name: hash_password(password) for name, password in PASSWORDS.items()}
CELL_NAME = "cell-01"  # config/cell.yaml's, in the server certificate's application URI


@functools.cache
def _keys() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="cellctl-opcua-keys-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


@functools.cache
def rig_certificate() -> tuple[Path, Path]:
    """The server's certificate and key of every test of this process (made once)."""
    certificate, key = _keys() / "cell.der", _keys() / "cell-key.pem"
    make_certificate(
        certificate, key, application_uri(CELL_NAME), host_names("opc.tcp://127.0.0.1")
    )
    return certificate, key


def client_trust() -> ClientTrust:
    """The tests' client certificate (made once) and pins."""
    return ClientTrust(_keys() / "client", name="tests")


async def secured(
    client: Client, mode: ua.MessageSecurityMode = ua.MessageSecurityMode.SignAndEncrypt
) -> Client:
    """``client`` set to Basic256Sha256 ``mode`` with the rig's server certificate."""
    await secure(client, client_trust(), rig_certificate()[0].read_bytes(), mode)
    return client


def with_opcua(port: int, edit: Callable[[dict], None] | None = None) -> Callable[[dict], None]:
    def apply(cell: dict) -> None:
        certificate, key = rig_certificate()
        cell["opcua"] = {
            "endpoint": f"opc.tcp://127.0.0.1:{port}",
            "publish_period_ms": 50,
            "certificate": str(certificate),
            "private_key": str(key),
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
    servers: list[CellOpcUaServer] = []

    async def serve(controller: Controller) -> None:
        # Before the controller's links start, as `cellctl run` does: building the address
        # space holds the event loop (and the simulated devices on it) for a second or more.
        server = CellOpcUaServer(
            controller, controller.store, controller.config, controller.config.cell.opcua
        )
        await server.start()
        servers.append(server)

    async with running_cell(
        tmp_path, time_scale, with_opcua(port, edit), before_start=serve
    ) as rig:
        server = servers[0]
        try:
            yield rig, server
        finally:
            await server.stop()
            # asyncua loads its standard address space on the loop's default executor
            # (asyncio.to_thread); `cellctl run`'s asyncio.run shuts that down, a test does here.
            await asyncio.get_running_loop().shutdown_default_executor()


@asynccontextmanager
async def client_as(endpoint: str, user: str | None) -> AsyncIterator[Client]:
    client = await secured(Client(endpoint, timeout=5))
    if user is not None:
        client.set_user(user)
        client.set_password(PASSWORDS[user])
    await client.connect()
    try:
        yield client
    finally:
        await client.disconnect()


class ClientFrom(Client):
    """asyncua's client whose socket leaves from ``source_host``."""

    def __init__(self, url: str, source_host: str, timeout: float = 5.0) -> None:
        super().__init__(url, timeout=timeout)
        self.source_host = source_host

    async def connect_socket(self) -> None:
        # UaClient.connect_socket (asyncua 2.1) with a source address, which it cannot take.
        uaclient = self.uaclient
        uaclient._set_state(UaClientState.CONNECTING)
        try:
            await asyncio.wait_for(
                asyncio.get_running_loop().create_connection(
                    uaclient._make_protocol,
                    self.server_url.hostname,
                    self.server_url.port,
                    local_addr=(self.source_host, 0),
                ),
                uaclient._timeout,
            )
        except BaseException:
            uaclient._set_state(UaClientState.DISCONNECTED)
            raise
        uaclient._set_state(UaClientState.SOCKET_OPEN)


async def log_in(
    endpoint: str, user: str, password: str, source_host: str = "127.0.0.1", timeout_s: float = 10
) -> bool:
    """Whether ``user`` with ``password`` gets a session from ``source_host`` (False: refused
    with BadUserAccessDenied); the session is closed again."""
    client = await secured(ClientFrom(endpoint, source_host, timeout=timeout_s))
    client.set_user(user)
    client.set_password(password)
    try:
        await client.connect()
    except ua.uaerrors.BadUserAccessDenied:
        client.disconnect_socket()
        return False
    except BaseException:
        client.disconnect_socket()
        raise
    await client.disconnect()
    return True


class RawConnection:
    """A TCP connection to the server from ``source_host`` that sends raw bytes, or nothing;
    ``closed_at`` (time.monotonic()) is when the server closed it, once ``watch`` saw that."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.opened_at = time.monotonic()
        self.closed_at: float | None = None

    @classmethod
    async def open(cls, port: int, source_host: str = "127.0.0.1") -> RawConnection:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, local_addr=(source_host, 0)
        )
        return cls(reader, writer)

    async def hello(self, endpoint: str, timeout_s: float = 5.0) -> bool:
        """Say Hello: True if the server acknowledges it, False if it closes instead."""
        hello = ua.Hello()
        hello.EndpointUrl = endpoint
        self.writer.write(uatcp_to_binary(ua.MessageType.Hello, hello))
        try:
            header = await asyncio.wait_for(self.reader.readexactly(8), timeout_s)
        except (asyncio.IncompleteReadError, ConnectionError):
            self.closed_at = time.monotonic()
            return False
        size = int.from_bytes(header[4:8], "little")
        await self.reader.readexactly(size - 8)
        return header[:3] == b"ACK"

    async def watch(self) -> float:
        """Wait until the server closes the connection; its time.monotonic()."""
        try:
            while await self.reader.read(4096):
                pass
        except ConnectionError:
            pass
        if self.closed_at is None:
            self.closed_at = time.monotonic()
        return self.closed_at

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


class SilentFlood:
    """Connections that never say a word: ``per_source[address]`` of them from each source
    address, each replaced as soon as the server closes it (at most ``replace_per_s``), on an
    event loop of its own thread (an attacker is not on the server's loop). ``start()``, then
    ``stop()``: it stops replacing, waits up to ``drain_s`` for the server to close the ones
    still open, closes the rest itself, and keeps ``survivors``: the connections open when it
    stopped, with when the server closed each (None: it did not)."""

    def __init__(self, port: int, per_source: dict[str, int], replace_per_s: float = 400.0) -> None:
        self.port = port
        self.per_source = per_source
        self.replace_per_s = replace_per_s
        self.opened = 0
        self.survivors: list[RawConnection] = []
        self._stop = threading.Event()
        self._started = threading.Event()
        self._drain_s = 0.0
        self._thread = threading.Thread(target=self._run, name="silent flood")

    def start(self, timeout_s: float = 30.0) -> None:
        """Open every connection (returns once they are all open)."""
        self._thread.start()
        if not self._started.wait(timeout_s):
            raise TimeoutError(f"the flood did not open its connections in {timeout_s} s")

    def stop(self, drain_s: float) -> list[RawConnection]:
        self._drain_s = drain_s
        self._stop.set()
        self._thread.join(drain_s + 30)
        return self.survivors

    def _run(self) -> None:
        asyncio.run(self._flood())

    async def _flood(self) -> None:
        live: dict[RawConnection, tuple[str, asyncio.Task[float]]] = {}

        async def open_one(source: str) -> None:
            connection = await RawConnection.open(self.port, source)
            self.opened += 1
            live[connection] = (source, asyncio.create_task(connection.watch()))

        try:
            for source, count in self.per_source.items():
                await asyncio.gather(*(open_one(source) for _ in range(count)))
            self._started.set()
            tick_s = 0.05
            while not self._stop.is_set():
                await asyncio.sleep(tick_s)
                budget = int(self.replace_per_s * tick_s)
                for connection, (source, watch) in list(live.items()):
                    if budget and watch.done():
                        del live[connection]
                        await connection.close()
                        await open_one(source)
                        budget -= 1
            self.survivors = [c for c, (_, watch) in live.items() if not watch.done()]
            watches = [live[c][1] for c in self.survivors]
            if watches:
                await asyncio.wait(watches, timeout=self._drain_s)
        finally:
            for connection, (_, watch) in live.items():
                watch.cancel()
                await connection.close()
            self._started.set()
