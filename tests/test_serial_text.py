"""A serial number in PLC registers, both ways (``drivers.codecs.serial_text``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.codecs.serial_text import SerialTextError, decode_serial, encode_serial

PRINTABLE = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=32)


@given(PRINTABLE)
def test_a_serial_comes_back_as_it_was_put(text):
    assert decode_serial(encode_serial(text)) == text


def test_the_first_character_is_the_high_byte():
    assert encode_serial("AB")["serial_chars_00"] == 0x4142


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"serial_length": 0}, "serial_length 0: expected 1..32"),
        ({"serial_length": 40}, "serial_length 40"),
        ({"serial_chars_00": 0x4100}, "not printable ASCII"),
        ({"serial_chars_03": -1}, "serial_chars_03 -1: expected a 16-bit word"),
    ],
)
def test_registers_that_hold_no_serial_are_refused_naming_the_register(change, message):
    with pytest.raises(SerialTextError, match=message):
        decode_serial({**encode_serial("BM-2026-0001"), **change})
    with pytest.raises(SerialTextError, match="at most 32"):
        encode_serial("X" * 33)
