"""The simulator's control channel: JSON lines over TCP on 127.0.0.1, for test rigs and people.

Each request is one JSON object on one line; each answer is one line ``{"ok": true, "result":
...}`` or ``{"ok": false, "error": "..."}``. This is the operator's panel (press buttons, load
a part) and the fault injector of the simulated cell (open the door, hit the e-stop, break the
arc, stall a link: the fault-injection table). The controller never uses it; it talks to the
devices on their own wires.

Commands (``cmd``):

=========================  ====================================================================
``snapshot``               ground truth of every device
``plc.press``              ``button``: start_button | stop_button | reset_button
``plc.load``               ``loaded``: bool; a part put on (taken off) the fixture
``inject``                 ``do``: one command of the fault-injection table, as a scenario
                           file writes it (``sim.wire.injection``): ``door_open``,
                           ``link_cut robot``, ``slow power_source 200``, ``arc_break``, ...
``sensor.truth``           the torch against the true seam, per weld path: lateral / vertical
                           RMS and max (mm), from every physics step (sim.devices.sensor); beside
                           it the taught path's (``taught_rms_mm``, ``taught_max_mm``)
``scanner.scan``           ``serial``: the barcode scanner reads a part's label and sends it
                           on its pty (``cellsim ctl scanner.scan serial=SN-0001``)
``plc.serial``             ``serial``: the PLC presents a serial in its registers (30-47) and
                           counts its strobe up (``drivers.codecs.serial_text``)
=========================  ====================================================================
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Any]


class ControlError(Exception):
    """A control request that cannot be carried out; its text goes back to the caller."""


class ControlServer:
    """Serves ``handlers`` (command name -> function of the request) on ``host:port``."""

    def __init__(self, handlers: dict[str, Handler], host: str = "127.0.0.1", port: int = 0):
        self.handlers = handlers
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve_client, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._clients):
                task.cancel()
            for task in list(self._clients):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self._server.wait_closed()
            self._server = None

    async def _serve_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        try:
            while line := await reader.readline():
                answer = await self.handle_line(line)
                writer.write(json.dumps(answer, default=str).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._clients.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def handle_line(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
            if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
                raise ControlError('expected a JSON object with a "cmd"')
            handler = self.handlers.get(request["cmd"])
            if handler is None:
                known = ", ".join(sorted(self.handlers))
                raise ControlError(f"unknown cmd {request['cmd']!r} (known: {known})")
            result = handler(request)
            if isinstance(result, Awaitable):
                result = await result
            return {"ok": True, "result": result}
        except (ControlError, ValueError, KeyError, TypeError) as error:
            return {"ok": False, "error": str(error)}


async def send_command(host: str, port: int, request: dict[str, Any]) -> dict[str, Any]:
    """One request to a running simulator's control channel; returns its answer."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(json.dumps(request).encode() + b"\n")
        await writer.drain()
        line = await reader.readline()
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    if not line:
        raise ConnectionError(f"simulator control at {host}:{port} closed without an answer")
    return json.loads(line)
