"""OPC UA users: scrypt password hashes, `cellctl passwd`, and their config validation."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from cellctl.config import ConfigInvalid, load_cell_config
from cellctl.plant.opcua.users import (
    BadPasswordHash,
    hash_password,
    parse_password_hash,
    verify_password,
)


def test_hash_verifies_only_its_password_and_is_salted():
    stored = hash_password("weld-cell-7")
    assert verify_password("weld-cell-7", stored)
    assert not verify_password("weld-cell-8", stored)
    assert hash_password("weld-cell-7") != stored  # a fresh salt each time
    assert "weld-cell-7" not in stored


@pytest.mark.parametrize(
    ("stored", "says"),
    [
        ("md5$abc", "expected scrypt$n$r$p$salt_hex$hash_hex"),
        ("scrypt$16384$8$1$zz$00", "hexadecimal"),
        ("scrypt$1000$8$1$00$" + "00" * 32, "n a power of 2"),
    ],
)
def test_a_bad_stored_hash_says_what_is_wrong(stored, says):
    with pytest.raises(BadPasswordHash) as raised:
        parse_password_hash(stored)
    assert says in str(raised.value)


def test_cellctl_passwd_prints_a_hash_that_verifies(repo):
    done = subprocess.run(
        [sys.executable, "-m", "cellctl.cli.main", "passwd", "--stdin"],
        input="arc-on-please\n", capture_output=True, text=True, cwd=repo, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    stored = done.stdout.strip()
    assert verify_password("arc-on-please", stored)
    short = subprocess.run(
        [sys.executable, "-m", "cellctl.cli.main", "passwd", "--stdin"],
        input="short\n", capture_output=True, text=True, cwd=repo, timeout=60,
    )  # fmt: skip
    assert short.returncode == 1
    assert "at least 8 characters" in short.stderr


def test_config_errors_name_the_user_field_and_line(tmp_path, repo):
    shutil.copytree(repo / "config", tmp_path / "config")
    cell = tmp_path / "config" / "cell.yaml"
    text = cell.read_text()
    assert "  users: []\n" in text
    cell.write_text(
        text.replace(
            "  users: []\n",
            "  users:\n    - {name: olga, role: operator, password_hash: hunter2}\n"
            "    - {name: erik, role: admin, password_hash: hunter2}\n",
        )
    )
    with pytest.raises(ConfigInvalid) as raised:
        load_cell_config(cell)
    messages = [str(e) for e in raised.value.errors]
    line = text.splitlines().index("  users: []") + 2
    assert any(f"cell.yaml:{line}: opcua.users[0].password_hash" in m for m in messages), messages
    assert any("opcua.users[1].role" in m and "admin" in m for m in messages), messages
