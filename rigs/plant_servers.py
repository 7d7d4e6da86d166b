"""Real plant-level servers for tests: a PostgreSQL cluster and a Mosquitto broker.

Both are the Debian packages' binaries, started by the tests in a private temporary folder and
stopped at the end; nothing is left running and nothing outside the folder is touched.

- PostgreSQL: ``initdb`` into the folder, listening only on a unix socket there (no TCP port
  to collide with other test runs). PostgreSQL refuses to run as root, so under root the
  cluster belongs to the ``postgres`` system user and is started through ``runuser``.
- Mosquitto: a broker on a free loopback port with a config written into the folder.

When a binary is missing, ``make test`` has already tried to install it (``make plant-servers``);
what remains missing skips the tests that need it, with the reason.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from cellctl.testing import free_port

POSTGRES_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
POSTGRES_USER = "postgres"


def _postgres_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for directory in POSTGRES_BIN_DIRS:
        if (directory / name).exists():
            return str(directory / name)
    return None


class PostgresServer:
    """A throwaway PostgreSQL cluster; ``url(dbname)`` gives a libpq URL for a new database."""

    def __init__(self) -> None:
        initdb, pg_ctl = _postgres_binary("initdb"), _postgres_binary("pg_ctl")
        if not (initdb and pg_ctl):
            pytest.skip(
                "PostgreSQL server binaries (initdb, pg_ctl) not found: install the Debian "
                "package postgresql (make plant-servers does, as root)"
            )
        self._pg_ctl = pg_ctl
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(POSTGRES_USER)
            except KeyError:
                pytest.skip("running as root and there is no 'postgres' user to run PostgreSQL")
            self._as_user = ["runuser", "-u", POSTGRES_USER, "--"]
        self.folder = Path(tempfile.mkdtemp(prefix="cellctl-pg-"))
        self.data = self.folder / "data"
        self.socket_dir = self.folder
        if self._as_user:
            shutil.chown(self.folder, POSTGRES_USER)
        self.user = "cellctl"
        self._run(
            [
                initdb,
                "-D",
                str(self.data),
                "-U",
                self.user,
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ]
        )
        options = (
            f"-c listen_addresses='' -c unix_socket_directories={self.socket_dir} "
            "-c fsync=on -c synchronous_commit=on -c max_connections=40"
        )
        self._options = options
        self._start()
        self._databases = 0

    def _start(self) -> None:
        self._run(
            [
                self._pg_ctl,
                "-D",
                str(self.data),
                "-l",
                str(self.folder / "server.log"),
                "-o",
                self._options,
                "-w",
                "-t",
                "30",
                "start",
            ]
        )

    def restart(self, mode: str = "fast") -> None:
        """Stop the server (``immediate``: as a crash, no checkpoint) and start it again."""
        self._run([self._pg_ctl, "-D", str(self.data), "-m", mode, "-w", "stop"])
        self._start()

    def _run(self, command: list[str]) -> None:
        result = subprocess.run(
            [*self._as_user, *command], capture_output=True, text=True, timeout=60, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command[:2])} failed ({result.returncode}): {result.stderr.strip()}"
            )

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.user}@/{dbname}?host={self.socket_dir}"

    def new_database(self) -> str:
        """A fresh, empty database on this server; its URL."""
        import psycopg

        self._databases += 1
        name = f"plant_{self._databases}"
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run([self._pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop"])
        shutil.rmtree(self.folder, ignore_errors=True)


class MosquittoBroker:
    """A Mosquitto broker on ``127.0.0.1:port``; ``stop()``/``start()`` restart it on the same
    port (a broker restart as the plant sees it)."""

    def __init__(self, folder: Path, tls: dict[str, Path] | None = None) -> None:
        """``tls``: also a TLS listener on ``tls_port`` with the broker's ``cafile``,
        ``certfile`` and ``keyfile`` (PEM), which requires a client certificate signed by the
        CA. The plain listener on ``port`` stays (for the test's own subscriber)."""
        binary = shutil.which("mosquitto") or (
            "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
        )
        if binary is None:
            pytest.skip(
                "mosquitto not found: install the Debian package mosquitto (make plant-servers "
                "does, as root)"
            )
        self.binary = binary
        self.folder = folder
        self.port = free_port()
        self.config = folder / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            "persistence false",
            "log_dest none",
            # Mosquitto leaves Nagle's algorithm on by default: a birth that follows another
            # small packet waits for the client's delayed ACK, ~40 ms (bench_plant measures it).
            "set_tcp_nodelay true",
        ]
        self.tls_port = 0
        if tls is not None:
            self.tls_port = free_port()
            lines += [
                f"listener {self.tls_port} 127.0.0.1",
                f"cafile {tls['cafile']}",
                f"certfile {tls['certfile']}",
                f"keyfile {tls['keyfile']}",
                "require_certificate true",
            ]
        if os.geteuid() == 0:
            lines.append("user root")  # no privilege drop: the test owns the folder
        self.config.write_text("\n".join(lines) + "\n")
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mosquitto did not start on port {self.port}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
