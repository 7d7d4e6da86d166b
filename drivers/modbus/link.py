"""One Modbus device on one link (TCP, RTU on a serial port or pty, RTU over ``socket://``).

The timeout, retry, reconnect and counting rules of every Modbus device live here once; the PLC
and power source drivers add only their device's meaning. Built on pymodbus's async clients.

Contract:

- ``connect()`` starts the link and returns once the first attempt has finished, connected or
  not; from then on a supervisor task reconnects with doubling backoff until ``close()``.
  Requests made while the link is down raise ``LinkDown`` at once instead of waiting.
- One request at a time per link (pymodbus does not promise to serialise them). A request
  whose caller is cancelled is not sent if it is not yet on the wire; once it is, it finishes
  (answer or timeout) before the next one goes out, so that its answer lands on it.
- A request that gets no valid answer after ``retries`` raises ``DeviceTimeout``; an exception
  response raises ``DeviceRejected`` with the Modbus exception code. Every error names the
  device, the address (host:port or port, unit id) and the register.
- Writes are checked against the caller's allow-list before anything is sent (``WriteRefused``).
- Every answer is checked against its request (function, register count, a write's echo); one
  that does not match is ignored with ``ProtocolError``. Modbus RTU has no transaction id, so
  an answer that comes after its request timed out looks like the answer to whatever request
  is out when it lands. As libmodbus does, after an RTU request goes unanswered or is answered
  wrongly, the next read waits until the line has been quiet for ``LATE_ANSWER_QUIET_PER_TIMEOUT``
  answer timeouts, so that a late answer lands on no request. A write does not wait: its echo
  tells a late answer apart, and the arc-off of a fault's reaction must not be held back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Collection

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.pdu import ModbusPDU

from drivers.codecs.modbus_map import RegisterTable
from drivers.codecs.settings import ModbusLinkSettings, ModbusRtuLinkSettings, ModbusTcpLinkSettings
from drivers.errors import (
    DeviceError,
    DeviceRejected,
    DeviceTimeout,
    LinkDown,
    ProtocolError,
    WriteRefused,
)
from drivers.link import SupervisedLink

log = logging.getLogger(__name__)

MODBUS_EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target failed to respond",
}

# How long an RTU line must be quiet, in answer timeouts, before a read follows a request that
# went unanswered. More than one: a device twice the timeout late must land in the quiet.
LATE_ANSWER_QUIET_PER_TIMEOUT = 1.5

# A wire tap: called with (sending, frame bytes); returns the bytes to use. Tests use it to
# corrupt frames at the wire; production leaves it None.
WireTap = Callable[[bool, bytes], bytes]


def _make_client(
    settings: ModbusLinkSettings,
    on_connect: Callable[[bool], None],
    on_packet: WireTap,
) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
    common = {
        "timeout": settings.timeout_ms / 1000,
        "retries": settings.retries,
        # Reconnection is ours (see ModbusLink._supervise): pymodbus's own does not cover a
        # device that is absent at start, and we want one state and one backoff for all links.
        "reconnect_delay": 0,
        "trace_connect": on_connect,
        "trace_packet": on_packet,
    }
    if isinstance(settings, ModbusTcpLinkSettings):
        return AsyncModbusTcpClient(settings.host, port=settings.port, **common)
    return AsyncModbusSerialClient(
        settings.port,
        framer=FramerType.RTU,
        baudrate=settings.baud,
        parity=settings.parity,
        stopbits=settings.stop_bits,
        bytesize=settings.data_bits,
        **common,
    )


class ModbusLink(SupervisedLink):
    """A supervised connection to one Modbus unit, with counters.

    ``device`` is the device's name in the cell (``plc``, ``power_source``) and appears in every
    error message. Connecting, supervising and backing off are ``drivers.link.SupervisedLink``'s.
    """

    def __init__(
        self, device: str, settings: ModbusLinkSettings, wire_tap: WireTap | None = None
    ) -> None:
        super().__init__(
            device, settings.reconnect_delay_min_ms / 1000, settings.reconnect_delay_max_ms / 1000
        )
        self.settings = settings
        self._wire_tap = wire_tap
        self._client = _make_client(settings, self._on_connect_change, self._on_packet)
        self._lock = asyncio.Lock()
        self._silent_until = 0.0  # see fall_silent
        self._silent_why = ""
        # RTU: when the last request went unanswered or was answered wrongly, while a late
        # answer may still come (None: none can; see _until_quiet); and when bytes came last.
        self._unanswered_at: float | None = None
        self._heard_at = 0.0
        # The request on the wire, if any: it holds the lock until it ends (see _execute).
        self._on_wire: asyncio.Future[ModbusPDU] | None = None

    # -- identity -------------------------------------------------------------------------

    @property
    def address(self) -> str:
        return self.settings.address

    @property
    def unit_id(self) -> int:
        return self.settings.unit_id

    def _where(self, register: int | None = None) -> str:
        if register is None:
            return self.address
        return f"{self.address} register {register}"

    # -- the transport (drivers.link.SupervisedLink) ----------------------------------------

    async def _open(self) -> bool:
        try:
            ok = await self._client.connect()
        except (OSError, ModbusException, ValueError) as error:
            # pyserial raises SerialException (an OSError) for a missing port; the exclusive
            # lock on a port in use raises too. Both mean: not now, try again later.
            self.stats.last_error = f"connect failed: {error}"
            return False
        return bool(ok and self._client.connected)

    async def _release(self, final: bool) -> None:
        # pymodbus's client reopens its own transport on the next connect; only a close for
        # good closes it, once the request on the wire has its answer or its timeout.
        if final:
            if self._on_wire is not None:
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await self._on_wire
            self._client.close()

    def _on_connect_change(self, up: bool) -> None:
        if not up:
            self._lost("the connection closed")

    def _on_packet(self, sending: bool, data: bytes) -> bytes:
        if sending:
            self.stats.requests += 1
        else:
            self._heard_at = time.monotonic()
        return self._wire_tap(sending, data) if self._wire_tap else data

    # -- requests -------------------------------------------------------------------------

    async def read_registers(self, table: RegisterTable, start: int, count: int) -> list[int]:
        """Read ``count`` registers from ``start`` in ``table``."""
        what = f"read of {count} {table} registers"
        if table is RegisterTable.INPUT:
            function = 4

            def request() -> Awaitable[ModbusPDU]:
                return self._client.read_input_registers(start, count=count, device_id=self.unit_id)
        else:
            function = 3

            def request() -> Awaitable[ModbusPDU]:
                return self._client.read_holding_registers(
                    start, count=count, device_id=self.unit_id
                )

        def mismatch(answer: ModbusPDU) -> str | None:
            if len(answer.registers) != count:
                return f"{len(answer.registers)} registers"
            return None

        response = await self._execute(what, start, request, function, mismatch)
        return list(response.registers)

    async def write_registers(
        self, start: int, values: list[int], allowed: Collection[int]
    ) -> None:
        """Write holding registers from ``start``; every one must be in ``allowed``.

        One register goes out as function 6, more as function 16.
        """
        refused = [start + i for i in range(len(values)) if start + i not in allowed]
        if refused or not values:
            error = WriteRefused(
                self.device,
                self._where(start),
                f"write to register(s) {refused or [start]} refused: not an output in the "
                "register map (nothing was sent)",
            )
            self.stats.record_refusal(error)
            raise error
        if any(not 0 <= v <= 0xFFFF for v in values):
            error = WriteRefused(
                self.device, self._where(start), f"values {values} do not fit 16-bit registers"
            )
            self.stats.record_refusal(error)
            raise error
        if len(values) == 1:
            function = 6

            def request() -> Awaitable[ModbusPDU]:
                return self._client.write_register(start, values[0], device_id=self.unit_id)

            def mismatch(answer: ModbusPDU) -> str | None:
                # Function 6 echoes the register and the value written.
                if (answer.address, list(answer.registers)) != (start, values):
                    return f"an echo of register {answer.address} = {list(answer.registers)}"
                return None
        else:
            function = 16

            def request() -> Awaitable[ModbusPDU]:
                return self._client.write_registers(start, values, device_id=self.unit_id)

            def mismatch(answer: ModbusPDU) -> str | None:
                # Function 16 echoes the first register and the count written.
                if (answer.address, answer.count) != (start, len(values)):
                    return f"an echo of {answer.count} register(s) from {answer.address}"
                return None

        await self._execute(
            f"write of {len(values)} register(s)", start, request, function, mismatch,
            waits_for_quiet=False,
        )  # fmt: skip

    @property
    def silent(self) -> bool:
        """Whether the link is holding its peace (``fall_silent``) right now."""
        return time.monotonic() < self._silent_until

    def fall_silent(self, seconds: float, why: str) -> None:
        """Send nothing for ``seconds``: every request meanwhile fails at once with
        ``LinkDown`` naming ``why``. For a device whose own watchdog is the way to make it
        safe when it will not take a command: it only fires once the controller goes quiet.
        """
        self._silent_until = time.monotonic() + seconds
        self._silent_why = why
        log.warning("%s at %s: silent for %.0f ms %s", self.device, self.address,
                    seconds * 1000, why)  # fmt: skip

    async def _until_quiet(self) -> None:
        """After an RTU request went unanswered or was answered wrongly, wait until the line
        has been quiet for ``LATE_ANSWER_QUIET_PER_TIMEOUT`` answer timeouts. pymodbus drops an
        answer that lands while no request is out, so a late one is gone by then."""
        unanswered_at = self._unanswered_at
        if unanswered_at is None:
            return
        quiet_s = self.settings.timeout_ms / 1000 * LATE_ANSWER_QUIET_PER_TIMEOUT
        while True:
            # Bytes that come meanwhile start the quiet again: the late answer may be long.
            wait_s = max(unanswered_at, self._heard_at) + quiet_s - time.monotonic()
            if wait_s <= 0:
                break
            await asyncio.sleep(wait_s)
        self._unanswered_at = None

    async def _execute(
        self,
        what: str,
        register: int,
        request: Callable[[], Awaitable[ModbusPDU]],
        function: int,
        mismatch: Callable[[ModbusPDU], str | None],
        waits_for_quiet: bool = True,
    ) -> ModbusPDU:
        """Send one request and return its answer; raise a ``DeviceError`` naming ``what``.

        ``function`` is the request's Modbus function code; ``mismatch`` describes how an
        answer of that function differs from what this request must get back (None: it fits).

        A caller cancelled before its request is sent (waiting for the link or for the quiet)
        sends nothing. Once on the wire, a request is never dropped half-way: it runs to its
        answer or its timeout in a task of its own (``_exchange``) that keeps the link until
        then, whether or not its caller is still there. Otherwise the answer of a cancelled
        read lands on whatever is sent next, and on a fault that is the arc-off
        (shared/PITFALLS.md).
        """
        where = self._where(register)
        if time.monotonic() < self._silent_until:
            error: DeviceError = LinkDown(
                self.device, where, f"link held silent {self._silent_why}; {what} not sent"
            )
            self.stats.record_error(error)
            raise error
        if not self.connected:
            error = LinkDown(self.device, where, f"link is down; {what} not sent")
            self.stats.record_error(error)
            raise error
        await self._lock.acquire()
        try:
            if waits_for_quiet:
                await self._until_quiet()
            exchange = asyncio.ensure_future(
                self._exchange(what, where, request, function, mismatch)
            )
        except BaseException:
            self._lock.release()
            raise
        # The link is the exchange's until it ends, not its caller's (see above).
        self._on_wire = exchange
        exchange.add_done_callback(self._exchange_done)
        return await asyncio.shield(exchange)

    def _exchange_done(self, exchange: asyncio.Future[ModbusPDU]) -> None:
        if self._on_wire is exchange:
            self._on_wire = None
        self._lock.release()

    async def _exchange(
        self,
        what: str,
        where: str,
        request: Callable[[], Awaitable[ModbusPDU]],
        function: int,
        mismatch: Callable[[ModbusPDU], str | None],
    ) -> ModbusPDU:
        """One request on the wire, its answer checked, the link's counters and state kept."""
        error: DeviceError
        started = time.perf_counter()
        try:
            response = await request()
        except ConnectionException as exc:
            error = LinkDown(self.device, where, f"connection lost during {what}: {exc}")
        except ModbusIOException:
            self.stats.timeouts += 1
            tries = self.settings.retries + 1
            error = DeviceTimeout(
                self.device,
                where,
                f"no valid answer to {what} within {self.settings.timeout_ms} ms "
                f"({tries} tr{'y' if tries == 1 else 'ies'})",
            )
        except (ModbusException, ValueError) as exc:
            error = ProtocolError(self.device, where, f"{what} failed: {exc}")
        else:
            answered = response.function_code & 0x7F
            differs = (
                f"function {answered}" if answered != function
                else None if response.isError() else mismatch(response)
            )  # fmt: skip
            if differs is not None:
                self.stats.mismatched_answers += 1
                error = ProtocolError(
                    self.device,
                    where,
                    f"{what} answered with {differs}: not its answer (a late answer to an "
                    "earlier request, or a garbled one), ignored",
                )
            elif response.isError():
                code = getattr(response, "exception_code", 0)
                self.stats.rejections += 1
                error = DeviceRejected(
                    self.device,
                    where,
                    f"{what} rejected with Modbus exception {code} "
                    f"({MODBUS_EXCEPTION_NAMES.get(code, 'unknown')})",
                    code,
                )
            else:
                self.stats.responses += 1
                self.stats.last_rtt_s = time.perf_counter() - started
                return response
        self.stats.record_error(error)
        if isinstance(error, LinkDown):
            self._lost(error.message)
        elif isinstance(error, DeviceTimeout | ProtocolError) and is_rtu(self.settings):
            self._unanswered_at = time.monotonic()
        raise error


def is_rtu(settings: ModbusLinkSettings) -> bool:
    return isinstance(settings, ModbusRtuLinkSettings)
