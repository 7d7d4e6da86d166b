"""A part's serial number in PLC holding registers: pure, shared by the driver side and the
simulated PLC.

The PLC (reading a scanner of its own, or told by a line controller) presents a serial as
``serial_length`` (characters) and ``serial_chars_00`` .. ``serial_chars_15``: two ASCII
characters per register, the first in the high byte (as S7 and Codesys lay out a STRING's
bytes in words), at most ``SERIAL_MAX_CHARS``. It counts ``serial_strobe`` up by one for each
new serial, and the controller answers with ``serial_ack`` = the strobe it took.
"""

from __future__ import annotations

SERIAL_REGISTERS = 16
SERIAL_MAX_CHARS = 2 * SERIAL_REGISTERS
SERIAL_CHAR_INPUTS = tuple(f"serial_chars_{i:02d}" for i in range(SERIAL_REGISTERS))
SERIAL_INPUTS = ("serial_strobe", "serial_length", *SERIAL_CHAR_INPUTS)
SERIAL_ACK_OUTPUT = "serial_ack"


class SerialTextError(ValueError):
    """Registers that do not hold a serial: the message names the register and the value."""


def encode_serial(text: str) -> dict[str, int]:
    """``serial_length`` and the character registers for ``text`` (ASCII, <= 32 chars)."""
    data = text.encode("ascii")
    if len(data) > SERIAL_MAX_CHARS:
        raise SerialTextError(f"serial of {len(data)} characters; at most {SERIAL_MAX_CHARS}")
    padded = data.ljust(SERIAL_MAX_CHARS, b"\0")
    values = {"serial_length": len(data)}
    for i, name in enumerate(SERIAL_CHAR_INPUTS):
        values[name] = padded[2 * i] << 8 | padded[2 * i + 1]
    return values


def decode_serial(inputs: dict[str, object]) -> str:
    """The serial the registers hold; ``SerialTextError`` for a length out of range or a
    character that is not printable ASCII (a PLC program writing the wrong words)."""
    length = inputs.get("serial_length")
    if not isinstance(length, int) or not 1 <= length <= SERIAL_MAX_CHARS:
        raise SerialTextError(f"serial_length {length!r}: expected 1..{SERIAL_MAX_CHARS}")
    data = bytearray()
    for name in SERIAL_CHAR_INPUTS:
        word = inputs.get(name)
        if not isinstance(word, int) or not 0 <= word <= 0xFFFF:
            raise SerialTextError(f"{name} {word!r}: expected a 16-bit word")
        data += bytes((word >> 8, word & 0xFF))
    text = bytes(data[:length])
    if not all(0x20 < b < 0x7F for b in text):
        raise SerialTextError(f"serial characters {text!r} are not printable ASCII")
    return text.decode("ascii")
