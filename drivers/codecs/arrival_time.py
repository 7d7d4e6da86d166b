"""When a UDP datagram reached this host: the kernel's receive time stamp (``SO_TIMESTAMPNS``),
pure, from the ancillary data ``socket.recvmsg`` returns.

A real-time peer (the RSI sensor answering within a 4 ms cycle, the simulated robot judging
those answers) must judge a datagram by when it arrived, not by when its thread got round to
reading it: the thread's own scheduling is not the other end's lateness.

Python's ``socket`` module does not name ``SO_TIMESTAMPNS`` (3.11, 3.12): on Linux its value
is 35 on the architectures listed below (asm-generic/socket.h, ``SO_TIMESTAMPNS_OLD``; the
control message it brings is ``SCM_TIMESTAMPNS``, the same number, carrying a native
``struct timespec``). Elsewhere it is ``None``, and callers fall back to their own clock.
"""

from __future__ import annotations

import platform
import socket
import struct
import sys

_GENERIC_SOCKET_H = {"x86_64", "amd64", "aarch64", "arm64", "i386", "i686", "armv7l", "riscv64"}
SO_TIMESTAMPNS: int | None = getattr(socket, "SO_TIMESTAMPNS", None)
if SO_TIMESTAMPNS is None and sys.platform.startswith("linux"):
    if platform.machine().lower() in _GENERIC_SOCKET_H:
        SO_TIMESTAMPNS = 35
ANCILLARY_BYTES = 64  # room for the time stamp's control message (32 bytes on 64 bits)
_TIMESPEC = struct.Struct("@qq")


def enable_arrival_stamps(sock: socket.socket) -> bool:
    """Ask the kernel to stamp every datagram ``sock`` receives; False where it cannot."""
    if SO_TIMESTAMPNS is None:
        return False
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    except OSError:
        return False
    return True


def kernel_arrival_s(ancillary: list[tuple[int, int, bytes]]) -> float | None:
    """The datagram's arrival time (wall clock, s) from its ``SCM_TIMESTAMPNS`` message, or
    None when the kernel gave none."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            seconds, nanoseconds = _TIMESPEC.unpack_from(data)
            return seconds + nanoseconds / 1e9
    return None
