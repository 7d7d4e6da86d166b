"""Register maps of Modbus devices, and the pure codec between registers and named values.

A device's map names its inputs (read by the controller) and outputs (written by the
controller). Each signal sits at a register address with a type; a ``bool`` may be a single bit
of a word, as PLC status words usually are. Engineering value = raw register value x ``scale``.

This module does no I/O. The driver uses it to plan reads and to encode writes; the simulator
uses the same map to lay out its registers. Two rules it enforces:

- reads are coalesced: contiguous (or nearly contiguous, up to ``max_gap_registers``) signals
  are read in one request of at most ``max_registers_per_read`` registers (125 is Modbus's limit);
- writes go only to outputs the map names. Outputs are holding registers; a ``bool`` output that
  is one bit of a word is written as the whole word from the controller's output image, since the
  controller is the only writer of its outputs.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field, model_validator

from drivers.codecs.model import StrictModel
from drivers.errors import SignalValueError

MODBUS_MAX_READ_REGISTERS = 125
MODBUS_MAX_WRITE_REGISTERS = 123


class RegisterTable(enum.StrEnum):
    """Modbus data table a block of signals lives in."""

    HOLDING = "holding"  # function 3 to read, 6/16 to write
    INPUT = "input"  # function 4, read-only


class SignalType(enum.StrEnum):
    BOOL = "bool"
    UINT16 = "uint16"
    INT16 = "int16"
    UINT32 = "uint32"
    INT32 = "int32"
    FLOAT32 = "float32"


# struct format (big-endian bytes inside a register) and register count per type.
_STRUCT_FORMAT: dict[SignalType, tuple[str, int]] = {
    SignalType.BOOL: (">H", 1),
    SignalType.UINT16: (">H", 1),
    SignalType.INT16: (">h", 1),
    SignalType.UINT32: (">I", 2),
    SignalType.INT32: (">i", 2),
    SignalType.FLOAT32: (">f", 2),
}

_INT_RANGE: dict[SignalType, tuple[int, int]] = {
    SignalType.UINT16: (0, 0xFFFF),
    SignalType.INT16: (-0x8000, 0x7FFF),
    SignalType.UINT32: (0, 0xFFFF_FFFF),
    SignalType.INT32: (-0x8000_0000, 0x7FFF_FFFF),
}

RegisterAddress = Annotated[int, Field(ge=0, le=0xFFFF)]
SignalValue = bool | int | float


class RegisterSignal(StrictModel):
    """One named value at a register address."""

    address: RegisterAddress
    type: SignalType = SignalType.UINT16
    bit: Annotated[int, Field(ge=0, le=15)] | None = None
    scale: Annotated[float, Field(gt=0)] = 1.0
    unit: str = ""
    description: str = ""

    @model_validator(mode="after")
    def _bit_only_for_bool(self) -> RegisterSignal:
        if self.bit is not None and self.type is not SignalType.BOOL:
            raise ValueError(f"bit is only allowed for type bool, not {self.type}")
        if self.type is SignalType.BOOL and self.scale != 1.0:
            raise ValueError("scale is not allowed for type bool")
        return self

    @property
    def register_count(self) -> int:
        return _STRUCT_FORMAT[self.type][1]

    @property
    def registers(self) -> range:
        return range(self.address, self.address + self.register_count)


class RegisterMap(StrictModel):
    """The inputs and outputs of one Modbus device, by name."""

    input_table: RegisterTable = RegisterTable.INPUT
    inputs: dict[str, RegisterSignal] = Field(default_factory=dict)
    outputs: dict[str, RegisterSignal] = Field(default_factory=dict)
    # At least 2, so that a 32-bit signal fits in one request.
    max_registers_per_read: Annotated[int, Field(ge=2, le=MODBUS_MAX_READ_REGISTERS)] = (
        MODBUS_MAX_READ_REGISTERS
    )
    # Unmapped registers a read may span to join two blocks. 0 reads only mapped registers, which
    # every device accepts; a device that answers unmapped registers can save requests with more.
    max_gap_registers: Annotated[int, Field(ge=0, le=MODBUS_MAX_READ_REGISTERS)] = 0

    @model_validator(mode="after")
    def _no_overlaps(self) -> RegisterMap:
        problems: list[str] = []
        if self.input_table is RegisterTable.HOLDING:
            # Inputs and outputs share the holding table: check them together.
            problems += _overlaps([*self.inputs.items(), *self.outputs.items()])
        else:
            problems += _overlaps(self.inputs.items())
            problems += _overlaps(self.outputs.items())
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def output(self, name: str) -> RegisterSignal:
        return self.outputs[name]

    def output_registers(self) -> frozenset[int]:
        """Every register address an output occupies: the write allow-list."""
        return frozenset(r for s in self.outputs.values() for r in s.registers)


def _overlaps(signals: Iterable[tuple[str, RegisterSignal]]) -> list[str]:
    """Two signals may share a register only if both are distinct bits of one word."""
    owner: dict[int, list[tuple[str, RegisterSignal]]] = {}
    for name, signal in signals:
        for register in signal.registers:
            owner.setdefault(register, []).append((name, signal))
    problems = []
    for register, users in sorted(owner.items()):
        if len(users) < 2:
            continue
        whole_words = [n for n, s in users if s.type is not SignalType.BOOL or s.bit is None]
        if whole_words:
            clashing = [n for n, _ in users]
        else:
            by_bit: dict[int | None, list[str]] = {}
            for name, signal in users:
                by_bit.setdefault(signal.bit, []).append(name)
            clashing = [n for names in by_bit.values() if len(names) > 1 for n in names]
        if clashing:
            problems.append(f"signals {', '.join(clashing)} overlap at register {register}")
    return problems


@dataclass(frozen=True)
class ReadBlock:
    """One read request: ``count`` registers from ``start``."""

    start: int
    count: int

    @property
    def end(self) -> int:
        return self.start + self.count


def plan_reads(
    signals: Iterable[RegisterSignal],
    max_registers_per_read: int = MODBUS_MAX_READ_REGISTERS,
    max_gap_registers: int = 0,
) -> list[ReadBlock]:
    """The fewest read blocks that cover every signal, in address order.

    A signal is never split across two blocks (a float32 read half in one request and half in the
    next could tear). Blocks join when the gap between them is at most ``max_gap_registers`` and
    the joined block fits in ``max_registers_per_read``.
    """
    spans = sorted({(s.address, s.address + s.register_count) for s in signals})
    if any(end - start > max_registers_per_read for start, end in spans):
        raise ValueError(f"a signal is wider than max_registers_per_read {max_registers_per_read}")
    blocks: list[list[int]] = []  # [start, end)
    for start, end in spans:
        if blocks:
            current = blocks[-1]
            joined_end = max(current[1], end)
            if start <= current[1] + max_gap_registers and (
                joined_end - current[0] <= max_registers_per_read
            ):
                current[1] = joined_end
                continue
        blocks.append([start, end])
    return [ReadBlock(start, end - start) for start, end in blocks]


def decode_signal(signal: RegisterSignal, registers: list[int]) -> SignalValue:
    """The engineering value of ``signal`` from its ``register_count`` raw registers."""
    if signal.type is SignalType.BOOL:
        word = registers[0]
        return bool(word >> signal.bit & 1) if signal.bit is not None else word != 0
    fmt, count = _STRUCT_FORMAT[signal.type]
    raw = struct.unpack(fmt, struct.pack(f">{count}H", *registers[:count]))[0]
    if signal.type is SignalType.FLOAT32:
        return raw * signal.scale
    if signal.scale == 1.0:
        return raw
    # 945 x 0.01 is 9.450000000000001 in binary floating point: round to the scale's resolution.
    return round(raw * signal.scale, _decimals(signal.scale))


def _decimals(scale: float) -> int:
    """Decimal places a scale resolves: 0.1 -> 1, 0.01 -> 2, 0.25 -> 2, 10 -> 0."""
    text = f"{scale:.10f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0


def encode_signal(
    name: str, signal: RegisterSignal, value: SignalValue, current_word: int = 0
) -> list[int]:
    """Raw registers that carry ``value`` for ``signal``.

    For a ``bool`` bit the other bits of ``current_word`` are kept. Raises ``SignalValueError``
    (naming the signal) for a value the signal cannot carry; nothing is rounded into range.
    """
    if signal.type is SignalType.BOOL:
        if not isinstance(value, bool | int) or value not in (0, 1):
            raise SignalValueError(name, f"expected a bool, got {value!r}")
        if signal.bit is None:
            return [1 if value else 0]
        mask = 1 << signal.bit
        return [(current_word | mask) if value else (current_word & ~mask & 0xFFFF)]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SignalValueError(name, f"expected a number, got {value!r}")
    if value != value or value in (float("inf"), float("-inf")):
        raise SignalValueError(name, f"expected a finite number, got {value!r}")
    fmt, count = _STRUCT_FORMAT[signal.type]
    if signal.type is SignalType.FLOAT32:
        raw_value: float | int = value / signal.scale
        if abs(raw_value) > 3.4e38:
            raise SignalValueError(name, f"{value!r} is out of float32 range")
    else:
        raw_value = round(value / signal.scale)
        low, high = _INT_RANGE[signal.type]
        if not low <= raw_value <= high:
            unit = f" {signal.unit}" if signal.unit else ""
            raise SignalValueError(
                name,
                f"{value!r}{unit} is out of range {low * signal.scale:g}..{high * signal.scale:g}"
                f"{unit} for a {signal.type} with scale {signal.scale:g}",
            )
    return list(struct.unpack(f">{count}H", struct.pack(fmt, raw_value)))


class InputScan:
    """A compiled plan for reading every input of a map: the blocks, and where each signal sits.

    ``decode`` turns the registers of each block (in ``blocks`` order) into named values.
    """

    def __init__(self, register_map: RegisterMap) -> None:
        self.register_map = register_map
        self.blocks = plan_reads(
            register_map.inputs.values(),
            register_map.max_registers_per_read,
            register_map.max_gap_registers,
        )
        self._where: list[tuple[str, RegisterSignal, int, int]] = []
        for name, signal in register_map.inputs.items():
            for index, block in enumerate(self.blocks):
                if block.start <= signal.address and signal.address + signal.register_count <= (
                    block.end
                ):
                    self._where.append((name, signal, index, signal.address - block.start))
                    break

    def decode(self, block_registers: list[list[int]]) -> dict[str, SignalValue]:
        values: dict[str, SignalValue] = {}
        for name, signal, index, offset in self._where:
            registers = block_registers[index]
            values[name] = decode_signal(signal, registers[offset : offset + signal.register_count])
        return values
