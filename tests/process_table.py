"""The kernel's view of processes and TCP sockets (Linux /proc), for tests that must see what a
process left behind rather than what its code believes it closed."""

from __future__ import annotations

import os
import socket
from pathlib import Path

LISTEN = "0A"
ESTABLISHED = "01"


def children(pid: int) -> set[int]:
    """The direct children of ``pid``."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found.update(int(p) for p in (task / "children").read_text().split())
        except OSError:
            continue  # the thread has ended
    return found


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie, dead but not yet reaped, is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def mentioning(text: str) -> set[int]:
    """Live processes whose command line contains ``text`` (a run folder: every child of a
    demo or a scenario run has its config path on its command line)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in command and running(int(entry.name)):
            found.add(int(entry.name))
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _tcp_rows() -> list[tuple[int, int, str, str]]:
    """(local port, remote port, state, inode) of every TCP socket of this machine."""
    rows = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = fields[1], fields[2]
            rows.append((int(local.split(":")[1], 16), int(remote.split(":")[1], 16),
                         fields[3], fields[9]))  # fmt: skip
    return rows


def listening_ports(pid: int | None = None) -> set[int]:
    """TCP ports listened on: by ``pid``, or by anyone on this machine."""
    inodes = _socket_inodes(pid) if pid is not None else None
    return {
        local
        for local, _, state, inode in _tcp_rows()
        if state == LISTEN and (inodes is None or inode in inodes)
    }


def connected_to(pid: int, port: int) -> bool:
    """Whether ``pid`` holds an established TCP connection to ``port``."""
    inodes = _socket_inodes(pid)
    return any(
        state == ESTABLISHED and remote == port and inode in inodes
        for _, remote, state, inode in _tcp_rows()
    )


def _hex_address(text: str) -> tuple[str, int]:
    address, port = text.split(":")
    raw = bytes.fromhex(address)
    if len(raw) == 4:
        host = socket.inet_ntop(socket.AF_INET, raw[::-1])
    else:  # /proc/net/tcp6: four little-endian 32-bit words
        words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
        host = socket.inet_ntop(socket.AF_INET6, words)
        if host.startswith("::ffff:"):
            host = host.removeprefix("::ffff:")
    return host, int(port, 16)


def listening_addresses(pid: int) -> set[tuple[str, int]]:
    """The (host, port) of every TCP socket ``pid`` listens on."""
    inodes = _socket_inodes(pid)
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                found.add(_hex_address(fields[1]))
    return found
