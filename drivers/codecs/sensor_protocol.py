"""The laser seam sensor's frame stream: one pure codec that the simulator and the driver share.

A sensor (the simulator's, or a network laser sensor speaking the same framing) sends grayscale
frames back to back over one TCP connection. Each frame is a 32-byte header and its pixels::

    offset  size  field
    0       4     magic           b"LSF1"
    4       4     frame_number    uint32, +1 per frame the sensor exposed (gaps = frames it dropped)
    8       8     exposure_ns     uint64, middle of the exposure on CLOCK_MONOTONIC (ns)
    16      2     width_px        uint16
    18      2     height_px       uint16
    20      1     pixel_format    uint8, 1 = 8-bit mono, row-major, no padding
    21      1     flags           uint8, bit 0: the laser was on
    22      2     reserved        0
    24      4     payload_bytes   uint32, = width_px * height_px for mono8
    28      4     header_crc32    zlib.crc32 of bytes 0..27

All integers are little endian. The payload carries no checksum of its own (TCP does that);
the header's CRC catches a stream that lost its place, after which the reader resynchronises
on the next magic. ``exposure_ns`` is on the monotonic clock, which on Linux is one clock for
every process on the machine: the controller sets it beside its own ``time.monotonic_ns()`` to
know how old a measurement is.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass

import numpy as np

MAGIC = b"LSF1"
HEADER = struct.Struct("<4sIQHHBBHII")
HEADER_BYTES = HEADER.size  # 32
PIXEL_FORMAT_MONO8 = 1
FLAG_LASER_ON = 0x01
MAX_SIDE_PX = 4096


class FrameFormatError(ValueError):
    """Bytes that are not a valid frame header (bad magic, CRC, size or format)."""


@dataclass(frozen=True, slots=True)
class FrameHeader:
    frame_number: int
    exposure_ns: int
    width_px: int
    height_px: int
    pixel_format: int = PIXEL_FORMAT_MONO8
    flags: int = FLAG_LASER_ON

    @property
    def payload_bytes(self) -> int:
        return self.width_px * self.height_px


@dataclass(frozen=True, slots=True)
class Frame:
    """One grayscale frame: ``pixels`` is a (height, width) uint8 array."""

    frame_number: int
    exposure_ns: int
    pixels: np.ndarray
    laser_on: bool = True
    # When the driver had the whole frame (monotonic s; NaN: not from a driver). Not on the
    # wire: the receiver's own stamp, so that a frame's latency splits into the sensor's
    # (exposure to received) and the controller's (received to measured).
    received_s: float = math.nan

    @property
    def exposure_s(self) -> float:
        """Exposure time in seconds on the monotonic clock (as ``time.monotonic()``)."""
        return self.exposure_ns / 1e9


def encode_header(header: FrameHeader) -> bytes:
    if not (0 < header.width_px <= MAX_SIDE_PX and 0 < header.height_px <= MAX_SIDE_PX):
        raise FrameFormatError(f"frame size {header.width_px}x{header.height_px} px out of range")
    body = HEADER.pack(
        MAGIC,
        header.frame_number & 0xFFFFFFFF,
        header.exposure_ns,
        header.width_px,
        header.height_px,
        header.pixel_format,
        header.flags,
        0,
        header.payload_bytes,
        0,
    )[:28]
    return body + struct.pack("<I", zlib.crc32(body))


def decode_header(data: bytes | memoryview) -> FrameHeader:
    """The header in the first 32 bytes of ``data``; ``FrameFormatError`` if it is not one."""
    if len(data) < HEADER_BYTES:
        raise FrameFormatError(f"header needs {HEADER_BYTES} bytes, got {len(data)}")
    magic, number, exposure_ns, width, height, pixel_format, flags, _, payload, crc = (
        HEADER.unpack_from(data)
    )
    if magic != MAGIC:
        raise FrameFormatError(f"bad magic {bytes(magic)!r} (expected {MAGIC!r})")
    if zlib.crc32(bytes(data[:28])) != crc:
        raise FrameFormatError("header CRC mismatch")
    if pixel_format != PIXEL_FORMAT_MONO8:
        raise FrameFormatError(f"pixel format {pixel_format} not supported (1 = mono8)")
    if not (0 < width <= MAX_SIDE_PX and 0 < height <= MAX_SIDE_PX):
        raise FrameFormatError(f"frame size {width}x{height} px out of range")
    if payload != width * height:
        raise FrameFormatError(f"payload {payload} bytes does not match {width}x{height} mono8")
    return FrameHeader(number, exposure_ns, width, height, pixel_format, flags)


def encode_frame(frame: Frame) -> bytes:
    """Header and pixels of ``frame`` as one bytes object."""
    pixels = np.ascontiguousarray(frame.pixels, dtype=np.uint8)
    if pixels.ndim != 2:
        raise FrameFormatError(f"pixels must be 2-D (height, width), got shape {pixels.shape}")
    height, width = pixels.shape
    header = FrameHeader(
        frame.frame_number,
        frame.exposure_ns,
        width,
        height,
        flags=FLAG_LASER_ON if frame.laser_on else 0,
    )
    return encode_header(header) + pixels.tobytes()


def decode_frame(
    header: FrameHeader,
    payload: bytes | bytearray | memoryview,
    *,
    copy: bool = True,
    received_s: float = math.nan,
) -> Frame:
    """The frame of ``header`` from its payload bytes: copied, since the buffer may be reused,
    unless ``copy`` is False (a buffer of the frame's own, never written again)."""
    if len(payload) != header.payload_bytes:
        raise FrameFormatError(
            f"payload has {len(payload)} bytes, header says {header.payload_bytes}"
        )
    pixels = np.frombuffer(payload, dtype=np.uint8).reshape(header.height_px, header.width_px)
    return Frame(
        header.frame_number,
        header.exposure_ns,
        pixels.copy() if copy else pixels,
        laser_on=bool(header.flags & FLAG_LASER_ON),
        received_s=received_s,
    )
