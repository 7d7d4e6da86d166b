"""Where the production records live: an SQLite file or a PostgreSQL plant database.

A backend is chosen by a location string, the way ``cellctl.store`` is configured:

- a plain path or ``sqlite:///relative/or//absolute/path.db``: one SQLite file per cell, WAL,
  ``synchronous=FULL``, every write an explicit ``BEGIN IMMEDIATE`` ... ``COMMIT``;
- ``postgresql://user@host:port/dbname`` (any libpq URL; ``?host=/socket/dir`` works too): one
  database for the whole plant, every cell writing its own rows (the ``cell`` column),
  ``synchronous_commit=on`` forced for the session, every write an explicit transaction.

Both promise the same thing: when a write call returns, its rows are on disk (SQLite: fsynced
file; PostgreSQL: WAL flushed on the server). The store above writes its SQL once, with ``?``
placeholders; a backend renders the schema's types and its own placeholder style.

The PostgreSQL driver (psycopg 3) is imported only when a ``postgresql://`` URL is used.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

# The schema is written once; each backend fills in its types.
SCHEMA_TEMPLATE = """
CREATE TABLE IF NOT EXISTS configs (
    id {serial_pk},
    digest TEXT NOT NULL UNIQUE,
    files_json TEXT NOT NULL,
    first_used_at {real} NOT NULL
);
CREATE TABLE IF NOT EXISTS parts (
    id {serial_pk},
    cell TEXT NOT NULL DEFAULT '',
    part_program TEXT NOT NULL,
    config_id {ref} NOT NULL REFERENCES configs(id),
    mode TEXT NOT NULL,
    started_at {real} NOT NULL,
    finished_at {real},
    status TEXT NOT NULL CHECK (status IN ('in_progress', 'complete', 'incomplete')),
    verdict TEXT CHECK (verdict IN ('good', 'bad', 'dry_run')),
    cycle_time_s {real},
    arc_time_s {real},
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS parts_started ON parts(started_at);
CREATE TABLE IF NOT EXISTS seams (
    id {serial_pk},
    part_id {ref} NOT NULL REFERENCES parts(id),
    seam TEXT NOT NULL,
    procedure TEXT NOT NULL,
    started_at {real} NOT NULL,
    finished_at {real} NOT NULL,
    verdict TEXT NOT NULL,
    arc_time_s {real} NOT NULL,
    heat_input_kj_per_mm {real},
    arc_energy_kj {real} NOT NULL,
    out_of_band_s {real} NOT NULL,
    summary_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS seams_part ON seams(part_id);
CREATE TABLE IF NOT EXISTS faults (
    id {serial_pk},
    cell TEXT NOT NULL DEFAULT '',
    code TEXT NOT NULL,
    severity TEXT NOT NULL,
    text TEXT NOT NULL,
    detail TEXT NOT NULL,
    state TEXT NOT NULL,
    phase TEXT NOT NULL,
    part_id {ref} REFERENCES parts(id),
    raised_at {real} NOT NULL,
    reaction_ms {real},
    acknowledged_at {real},
    acknowledged_by TEXT,
    cleared_at {real}
);
CREATE INDEX IF NOT EXISTS faults_raised ON faults(raised_at);
CREATE TABLE IF NOT EXISTS state_changes (
    id {serial_pk},
    cell TEXT NOT NULL DEFAULT '',
    at {real} NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    cause TEXT NOT NULL,
    mode TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS state_changes_at ON state_changes(at);
CREATE TABLE IF NOT EXISTS audit (
    id {serial_pk},
    cell TEXT NOT NULL DEFAULT '',
    at {real} NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL,
    result TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_at ON audit(at);
"""
SCHEMA_VERSION = 2  # 2: the cell column (many cells in one database)
CELL_TABLES = ("parts", "faults", "state_changes")


class StoreError(RuntimeError):
    """The production database cannot be opened or used; the message names which one."""


class Backend(Protocol):
    """One connection to one production database. Used from one thread only."""

    name: str  # where it is, for messages (a path, or the URL without a password)
    durability: str  # the settings that make a commit durable, in words

    def write(self) -> Any:
        """Context manager: one explicit transaction; committed durably on exit, rolled back on
        an exception. Yields nothing; use ``execute`` inside."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Run one statement (``?`` placeholders); the rows it returns, as dicts."""

    def rowcount(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; how many rows it changed."""

    def create_schema(self, cell: str) -> None:
        """Create (or upgrade) the tables; refuse a schema newer than this code."""

    def integrity_check(self) -> str:
        """``ok`` or what the database says is wrong."""

    def close(self) -> None: ...


def is_postgresql(location: str | Path) -> bool:
    return str(location).startswith(("postgresql://", "postgres://"))


def sqlite_path(location: str | Path) -> Path:
    """The file of a plain path or a ``sqlite:///`` URL (``sqlite:////abs`` is absolute)."""
    text = str(location)
    if text.startswith("sqlite:///"):
        return Path(text.removeprefix("sqlite:///"))
    if "://" in text:
        raise StoreError(
            f"store location {text!r}: unknown scheme; expected a path, sqlite:///PATH or "
            "postgresql://..."
        )
    return Path(text)


def open_backend(location: str | Path) -> Backend:
    """The backend for a path or URL (see the module docstring)."""
    if is_postgresql(location):
        return PostgresBackend(str(location))
    return SqliteBackend(sqlite_path(location))


class SqliteBackend:
    """One SQLite file in WAL mode with ``synchronous=FULL``."""

    durability = "SQLite WAL, synchronous=FULL, BEGIN IMMEDIATE per write"
    BUSY_TIMEOUT_S = 10.0

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = str(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, timeout=self.BUSY_TIMEOUT_S)
        self._db.row_factory = sqlite3.Row
        try:
            self._enter_wal()
        except BaseException:
            self._db.close()
            raise
        # FULL: a commit is on disk when COMMIT returns, power loss included.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._identity = _file_identity(path)  # see _check_same_file

    def _enter_wal(self) -> None:
        # Switching a new file to WAL takes an exclusive lock and SQLite answers "database is
        # locked" at once, without its busy timeout, when another connection opens the same
        # new file at that moment (two cells or a report starting together): retry, boundedly.
        deadline = time.monotonic() + self.BUSY_TIMEOUT_S
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise StoreError(f"{self.path}: cannot switch to WAL: {error}") from error
                time.sleep(0.01)

    def create_schema(self, cell: str) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: schema version {version} is newer than this cellctl "
                f"({SCHEMA_VERSION}); refusing to write to it"
            )
        schema = SCHEMA_TEMPLATE.format(serial_pk="INTEGER PRIMARY KEY", real="REAL", ref="INTEGER")
        with self.write():
            if version == 1:
                # Version 1 had no cell column: this file belonged to one cell, the one
                # opening it now.
                for table in CELL_TABLES:
                    self._db.execute(
                        f"ALTER TABLE {table} ADD COLUMN cell TEXT NOT NULL DEFAULT ''"
                    )
                    self._db.execute(f"UPDATE {table} SET cell=?", (cell,))
            for statement in _statements(schema):
                self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @contextmanager
    def write(self) -> Iterator[None]:
        """One transaction; ``StoreError`` with SQLite's reason when it cannot be written
        (disk full, read-only, I/O error) or when the file is no longer the one opened."""
        self._check_same_file()
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise StoreError(f"{self.path}: cannot start a write: {error}") from error
        try:
            yield
        except BaseException:
            with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back already
                self._db.execute("ROLLBACK")
            raise
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as error:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            raise StoreError(f"{self.path}: write not committed: {error}") from error

    def _check_same_file(self) -> None:
        """A file deleted or replaced under a running controller would take every record
        after it into the deleted inode (still open, gone from the disk): refuse instead."""
        try:
            now = _file_identity(self.path)
        except FileNotFoundError:
            raise StoreError(
                f"{self.path}: the database file was deleted while the controller ran; "
                "nothing more is written into the deleted file"
            ) from None
        except OSError as error:
            raise StoreError(f"{self.path}: cannot check the database file: {error}") from error
        if now != self._identity:
            raise StoreError(
                f"{self.path}: the database file was replaced by another one while the "
                "controller ran; nothing is written into either"
            )

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        try:
            return [dict(row) for row in self._db.execute(sql, tuple(params)).fetchall()]
        except sqlite3.Error as error:
            raise StoreError(f"{self.path}: {error}") from error

    def rowcount(self, sql: str, params: Sequence[Any] = ()) -> int:
        try:
            return self._db.execute(sql, tuple(params)).rowcount
        except sqlite3.Error as error:
            raise StoreError(f"{self.path}: {error}") from error

    def integrity_check(self) -> str:
        return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])

    def close(self) -> None:
        self._db.close()


class PostgresBackend:
    """One connection to a PostgreSQL database shared by many cells.

    A connection lost between calls is opened again on the next call. A write whose
    connection broke mid-transaction raises: whether it committed is unknown, and a blind retry
    could record a seam twice, so the caller decides (the weld cycle faults).
    """

    durability = "PostgreSQL, synchronous_commit=on, explicit transaction per write"
    CONNECT_TIMEOUT_S = 5
    SCHEMA_LOCK = 0x63656C6C  # "cell": serialises schema creation by cells starting together

    def __init__(self, url: str) -> None:
        try:
            import psycopg
            from psycopg.rows import dict_row
        except ImportError as missing:  # pragma: no cover - psycopg is a dependency
            raise StoreError(f"{_without_password(url)}: psycopg is not installed") from missing
        self._psycopg = psycopg
        self._dict_row = dict_row
        self.url = url
        self.name = _without_password(url)
        self._db: Any = None
        self._connect()

    def _connect(self) -> None:
        try:
            # autocommit: no implicit transaction; every write is an explicit ``transaction()``.
            self._db = self._psycopg.connect(
                self.url,
                autocommit=True,
                row_factory=self._dict_row,
                connect_timeout=self.CONNECT_TIMEOUT_S,
                application_name="cellctl",
            )
            # Whatever the server's default, a COMMIT returns only once its WAL is flushed.
            self._db.execute("SET synchronous_commit TO on")
        except self._psycopg.Error as error:
            raise StoreError(f"{self.name}: cannot connect: {error}".strip()) from error

    def _live(self) -> Any:
        if self._db is None or self._db.closed or self._db.broken:
            self._connect()
        return self._db

    def create_schema(self, cell: str) -> None:
        schema = SCHEMA_TEMPLATE.format(
            serial_pk="BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
            real="DOUBLE PRECISION",
            ref="BIGINT",
        )
        with self.write():
            self.execute("SELECT pg_advisory_xact_lock(?)", (self.SCHEMA_LOCK,))
            self.execute("CREATE TABLE IF NOT EXISTS cellctl_schema (version INTEGER NOT NULL)")
            rows = self.execute("SELECT version FROM cellctl_schema")
            version = rows[0]["version"] if rows else None
            if version is not None and version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.name}: schema version {version} is newer than this cellctl "
                    f"({SCHEMA_VERSION}); refusing to write to it"
                )
            for statement in _statements(schema):
                self.execute(statement)
            if version is None:
                self.execute("INSERT INTO cellctl_schema (version) VALUES (?)", (SCHEMA_VERSION,))
            # Reports filter by cell and time.
            self.execute("CREATE INDEX IF NOT EXISTS parts_cell ON parts(cell, started_at)")

    @contextmanager
    def write(self) -> Iterator[None]:
        """One transaction; ``StoreError`` with the server's reason when it fails."""
        try:
            with self._live().transaction():
                yield
        except self._psycopg.Error as error:
            raise StoreError(f"{self.name}: write failed: {error}".strip()) from error

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        try:
            cursor = self._live().execute(_pg_placeholders(sql), tuple(params))
            return list(cursor.fetchall()) if cursor.description else []
        except self._psycopg.Error as error:
            raise StoreError(f"{self.name}: {error}".strip()) from error

    def rowcount(self, sql: str, params: Sequence[Any] = ()) -> int:
        try:
            return int(self._live().execute(_pg_placeholders(sql), tuple(params)).rowcount)
        except self._psycopg.Error as error:
            raise StoreError(f"{self.name}: {error}".strip()) from error

    def integrity_check(self) -> str:
        # PostgreSQL checks its pages itself; what a reader can check is that every seam and
        # fault points at a part that exists.
        orphans = self.execute(
            "SELECT COUNT(*) AS n FROM seams s LEFT JOIN parts p ON p.id = s.part_id "
            "WHERE p.id IS NULL"
        )[0]["n"]
        return "ok" if orphans == 0 else f"{orphans} seam(s) without their part"

    def close(self) -> None:
        if self._db is not None:
            self._db.close()


def _file_identity(path: Path) -> tuple[int, int]:
    """(device, inode): what stays the same while a file is the same file."""
    status = os.stat(path)
    return status.st_dev, status.st_ino


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _pg_placeholders(sql: str) -> str:
    # The store's SQL has no literal '?' or '%': a plain swap is exact.
    return sql.replace("%", "%%").replace("?", "%s")


def _without_password(url: str) -> str:
    """The URL for messages and logs: a password never reaches a log line."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}@{host}"
