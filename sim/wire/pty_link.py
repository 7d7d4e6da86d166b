"""A pty pair standing in for a serial cable, with a stable path for the controller to open.

The simulator keeps the master end; the controller opens the slave end as its serial port
(``/dev/pts/N``). Because N changes on every start, the slave is also reachable through a
symlink at a path of our choosing (``/tmp/cellsim/robot``), as ``socat PTY,link=...`` does, so
that a controller configured once finds a restarted simulator again.
"""

from __future__ import annotations

import contextlib
import os
import tty
from pathlib import Path


class PtyEndpoint:
    """One pty pair. ``master_fd`` is the device's side; ``port`` is what the controller opens."""

    def __init__(self, link_path: str | Path | None = None) -> None:
        self.master_fd, self._slave_fd = os.openpty()
        # Keep our own slave fd open: without it the master reads EIO whenever no controller has
        # the port open, and the device would see a hang-up between two connections.
        tty.setraw(self._slave_fd)
        os.set_blocking(self.master_fd, False)
        self.slave_path = os.ttyname(self._slave_fd)
        self.link_path = Path(link_path) if link_path else None
        if self.link_path is not None:
            self.link_path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.link_path.with_name(f".{self.link_path.name}.{os.getpid()}")
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
            temporary.symlink_to(self.slave_path)
            os.replace(temporary, self.link_path)  # atomic: a controller never sees no link

    @property
    def port(self) -> str:
        """The path the controller should open: the stable link if there is one."""
        return str(self.link_path) if self.link_path else self.slave_path

    def describe(self) -> str:
        """``/tmp/cellsim/robot -> /dev/pts/7``: the stable path and the pty behind it."""
        if self.link_path is None:
            return self.slave_path
        return f"{self.link_path} -> {self.slave_path}"

    def close(self) -> None:
        if self.link_path is not None:
            with contextlib.suppress(OSError):
                if os.readlink(self.link_path) == self.slave_path:
                    self.link_path.unlink()
        for fd in (self.master_fd, self._slave_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.master_fd = self._slave_fd = -1
