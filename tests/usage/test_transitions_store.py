"""The store records a transition whenever a workspace's status really changes."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from nexus.domain.models import BackendType, Resources, Workspace, WorkspaceStatus
from nexus.store import StateStore
from nexus.store.migrations import MIGRATIONS

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _history(store: StateStore) -> list[tuple[str, str, float | None, float | None]]:
    return [(t.workspace, t.status, t.cpu, t.disk_gb) for t in store.transitions(EPOCH)]


def test_each_real_change_is_recorded_once_with_its_resources(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    store.reserve(
        Workspace(
            name="w",
            backend=BackendType.DAYTONA,
            status=WorkspaceStatus.CREATING,
            resources=Resources(cpu=2, memory_gb=4, disk_gb=10),
        )
    )
    store.update("w", ssh_port=4000)  # no status: nothing recorded
    store.update("w", status=WorkspaceStatus.RUNNING)
    store.update("w", status=WorkspaceStatus.RUNNING)  # the same status: nothing recorded
    assert store.set_status_if("w", {WorkspaceStatus.RUNNING}, WorkspaceStatus.STOPPING)
    assert not store.set_status_if("w", {WorkspaceStatus.RUNNING}, WorkspaceStatus.STARTING)
    store.update("w", status=WorkspaceStatus.STOPPED, resources=Resources(cpu=1, disk_gb=10))
    store.remove("w")
    assert _history(store) == [
        ("w", "creating", 2, 10),
        ("w", "running", 2, 10),
        ("w", "stopping", 2, 10),
        ("w", "stopped", 1, 10),
        ("w", "deleted", 1, 10),
    ]
    times = [t.at for t in store.transitions(EPOCH)]
    assert times == sorted(times)
    assert all(t.backend == "daytona" for t in store.transitions(EPOCH))
    store.close()


def test_the_reader_gives_the_window_and_the_status_before_it(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    for name in ("a", "b"):
        store.reserve(
            Workspace(name=name, backend=BackendType.DOCKER, status=WorkspaceStatus.CREATING)
        )
        store.update(name, status=WorkspaceStatus.RUNNING)
    middle = datetime.now(UTC) + timedelta(seconds=1)
    future = middle + timedelta(days=1)
    # nothing recorded after `middle` yet: each workspace's last status before it
    assert [(t.workspace, t.status) for t in store.transitions(middle)] == [
        ("a", "running"),
        ("b", "running"),
    ]
    assert store.transitions(middle, middle) == store.transitions(middle)
    assert [t.status for t in store.transitions(EPOCH, EPOCH + timedelta(days=1))] == []
    assert len(store.transitions(EPOCH, future)) == 4
    store.close()


def test_migration_4_enters_the_existing_workspaces_with_their_status(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    conn = sqlite3.connect(db)
    for script in MIGRATIONS[:3]:
        conn.executescript(script)
    conn.execute("PRAGMA user_version = 3")
    conn.execute("INSERT INTO meta (key, value) VALUES ('installation_id', 'abcd1234')")
    conn.execute(
        """INSERT INTO workspaces (name, backend, status, remote_path, resources, created_at,
        updated_at) VALUES ('old', 'daytona', 'stopped', '/workspace',
        '{"cpu": 2, "memory_gb": 4, "disk_gb": null}', '2026-01-01T00:00:00+00:00',
        '2026-01-01T00:00:00+00:00')"""
    )
    conn.commit()
    conn.close()
    before = datetime.now(UTC) - timedelta(seconds=1)
    store = StateStore(db)
    assert store.upgraded_from == 3
    (entered,) = store.transitions(EPOCH)
    assert (entered.workspace, entered.backend, entered.status) == ("old", "daytona", "stopped")
    assert (entered.cpu, entered.memory_gb, entered.disk_gb) == (2, 4, None)
    assert entered.at >= before
    store.remove("old")  # history outlives the record
    assert [t.status for t in store.transitions(EPOCH)] == ["stopped", "deleted"]
    store.close()
