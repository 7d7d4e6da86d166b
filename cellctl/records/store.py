"""The production records: parts, seams, faults, state changes, and the configs they used.

The records live in SQLite (one file per cell, the default) or in a PostgreSQL database that
many cells share (``cellctl.records.backends``, chosen by a path or URL). Either way a write
returns only once it is durable: SQLite in WAL mode with ``synchronous=FULL``, PostgreSQL with
``synchronous_commit=on``, each write one explicit transaction. That is the promise the weld
cycle relies on ("a seam's record is durable before the next seam starts").

``ProductionStore`` is synchronous and owns one connection. The controller uses it through
``AsyncStore``, which runs every call on one worker thread, so that an fsync never stalls the
control loop and the connection never changes threads.

Every row a cell writes carries its cell name; reads see only that cell's rows (a store opened
with ``cell=""`` sees every cell: the plant view for reports). On open, a part of this cell left
``in_progress`` by a crash is marked ``incomplete``: it is never counted as good. Counters are
computed from the records, so they survive a restart by construction.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from cellctl.cell.records import SeamSummary
from cellctl.config import ConfigInvalid, load_cell_config
from cellctl.config.load import LoadedConfig
from cellctl.records.backends import SCHEMA_VERSION, Backend, StoreError, open_backend

__all__ = [
    "SCHEMA_VERSION",
    "AsyncStore",
    "Counters",
    "DuplicateWorkOrder",
    "ProductionStore",
    "StoreError",
]

T = TypeVar("T")


class DuplicateWorkOrder(StoreError):
    """A work order whose number this cell already has; nothing of its batch was stored."""


@dataclass(frozen=True)
class Counters:
    parts_processed: int  # finished (complete) production parts
    parts_good: int
    parts_bad: int
    parts_incomplete: int
    seams_welded: int


class ProductionStore:
    """One production database (path or URL) seen as one cell. Use from one thread (see
    ``AsyncStore``)."""

    def __init__(
        self, location: str | Path, cell: str = "", recover: bool = True, read_only: bool = False
    ) -> None:
        """Open (creating the schema if needed). ``recover``: this is the cell's controller
        starting, so its parts left in progress were interrupted.

        ``read_only``: a reader (a report, config history or diff, while the controller may
        be running): the database is opened read-only and must already be a cellctl store;
        anything else (no database, an empty file, another program's database, a schema this
        code does not read) raises ``StoreError`` naming it, and nothing in it changes.
        ``recover`` does not apply, and every write raises ``StoreError``."""
        self.location = location
        self.cell = cell
        self.read_only = read_only
        self._backend: Backend = open_backend(location, read_only=read_only)
        try:
            self.name = self._backend.name
            self.durability = self._backend.durability
            self.recovered_incomplete = 0
            self.recovered_part_ids: list[int] = []
            if not read_only:
                self._backend.create_schema(cell)
                if recover:
                    self.recovered_incomplete = self._mark_interrupted_parts()
        except BaseException:
            self._backend.close()
            raise

    @property
    def path(self) -> Path:
        """The SQLite file (for tools that copy or inspect it); a URL for PostgreSQL."""
        return Path(getattr(self._backend, "path", self.name))

    def _mine(self, alias: str = "") -> tuple[str, tuple[Any, ...]]:
        """The SQL condition that limits a read to this cell (or none for the plant view)."""
        if not self.cell:
            return "1=1", ()
        return f"{alias}cell=?", (self.cell,)

    def close(self) -> None:
        self._backend.close()

    # -- writes ---------------------------------------------------------------------------

    def _mark_interrupted_parts(self) -> int:
        with self._backend.write():
            # Their ids, for a resume the operator may confirm (``cellctl.weld.resume``).
            self.recovered_part_ids = [
                int(row["id"])
                for row in self._backend.execute(
                    "SELECT id FROM parts WHERE status='in_progress' AND cell=? ORDER BY id",
                    (self.cell,),
                )
            ]
            return self._backend.rowcount(
                "UPDATE parts SET status='incomplete', verdict=NULL, "
                "note='interrupted: the controller stopped during this part' "
                "WHERE status='in_progress' AND cell=?",
                (self.cell,),
            )

    def reopen_part(self, part_id: int, note: str) -> dict[str, Any]:
        """A part the last stop interrupted, in progress again to be resumed (its id, its
        start, its trace kept; ``note`` says so). Returns its row; ``StoreError`` if it is not
        an incomplete part of this cell."""
        db = self._backend
        with db.write():
            if not db.rowcount(
                "UPDATE parts SET status='in_progress', verdict=NULL, finished_at=NULL, note=? "
                "WHERE id=? AND status='incomplete' AND cell=?",
                (note, part_id, self.cell),
            ):
                raise StoreError(f"part {part_id} is not an incomplete part of this cell")
            return db.execute("SELECT * FROM parts WHERE id=?", (part_id,))[0]

    def part(self, part_id: int) -> dict[str, Any] | None:
        """One part's row of this cell (None: no such part here)."""
        mine, params = self._mine()
        rows = self._backend.execute(
            f"SELECT * FROM parts WHERE id=? AND {mine}", (part_id, *params)
        )
        return rows[0] if rows else None

    def record_config(self, digest: str, files: dict[str, str]) -> int:
        """The id of this config version, stored now if it is new. Cells starting together
        with the same config share one version: the insert yields to whoever was first
        (a SELECT-then-INSERT would collide on the digest in a shared PostgreSQL database)."""
        db = self._backend
        with db.write():
            db.execute(
                "INSERT INTO configs (digest, files_json, first_used_at) VALUES (?, ?, ?) "
                "ON CONFLICT (digest) DO NOTHING",
                (digest, json.dumps(files, sort_keys=True), time.time()),
            )
            return int(db.execute("SELECT id FROM configs WHERE digest=?", (digest,))[0]["id"])

    def part_serial(self, part_id: int) -> str | None:
        """The serial part ``part_id`` was welded with (None: it has no trace record)."""
        rows = self._backend.execute("SELECT serial FROM part_trace WHERE part_id=?", (part_id,))
        return rows[0]["serial"] if rows else None

    def start_part(self, part_program: str, config_id: int, mode: str) -> int:
        with self._backend.write():
            rows = self._backend.execute(
                "INSERT INTO parts (cell, part_program, config_id, mode, started_at, status) "
                "VALUES (?, ?, ?, ?, ?, 'in_progress') RETURNING id",
                (self.cell, part_program, config_id, mode, time.time()),
            )
            return int(rows[0]["id"])

    def record_seam(
        self, part_id: int, summary: SeamSummary, started_at: float, finished_at: float
    ) -> int:
        with self._backend.write():
            rows = self._backend.execute(
                "INSERT INTO seams (part_id, seam, procedure, started_at, finished_at, verdict, "
                "arc_time_s, heat_input_kj_per_mm, arc_energy_kj, out_of_band_s, summary_json) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
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
            seam_id = int(rows[0]["id"])
            if summary.verdict == "bad":
                # A bad seam opens a non-conformance, durable with the seam itself: the part
                # cannot leave the cell good until quality decides (release or scrap).
                self._backend.execute(
                    "INSERT INTO nonconformances (cell, part_id, seam_id, opened_at, reason, "
                    "status) VALUES (?, ?, ?, ?, ?, 'open')",
                    (
                        self.cell,
                        part_id,
                        seam_id,
                        finished_at,
                        f"seam {summary.seam}: " + ("; ".join(summary.reasons) or "bad"),
                    ),
                )
            return seam_id

    def finish_part(
        self, part_id: int, status: str, verdict: str | None, note: str = ""
    ) -> dict[str, Any]:
        """Close a part: complete (with its verdict) or incomplete. Returns its row."""
        now = time.time()
        db = self._backend
        with db.write():
            part = db.execute("SELECT started_at FROM parts WHERE id=?", (part_id,))[0]
            arc = db.execute(
                "SELECT COALESCE(SUM(arc_time_s), 0) AS arc FROM seams WHERE part_id=?",
                (part_id,),
            )[0]["arc"]
            db.execute(
                "UPDATE parts SET finished_at=?, status=?, verdict=?, cycle_time_s=?, "
                "arc_time_s=?, note=? WHERE id=?",
                (now, status, verdict, now - part["started_at"], arc, note, part_id),
            )
            return db.execute("SELECT * FROM parts WHERE id=?", (part_id,))[0]

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
        with self._backend.write():
            rows = self._backend.execute(
                "INSERT INTO faults (cell, code, severity, text, detail, state, phase, part_id, "
                "raised_at, reaction_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    self.cell,
                    code,
                    severity,
                    text,
                    detail,
                    state,
                    phase,
                    part_id,
                    raised_at,
                    reaction_ms,
                ),
            )
            return int(rows[0]["id"])

    def acknowledge_fault(self, fault_id: int, at: float, by: str) -> None:
        with self._backend.write():
            self._backend.execute(
                "UPDATE faults SET acknowledged_at=?, acknowledged_by=? WHERE id=?",
                (at, by, fault_id),
            )

    def clear_fault(self, fault_id: int, at: float) -> None:
        with self._backend.write():
            self._backend.execute("UPDATE faults SET cleared_at=? WHERE id=?", (at, fault_id))

    def record_state_change(
        self, at: float, from_state: str, to_state: str, cause: str, mode: str
    ) -> None:
        with self._backend.write():
            self._backend.execute(
                "INSERT INTO state_changes (cell, at, from_state, to_state, cause, mode) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (self.cell, at, from_state, to_state, cause, mode),
            )

    def audit(self, actor: str, action: str, detail: str, result: str) -> int:
        """Record who (``actor``, e.g. "opcua:alice") did what (``action``, e.g. "Start"),
        with what (``detail``) and how it ended (``result``: "ok" or "refused: <why>")."""
        with self._backend.write():
            rows = self._backend.execute(
                "INSERT INTO audit (cell, at, actor, action, detail, result) "
                "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (self.cell, time.time(), actor, action, detail, result),
            )
            return int(rows[0]["id"])

    # -- traceability (``cellctl.trace``) ----------------------------------------------------

    def record_part_trace(
        self,
        part_id: int,
        serial: str | None,
        serial_source: str | None,
        work_order: str | None,
        welder: str | None,
        qualification: dict[str, Any] | None,
        lots: dict[str, str],
        procedures: dict[str, dict[str, Any]],
        rework_release: int | None,
    ) -> None:
        """Who and what made part ``part_id``: its serial and where it came from, the work
        order, the welder and their qualification, the consumable lots, and each procedure's
        revision and WPQR. A rework release, if the serial needed one, is used up by it in
        the same transaction (a release serves one part)."""
        db = self._backend
        with db.write():
            rework_of = None
            if rework_release is not None:
                used = db.rowcount(
                    "UPDATE rework_releases SET used_by_part=? WHERE id=? AND used_by_part IS NULL",
                    (part_id, rework_release),
                )
                if not used:
                    raise StoreError(f"rework release {rework_release} is already used")
                previous = db.execute(
                    "SELECT MAX(t.part_id) AS part FROM part_trace t WHERE t.serial=?", (serial,)
                )
                rework_of = previous[0]["part"] if previous else None
            db.execute(
                "INSERT INTO part_trace (part_id, serial, serial_source, work_order, welder, "
                "qualification_json, lots_json, procedures_json, rework_of_part) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    part_id,
                    serial,
                    serial_source,
                    work_order,
                    welder,
                    json.dumps(qualification) if qualification is not None else None,
                    json.dumps(lots, sort_keys=True),
                    json.dumps(procedures, sort_keys=True),
                    rework_of,
                ),
            )

    def parts_with_serial(self, serial: str) -> list[dict[str, Any]]:
        """Every part (of every cell: a serial names one part in the plant) welded or begun
        with ``serial``, oldest first, with its trace."""
        return self._backend.execute(
            "SELECT p.*, t.serial, t.serial_source, t.work_order, t.welder, "
            "t.qualification_json, t.lots_json, t.procedures_json, t.rework_of_part "
            "FROM part_trace t JOIN parts p ON p.id = t.part_id WHERE t.serial=? ORDER BY p.id",
            (serial,),
        )

    def release_rework(self, serial: str, by: str, reason: str) -> int:
        with self._backend.write():
            rows = self._backend.execute(
                "INSERT INTO rework_releases (cell, serial, released_at, released_by, reason) "
                "VALUES (?, ?, ?, ?, ?) RETURNING id",
                (self.cell, serial, time.time(), by, reason),
            )
            return int(rows[0]["id"])

    def open_rework_release(self, serial: str) -> dict[str, Any] | None:
        """The oldest unused rework release of ``serial`` (any cell's), or None."""
        rows = self._backend.execute(
            "SELECT * FROM rework_releases WHERE serial=? AND used_by_part IS NULL "
            "ORDER BY id LIMIT 1",
            (serial,),
        )
        return rows[0] if rows else None

    def record_lot(self, kind: str, lot: str, by: str) -> None:
        with self._backend.write():
            self._backend.execute(
                "INSERT INTO consumable_lots (cell, kind, lot, entered_at, entered_by) "
                "VALUES (?, ?, ?, ?, ?)",
                (self.cell, kind, lot, time.time(), by),
            )

    def current_lots(self) -> dict[str, str]:
        """This cell's wire and gas lots as last entered (kind -> lot)."""
        rows = self._backend.execute(
            "SELECT kind, lot FROM consumable_lots WHERE cell=? ORDER BY id", (self.cell,)
        )
        return {row["kind"]: row["lot"] for row in rows}

    def record_welder_login(self, welder: str, qualification: dict[str, Any], by: str) -> int:
        with self._backend.write():
            rows = self._backend.execute(
                "INSERT INTO welder_logins (cell, welder, qualification_json, logged_in_at, "
                "logged_in_by) VALUES (?, ?, ?, ?, ?) RETURNING id",
                (self.cell, welder, json.dumps(qualification), time.time(), by),
            )
            return int(rows[0]["id"])

    def record_welder_logout(self, login_id: int) -> None:
        with self._backend.write():
            self._backend.execute(
                "UPDATE welder_logins SET logged_out_at=? WHERE id=?", (time.time(), login_id)
            )

    # -- work orders (``cellctl.trace.orders``) --------------------------------------------------

    def add_work_orders(self, orders: list[dict[str, Any]], source: str) -> list[int]:
        """Queue ``orders`` (order_no, part_number, part_program, quantity, due_at) in one
        transaction: all or none. An order number this cell has already is a ``StoreError``
        naming it (an MES that sends a file twice changes nothing)."""
        db = self._backend
        now = time.time()
        ids = []
        with db.write():
            for order in orders:
                if db.execute(
                    "SELECT id FROM work_orders WHERE cell=? AND order_no=?",
                    (self.cell, order["order_no"]),
                ):
                    raise DuplicateWorkOrder(f"work order {order['order_no']} is already known")
                rows = db.execute(
                    "INSERT INTO work_orders (cell, order_no, part_number, part_program, "
                    "quantity, due_at, received_at, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                    "RETURNING id",
                    (self.cell, order["order_no"], order["part_number"], order["part_program"],
                     order["quantity"], order["due_at"], now, source),
                )  # fmt: skip
                ids.append(int(rows[0]["id"]))
        return ids

    def open_work_orders(self) -> list[dict[str, Any]]:
        """This cell's work orders not yet made in full, the one to weld first first (earliest
        due, then earliest received), each with ``made``: its complete production parts."""
        rows = self._backend.execute(
            "SELECT o.*, (SELECT COUNT(*) FROM part_trace t JOIN parts p ON p.id = t.part_id "
            "WHERE t.work_order = o.order_no AND p.cell = o.cell AND p.status = 'complete' "
            "AND p.mode = 'production') AS made FROM work_orders o WHERE o.cell=? "
            "ORDER BY o.due_at, o.received_at, o.id",
            (self.cell,),
        )
        return [row for row in rows if row["made"] < row["quantity"]]

    # -- non-conformances (``cellctl.trace.quality``) ------------------------------------------

    def nonconformances(
        self, status: str | None = None, part_id: int | None = None
    ) -> list[dict[str, Any]]:
        """Non-conformances (this cell's, or all), oldest first, with the part's serial."""
        mine, params = self._mine("n.")
        conditions, values = [mine], list(params)
        if status is not None:
            conditions.append("n.status=?")
            values.append(status)
        if part_id is not None:
            conditions.append("n.part_id=?")
            values.append(part_id)
        return self._backend.execute(
            "SELECT n.*, t.serial FROM nonconformances n LEFT JOIN part_trace t "
            f"ON t.part_id = n.part_id WHERE {' AND '.join(conditions)} ORDER BY n.id",
            tuple(values),
        )

    def nonconformance(self, nc_id: int) -> dict[str, Any] | None:
        rows = self._backend.execute(
            "SELECT n.*, t.serial FROM nonconformances n LEFT JOIN part_trace t "
            "ON t.part_id = n.part_id WHERE n.id=?",
            (nc_id,),
        )
        return rows[0] if rows else None

    def record_repair(
        self, nc_id: int, by: str, welder: str | None, description: str, part_id: int | None
    ) -> int:
        """A repair weld against an open non-conformance; it becomes ``repaired`` (quality
        still decides)."""
        db = self._backend
        with db.write():
            changed = db.rowcount(
                "UPDATE nonconformances SET status='repaired' WHERE id=? AND status IN "
                "('open', 'repaired')",
                (nc_id,),
            )
            if not changed:
                raise StoreError(f"non-conformance {nc_id} is not open")
            rows = db.execute(
                "INSERT INTO repairs (nc_id, at, by_actor, welder, description, repair_part_id) "
                "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (nc_id, time.time(), by, welder, description, part_id),
            )
            return int(rows[0]["id"])

    def decide_nonconformance(self, nc_id: int, decision: str, by: str, note: str) -> None:
        """Quality's decision on an open or repaired non-conformance: released or scrapped."""
        if decision not in ("released", "scrapped"):
            raise ValueError(f"decision {decision!r}: released or scrapped")
        with self._backend.write():
            changed = self._backend.rowcount(
                "UPDATE nonconformances SET status=?, decided_at=?, decided_by=?, "
                "decision_note=? WHERE id=? AND status IN ('open', 'repaired')",
                (decision, time.time(), by, note, nc_id),
            )
            if not changed:
                raise StoreError(f"non-conformance {nc_id} is already decided, or not there")

    def repairs(self, nc_id: int) -> list[dict[str, Any]]:
        return self._backend.execute("SELECT * FROM repairs WHERE nc_id=? ORDER BY id", (nc_id,))

    def part_faults(self, part_id: int) -> list[dict[str, Any]]:
        return self._backend.execute("SELECT * FROM faults WHERE part_id=? ORDER BY id", (part_id,))

    def start_downtime(self, reason: str, planned: bool, started_at: float, given_by: str) -> int:
        """A standstill's reason (``cellctl.cell.downtime``) from ``started_at``, open until
        ``end_downtime``; ``given_by`` who said it (e.g. "opcua:olga")."""
        with self._backend.write():
            rows = self._backend.execute(
                "INSERT INTO downtime (cell, reason, planned, started_at, given_by, given_at) "
                "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (self.cell, reason, int(planned), started_at, given_by, time.time()),
            )
            return int(rows[0]["id"])

    def end_downtime(self, downtime_id: int, ended_at: float) -> None:
        with self._backend.write():
            self._backend.execute(
                "UPDATE downtime SET ended_at=? WHERE id=? AND ended_at IS NULL",
                (ended_at, downtime_id),
            )

    def close_open_downtime(self, ended_at: float) -> int:
        """End every span of this cell still open (a controller that stopped or crashed left
        it so: the standstill is known to have lasted at least until ``ended_at``)."""
        mine, params = self._mine()
        with self._backend.write():
            return self._backend.rowcount(
                f"UPDATE downtime SET ended_at=? WHERE ended_at IS NULL AND {mine}",
                (ended_at, *params),
            )

    # -- reads ----------------------------------------------------------------------------

    def downtimes(self, since: float = 0.0) -> list[dict[str, Any]]:
        """This cell's downtime spans that were open at or after ``since``, oldest first
        (``ended_at`` None: still open). A store no controller of this version has written
        yet has no such table: none."""
        mine, params = self._mine()
        if not self._has_downtime_table():
            return []
        return self._backend.execute(
            "SELECT * FROM downtime WHERE (ended_at IS NULL OR ended_at >= ?) "
            f"AND {mine} ORDER BY id",
            (since, *params),
        )

    def _has_downtime_table(self) -> bool:
        try:
            self._backend.execute("SELECT 1 FROM downtime WHERE 1=0")
        except StoreError:  # "no such table" (SQLite) / "does not exist" (PostgreSQL)
            return False
        return True

    def audit_rows(self, since: float = 0.0) -> list[dict[str, Any]]:
        """This cell's audit rows from ``since`` (time.time()), oldest first."""
        mine, params = self._mine()
        return self._backend.execute(
            f"SELECT * FROM audit WHERE at >= ? AND {mine} ORDER BY id", (since, *params)
        )

    def last_audit(self, actions: tuple[str, ...]) -> dict[str, Any] | None:
        """This cell's newest audit row whose action is one of ``actions``, or None."""
        mine, params = self._mine()
        marks = ", ".join("?" for _ in actions)
        rows = self._backend.execute(
            f"SELECT * FROM audit WHERE action IN ({marks}) AND {mine} ORDER BY id DESC LIMIT 1",
            (*actions, *params),
        )
        return rows[0] if rows else None

    def counters(self) -> Counters:
        mine, params = self._mine()
        row = self._backend.execute(
            "SELECT "
            "SUM(CASE WHEN status='complete' AND mode='production' THEN 1 ELSE 0 END) AS a, "
            "SUM(CASE WHEN status='complete' AND mode='production' AND verdict='good' "
            "THEN 1 ELSE 0 END) AS b, "
            "SUM(CASE WHEN status='complete' AND mode='production' AND verdict='bad' "
            "THEN 1 ELSE 0 END) AS c, "
            f"SUM(CASE WHEN status='incomplete' THEN 1 ELSE 0 END) AS d FROM parts WHERE {mine}",
            params,
        )[0]
        mine_p, params = self._mine("p.")
        seams = self._backend.execute(
            "SELECT COUNT(*) AS n FROM seams s JOIN parts p ON p.id = s.part_id "
            f"WHERE s.verdict != 'dry_run' AND {mine_p}",
            params,
        )[0]["n"]
        return Counters(*(int(v or 0) for v in row.values()), seams_welded=int(seams))

    def parts(self, since: float = 0.0, until: float | None = None) -> list[dict[str, Any]]:
        mine, params = self._mine()
        return self._backend.execute(
            f"SELECT * FROM parts WHERE started_at >= ? AND started_at <= ? AND {mine} ORDER BY id",
            (since, until if until is not None else time.time() + 1e9, *params),
        )

    def seams(self, part_id: int | None = None) -> list[dict[str, Any]]:
        if part_id is not None:
            return self._backend.execute(
                "SELECT * FROM seams WHERE part_id=? ORDER BY id", (part_id,)
            )
        mine, params = self._mine("p.")
        return self._backend.execute(
            f"SELECT s.* FROM seams s JOIN parts p ON p.id = s.part_id WHERE {mine} ORDER BY s.id",
            params,
        )

    def recent_seams(self, limit: int) -> list[dict[str, Any]]:
        """The last ``limit`` seams, oldest first."""
        mine, params = self._mine("p.")
        rows = self._backend.execute(
            "SELECT s.* FROM seams s JOIN parts p ON p.id = s.part_id "
            f"WHERE {mine} ORDER BY s.id DESC LIMIT ?",
            (*params, limit),
        )
        return rows[::-1]

    def faults(self, since: float = 0.0) -> list[dict[str, Any]]:
        mine, params = self._mine()
        return self._backend.execute(
            f"SELECT * FROM faults WHERE raised_at >= ? AND {mine} ORDER BY id",
            (since, *params),
        )

    def state_changes(self, since: float = 0.0) -> list[dict[str, Any]]:
        mine, params = self._mine()
        return self._backend.execute(
            f"SELECT * FROM state_changes WHERE at >= ? AND {mine} ORDER BY id",
            (since, *params),
        )

    def config_files(self, config_id: int) -> dict[str, str]:
        rows = self._backend.execute("SELECT files_json FROM configs WHERE id=?", (config_id,))
        return json.loads(rows[0]["files_json"]) if rows else {}

    def configs(self) -> list[dict[str, Any]]:
        """Every config version with the parts welded under it (this cell's, or all)."""
        mine, params = self._mine("p.")
        return self._backend.execute(
            "SELECT c.id, c.digest, c.first_used_at, COUNT(p.id) AS parts, "
            "SUM(CASE WHEN p.verdict='good' THEN 1 ELSE 0 END) AS good, "
            "SUM(CASE WHEN p.verdict='bad' THEN 1 ELSE 0 END) AS bad, "
            "MIN(p.id) AS first_part, MAX(p.id) AS last_part, "
            "MIN(p.started_at) AS first_part_at, MAX(p.started_at) AS last_part_at "
            f"FROM configs c LEFT JOIN parts p ON p.config_id = c.id AND {mine} "
            "GROUP BY c.id, c.digest, c.first_used_at ORDER BY c.first_used_at, c.id",
            params,
        )

    def configs_by_prefix(self, prefix: str) -> list[dict[str, Any]]:
        """Config versions whose digest starts with ``prefix`` (with their files)."""
        if not prefix or any(c not in "0123456789abcdef" for c in prefix.lower()):
            raise ValueError(f"config version {prefix!r}: expected a hex digest prefix")
        return self._backend.execute(
            "SELECT id, digest, files_json, first_used_at FROM configs WHERE digest LIKE ? "
            "ORDER BY id",
            (prefix.lower() + "%",),
        )

    def integrity_check(self) -> str:
        return self._backend.integrity_check()


class AsyncStore:
    """``ProductionStore`` for the event loop: every call runs on one worker thread."""

    def __init__(self, location: str | Path, cell: str = "") -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="production-store"
        )
        try:
            self._store: ProductionStore = self._executor.submit(
                ProductionStore, location, cell
            ).result()
        except BaseException:
            self._executor.shutdown(wait=True)
            raise
        self.path = self._store.path
        self.name = self._store.name
        self.cell = cell

    @property
    def recovered_incomplete(self) -> int:
        return self._store.recovered_incomplete

    @property
    def recovered_part_ids(self) -> list[int]:
        """The parts the last stop left in progress, marked incomplete at this start."""
        return self._store.recovered_part_ids

    async def call(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function(*args)`` on the worker. A caller cancelled while its call waits in
        the queue takes it back (nothing is written); once the worker has started it, the call
        runs to its end (a transaction is never cut half-way), and only its answer is lost."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, function, *args)

    async def on_store(self, function: Callable[..., T], *args: Any) -> T:
        """``function(store, *args)`` on the worker, with the synchronous store: a few reads
        and writes that belong together (``cellctl.trace.quality``)."""
        return await self.call(function, self._store, *args)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        """``await store.record_seam(...)`` runs ``ProductionStore.record_seam`` on the thread."""
        method = getattr(self._store, name)

        async def on_worker(*args: Any) -> Any:
            return await self.call(method, *args)

        return on_worker

    def close(self) -> None:
        self._executor.submit(self._store.close).result()
        self._executor.shutdown(wait=True)


def store_location(config: LoadedConfig) -> str | Path:
    """The production database of a config: its ``store_url`` if set, else its ``store_path``;
    a relative SQLite path is relative to the cell config's folder."""
    settings = config.cell.controller
    url = settings.store_url
    if url is None:
        return config.resolve(settings.store_path)
    if url.startswith("sqlite:///"):
        return config.resolve(url.removeprefix("sqlite:///"))
    return url


def open_records(
    config_path: str | None, location: str | None, cell: str | None
) -> tuple[ProductionStore, LoadedConfig | None]:
    """The production store to read (``location``, else the config's), opened read-only: a
    reader that changes nothing and refuses (``StoreError``) what is not a cellctl store,
    seeing ``cell`` (default: the config's cell; ``*``: every cell)."""
    config: LoadedConfig | None = None
    if config_path:
        try:
            config = load_cell_config(Path(config_path))
        except ConfigInvalid as invalid:
            if location is None:
                raise StoreError(
                    f"{config_path}: invalid config ({invalid.errors[0]}); give --store"
                ) from None
    where: str | Path | None = location or (store_location(config) if config else None)
    if where is None:
        raise StoreError("no production store: give --config or --store")
    if cell == "*":
        cell = ""
    elif cell is None:
        cell = config.cell.cell.name if config else ""
    return ProductionStore(where, cell=cell, read_only=True), config
