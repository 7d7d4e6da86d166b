"""Link state and counters shared by every device link, and the reconnect backoff.

The controller shows these per device (link up or down, requests, errors, round-trip time), so
they are kept the same way for Modbus and for the robot's serial link.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field


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
