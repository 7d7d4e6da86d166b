"""Where the production records live: an SQLite file or a PostgreSQL plant database.

A backend is chosen by a location string, the way ``cellctl.records.store`` is configured:

- a plain path or ``sqlite:///relative/or//absolute/path.db``: one SQLite file per cell, WAL,
  ``synchronous=FULL``, every write an explicit ``BEGIN IMMEDIATE`` ... ``COMMIT``;
- ``postgresql://user@host:port/dbname`` (any libpq URL; ``?host=/socket/dir`` works too): one
  database for the whole plant, every cell writing its own rows (the ``cell`` column),
  ``synchronous_commit=on`` forced for the session, every write an explicit transaction.

Both promise the same thing: when a write call returns, its rows are on disk (SQLite: fsynced
file; PostgreSQL: WAL flushed on the server). The store above writes its SQL once, with ``?``
placeholders; a backend renders the schema's types and its own placeholder style.

A reader (``cellctl report``, ``config history``, ``config diff``) opens a backend with
``read_only=True``: the database must already be a cellctl store (its tables, a schema version
this code knows); it is never created, upgraded or written, and a file that is not a cellctl
store is refused by name without a byte of it changing. SQLite opens the file ``mode=ro`` (and
``immutable`` when no writer has it open, so that no ``-wal``/``-shm`` is left beside it);
PostgreSQL runs the session with ``default_transaction_read_only``.

The PostgreSQL driver (psycopg 3) is imported only when a ``postgresql://`` URL is used.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from cellctl.cell.records import RecordNotWritten

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
CREATE TABLE IF NOT EXISTS part_trace (
    part_id {ref} PRIMARY KEY REFERENCES parts(id),
    serial TEXT,
    serial_source TEXT,
    work_order TEXT,
    welder TEXT,
    qualification_json TEXT,
    lots_json TEXT NOT NULL,
    procedures_json TEXT NOT NULL,
    rework_of_part {ref}
);
CREATE INDEX IF NOT EXISTS part_trace_serial ON part_trace(serial);
CREATE TABLE IF NOT EXISTS rework_releases (
    id {serial_pk},
    cell TEXT NOT NULL DEFAULT '',
    serial TEXT NOT NULL,
    released_at {real} NOT NULL,
    released_by TEXT NOT NULL,
    reason TEXT NOT NULL,
    used_by_part {ref} REFERENCES parts(id)
);
CREATE INDEX IF NOT EXISTS rework_releases_serial ON rework_releases(serial);
CREATE TABLE IF NOT EXISTS consumable_lots (
    id {serial_pk},
    cell TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL CHECK (kind IN ('wire', 'gas')),
    lot TEXT NOT NULL,
    entered_at {real} NOT NULL,
    entered_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS nonconformances (
    id {serial_pk},
    cell TEXT NOT NULL DEFAULT '',
    part_id {ref} NOT NULL REFERENCES parts(id),
    seam_id {ref} REFERENCES seams(id),
    opened_at {real} NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'repaired', 'released', 'scrapped')),
    decided_at {real},
    decided_by TEXT,
    decision_note TEXT
);
CREATE INDEX IF NOT EXISTS nonconformances_part ON nonconformances(part_id);
CREATE TABLE IF NOT EXISTS repairs (
    id {serial_pk},
    nc_id {ref} NOT NULL REFERENCES nonconformances(id),
    at {real} NOT NULL,
    by_actor TEXT NOT NULL,
    welder TEXT,
    description TEXT NOT NULL,
    repair_part_id {ref} REFERENCES parts(id)
);
CREATE TABLE IF NOT EXISTS work_orders (
    id {serial_pk},
    cell TEXT NOT NULL DEFAULT '',
    order_no TEXT NOT NULL,
    part_number TEXT NOT NULL,
    part_program TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    due_at {real} NOT NULL,
    received_at {real} NOT NULL,
    source TEXT NOT NULL,
    UNIQUE (cell, order_no)
);
CREATE TABLE IF NOT EXISTS welder_logins (
    id {serial_pk},
    cell TEXT NOT NULL DEFAULT '',
    welder TEXT NOT NULL,
    qualification_json TEXT NOT NULL,
    logged_in_at {real} NOT NULL,
    logged_in_by TEXT NOT NULL,
    logged_out_at {real}
);
"""
# 2: the cell column (many cells in one database). 3: traceability (part_trace: a part's
# serial, work order, welder, lots and procedure revisions; rework releases; consumable lot
# changes; welder logins; non-conformances and their repairs; work orders): new tables only,
# made by the next writer.
SCHEMA_VERSION = 3
CELL_TABLES = ("parts", "faults", "state_changes")
# What a reader needs to find before it calls a database a cellctl store (``audit`` came
# later and is made by the next writer; no reading command reads it).
READ_TABLES = ("configs", "parts", "seams", "faults", "state_changes")
SQLITE_HEADER = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite 3 database file


class StoreError(RecordNotWritten):
    """The production database cannot be opened or used; the message names which one."""


class Backend(Protocol):
    """One connection to one production database. Used from one thread only."""

    name: str  # where it is, for messages (a path, or the URL without a password)
    durability: str  # the settings that make a commit durable, in words
    # A reader's connection: opened only on a cellctl store whose schema this code reads
    # (else ``StoreError`` when opened); ``write`` raises ``StoreError``.
    read_only: bool

    def write(self) -> Any:
        """Context manager: one explicit transaction; committed durably on exit, rolled back on
        an exception. Yields nothing; use ``execute`` inside."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Run one statement (``?`` placeholders); the rows it returns, as dicts."""

    def rowcount(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; how many rows it changed."""

    def create_schema(self, cell: str) -> None:
        """Create (or upgrade) the tables; refuse a schema newer than this code, and a database
        that holds another program's tables."""

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


def open_backend(location: str | Path, read_only: bool = False) -> Backend:
    """The backend for a path or URL (see the module docstring). ``read_only``: a reader's
    connection, which never writes and checks that the database is a cellctl store."""
    if is_postgresql(location):
        return PostgresBackend(str(location), read_only=read_only)
    return SqliteBackend(sqlite_path(location), read_only=read_only)


def _reader_schema_problem(version: int | None, tables: set[str]) -> str | None:
    """Why a reader cannot take this database for a cellctl store (None: it can)."""
    missing = [t for t in READ_TABLES if t not in tables]
    if not tables:
        return "it has no tables: an empty database, not a cellctl production store"
    if not any(t in tables for t in READ_TABLES):
        shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        return f"it holds another program's tables ({shown}), not a cellctl production store"
    if missing:
        return f"not a cellctl production store: its tables {', '.join(missing)} are missing"
    if not version:
        return "not a cellctl production store: it has no cellctl schema version"
    if version > SCHEMA_VERSION:
        return (
            f"schema version {version} is newer than this cellctl ({SCHEMA_VERSION}); "
            "read it with a newer cellctl"
        )
    if version < SCHEMA_VERSION:
        return (
            f"schema version {version} is older than this cellctl ({SCHEMA_VERSION}); the "
            "cell's controller upgrades it when it next starts (a reader changes nothing)"
        )
    return None


class SqliteBackend:
    """One SQLite file in WAL mode with ``synchronous=FULL`` (a writer), or opened read-only
    (a reader: see ``_open_reader``)."""

    durability = "SQLite WAL, synchronous=FULL, BEGIN IMMEDIATE per write"
    BUSY_TIMEOUT_S = 10.0

    def __init__(self, path: Path, read_only: bool = False) -> None:
        self.path = path
        self.name = str(path)
        self.read_only = read_only
        # A reader opened without a writer beside it: the file's state when opened, which no
        # one may change while it is read (``immutable``).
        self._unchanged: tuple[int, int, int] | None = None
        if read_only:
            self._db = self._open_reader()
            self._db.row_factory = sqlite3.Row
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, timeout=self.BUSY_TIMEOUT_S)
        self._db.row_factory = sqlite3.Row
        try:
            # Before WAL: switching a file to WAL rewrites its header, and a file that is not
            # ours must not be touched.
            self._refuse_a_foreign_file()
            self._enter_wal()
        except BaseException:
            self._db.close()
            raise
        # FULL: a commit is on disk when COMMIT returns, power loss included.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._identity = _file_identity(path)  # see _check_same_file

    def _open_reader(self) -> sqlite3.Connection:
        """A read-only connection to a file that must be a cellctl store.

        What is not an SQLite file at all (missing, empty, another format) is refused from its
        first bytes, before SQLite opens it. A WAL database that no writer has open (no
        ``-wal`` beside it) is opened ``immutable``: SQLite would otherwise make a ``-wal``
        and ``-shm`` for its reader that a read-only connection cannot remove. Should a writer
        change the file while it is read, ``execute`` notices and refuses the answer. With a
        writer's ``-wal`` there, the reader shares it as SQLite's readers do (``mode=ro``).
        """
        path = self.path
        try:
            info = path.stat()
            if not stat.S_ISREG(info.st_mode):  # a FIFO would block the open below
                raise StoreError(f"{path}: not a regular file, not a cellctl production store")
            with path.open("rb") as file:
                head = file.read(len(SQLITE_HEADER))
        except FileNotFoundError:
            raise StoreError(f"no production database at {path}") from None
        except OSError as error:
            raise StoreError(f"{path}: cannot read: {error.strerror}") from error
        if info.st_size == 0:
            raise StoreError(f"{path}: an empty file, not a cellctl production store")
        if head != SQLITE_HEADER:
            raise StoreError(f"{path}: not an SQLite database, not a cellctl production store")
        writer_present = Path(f"{path}-wal").exists()
        if not writer_present:
            self._unchanged = _file_state(path)
        uri = f"{path.resolve().as_uri()}?mode=ro" + ("" if writer_present else "&immutable=1")
        db = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=self.BUSY_TIMEOUT_S)
        try:
            db.execute("PRAGMA query_only=ON")  # belt and braces: no statement may write
            db.execute("BEGIN")  # one snapshot: a schema being created is seen whole or not
            try:
                version = int(db.execute("PRAGMA user_version").fetchone()[0])
                tables = {
                    r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
                }
            finally:
                db.execute("COMMIT")
        except sqlite3.DatabaseError as error:
            db.close()
            raise StoreError(f"{path}: not a readable SQLite database ({error})") from error
        problem = _reader_schema_problem(version, tables)
        if problem is not None:
            db.close()
            raise StoreError(f"{path}: {problem}")
        return db

    def _refuse_a_foreign_file(self) -> None:
        try:
            # One read transaction: a cell creating the schema meanwhile commits the tables
            # and their version together, and both are seen, or neither.
            self._db.execute("BEGIN")
            try:
                version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
                tables = {
                    r[0]
                    for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")
                }
            finally:
                self._db.execute("COMMIT")
        except sqlite3.DatabaseError as error:
            raise StoreError(f"{self.path}: not an SQLite database ({error})") from error
        if version == 0 and tables:
            problem = _reader_schema_problem(version, tables)
            raise StoreError(f"{self.path}: {problem}; refusing to write to it")

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
        if self.read_only:
            raise StoreError(f"{self.path}: opened read-only; a reader writes nothing")
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
            rows = [dict(row) for row in self._db.execute(sql, tuple(params)).fetchall()]
        except sqlite3.Error as error:
            raise StoreError(f"{self.path}: {error}") from error
        if self._unchanged is not None and _file_state(self.path) != self._unchanged:
            # A controller started and wrote into the file while this reader, opened without
            # SQLite's locks (immutable), read it: what was read may mix old and new pages.
            raise StoreError(
                f"{self.path}: changed while it was read (a controller started?); run the "
                "command again"
            )
        return rows

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

    def __init__(self, url: str, read_only: bool = False) -> None:
        try:
            import psycopg
            from psycopg.rows import dict_row
        except ImportError as missing:  # pragma: no cover - psycopg is a dependency
            raise StoreError(f"{_without_password(url)}: psycopg is not installed") from missing
        self._psycopg = psycopg
        self._dict_row = dict_row
        self.url = url
        self.name = _without_password(url)
        self.read_only = read_only
        self._db: Any = None
        self._connect()
        if read_only:
            try:
                self._check_readable()
            except BaseException:
                self.close()
                raise

    def _tables(self) -> set[str]:
        """The tables in the schema the store's tables go to (the search path's first)."""
        rows = self.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        )
        return {r["table_name"] for r in rows}

    def _check_readable(self) -> None:
        tables = self._tables()
        version = None
        if "cellctl_schema" in tables:
            rows = self.execute("SELECT version FROM cellctl_schema")
            version = rows[0]["version"] if rows else None
        problem = _reader_schema_problem(version, tables - {"cellctl_schema"})
        if problem is not None:
            raise StoreError(f"{self.name}: {problem}")

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
            if self.read_only:
                # Every transaction of this session (each statement, in autocommit) is
                # read-only: the server refuses a write, whatever the SQL.
                self._db.execute("SET default_transaction_read_only TO on")
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
            tables = self._tables()
            if "cellctl_schema" not in tables and tables & set(READ_TABLES):
                # Another program's tables by our names (a plant database is shared): its rows
                # are not ours to add to.
                raise StoreError(
                    f"{self.name}: tables {', '.join(sorted(tables & set(READ_TABLES)))} "
                    "exist but were not made by cellctl (no cellctl_schema); refusing to "
                    "write to them"
                )
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
            elif version < SCHEMA_VERSION:
                # The tables a newer schema adds were made above (IF NOT EXISTS).
                self.execute("UPDATE cellctl_schema SET version=?", (SCHEMA_VERSION,))
            # Reports filter by cell and time.
            self.execute("CREATE INDEX IF NOT EXISTS parts_cell ON parts(cell, started_at)")

    @contextmanager
    def write(self) -> Iterator[None]:
        """One transaction; ``StoreError`` with the server's reason when it fails."""
        if self.read_only:
            raise StoreError(f"{self.name}: opened read-only; a reader writes nothing")
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


def _file_state(path: Path) -> tuple[int, int, int]:
    """What changes when anything writes the file: its inode, size and modification time."""
    info = path.stat()
    return (info.st_ino, info.st_size, info.st_mtime_ns)


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
