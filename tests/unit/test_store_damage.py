"""A damaged state.db is STORE_ERROR naming the file and `recover`; the installation id survives it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from nexus.domain.errors import ErrorCode, NexusError
from nexus.paths import NexusPaths
from nexus.service.recovery import move_aside, resolve_installation_id
from nexus.store import StateStore
from nexus.store.db import StoreDamaged


def _made(home: Path) -> str:
    store = StateStore(home / "state.db")
    try:
        return store.installation_id
    finally:
        store.close()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "foreign"])
def test_a_damaged_store_is_store_error(tmp_path: Path, damage: str) -> None:
    _made(tmp_path)
    db = tmp_path / "state.db"
    if damage == "garbage":
        db.write_bytes(b"garbage" * 1000)
    elif damage == "truncated":
        db.write_bytes(b"")
    else:  # a valid SQLite file of some other program
        db.unlink()
        with sqlite3.connect(db) as other:
            other.execute("CREATE TABLE notes (body TEXT)")
        other.close()
    with pytest.raises(StoreDamaged) as raised:
        StateStore(db)
    assert raised.value.code == ErrorCode.STORE_ERROR
    assert str(db) in raised.value.message
    assert "nexus workspace recover" in raised.value.resolution


def test_a_new_store_keeps_the_installation_id(tmp_path: Path) -> None:
    first = _made(tmp_path)
    assert (tmp_path / "installation-id").read_text().strip() == first
    db = tmp_path / "state.db"
    db.write_bytes(b"garbage" * 1000)
    kept = move_aside(db)
    assert kept.name.startswith("state.db.broken-") and kept.read_bytes() == b"garbage" * 1000
    assert not db.exists()
    assert _made(tmp_path) == first  # a fresh store names the same containers
    db.unlink()
    assert _made(tmp_path) == first


def test_a_brand_new_home_is_no_damage(tmp_path: Path) -> None:
    home = tmp_path / "fresh"
    assert _made(home)
    assert _made(home) == (home / "installation-id").read_text().strip()


NOWHERE = "tcp://127.0.0.1:9"  # nothing listens there: the engine is unreachable


def _keep_host_key(home: Path, name: str) -> None:
    keys = NexusPaths(home).host_keys_dir
    keys.mkdir(parents=True, exist_ok=True)
    (keys / f"{name}_ed25519").write_text("a host key\n")


@pytest.mark.parametrize("state", ["missing", "empty"])
def test_a_home_with_host_keys_but_no_id_mints_none(tmp_path: Path, state: str) -> None:
    """A home from before the id file whose store is lost: a new id would orphan the containers
    of the workspaces whose host keys it keeps."""
    _keep_host_key(tmp_path, "web")
    db = tmp_path / "state.db"
    if state == "empty":
        db.write_bytes(b"")
    with pytest.raises(NexusError) as raised:
        StateStore(db)
    assert raised.value.code == ErrorCode.STORE_ERROR
    assert str(db) in raised.value.message and "web" in raised.value.message
    assert "nexus workspace recover" in raised.value.resolution
    assert not (tmp_path / "installation-id").exists()
    assert db.exists() == (state == "empty")  # nothing made, nothing changed


def test_recover_takes_the_id_of_a_readable_store_without_the_engine(tmp_path: Path) -> None:
    first = _made(tmp_path)
    (tmp_path / "installation-id").unlink()  # a home from before the file
    _keep_host_key(tmp_path, "web")
    assert resolve_installation_id(NexusPaths(tmp_path), NOWHERE) == first
    assert (tmp_path / "installation-id").read_text().strip() == first


def test_recover_without_any_trace_of_the_id_says_so(tmp_path: Path) -> None:
    _keep_host_key(tmp_path, "web")
    (tmp_path / "state.db").write_bytes(b"")
    with pytest.raises(NexusError) as raised:
        resolve_installation_id(NexusPaths(tmp_path), NOWHERE)
    assert raised.value.code == ErrorCode.STORE_ERROR
    assert "web" in raised.value.message and "DOCKER_UNAVAILABLE" in raised.value.message
    assert str(tmp_path / "installation-id") in raised.value.resolution
    assert not (tmp_path / "installation-id").exists()
    assert (tmp_path / "state.db").read_bytes() == b""


def test_a_home_without_host_keys_gets_a_new_id(tmp_path: Path) -> None:
    assert resolve_installation_id(NexusPaths(tmp_path), NOWHERE) is None  # nothing to orphan
    assert _made(tmp_path) == (tmp_path / "installation-id").read_text().strip()
