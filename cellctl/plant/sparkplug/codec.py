"""Sparkplug B payloads: the protobuf wire format of ``sparkplug_b.proto``, encoded by hand.

Pure: bytes in, messages out, no I/O. Covers what an edge node publishes and the commands it
takes: a ``Payload`` (timestamp, metrics, seq) whose ``Metric``s carry a name, an optional alias
and timestamp, a datatype and one scalar value (integers, floats, booleans, strings), or
``is_null``. Templates, data sets, property sets and metadata are not used by the cell; a
decoder skips any field it does not know, as protobuf requires.

Field numbers and datatype codes are those of the Eclipse Tahu ``sparkplug_b.proto``
(Sparkplug 3.0):

    Payload: timestamp=1 (uint64), metrics=2 (repeated Metric), seq=3 (uint64), uuid=4, body=5
    Metric:  name=1 (string), alias=2 (uint64), timestamp=3 (uint64), datatype=4 (uint32),
             is_historical=5, is_transient=6, is_null=7 (bool), int_value=10 (uint32),
             long_value=11 (uint64), float_value=12 (float), double_value=13 (double),
             boolean_value=14 (bool), string_value=15 (string)
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field

# Protobuf wire types.
VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5


class DataType(enum.IntEnum):
    """Sparkplug B metric datatypes (the subset with scalar values)."""

    INT8 = 1
    INT16 = 2
    INT32 = 3
    INT64 = 4
    UINT8 = 5
    UINT16 = 6
    UINT32 = 7
    UINT64 = 8
    FLOAT = 9
    DOUBLE = 10
    BOOLEAN = 11
    STRING = 12
    DATETIME = 13  # ms since the epoch, in long_value
    TEXT = 14


# Which value field carries each datatype, and its bounds for integers.
_INT_FIELD = {  # datatype -> (field number, min, max)
    DataType.INT8: (10, -(2**7), 2**7 - 1),
    DataType.INT16: (10, -(2**15), 2**15 - 1),
    DataType.INT32: (10, -(2**31), 2**31 - 1),
    DataType.UINT8: (10, 0, 2**8 - 1),
    DataType.UINT16: (10, 0, 2**16 - 1),
    DataType.UINT32: (10, 0, 2**32 - 1),
    DataType.INT64: (11, -(2**63), 2**63 - 1),
    DataType.UINT64: (11, 0, 2**64 - 1),
    DataType.DATETIME: (11, 0, 2**64 - 1),
}
# Signed values travel as the bit pattern of their unsigned field (uint32 or uint64).
_SIGNED_BITS = {DataType.INT8: 32, DataType.INT16: 32, DataType.INT32: 32, DataType.INT64: 64}

Value = int | float | bool | str | None


class PayloadError(ValueError):
    """Bytes that are not a Sparkplug B payload, or a metric value its datatype cannot carry."""


@dataclass(frozen=True)
class Metric:
    name: str
    datatype: DataType
    value: Value  # None: is_null
    timestamp_ms: int | None = None
    alias: int | None = None


@dataclass
class Payload:
    timestamp_ms: int
    metrics: list[Metric] = field(default_factory=list)
    seq: int | None = None  # absent in NDEATH and in commands

    def metric(self, name: str) -> Metric:
        for metric in self.metrics:
            if metric.name == name:
                return metric
        raise KeyError(f"no metric {name!r} in payload")

    def values(self) -> dict[str, Value]:
        return {m.name: m.value for m in self.metrics}


# -- encoding -------------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64  # protobuf encodes negative int64 as 10-byte two's complement
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(number: int, wire_type: int) -> bytes:
    return _varint(number << 3 | wire_type)


def _length_delimited(number: int, data: bytes) -> bytes:
    return _key(number, LENGTH) + _varint(len(data)) + data


def encode_metric(metric: Metric) -> bytes:
    out = bytearray(_length_delimited(1, metric.name.encode()))
    if metric.alias is not None:
        out += _key(2, VARINT) + _varint(metric.alias)
    if metric.timestamp_ms is not None:
        out += _key(3, VARINT) + _varint(metric.timestamp_ms)
    out += _key(4, VARINT) + _varint(int(metric.datatype))
    value, datatype = metric.value, metric.datatype
    if value is None:
        out += _key(7, VARINT) + b"\x01"
    elif datatype in _INT_FIELD:
        number, low, high = _INT_FIELD[datatype]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise PayloadError(f"metric {metric.name}: {value!r} is not a {datatype.name}")
        if value < 0 and number == 10:
            value += 1 << 32  # signed 32-bit values travel as their uint32 bit pattern
        out += _key(number, VARINT) + _varint(value)
    elif datatype is DataType.FLOAT:
        out += _key(12, FIXED32) + struct.pack("<f", float(value))
    elif datatype is DataType.DOUBLE:
        out += _key(13, FIXED64) + struct.pack("<d", float(value))
    elif datatype is DataType.BOOLEAN:
        out += _key(14, VARINT) + (b"\x01" if value else b"\x00")
    elif datatype in (DataType.STRING, DataType.TEXT):
        out += _length_delimited(15, str(value).encode())
    else:  # pragma: no cover - every DataType member is handled above
        raise PayloadError(f"metric {metric.name}: datatype {datatype!r} not supported")
    return bytes(out)


def encode_payload(payload: Payload) -> bytes:
    out = bytearray(_key(1, VARINT) + _varint(payload.timestamp_ms))
    for metric in payload.metrics:
        out += _length_delimited(2, encode_metric(metric))
    if payload.seq is not None:
        out += _key(3, VARINT) + _varint(payload.seq)
    return bytes(out)


# -- decoding -------------------------------------------------------------------------------


def _fields(data: bytes) -> list[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of every field of one message."""
    fields, at = [], 0
    while at < len(data):
        key, at = _read_varint(data, at)
        number, wire_type = key >> 3, key & 7
        if wire_type == VARINT:
            value, at = _read_varint(data, at)
            fields.append((number, wire_type, value))
        elif wire_type == FIXED64:
            fields.append((number, wire_type, data[at : at + 8]))
            at += 8
        elif wire_type == FIXED32:
            fields.append((number, wire_type, data[at : at + 4]))
            at += 4
        elif wire_type == LENGTH:
            length, at = _read_varint(data, at)
            fields.append((number, wire_type, data[at : at + length]))
            at += length
        else:
            raise PayloadError(f"wire type {wire_type} of field {number} is not supported")
        if at > len(data):
            raise PayloadError(f"field {number} runs past the end of the payload")
    return fields


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if at >= len(data):
            raise PayloadError("truncated varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7
        if shift > 63:
            raise PayloadError("varint longer than 10 bytes")


def decode_metric(data: bytes) -> Metric:
    name, alias, timestamp, datatype, is_null = "", None, None, 0, False
    raw: dict[int, int | bytes] = {}
    for number, _, value in _fields(data):
        if number == 1 and isinstance(value, bytes):
            name = value.decode()
        elif number == 2 and isinstance(value, int):
            alias = value
        elif number == 3 and isinstance(value, int):
            timestamp = value
        elif number == 4 and isinstance(value, int):
            datatype = value
        elif number == 7:
            is_null = bool(value)
        elif 10 <= number <= 15:
            raw[number] = value
    try:
        kind = DataType(datatype)
    except ValueError:
        raise PayloadError(f"metric {name!r}: datatype {datatype} not supported") from None
    result: Value = None
    if not is_null:
        result = _metric_value(name, kind, raw)
    return Metric(name, kind, result, timestamp, alias)


def _metric_value(name: str, kind: DataType, raw: dict[int, int | bytes]) -> Value:
    if kind in _INT_FIELD:
        number = _INT_FIELD[kind][0]
        value = raw.get(number)
        if not isinstance(value, int):
            raise PayloadError(f"metric {name!r}: {kind.name} without its value")
        bits = _SIGNED_BITS.get(kind)
        if bits and value >= 1 << (bits - 1):
            value -= 1 << bits
        return value
    if kind is DataType.FLOAT and isinstance(raw.get(12), bytes):
        return float(struct.unpack("<f", raw[12])[0])  # type: ignore[arg-type]
    if kind is DataType.DOUBLE and isinstance(raw.get(13), bytes):
        return float(struct.unpack("<d", raw[13])[0])  # type: ignore[arg-type]
    if kind is DataType.BOOLEAN and 14 in raw:
        return bool(raw[14])
    if kind in (DataType.STRING, DataType.TEXT) and isinstance(raw.get(15), bytes):
        return raw[15].decode()  # type: ignore[union-attr]
    raise PayloadError(f"metric {name!r}: {kind.name} without its value")


def decode_payload(data: bytes) -> Payload:
    payload = Payload(timestamp_ms=0)
    for number, _, value in _fields(data):
        if number == 1 and isinstance(value, int):
            payload.timestamp_ms = value
        elif number == 2 and isinstance(value, bytes):
            payload.metrics.append(decode_metric(value))
        elif number == 3 and isinstance(value, int):
            payload.seq = value
    return payload
