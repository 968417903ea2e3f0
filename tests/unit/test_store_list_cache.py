"""``StateStore.list`` reuses its last read only while the database is unchanged: every write, by
this store, another store, another process or a plain SQLite connection, is seen at once."""

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from nexus.domain.models import BackendType, Resources, Workspace, WorkspaceStatus
from nexus.store import StateStore


def ws(name: str, backend: BackendType = BackendType.DOCKER) -> Workspace:
    return Workspace(
        name=name,
        backend=backend,
        status=WorkspaceStatus.STOPPED,
        resources=Resources(cpu=1),
        labels={"team": "core"},
    )


def statuses(store: StateStore) -> dict[str, str]:
    return {w.name: w.status.value for w in store.list()}


def _write_elsewhere(db: str, step: int) -> None:
    store = StateStore(Path(db))
    try:
        if step % 3 == 0:
            running = step % 6 == 0
            store.update("alpha", status="running" if running else "stopped")
        elif step % 3 == 1:
            store.reserve(ws(f"new-{step}"))
        else:
            store.remove(f"new-{step - 1}")
    finally:
        store.close()


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    store = StateStore(tmp_path / "state.db")
    for name in ("alpha", "beta", "gamma"):
        store.reserve(ws(name))
    return store


def test_writes_of_another_process_are_seen(store: StateStore) -> None:
    for step in range(9):
        before = statuses(store)  # read (and kept) before every write
        process = multiprocessing.Process(target=_write_elsewhere, args=(str(store.path), step))
        process.start()
        process.join(60)
        assert process.exitcode == 0
        fresh = StateStore(store.path)
        try:
            expected = statuses(fresh)
        finally:
            fresh.close()
        assert statuses(store) == expected != before


def test_plain_sqlite_writes_are_seen(store: StateStore) -> None:
    """Even a write that bypasses the store (no revision bump) is seen."""
    assert store.list()[0].image is None
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE workspaces SET image = 'debian:13' WHERE name = 'alpha'")
    assert store.list()[0].image == "debian:13"
    with sqlite3.connect(store.path) as db:
        db.execute("INSERT INTO ports (port, workspace, purpose) VALUES (40123, 'beta', 'ssh')")
    assert store.list()[1].ports == {"ssh": 40123}


def test_its_own_writes_and_rollbacks_are_seen(store: StateStore) -> None:
    store.list()
    store.update("beta", labels={"team": "infra"})
    assert store.list()[1].labels == {"team": "infra"}
    store.allocate_port("gamma", "ssh", 45000, 45100)
    assert "ssh" in store.list()[2].ports
    store.release_ports("gamma")
    assert store.list()[2].ports == {}
    with pytest.raises(RuntimeError), store._write() as conn:
        conn.execute("UPDATE workspaces SET image = 'uncommitted' WHERE name = 'alpha'")
        assert store.list()[0].image == "uncommitted"  # inside its own transaction
        raise RuntimeError("rolled back")
    assert store.list()[0].image is None


def test_another_store_in_this_process_is_seen(store: StateStore) -> None:
    other = StateStore(store.path)
    try:
        store.list()
        other.set_status_if("gamma", {WorkspaceStatus.STOPPED}, WorkspaceStatus.ERROR)
        assert store.list()[2].status is WorkspaceStatus.ERROR
    finally:
        other.close()


def test_unchanged_records_are_reused_changed_ones_rebuilt(store: StateStore) -> None:
    alpha, beta, gamma = store.list()
    assert store.list() == [alpha, beta, gamma] and store.list() is not store.list()
    store.update("beta", status=WorkspaceStatus.RUNNING)
    again = store.list()
    assert again[0] is alpha and again[2] is gamma
    assert again[1] is not beta and again[1].status is WorkspaceStatus.RUNNING
    assert beta.status is WorkspaceStatus.STOPPED  # what an earlier caller holds never changes


def test_backend_filter_keeps_the_order(store: StateStore) -> None:
    store.reserve(ws("aardvark", BackendType.DAYTONA))
    store.reserve(ws("zebra", BackendType.DAYTONA))
    assert [w.name for w in store.list(BackendType.DAYTONA)] == ["aardvark", "zebra"]
    assert [w.name for w in store.list(BackendType.DOCKER)] == ["alpha", "beta", "gamma"]
    assert [w.name for w in store.list()] == ["aardvark", "alpha", "beta", "gamma", "zebra"]
