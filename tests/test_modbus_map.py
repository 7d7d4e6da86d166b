"""The register map codec: read planning, and encoding/decoding of named values."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from drivers.codecs.modbus_map import (
    InputScan,
    RegisterMap,
    RegisterSignal,
    SignalType,
    decode_signal,
    encode_signal,
    plan_reads,
)
from drivers.errors import SignalValueError

signal_types = st.sampled_from([t for t in SignalType if t is not SignalType.BOOL])


@st.composite
def signals(draw) -> list[RegisterSignal]:
    """Non-overlapping numeric signals at random addresses."""
    count = draw(st.integers(1, 40))
    taken: set[int] = set()
    result = []
    for _ in range(count):
        kind = draw(signal_types)
        address = draw(st.integers(0, 600))
        signal = RegisterSignal(address=address, type=kind)
        if taken.isdisjoint(signal.registers):
            taken.update(signal.registers)
            result.append(signal)
    return result


@given(signals(), st.integers(2, 125), st.integers(0, 10))
def test_read_plan_covers_every_signal_once_within_the_limit(found, max_count, max_gap):
    blocks = plan_reads(found, max_count, max_gap)
    assert all(1 <= b.count <= max_count for b in blocks)
    assert all(a.end <= b.start for a, b in itertools.pairwise(blocks))
    for signal in found:
        holders = [b for b in blocks if b.start <= signal.address and signal.registers[-1] < b.end]
        assert len(holders) == 1, "a signal must sit wholly inside exactly one block"
    if max_gap == 0:
        mapped = {r for s in found for r in s.registers}
        assert all(r in mapped for b in blocks for r in range(b.start, b.end))


def test_contiguous_signals_coalesce_and_gaps_split():
    found = [RegisterSignal(address=a) for a in (0, 1, 2, 3, 10, 11)]
    assert [(b.start, b.count) for b in plan_reads(found)] == [(0, 4), (10, 2)]
    assert [(b.start, b.count) for b in plan_reads(found, max_gap_registers=6)] == [(0, 12)]
    many = [RegisterSignal(address=a) for a in range(300)]
    assert [(b.start, b.count) for b in plan_reads(many)] == [(0, 125), (125, 125), (250, 50)]
    # A float32 at the limit is never torn across two requests.
    edge = [RegisterSignal(address=a) for a in range(124)]
    edge.append(RegisterSignal(address=124, type=SignalType.FLOAT32))
    assert [(b.start, b.count) for b in plan_reads(edge)] == [(0, 124), (124, 2)]


@given(st.data())
def test_numeric_values_round_trip(data):
    kind = data.draw(signal_types)
    scale = data.draw(st.sampled_from([1.0, 0.1, 0.01, 10.0]))
    signal = RegisterSignal(address=0, type=kind, scale=scale)
    if kind is SignalType.FLOAT32:
        value = data.draw(st.floats(-1e6, 1e6, allow_nan=False, width=32))
        assert decode_signal(signal, encode_signal("x", signal, value)) == pytest.approx(
            value, rel=1e-6, abs=1e-6 * scale
        )
        return
    bits = {"uint16": (0, 0xFFFF), "int16": (-0x8000, 0x7FFF)}.get(
        kind.value, (-0x8000_0000, 0x7FFF_FFFF) if kind is SignalType.INT32 else (0, 0xFFFF_FFFF)
    )
    raw = data.draw(st.integers(*bits))
    decoded = decode_signal(signal, encode_signal("x", signal, raw * scale))
    assert decoded == pytest.approx(raw * scale)


@given(st.integers(0, 0xFFFF), st.integers(0, 15), st.booleans())
def test_a_bit_write_keeps_the_other_bits(word, bit, value):
    signal = RegisterSignal(address=0, type=SignalType.BOOL, bit=bit)
    (new_word,) = encode_signal("lamp", signal, value, word)
    assert decode_signal(signal, [new_word]) is value
    assert new_word & ~(1 << bit) == word & ~(1 << bit)


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        (SignalType.UINT16, -1, "-1 is out of range 0..65535"),
        (SignalType.UINT16, 65536, "out of range"),
        (SignalType.INT16, 40000, "out of range -32768..32767"),
        (SignalType.UINT16, math.nan, "expected a finite number"),
        (SignalType.UINT16, "12", "expected a number"),
        (SignalType.BOOL, 2, "expected a bool"),
        (SignalType.UINT16, True, "expected a number"),
    ],
)
def test_values_a_signal_cannot_carry_are_refused_not_rounded(kind, value, message):
    signal = RegisterSignal(address=7, type=kind)
    with pytest.raises(SignalValueError, match=message) as refused:
        encode_signal("current_setpoint_a", signal, value)
    assert str(refused.value).startswith("current_setpoint_a: ")


def test_scaled_values_name_their_unit_in_range_errors():
    signal = RegisterSignal(address=2, type=SignalType.UINT16, scale=0.1, unit="A")
    assert encode_signal("current_setpoint_a", signal, 220.0) == [2200]
    with pytest.raises(SignalValueError, match=r"7000.0 A is out of range 0..6553.5 A"):
        encode_signal("current_setpoint_a", signal, 7000.0)


def test_maps_reject_overlaps_and_misplaced_bits():
    with pytest.raises(ValidationError, match="signals a, b overlap at register 1"):
        RegisterMap(
            inputs={
                "a": RegisterSignal(address=0, type=SignalType.UINT32),
                "b": RegisterSignal(address=1),
            }
        )
    with pytest.raises(ValidationError, match="signals a, b overlap at register 0"):
        RegisterMap(
            inputs={
                "a": RegisterSignal(address=0, type=SignalType.BOOL, bit=3),
                "b": RegisterSignal(address=0, type=SignalType.BOOL, bit=3),
            }
        )
    with pytest.raises(ValidationError, match="bit is only allowed for type bool"):
        RegisterSignal(address=0, type=SignalType.UINT16, bit=2)
    # Distinct bits of one word are the normal case.
    RegisterMap(
        inputs={
            "a": RegisterSignal(address=0, type=SignalType.BOOL, bit=0),
            "b": RegisterSignal(address=0, type=SignalType.BOOL, bit=1),
        }
    )


def test_input_scan_decodes_blocks_into_named_values():
    register_map = RegisterMap(
        inputs={
            "ready": RegisterSignal(address=0, type=SignalType.BOOL, bit=0),
            "error": RegisterSignal(address=0, type=SignalType.BOOL, bit=3),
            "current_a": RegisterSignal(address=2, scale=0.1),
            "energy_kj": RegisterSignal(address=20, type=SignalType.FLOAT32),
        }
    )
    scan = InputScan(register_map)
    assert [(b.start, b.count) for b in scan.blocks] == [(0, 1), (2, 1), (20, 2)]
    values = scan.decode([[0b1001], [2215], [0x4049, 0x0FDB]])
    assert values["ready"] is True
    assert values["error"] is True
    assert values["current_a"] == pytest.approx(221.5)
    assert values["energy_kj"] == pytest.approx(3.14159, abs=1e-5)
