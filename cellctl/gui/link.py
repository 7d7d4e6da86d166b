"""The HMI's link to the controller: an asyncua client on a worker thread, Qt signals out.

The Qt thread never waits on the network. A worker thread runs its own asyncio loop with the
OPC UA client: it connects (as the given user, or anonymously), reads the whole Cell object in
one Read request every ``FULL_PERIOD_S`` and the live weld and tracking values every
``FAST_PERIOD_S``, and hands each result to the Qt thread as a signal (queued across threads
by Qt). When the controller goes away it says so (``connection_changed``) and reconnects by
itself, backing off from ``RECONNECT_MIN_S`` to ``RECONNECT_MAX_S``.

Commands (``command``) are queued onto the worker's loop; their results come back as
``command_done(method, status, message)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time

from asyncua import Client, ua
from PySide6.QtCore import QObject, Signal

from cellctl.opcua_client import call_method, cell_namespace, read_cell
from cellctl.opcua_nodes import OBJECT

log = logging.getLogger(__name__)

FULL_PERIOD_S = 0.2
FAST_PERIOD_S = 0.05
RECONNECT_MIN_S = 0.5
RECONNECT_MAX_S = 3.0
REQUEST_TIMEOUT_S = 2.0

FAST_PATHS = (
    "Weld.ArcOn",
    "Weld.CurrentA",
    "Weld.VoltageV",
    "Weld.WireFeedMPerMin",
    "Tracking.LateralCorrectionMm",
    "Tracking.VerticalCorrectionMm",
    "Tracking.PositionMm",
    "Tracking.CorrectionCount",
)


class CellLink(QObject):
    """Owns the worker thread; ``start()`` once, ``stop()`` before the application quits."""

    cell_read = Signal(object)  # every variable of the Cell object, by path
    fast_read = Signal(float, object)  # (time.monotonic() of the read, FAST_PATHS values)
    connection_changed = Signal(bool, str)  # (connected, why / whom)
    command_done = Signal(str, str, str)  # (method, status name, message)

    def __init__(self, endpoint: str, user: str | None = None, password: str | None = None):
        super().__init__()
        self.endpoint = endpoint
        self.user = user
        self._password = password
        self.role = "anonymous"
        self.connected = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: Client | None = None
        self._namespace = 0
        self._stopping = threading.Event()
        self._loop_ready = threading.Event()
        self._main_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="hmi opcua link", daemon=True)
        self._thread.start()
        self._loop_ready.wait(5)

    def stop(self) -> None:
        """End the link and join the worker thread (bounded)."""
        self._stopping.set()
        loop = self._loop
        if loop is not None and self._main_task is not None:
            loop.call_soon_threadsafe(self._main_task.cancel)
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def command(self, method: str, *args: str) -> None:
        """Call a method of the Cell object; the answer comes as ``command_done``."""
        loop = self._loop
        if loop is None or not self.connected:
            self.command_done.emit(method, "BadNotConnected", "not connected to the controller")
            return
        asyncio.run_coroutine_threadsafe(self._command(method, args), loop)

    # -- the worker thread ------------------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._main_task = loop.create_task(self._main())
            self._loop_ready.set()
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(self._main_task)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            self._loop = None
            loop.close()

    async def _main(self) -> None:
        delay_s = RECONNECT_MIN_S
        while not self._stopping.is_set():
            why = ""
            try:
                await self._connect()
                delay_s = RECONNECT_MIN_S
                await self._poll()
            except asyncio.CancelledError:
                await self._disconnect()
                raise
            except Exception as error:  # any failure of the link: show it, then reconnect
                why = str(error) or type(error).__name__
            await self._disconnect()
            self._set_connected(False, why or "connection lost")
            await asyncio.sleep(delay_s)
            delay_s = min(RECONNECT_MAX_S, delay_s * 2)

    async def _connect(self) -> None:
        client = Client(self.endpoint, timeout=REQUEST_TIMEOUT_S)
        client.session_timeout = 30_000
        if self.user:
            client.set_user(self.user)
            client.set_password(self._password or "")
        self._client = client
        await client.connect()
        self._namespace = await cell_namespace(client)
        answer = await call_method(client, self._namespace, "WhoAmI")
        self.role = answer.message.split()[-1] if answer.ok else "anonymous"
        self._set_connected(True, f"{self.user or 'anonymous'} ({self.role})")

    async def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            async with asyncio.timeout(2):
                await client.disconnect()
        except Exception:
            # The server is gone: the session cannot be closed politely, only the socket.
            with contextlib.suppress(Exception):
                client.disconnect_socket()

    async def _poll(self) -> None:
        client = self._client
        assert client is not None
        fast_nodes = [
            client.get_node(ua.NodeId(f"{OBJECT}.{path}", self._namespace)) for path in FAST_PATHS
        ]
        next_full = 0.0
        while not self._stopping.is_set():
            started = time.monotonic()
            if started >= next_full:
                next_full = started + FULL_PERIOD_S
                cell = await read_cell(client, self._namespace)
                self.cell_read.emit(cell)
            else:
                values = await client.read_values(fast_nodes)
                self.fast_read.emit(started, dict(zip(FAST_PATHS, values, strict=True)))
            await asyncio.sleep(max(0.0, FAST_PERIOD_S - (time.monotonic() - started)))

    async def _command(self, method: str, args: tuple[str, ...]) -> None:
        client = self._client
        if client is None:
            self.command_done.emit(method, "BadNotConnected", "not connected to the controller")
            return
        try:
            result = await call_method(client, self._namespace, method, *args)
        except Exception as error:
            self.command_done.emit(method, "BadCommunicationError", str(error))
            return
        self.command_done.emit(method, result.status, result.message)

    def _set_connected(self, connected: bool, why: str) -> None:
        if connected != self.connected or connected:
            self.connected = connected
            self.connection_changed.emit(connected, why)
