"""The production records: parts, seams, faults, state changes, and the configs they used.

SQLite in WAL mode with ``synchronous=FULL``: a committed seam survives a crash *and* a power
loss, which is the promise the weld cycle relies on ("a seam's record is durable before the
next seam starts"). Python 3.11's sqlite3 has no ``autocommit=``, so the connection runs with
``isolation_level=None`` and every write is an explicit ``BEGIN IMMEDIATE`` ... ``COMMIT``.

``ProductionStore`` is synchronous and owns one connection. The controller uses it through
``AsyncStore``, which runs every call on one worker thread, so that an fsync never stalls the
control loop and the connection never changes threads.

On open, a part left ``in_progress`` by a crash is marked ``incomplete``: it is never counted
as good. Counters are computed from the records, so they survive a restart by construction.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from cellctl.monitoring import SeamSummary

T = TypeVar("T")

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS configs (
    id INTEGER PRIMARY KEY,
    digest TEXT NOT NULL UNIQUE,
    files_json TEXT NOT NULL,
    first_used_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS parts (
    id INTEGER PRIMARY KEY,
    part_program TEXT NOT NULL,
    config_id INTEGER NOT NULL REFERENCES configs(id),
    mode TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    status TEXT NOT NULL CHECK (status IN ('in_progress', 'complete', 'incomplete')),
    verdict TEXT CHECK (verdict IN ('good', 'bad', 'dry_run')),
    cycle_time_s REAL,
    arc_time_s REAL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS parts_started ON parts(started_at);
CREATE TABLE IF NOT EXISTS seams (
    id INTEGER PRIMARY KEY,
    part_id INTEGER NOT NULL REFERENCES parts(id),
    seam TEXT NOT NULL,
    procedure TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL NOT NULL,
    verdict TEXT NOT NULL,
    arc_time_s REAL NOT NULL,
    heat_input_kj_per_mm REAL,
    arc_energy_kj REAL NOT NULL,
    out_of_band_s REAL NOT NULL,
    summary_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS seams_part ON seams(part_id);
CREATE TABLE IF NOT EXISTS faults (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL,
    severity TEXT NOT NULL,
    text TEXT NOT NULL,
    detail TEXT NOT NULL,
    state TEXT NOT NULL,
    phase TEXT NOT NULL,
    part_id INTEGER REFERENCES parts(id),
    raised_at REAL NOT NULL,
    reaction_ms REAL,
    acknowledged_at REAL,
    acknowledged_by TEXT,
    cleared_at REAL
);
CREATE INDEX IF NOT EXISTS faults_raised ON faults(raised_at);
CREATE TABLE IF NOT EXISTS state_changes (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    cause TEXT NOT NULL,
    mode TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS state_changes_at ON state_changes(at);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL,
    result TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_at ON audit(at);
"""


@dataclass(frozen=True)
class Counters:
    parts_processed: int  # finished (complete) production parts
    parts_good: int
    parts_bad: int
    parts_incomplete: int
    seams_welded: int


class ProductionStore:
    """One SQLite production database. Use from one thread (see ``AsyncStore``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=10)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk when COMMIT returns, power loss included.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._create_schema()
        self.recovered_incomplete = self._mark_interrupted_parts()

    def _create_schema(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path}: schema version {version} is newer than this cellctl "
                f"({SCHEMA_VERSION}); refusing to write to it"
            )
        # executescript commits on its own; the schema is idempotent (IF NOT EXISTS).
        self._db.executescript(SCHEMA + f"PRAGMA user_version={SCHEMA_VERSION};")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()

    # -- writes ---------------------------------------------------------------------------

    def _mark_interrupted_parts(self) -> int:
        with self._write() as db:
            cursor = db.execute(
                "UPDATE parts SET status='incomplete', verdict=NULL, "
                "note='interrupted: the controller stopped during this part' "
                "WHERE status='in_progress'"
            )
            return cursor.rowcount

    def record_config(self, digest: str, files: dict[str, str]) -> int:
        with self._write() as db:
            row = db.execute("SELECT id FROM configs WHERE digest=?", (digest,)).fetchone()
            if row:
                return int(row["id"])
            cursor = db.execute(
                "INSERT INTO configs (digest, files_json, first_used_at) VALUES (?, ?, ?)",
                (digest, json.dumps(files, sort_keys=True), time.time()),
            )
            return int(cursor.lastrowid or 0)

    def start_part(self, part_program: str, config_id: int, mode: str) -> int:
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO parts (part_program, config_id, mode, started_at, status) "
                "VALUES (?, ?, ?, ?, 'in_progress')",
                (part_program, config_id, mode, time.time()),
            )
            return int(cursor.lastrowid or 0)

    def record_seam(
        self, part_id: int, summary: SeamSummary, started_at: float, finished_at: float
    ) -> int:
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO seams (part_id, seam, procedure, started_at, finished_at, verdict, "
                "arc_time_s, heat_input_kj_per_mm, arc_energy_kj, out_of_band_s, summary_json) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    part_id,
                    summary.seam,
                    summary.procedure,
                    started_at,
                    finished_at,
                    summary.verdict,
                    summary.arc_time_s,
                    summary.heat_input_kj_per_mm,
                    summary.arc_energy_kj,
                    summary.out_of_band_s,
                    json.dumps(summary.as_dict()),
                ),
            )
            return int(cursor.lastrowid or 0)

    def finish_part(
        self, part_id: int, status: str, verdict: str | None, note: str = ""
    ) -> dict[str, Any]:
        """Close a part: complete (with its verdict) or incomplete. Returns its row."""
        now = time.time()
        with self._write() as db:
            part = db.execute("SELECT started_at FROM parts WHERE id=?", (part_id,)).fetchone()
            arc = db.execute(
                "SELECT COALESCE(SUM(arc_time_s), 0) FROM seams WHERE part_id=?", (part_id,)
            ).fetchone()[0]
            db.execute(
                "UPDATE parts SET finished_at=?, status=?, verdict=?, cycle_time_s=?, "
                "arc_time_s=?, note=? WHERE id=?",
                (now, status, verdict, now - part["started_at"], arc, note, part_id),
            )
            return dict(db.execute("SELECT * FROM parts WHERE id=?", (part_id,)).fetchone())

    def record_fault(
        self,
        code: str,
        severity: str,
        text: str,
        detail: str,
        state: str,
        phase: str,
        part_id: int | None,
        raised_at: float,
        reaction_ms: float | None,
    ) -> int:
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO faults (code, severity, text, detail, state, phase, part_id, "
                "raised_at, reaction_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (code, severity, text, detail, state, phase, part_id, raised_at, reaction_ms),
            )
            return int(cursor.lastrowid or 0)

    def acknowledge_fault(self, fault_id: int, at: float, by: str) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE faults SET acknowledged_at=?, acknowledged_by=? WHERE id=?",
                (at, by, fault_id),
            )

    def clear_fault(self, fault_id: int, at: float) -> None:
        with self._write() as db:
            db.execute("UPDATE faults SET cleared_at=? WHERE id=?", (at, fault_id))

    def record_state_change(
        self, at: float, from_state: str, to_state: str, cause: str, mode: str
    ) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO state_changes (at, from_state, to_state, cause, mode) "
                "VALUES (?, ?, ?, ?, ?)",
                (at, from_state, to_state, cause, mode),
            )

    def audit(self, actor: str, action: str, detail: str, result: str) -> int:
        """Record who (``actor``, e.g. "opcua:alice") did what (``action``, e.g. "Start"),
        with what (``detail``) and how it ended (``result``: "ok" or "refused: <why>")."""
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO audit (at, actor, action, detail, result) VALUES (?, ?, ?, ?, ?)",
                (time.time(), actor, action, detail, result),
            )
            return int(cursor.lastrowid or 0)

    # -- reads ----------------------------------------------------------------------------

    def audit_rows(self, since: float = 0.0) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT * FROM audit WHERE at >= ? ORDER BY id", (since,)
        ).fetchall()
        return [dict(r) for r in rows]

    def counters(self) -> Counters:
        row = self._db.execute(
            "SELECT "
            "SUM(status='complete' AND mode='production'), "
            "SUM(status='complete' AND mode='production' AND verdict='good'), "
            "SUM(status='complete' AND mode='production' AND verdict='bad'), "
            "SUM(status='incomplete') FROM parts"
        ).fetchone()
        seams = self._db.execute(
            "SELECT COUNT(*) FROM seams WHERE verdict != 'dry_run'"
        ).fetchone()[0]
        return Counters(*(int(v or 0) for v in row), seams_welded=int(seams))

    def parts(self, since: float = 0.0, until: float | None = None) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT * FROM parts WHERE started_at >= ? AND started_at <= ? ORDER BY id",
            (since, until if until is not None else time.time() + 1e9),
        ).fetchall()
        return [dict(r) for r in rows]

    def seams(self, part_id: int | None = None) -> list[dict[str, Any]]:
        if part_id is None:
            rows = self._db.execute("SELECT * FROM seams ORDER BY id").fetchall()
        else:
            rows = self._db.execute(
                "SELECT * FROM seams WHERE part_id=? ORDER BY id", (part_id,)
            ).fetchall()
        return [dict(r) for r in rows]

    def recent_seams(self, limit: int) -> list[dict[str, Any]]:
        """The last ``limit`` seams, oldest first."""
        rows = self._db.execute(
            "SELECT * FROM (SELECT * FROM seams ORDER BY id DESC LIMIT ?) ORDER BY id", (limit,)
        ).fetchall()
        return [dict(r) for r in rows]

    def faults(self, since: float = 0.0) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT * FROM faults WHERE raised_at >= ? ORDER BY id", (since,)
        ).fetchall()
        return [dict(r) for r in rows]

    def state_changes(self, since: float = 0.0) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT * FROM state_changes WHERE at >= ? ORDER BY id", (since,)
        ).fetchall()
        return [dict(r) for r in rows]

    def config_files(self, config_id: int) -> dict[str, str]:
        row = self._db.execute("SELECT files_json FROM configs WHERE id=?", (config_id,))
        found = row.fetchone()
        return json.loads(found["files_json"]) if found else {}

    def integrity_check(self) -> str:
        return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])


class AsyncStore:
    """``ProductionStore`` for the event loop: every call runs on one worker thread."""

    def __init__(self, path: str | Path) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="production-store"
        )
        self._store: ProductionStore = self._executor.submit(ProductionStore, path).result()
        self.path = self._store.path

    @property
    def recovered_incomplete(self) -> int:
        return self._store.recovered_incomplete

    async def call(self, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, function, *args)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        """``await store.record_seam(...)`` runs ``ProductionStore.record_seam`` on the thread."""
        method = getattr(self._store, name)

        async def on_worker(*args: Any) -> Any:
            return await self.call(method, *args)

        return on_worker

    def close(self) -> None:
        self._executor.submit(self._store.close).result()
        self._executor.shutdown(wait=True)
