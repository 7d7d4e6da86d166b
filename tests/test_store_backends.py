"""The production store on both backends: one contract, SQLite and a real PostgreSQL server.

The PostgreSQL cluster is started by the tests (tests/plant_servers.py); each test gets a new
database on it.
"""

from __future__ import annotations

import shutil
import sqlite3
import threading

import psycopg
import pytest

from cellctl.cell.records import SeamSummary
from cellctl.config.models import Procedure
from cellctl.records.report import build_report
from cellctl.records.store import AsyncStore, ProductionStore, StoreError
from cellctl.weld.monitoring import SeamMonitor
from rigs.cell import running_cell


@pytest.fixture
def summary(repo) -> SeamSummary:
    import yaml

    data = yaml.safe_load((repo / "config/procedures/mag-fillet-a4.yaml").read_text())
    monitor = SeamMonitor("gusset-left", Procedure.model_validate(data), 0.3, 0.1)
    t = 0.0
    while t < 2.0 - 1e-9:
        t += 0.025
        monitor.add(t, 220.0, 24.5, 9.5, tool_speed_mm_per_s=8.0)
    return monitor.summary(16.0)


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request, tmp_path) -> str:
    """A fresh production database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'production.db'}"
    return request.getfixturevalue("postgres_server").new_database()


def test_a_part_its_seams_faults_and_an_interruption(location, summary):
    store = ProductionStore(location, cell="cell-01")
    config_id = store.record_config("abc123", {"cell.yaml": "x"})
    assert store.record_config("abc123", {"cell.yaml": "x"}) == config_id
    part = store.start_part("bracket-a12", config_id, "production")
    store.record_seam(part, summary, 1.0, 3.0)
    fault = store.record_fault(
        "F124", "hold", "gas flow low", "", "Execute", "seam", part, 2.0, 12.5
    )
    store.acknowledge_fault(fault, 2.5, "operator")
    store.clear_fault(fault, 3.0)
    store.record_state_change(1.0, "Idle", "Starting", "start button", "production")
    row = store.finish_part(part, "complete", "good")
    assert (row["status"], row["verdict"], row["cell"]) == ("complete", "good", "cell-01")
    assert row["arc_time_s"] == pytest.approx(summary.arc_time_s)
    interrupted = store.start_part("bracket-a12", config_id, "production")
    store.record_seam(interrupted, summary, 4.0, 6.0)
    store.close()  # as if the controller died here

    reader = ProductionStore(location, cell="cell-01", read_only=True)
    assert reader.parts()[1]["status"] == "in_progress"  # a report never changes the records
    reader.close()

    reopened = ProductionStore(location, cell="cell-01")
    assert reopened.recovered_incomplete == 1
    parts = reopened.parts()
    assert [p["status"] for p in parts] == ["complete", "incomplete"]
    assert len(reopened.seams(interrupted)) == 1  # the committed seam is kept
    counters = reopened.counters()
    assert (counters.parts_processed, counters.parts_good, counters.parts_incomplete) == (1, 1, 1)
    assert counters.seams_welded == 2
    [faulted] = reopened.faults()
    assert (faulted["acknowledged_by"], faulted["cleared_at"]) == ("operator", 3.0)
    assert reopened.state_changes()[0]["to_state"] == "Starting"
    assert reopened.config_files(config_id) == {"cell.yaml": "x"}
    [version] = reopened.configs()
    assert (version["digest"], version["parts"], version["good"]) == ("abc123", 2, 1)
    assert [c["id"] for c in reopened.configs_by_prefix("ABC")] == [config_id]
    with pytest.raises(ValueError, match="hex digest prefix"):
        reopened.configs_by_prefix("x%")
    assert reopened.integrity_check() == "ok"
    reopened.close()


def test_many_cells_write_one_database_at_once(location, summary):
    """Four cells, each with its own connection on its own thread, interleaving their writes:
    every cell sees its own parts and counters, the plant view sees them all."""
    cells = [f"cell-{n:02d}" for n in range(1, 5)]
    parts_each = 6
    errors: list[BaseException] = []

    def weld(cell: str) -> None:
        try:
            store = ProductionStore(location, cell=cell)
            try:
                config_id = store.record_config("cafe01", {"cell.yaml": "shared"})
                for n in range(parts_each):
                    part = store.start_part("bracket-a12", config_id, "production")
                    store.record_seam(part, summary, 1.0, 2.0)
                    store.finish_part(part, "complete", "good" if n % 3 else "bad")
            finally:
                store.close()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=weld, args=(cell,), name=cell) for cell in cells]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for cell in cells:
        store = ProductionStore(location, cell=cell, read_only=True)
        counters = store.counters()
        assert (counters.parts_processed, counters.parts_good, counters.parts_bad) == (6, 4, 2)
        assert {p["cell"] for p in store.parts()} == {cell}
        assert counters.seams_welded == parts_each
        store.close()
    plant = ProductionStore(location, read_only=True)
    assert plant.counters().parts_processed == len(cells) * parts_each
    assert len({p["id"] for p in plant.parts()}) == len(cells) * parts_each
    assert len(plant.configs()) == 1
    report = build_report(plant, None)  # the plant view: a line per cell
    assert [c.cell for c in report.cells] == cells
    assert all((c.parts_processed, c.parts_good, c.parts_bad) == (6, 4, 2) for c in report.cells)
    assert report.figures.parts_processed == 24
    plant.close()
    one = ProductionStore(location, cell="cell-02", read_only=True)
    assert build_report(one, None).cells == []  # one cell: no breakdown
    one.close()


def test_a_cell_starting_marks_only_its_own_parts_interrupted(location):
    first = ProductionStore(location, cell="cell-01")
    second = ProductionStore(location, cell="cell-02")
    config_id = first.record_config("beef", {})
    first.start_part("p", config_id, "production")
    running = second.start_part("p", config_id, "production")
    first.close()
    restarted = ProductionStore(location, cell="cell-01")
    assert restarted.recovered_incomplete == 1
    # cell-02 is still welding its part: not touched.
    assert second.parts()[0]["id"] == running
    assert second.parts()[0]["status"] == "in_progress"
    restarted.close()
    second.close()


def test_postgresql_commits_are_synchronous_whatever_the_server_default(postgres_server):
    url = postgres_server.new_database()
    dbname = url.split("@/")[1].split("?")[0]
    with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE {dbname} SET synchronous_commit = off")
    store = ProductionStore(url, cell="cell-01")
    try:
        setting = store._backend.execute("SHOW synchronous_commit")[0]["synchronous_commit"]
        assert setting == "on"
        assert store.durability.startswith("PostgreSQL, synchronous_commit=on")
    finally:
        store.close()


def test_postgresql_store_comes_back_after_a_server_crash(postgres_server, summary):
    """The server dies without a checkpoint (immediate stop, crash recovery on start): every
    committed seam is there, and the store's next call reconnects."""
    url = postgres_server.new_database()
    store = ProductionStore(url, cell="cell-01")
    try:
        config_id = store.record_config("d00d", {})
        part = store.start_part("p", config_id, "production")
        store.record_seam(part, summary, 1.0, 2.0)
        postgres_server.restart(mode="immediate")
        with pytest.raises(StoreError, match=r"postgresql://.*write failed") as died:
            store.record_seam(part, summary, 3.0, 4.0)  # the connection died under it
        assert isinstance(died.value.__cause__, psycopg.OperationalError)
        store.record_seam(part, summary, 5.0, 6.0)  # the next call reconnects
        assert [s["started_at"] for s in store.seams(part)] == [1.0, 5.0]
    finally:
        store.close()


def test_store_errors_name_the_database(tmp_path, postgres_server):
    with pytest.raises(StoreError, match="unknown scheme"):
        ProductionStore("mysql://plant/db")
    missing = postgres_server.url("no_such_db")
    with pytest.raises(StoreError, match=r"postgresql://cellctl@/no_such_db.*cannot connect"):
        ProductionStore(missing)
    with pytest.raises(StoreError, match="cannot connect"):
        AsyncStore("postgresql://someone:secret@127.0.0.1:1/plant")  # nothing listens on 1
    with pytest.raises(StoreError) as refused:
        ProductionStore("postgresql://someone:secret@127.0.0.1:1/plant")
    assert "secret" not in str(refused.value)


def _pg_tables(url: str) -> set[str]:
    with psycopg.connect(url, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return {r[0] for r in rows}


def test_a_reader_of_postgresql_refuses_a_database_that_is_not_a_store(postgres_server):
    empty = postgres_server.new_database()
    with pytest.raises(StoreError) as refused:
        ProductionStore(empty, read_only=True)
    assert str(refused.value).endswith(
        "it has no tables: an empty database, not a cellctl production store"
    )
    assert _pg_tables(empty) == set()  # the old reader made cellctl's tables here
    mes = postgres_server.new_database()
    with psycopg.connect(mes, autocommit=True) as admin:
        admin.execute("CREATE TABLE orders (id INT, part TEXT)")
    with pytest.raises(StoreError, match=r"another program's tables \(orders\)"):
        ProductionStore(mes, read_only=True)
    assert _pg_tables(mes) == {"orders"}


def test_a_writer_refuses_tables_by_its_names_that_it_did_not_make(postgres_server, tmp_path):
    mes = postgres_server.new_database()
    with psycopg.connect(mes, autocommit=True) as admin:
        admin.execute("CREATE TABLE parts (id INT, drawing TEXT)")  # the MES's own parts
    with pytest.raises(StoreError, match="tables parts exist but were not made by cellctl"):
        ProductionStore(mes, cell="cell-01")
    assert _pg_tables(mes) == {"parts"}
    foreign = tmp_path / "addresses.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE contacts (name TEXT)")
    db.close()
    before = foreign.read_bytes()
    with pytest.raises(StoreError, match=r"another program's tables \(contacts\).*refusing"):
        ProductionStore(foreign, cell="cell-01")
    assert foreign.read_bytes() == before  # not even switched to WAL


def test_a_reader_of_postgresql_runs_read_only_transactions(postgres_server):
    url = postgres_server.new_database()
    writer = ProductionStore(url, cell="cell-01")
    writer.record_config("abc", {})
    writer.close()
    reader = ProductionStore(url, cell="cell-01", read_only=True)
    try:
        assert [c["digest"] for c in reader.configs()] == ["abc"]
        with pytest.raises(StoreError, match="opened read-only"):
            reader.record_config("def", {})

        def refuses_writes() -> None:
            setting = reader._backend.execute("SHOW default_transaction_read_only")
            assert setting == [{"default_transaction_read_only": "on"}]
            # Whatever SQL reaches the server in this session, it writes nothing.
            with pytest.raises(StoreError) as refused:
                reader._backend.execute("DELETE FROM configs")
            assert isinstance(refused.value.__cause__, psycopg.errors.ReadOnlySqlTransaction)

        refuses_writes()
        postgres_server.restart()
        with pytest.raises(StoreError) as died:
            reader.configs()  # the connection died under it
        assert isinstance(died.value.__cause__, psycopg.OperationalError)
        refuses_writes()  # the reconnected session is read-only too
        assert [c["digest"] for c in reader.configs()] == ["abc"]  # nothing was deleted
    finally:
        reader.close()


def test_a_version_1_sqlite_file_is_upgraded_for_its_cell(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:
        old.executescript(
            "CREATE TABLE configs (id INTEGER PRIMARY KEY, digest TEXT NOT NULL UNIQUE, "
            "files_json TEXT NOT NULL, first_used_at REAL NOT NULL);"
            "CREATE TABLE parts (id INTEGER PRIMARY KEY, part_program TEXT NOT NULL, "
            "config_id INTEGER NOT NULL, mode TEXT NOT NULL, started_at REAL NOT NULL, "
            "finished_at REAL, status TEXT NOT NULL, verdict TEXT, cycle_time_s REAL, "
            "arc_time_s REAL, note TEXT NOT NULL DEFAULT '');"
            "CREATE TABLE faults (id INTEGER PRIMARY KEY, code TEXT NOT NULL, severity TEXT "
            "NOT NULL, text TEXT NOT NULL, detail TEXT NOT NULL, state TEXT NOT NULL, phase "
            "TEXT NOT NULL, part_id INTEGER, raised_at REAL NOT NULL, reaction_ms REAL, "
            "acknowledged_at REAL, acknowledged_by TEXT, cleared_at REAL);"
            "CREATE TABLE state_changes (id INTEGER PRIMARY KEY, at REAL NOT NULL, from_state "
            "TEXT NOT NULL, to_state TEXT NOT NULL, cause TEXT NOT NULL, mode TEXT NOT NULL);"
            "INSERT INTO configs VALUES (1, 'aa', '{}', 0);"
            "INSERT INTO parts VALUES (1, 'p', 1, 'production', 1, 2, 'complete', 'good', 1, "
            "0.5, '');"
            "PRAGMA user_version=1;"
        )
    old.close()
    store = ProductionStore(path, cell="cell-07")
    try:
        assert store.parts()[0]["cell"] == "cell-07"
        assert store.counters().parts_good == 1
    finally:
        store.close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == 3
        # Version 3's traceability tables were made on the way (cellctl.trace).
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"part_trace", "rework_releases", "consumable_lots", "welder_logins"} <= tables
    raw.close()


@pytest.mark.slow
async def test_the_controller_welds_into_the_plant_database(tmp_path, postgres_server):
    url = postgres_server.new_database()

    def plant_store(cell: dict) -> None:
        cell["controller"]["store_url"] = url

    async with running_cell(tmp_path, edit=plant_store) as rig:
        assert rig.controller.store.name.startswith("postgresql://cellctl@/plant_")
        # Sparkplug is off unless configured: no plant listener (the torch's care listens).
        listeners = rig.controller.events.listeners
        assert not [x for x in listeners if type(x).__module__.startswith("cellctl.plant")]
        await rig.to_idle()
        part = await rig.weld_part()
    assert (part["status"], part["verdict"], part["cell"]) == ("complete", "good", "cell-01")
    plant = ProductionStore(url, read_only=True)
    try:
        assert [s["seam"] for s in plant.seams(part["id"])] == ["gusset-left", "gusset-right"]
        assert plant.counters().parts_good == 1
        assert "Execute" in [c["to_state"] for c in plant.state_changes()]
        assert plant.configs()[0]["parts"] == 1
        report = build_report(plant, None)  # the shift report reads the plant database too
        assert (report.figures.parts_processed, report.figures.parts_good) == (1, 1)
        assert [q.seam for q in report.seam_quality] == ["gusset-left", "gusset-right"]
    finally:
        plant.close()
    assert not (tmp_path / "production.db").exists()  # nothing went to the SQLite default


def test_cells_opening_one_new_sqlite_file_together_all_get_in(tmp_path):
    """Switching a new file to WAL answers "database is locked" at once to a second opener;
    the store retries instead of failing a controller (or a report) that starts meanwhile."""
    errors: list[BaseException] = []

    def open_and_write(path, cell: str) -> None:
        try:
            store = ProductionStore(path, cell=cell)
            store.record_config("a1", {})
            store.close()
        except BaseException as error:
            errors.append(error)

    for round_number in range(40):
        path = tmp_path / f"new-{round_number}.db"
        threads = [
            threading.Thread(target=open_and_write, args=(path, f"cell-{n}")) for n in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []


def test_cells_recording_the_same_new_config_together_share_one_version(location):
    """Cells started together with one config: one version, every cell gets its id (on
    PostgreSQL, two plain SELECT-then-INSERTs would collide on the digest)."""
    cells, rounds = 6, 15
    barrier = threading.Barrier(cells)
    errors: list[BaseException] = []
    ids: dict[int, set[int]] = {n: set() for n in range(rounds)}

    def cell(number: int) -> None:
        try:
            store = ProductionStore(location, cell=f"cell-{number}")
        except BaseException as error:
            errors.append(error)
            barrier.abort()
            return
        try:
            for round_number in range(rounds):
                barrier.wait()
                digest = f"{round_number:04x}"
                ids[round_number].add(store.record_config(digest, {"cell.yaml": digest}))
        except BaseException as error:
            errors.append(error)
            barrier.abort()
        finally:
            store.close()

    threads = [threading.Thread(target=cell, args=(n,)) for n in range(cells)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert all(len(got) == 1 for got in ids.values())


def test_a_simulated_run_never_writes_to_the_plant(tmp_path):
    """The demo's (and the test rig's) copy of a plant cell's config keeps its records local
    and does not publish as the real cell."""
    import yaml

    from cellctl.cli.demo import prepare_run_folder
    from rigs.cell import REPO

    source = tmp_path / "plant"
    source.mkdir()
    for entry in ("parts", "procedures"):
        shutil.copytree(REPO / "config" / entry, source / entry)
    cell = yaml.safe_load((REPO / "config/cell.yaml").read_text())
    cell["controller"]["store_url"] = "postgresql://cellctl@plant-db/production"
    cell["sparkplug"]["enabled"] = True
    (source / "cell.yaml").write_text(yaml.safe_dump(cell))
    derived = yaml.safe_load(
        prepare_run_folder(source / "cell.yaml", tmp_path / "run", None).read_text()
    )
    assert "store_url" not in derived["controller"]
    assert derived["controller"]["store_path"] == str(tmp_path / "run" / "production.db")
    assert derived["sparkplug"]["enabled"] is False


def test_the_controller_refuses_to_start_without_its_database(capsys):
    from cellctl.cli.main import main
    from rigs.cell import REPO

    url = "postgresql://cellctl:secret@127.0.0.1:1/plant"  # nothing listens on port 1
    assert main(["run", "--config", str(REPO / "config/cell.yaml"), "--store", url]) == 3
    err = capsys.readouterr().err
    assert "cellctl run: production store: postgresql://cellctl@127.0.0.1:1/plant" in err
    assert "cannot connect" in err
    assert "secret" not in err
