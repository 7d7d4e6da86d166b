"""What every device link shares: its state and counters, the reconnect backoff, and the
supervision that keeps it up.

The controller shows these per device (link up or down, requests, errors, round-trip time), so
they are kept the same way for the Modbus links, the robot's serial link and the sensor's
frame stream. ``SupervisedLink`` is the life of a link written once (connect, supervise, back
off, ``wait_connected``, state listeners); each link adds only how to open and release its
transport. ``DeviceLink`` is what the controller may rely on of any of them.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Protocol

from drivers.errors import LinkDown

log = logging.getLogger(__name__)


class LinkState(enum.StrEnum):
    """Where a device link is in its life."""

    DISCONNECTED = "disconnected"  # not yet connected, or closed by us
    CONNECTING = "connecting"  # first connection attempt under way
    UP = "up"  # connected; requests go out
    DOWN = "down"  # connection lost; reconnecting with backoff


@dataclass
class LinkStats:
    """Counters of one device link since the driver was created (never reset by a reconnect)."""

    state: LinkState = LinkState.DISCONNECTED
    requests: int = 0  # requests sent on the wire (each retry counts)
    responses: int = 0  # valid answers received
    errors: int = 0  # requests that ended in any error (timeout, rejection, protocol, link down)
    timeouts: int = 0  # requests that got no valid answer in time
    rejections: int = 0  # exception responses / NAKs
    reconnects: int = 0  # connections re-established after a loss
    frame_errors: int = 0  # garbled, truncated or CRC-failed frames skipped
    mismatched_answers: int = 0  # answers that did not fit their request (late, garbled)
    refused_writes: int = 0  # writes refused before the wire (not in the map's allow-list)
    last_rtt_s: float | None = None  # round-trip time of the last answered request
    last_error: str = ""  # text of the last error, for the operator's screen
    last_error_at: float | None = None  # time.time() of the last error
    state_since: float = field(default_factory=time.time)
    # Told of every write refused before the wire (the controller audits them).
    refusal_listeners: list[Callable[[Exception], None]] = field(
        default_factory=list, repr=False, compare=False
    )

    def set_state(self, state: LinkState) -> None:
        if state != self.state:
            self.state = state
            self.state_since = time.time()

    def record_error(self, error: Exception) -> None:
        self.errors += 1
        self.last_error = str(error)
        self.last_error_at = time.time()

    def record_refusal(self, error: Exception) -> None:
        """A write was refused before the wire: count it, and tell the listeners."""
        self.refused_writes += 1
        self.record_error(error)
        for listener in self.refusal_listeners:
            listener(error)

    def snapshot(self) -> dict[str, object]:
        """A plain copy, safe to hand to another task or serialise."""
        data = asdict(self)
        del data["refusal_listeners"]
        data["state"] = str(self.state)
        return data


class Backoff:
    """Reconnect delays that double from ``min_s`` up to ``max_s`` and reset on success."""

    def __init__(self, min_s: float, max_s: float) -> None:
        if not 0 < min_s <= max_s:
            raise ValueError(f"backoff needs 0 < min_s <= max_s, got {min_s}, {max_s}")
        self.min_s = min_s
        self.max_s = max_s
        self._next_s = min_s

    def next_delay_s(self) -> float:
        delay = self._next_s
        self._next_s = min(self._next_s * 2, self.max_s)
        return delay

    def reset(self) -> None:
        self._next_s = self.min_s


StateListener = Callable[["LinkState"], None]


class DeviceLink(Protocol):
    """A supervised link to one device, as the controller uses it.

    ``connect`` makes the first attempt and returns, up or not; the link then keeps itself up
    until ``close``. Every change of ``stats.state`` is told to the state listeners, on the
    event loop the link was connected on.
    """

    device: str
    stats: LinkStats

    @property
    def address(self) -> str: ...

    @property
    def connected(self) -> bool: ...

    @property
    def silent(self) -> bool: ...

    async def connect(self) -> None: ...

    async def wait_connected(self, timeout_s: float) -> None: ...

    async def close(self) -> None: ...

    def add_state_listener(self, listener: StateListener) -> None: ...


class SupervisedLink(abc.ABC):
    """The life of a link, once for every device (see ``DeviceLink``).

    Subclasses implement ``_open`` (one connection attempt: True once the device has shown
    it is there, e.g. answered or sent a frame) and ``_release`` (close what the last
    connection holds), and call ``_lost`` (on the loop) or ``_lost_from_thread`` when the
    connection breaks. The supervisor task then releases it, waits the backoff (doubling from
    ``reconnect_delay_min_s`` to ``reconnect_delay_max_s``, reset by a success) and opens it
    again, until ``close``.
    """

    def __init__(
        self, device: str, reconnect_delay_min_s: float, reconnect_delay_max_s: float
    ) -> None:
        self.device = device
        self.stats = LinkStats()
        self._backoff = Backoff(reconnect_delay_min_s, reconnect_delay_max_s)
        self._listeners: list[StateListener] = []
        self._supervisor: asyncio.Task[None] | None = None
        self._link_lost: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self._ever_connected = False

    # -- identity and state -------------------------------------------------------------------

    @property
    @abc.abstractmethod
    def address(self) -> str:
        """Where the device is, for every message: a host:port, a port, a URL."""

    @property
    def connected(self) -> bool:
        return self.stats.state is LinkState.UP

    @property
    def silent(self) -> bool:
        """Whether the link is holding its peace on purpose (a Modbus link waiting for its
        device's own watchdog): up, but not back for the cell yet."""
        return False

    def add_state_listener(self, listener: StateListener) -> None:
        """Call ``listener(state)`` on every change of the link's state (on the event loop)."""
        self._listeners.append(listener)

    def _set_state(self, state: LinkState) -> None:
        if state is self.stats.state:
            return
        self.stats.set_state(state)
        for listener in self._listeners:
            listener(state)

    # -- life cycle ---------------------------------------------------------------------------

    async def connect(self) -> None:
        """First connection attempt, then keep the link up in the background until ``close()``.

        Does not raise when the device is absent: the link stays down and reconnects.
        """
        if self._supervisor is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._link_lost = asyncio.Event()
        self._closing = False
        self._set_state(LinkState.CONNECTING)
        await self._attempt()
        self._supervisor = asyncio.create_task(
            self._supervise(), name=f"{self.device} link supervisor"
        )

    async def wait_connected(self, timeout_s: float) -> None:
        """Wait until the link is up; ``LinkDown`` if it is not within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while not self.connected:
            if time.monotonic() >= deadline:
                raise LinkDown(self.device, self.address, f"not connected within {timeout_s:g} s")
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        """Stop reconnecting and release the connection. Safe to call twice."""
        self._closing = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        await self._release(final=True)
        self._set_state(LinkState.DISCONNECTED)

    async def _supervise(self) -> None:
        assert self._link_lost is not None
        while not self._closing:
            if self.connected:
                await self._link_lost.wait()
                continue
            await self._release(final=False)
            await asyncio.sleep(self._backoff.next_delay_s())
            if not self._closing:
                await self._attempt()

    async def _attempt(self) -> bool:
        if not await self._open():
            self._set_state(LinkState.DOWN if self._ever_connected else LinkState.CONNECTING)
            return False
        if self._ever_connected:
            self.stats.reconnects += 1
            log.info("%s at %s: link re-established", self.device, self.address)
        self._ever_connected = True
        self._backoff.reset()
        assert self._link_lost is not None
        self._link_lost.clear()
        self._set_state(LinkState.UP)
        return True

    def _lost(self, reason: str) -> None:
        """The connection broke (on the event loop): the link is down until it is back."""
        if self._closing or not self.connected:
            return
        log.warning("%s at %s: link lost: %s", self.device, self.address, reason)
        self.stats.last_error = f"link lost: {reason}"
        self.stats.last_error_at = time.time()
        self._set_state(LinkState.DOWN)
        assert self._link_lost is not None
        self._link_lost.set()

    def _lost_from_thread(self, reason: str) -> None:
        """``_lost`` from a thread of the link's own (a reader): handed to the event loop."""
        loop = self._loop
        if loop is None:
            return
        if _runs_on(loop):
            self._lost(reason)
            return
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody to tell
            loop.call_soon_threadsafe(self._lost, reason)

    @abc.abstractmethod
    async def _open(self) -> bool:
        """One connection attempt; True once the device has shown it is there. Records why
        not in ``stats.last_error``; never raises for an absent device."""

    @abc.abstractmethod
    async def _release(self, final: bool) -> None:
        """Close what the last connection holds (``final``: the link is being closed)."""


def _runs_on(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
