"""Fault injection at the wire: what a simulated device's answers suffer on their way out.

Every simulated device passes each frame it sends through its ``WireFaults``. Tests and the
scenario runner switch a fault on (for a number of frames, or until cleared); the device's logic
does not know. This is where garbled, truncated and missing answers come from, as on a noisy
RS-485 line or a failing switch.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, field


class WireFault(enum.StrEnum):
    NONE = "none"
    STALL = "stall"  # the answer never leaves: the controller times out
    CORRUPT = "corrupt"  # one byte of the answer is flipped
    TRUNCATE = "truncate"  # only the first half of the answer is sent
    GARBAGE = "garbage"  # random bytes are sent before the answer
    DELAY = "delay"  # the answer is sent, late by delay_s (applied by the device, it may await)
    REPLACE = "replace"  # these bytes go out instead of the answer (fuzzing: any bytes at all)


@dataclass
class WireFaults:
    mode: WireFault = WireFault.NONE
    frames_left: int | None = None  # None: until cleared
    delay_s: float = 0.0
    corrupt_at: int | None = None  # byte index CORRUPT flips; None: a random one
    frames_affected: int = 0
    replacements: list[bytes] = field(default_factory=list)  # REPLACE: one per answer, in order
    rng: random.Random = field(default_factory=lambda: random.Random(1))

    def set(
        self,
        mode: WireFault | str,
        frames: int | None = None,
        delay_s: float = 0.0,
        corrupt_at: int | None = None,
    ) -> None:
        self.mode = WireFault(mode)
        self.frames_left = frames
        self.delay_s = delay_s
        self.corrupt_at = corrupt_at

    def replace_answers(self, answers: list[bytes]) -> None:
        """Send each of ``answers`` in turn instead of the next answers, then the real ones."""
        self.set(WireFault.REPLACE, frames=len(answers))
        self.replacements = list(answers)

    def clear(self) -> None:
        self.set(WireFault.NONE)

    def _take(self) -> WireFault:
        if self.mode is WireFault.NONE:
            return WireFault.NONE
        mode = self.mode
        self.frames_affected += 1
        if self.frames_left is not None:
            self.frames_left -= 1
            if self.frames_left <= 0:
                self.clear()
        return mode

    def pending_delay_s(self) -> float:
        """The delay to wait before sending the next answer (consumes one frame of DELAY)."""
        if self.mode is WireFault.DELAY:
            delay = self.delay_s
            self._take()
            return delay
        return 0.0

    def apply(self, frame: bytes) -> bytes:
        """The bytes that actually go out for ``frame`` (may be empty)."""
        if self.mode in (WireFault.NONE, WireFault.DELAY) or not frame:
            return frame
        mode = self._take()
        if mode is WireFault.STALL:
            return b""
        if mode is WireFault.REPLACE:
            return self.replacements.pop(0) if self.replacements else frame
        if mode is WireFault.CORRUPT:
            index = self.corrupt_at if self.corrupt_at is not None else -1
            if not 0 <= index < len(frame):
                index = self.rng.randrange(len(frame))
            flipped = frame[index] ^ (1 << self.rng.randrange(8))
            return frame[:index] + bytes([flipped]) + frame[index + 1 :]
        if mode is WireFault.TRUNCATE:
            return frame[: max(1, len(frame) // 2)]
        if mode is WireFault.GARBAGE:
            return bytes(self.rng.randrange(256) for _ in range(self.rng.randint(3, 12))) + frame
        return frame
