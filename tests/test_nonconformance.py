"""Non-conformances on their own: a bad seam opens one with its record, a good one does not;
``cellctl nc`` lists them, records a repair (operator) and releases or scraps (quality only),
each change audited; the weld record PDF shows them (``cellctl.trace.quality``)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import yaml

from cellctl.cli.main import main as cellctl
from cellctl.plant.opcua.users import hash_password
from cellctl.records.store import ProductionStore
from cellctl.records.weld_record import part_record
from cellctl.records.weld_record_pdf import write_weld_record
from tests.test_trace_cell import pdf_text
from tests.test_trace_opcua import bad_seam


@pytest.fixture
def cell(repo: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A config copy with an operator and a quality user, and a store with one part
    (serial BM-7) whose first seam was good and second bad."""
    config = tmp_path / "config"
    shutil.copytree(repo / "config", config, ignore=shutil.ignore_patterns("scenarios"))
    data = yaml.safe_load((config / "cell.yaml").read_text())
    data["opcua"]["users"] = [
        {"name": "olga", "role": "operator", "password_hash": hash_password("op-1")},
        {"name": "quinn", "role": "quality", "password_hash": hash_password("qa-1")},
    ]
    (config / "cell.yaml").write_text(yaml.safe_dump(data))
    db = tmp_path / "production.db"
    store = ProductionStore(db, cell="cell-01")
    try:
        config_id = store.record_config("ab" * 32, {})
        part = store.start_part("bracket-a12", config_id, "production")
        store.record_part_trace(part, "BM-7", "operator", None, None, None, {}, {}, None)
        good = bad_seam("gusset-left")
        good.verdict, good.reasons = "good", []
        now = time.time()
        store.record_seam(part, good, now - 40, now - 20)
        store.record_seam(part, bad_seam("gusset-right"), now - 20, now)
        store.finish_part(part, "complete", "bad")
    finally:
        store.close()
    return config / "cell.yaml", db


def nc(config: Path, db: Path, *args: str) -> int:
    return cellctl(["nc", *args, "--config", str(config), "--store", str(db)])


def test_a_bad_seam_opens_a_nonconformance_and_quality_decides(cell, monkeypatch, capsys):
    config, db = cell
    assert cellctl(["nc", "list", "--store", str(db), "--cell", "*"]) == 0
    listed = capsys.readouterr().out
    assert "BM-7" in listed
    assert "seam gusset-right: current out of band" in listed
    assert "gusset-left" not in listed  # the good seam opened none

    monkeypatch.setenv("CELLCTL_PASSWORD", "op-1")
    assert nc(config, db, "release", "BM-7", "fine", "--user", "olga") == 1
    assert "release needs the quality role; olga is operator" in capsys.readouterr().err
    assert nc(config, db, "repair", "1", "ground out, rewelded", "--user", "olga",
              "--welder", "wang.lei") == 0  # fmt: skip
    monkeypatch.setenv("CELLCTL_PASSWORD", "wrong")
    assert nc(config, db, "release", "BM-7", "fine", "--user", "quinn") == 1
    assert "password is wrong" in capsys.readouterr().err
    monkeypatch.setenv("CELLCTL_PASSWORD", "qa-1")
    assert nc(config, db, "release", "BM-7", "MT passed after repair", "--user", "quinn") == 0
    assert nc(config, db, "scrap", "1", "too late", "--user", "quinn") == 1
    assert "already released by cli:quinn" in capsys.readouterr().err

    store = ProductionStore(db, read_only=True)
    try:
        [row] = store.nonconformances()
        assert (row["status"], row["decided_by"]) == ("released", "cli:quinn")
        [repair] = store.repairs(row["id"])
        assert (repair["welder"], repair["description"]) == ("wang.lei", "ground out, rewelded")
        trail = [(a["actor"], a["action"], a["result"][:7]) for a in store.audit_rows()]
        assert ("cli:olga", "nc repair", "ok") in trail
        assert ("cli:quinn", "nc release", "ok") in trail
        assert ("cli:quinn", "nc scrap", "refused") in trail
        pdf = write_weld_record(part_record(store, "BM-7"), db.parent / "bm7.pdf")
    finally:
        store.close()
    text = pdf_text(pdf)
    for expected in ("Non-conformances", "ground out, rewelded (wang.lei)", "RELEASED",
                     "MT passed after repair", "BAD"):  # fmt: skip
        assert expected in text, expected
