"""The HMI's link to the controller: an asyncua client on a worker thread, Qt signals out.

The Qt thread never waits on the network. A worker thread runs its own asyncio loop with the
OPC UA client: it connects over Basic256Sha256 SignAndEncrypt (as the given user, or
anonymously) to the controller whose certificate it pinned on first use
(``cellctl.plant.opcua.client.connect_secure``; the pins and this HMI's own certificate in
``trust``'s folder, by default ``~/.config/cellctl/opcua``). A changed certificate is refused
before any password leaves: ``certificate_refusal`` holds the warning, which the window shows,
and the link keeps asking (a cell whose certificate was renewed on purpose is trusted again
once its pin is removed). It subscribes to every variable
of the Cell object, so that the controller sends only what changed: the live values every
``FAST_PUBLISH_INTERVAL_MS``, the rest every ``PUBLISH_INTERVAL_MS`` (cheaper for the
controller than being polled: see bench_hmi). The
worker keeps the latest value of each variable and hands the Qt thread a copy of the whole
Cell at most every ``CELL_EMIT_PERIOD_S`` (``cell_read``), and each batch of changed live
values (weld actuals, tracking) as it arrives (``fast_read``), stamped with the server's time.
A small read every ``WATCH_PERIOD_S`` notices a controller that went away: the link says so
(``connection_changed``) and reconnects by itself, backing off from ``RECONNECT_MIN_S`` to
``RECONNECT_MAX_S``.

Commands (``command``) are queued onto the worker's loop; their results come back as
``command_done(method, status, message)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import threading
import time
from typing import Any

from asyncua import Client, ua
from PySide6.QtCore import QObject, Signal

from cellctl.plant.opcua.certs import CertificateChanged, ClientTrust, user_trust_dir
from cellctl.plant.opcua.client import call_method, cell_namespace, connect_secure
from cellctl.plant.opcua.nodes import OBJECT, VARIABLES

log = logging.getLogger(__name__)

FAST_PUBLISH_INTERVAL_MS = 50
PUBLISH_INTERVAL_MS = 200
CELL_EMIT_PERIOD_S = 0.1
WATCH_PERIOD_S = 1.0
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
_FAST = frozenset(FAST_PATHS)


class CellLink(QObject):
    """Owns the worker thread; ``start()`` once, ``stop()`` before the application quits."""

    cell_read = Signal(object)  # every variable of the Cell object, by path
    fast_read = Signal(float, object)  # (time.monotonic() of the read, FAST_PATHS values)
    connection_changed = Signal(bool, str)  # (connected, why / whom)
    command_done = Signal(str, str, str)  # (method, status name, message)

    def __init__(
        self,
        endpoint: str,
        user: str | None = None,
        password: str | None = None,
        trust: ClientTrust | None = None,
    ):
        super().__init__()
        self.endpoint = endpoint
        self.user = user
        self._password = password
        self.trust = trust if trust is not None else ClientTrust(user_trust_dir())
        # The warning of a server whose certificate is not the one pinned ("" while none).
        self.certificate_refusal = ""
        self._told = ""
        self.role = "anonymous"
        self.connected = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: Client | None = None
        self._namespace = 0
        self._stopping = threading.Event()
        self._loop_ready = threading.Event()
        self._main_task: asyncio.Task[None] | None = None
        self._cell: dict[str, Any] = {}
        self._cell_changed = False

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
            except CertificateChanged as refused:
                if str(refused) != self.certificate_refusal:  # once, not at every retry
                    log.error("%s", refused)
                self.certificate_refusal = why = str(refused)
            except Exception as error:  # any failure of the link: show it, then reconnect
                why = str(error) or type(error).__name__
            await self._disconnect()
            self._set_connected(False, why or "connection lost")
            await asyncio.sleep(delay_s)
            delay_s = min(RECONNECT_MAX_S, delay_s * 2)

    async def _connect(self) -> None:
        client = Client(self.endpoint, timeout=REQUEST_TIMEOUT_S)
        client.session_timeout = 30_000
        self._client = client
        self._cell = {}
        await connect_secure(client, self.trust, self.user, self._password)
        self.certificate_refusal = ""
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
        """Subscribe to the Cell object; emit its copies until the link fails."""
        client = self._client
        assert client is not None
        nodes = {ua.NodeId(f"{OBJECT}.{v.path}", self._namespace): v.path for v in VARIABLES}
        # Two subscriptions: the live values at the weld traces' rate, the rest (the bulk:
        # arrays, counters, faults) at a slower one; the controller encodes only changes.
        for paths, interval_ms in (
            ([n for n, p in nodes.items() if p in _FAST], FAST_PUBLISH_INTERVAL_MS),
            ([n for n, p in nodes.items() if p not in _FAST], PUBLISH_INTERVAL_MS),
        ):
            subscription = await client.create_subscription(
                interval_ms, _Changes(nodes, self._on_changes)
            )
            await subscription.subscribe_data_change(
                [client.get_node(node) for node in paths], sampling_interval=0
            )
        watch = client.get_node(ua.NodeId(f"{OBJECT}.StateNumber", self._namespace))
        next_watch = time.monotonic() + WATCH_PERIOD_S
        while not self._stopping.is_set():
            await asyncio.sleep(CELL_EMIT_PERIOD_S)
            if self._cell_changed and len(self._cell) == len(nodes):
                self._cell_changed = False
                self.cell_read.emit(dict(self._cell))
            if time.monotonic() >= next_watch:
                next_watch = time.monotonic() + WATCH_PERIOD_S
                await watch.read_value()  # raises when the controller is gone

    def _on_changes(self, changed: dict[str, Any], server_time_s: float | None) -> None:
        """One publish's worth of changes (on the worker's loop)."""
        self._cell.update(changed)
        self._cell_changed = True
        if _FAST.intersection(changed) and all(p in self._cell for p in FAST_PATHS):
            # The sample's time on our monotonic clock: the server's timestamp if it has one.
            now = time.monotonic()
            t_s = now if server_time_s is None else now - max(0.0, time.time() - server_time_s)
            self.fast_read.emit(t_s, {p: self._cell[p] for p in FAST_PATHS})

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
        # A refusal of the certificate is told even while already disconnected: it is news.
        refused = not connected and why == self.certificate_refusal and why != self._told
        if connected != self.connected or connected or refused:
            self.connected = connected
            self._told = why
            self.connection_changed.emit(connected, why)


class _Changes:
    """asyncua's subscription handler: collects one publish's data changes into one batch."""

    def __init__(self, paths: dict[ua.NodeId, str], deliver: Any) -> None:
        self._paths = paths
        self._deliver = deliver
        self._batch: dict[str, Any] = {}
        self._server_time_s: float | None = None

    def datachange_notification(self, node: Any, value: Any, data: Any) -> None:
        path = self._paths.get(node.nodeid)
        if path is None:
            return
        if not self._batch:
            # asyncua calls this once per item of a publish, all in one go: flush after.
            asyncio.get_running_loop().call_soon(self._flush)
        self._batch[path] = value
        stamp = data.monitored_item.Value.SourceTimestamp
        if stamp is not None:
            if stamp.tzinfo is None:  # OPC UA times are UTC
                stamp = stamp.replace(tzinfo=datetime.UTC)
            self._server_time_s = stamp.timestamp()

    def _flush(self) -> None:
        batch, self._batch = self._batch, {}
        self._deliver(batch, self._server_time_s)

    def status_change_notification(self, status: Any) -> None:
        log.warning("OPC UA subscription status: %s", status)
