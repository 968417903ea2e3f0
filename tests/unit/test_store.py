import multiprocessing
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from nexus.domain.errors import ErrorCode, NexusError
from nexus.domain.models import BackendType, Resources, Workspace, WorkspaceStatus
from nexus.store import StateStore
from nexus.store.migrations import MIGRATIONS


def ws(name: str) -> Workspace:
    return Workspace(
        name=name,
        backend=BackendType.DOCKER,
        status=WorkspaceStatus.CREATING,
        resources=Resources(cpu=2, memory_gb=4),
        labels={"team": "core"},
    )


def test_round_trip_and_schema(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    assert store.schema_version() == len(MIGRATIONS)
    mode = sqlite3.connect(tmp_path / "state.db").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    store.reserve(ws("alpha"))
    store.update(
        "alpha", ssh_port=32801, host_key="ssh-ed25519 AAAA", status=WorkspaceStatus.RUNNING
    )
    got = store.get("alpha")
    assert got.ssh_port == 32801
    assert got.resources.cpu == 2
    assert got.labels == {"team": "core"}
    assert got.status is WorkspaceStatus.RUNNING
    # a second process opening the same file sees the same rows and migrations are not re-run
    again = StateStore(tmp_path / "state.db")
    assert again.get("alpha").host_key == "ssh-ed25519 AAAA"
    assert again.installation_id == store.installation_id


def test_duplicate_name_is_workspace_exists(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    store.reserve(ws("dup"))
    with pytest.raises(NexusError) as info:
        store.reserve(ws("dup"))
    assert info.value.code == ErrorCode.WORKSPACE_EXISTS


def test_missing_is_not_found(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    with pytest.raises(NexusError) as info:
        store.get("ghost")
    assert info.value.code == ErrorCode.WORKSPACE_NOT_FOUND


def test_revision_moves_on_every_write(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    first = store.revision()
    store.reserve(ws("r"))
    second = store.revision()
    store.update("r", status=WorkspaceStatus.RUNNING)
    assert first < second < store.revision()


def test_compare_and_set_status(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    store.reserve(ws("c"))
    assert not store.set_status_if("c", {WorkspaceStatus.RUNNING}, WorkspaceStatus.STOPPING)
    assert store.set_status_if("c", {WorkspaceStatus.CREATING}, WorkspaceStatus.RUNNING)


def _allocate(db: str, index: int, queue: "multiprocessing.Queue[int]") -> None:
    store = StateStore(Path(db))
    name = f"w{index}"
    store.reserve(ws(name))
    queue.put(store.allocate_port(name, "ssh", 40100, 40180))


def test_ports_are_unique_across_processes(tmp_path: Path) -> None:
    db = str(tmp_path / "state.db")
    StateStore(Path(db))
    queue: multiprocessing.Queue[int] = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_allocate, args=(db, i, queue)) for i in range(12)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    ports = [queue.get(timeout=5) for _ in procs]
    assert len(set(ports)) == len(ports)
    assert all(40100 <= p <= 40180 for p in ports)


def _bump(db: str, rounds: int) -> None:
    store = StateStore(Path(db))
    for _ in range(rounds):
        store.update_metadata("counter", lambda m: m.update(n=m.get("n", 0) + 1))


def test_no_lost_updates_between_processes(tmp_path: Path) -> None:
    db = str(tmp_path / "state.db")
    store = StateStore(Path(db))
    store.reserve(ws("counter"))
    procs = [multiprocessing.Process(target=_bump, args=(db, 25)) for _ in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    assert store.get("counter").metadata["n"] == 100


def test_allocation_skips_ports_in_use_and_reports_exhaustion(tmp_path: Path) -> None:
    import socket

    store = StateStore(tmp_path / "state.db")
    store.reserve(ws("p"))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(NexusError) as info:
            store.allocate_port("p", "ssh", port, port)
        assert info.value.code == ErrorCode.PORTS_EXHAUSTED
    store.release_ports("p")


def _open_and_write(db: str, index: int, start: Any) -> None:
    start.wait()  # all processes open the brand-new file at the same moment
    for round_ in range(10):  # open, write, close: again and again, all processes at once
        store = StateStore(Path(db))
        store.reserve(ws(f"p{index}-{round_}"))
        store.close()


def test_many_processes_opening_a_new_store_at_once(tmp_path: Path) -> None:
    db = str(tmp_path / "fresh.db")
    start = multiprocessing.Barrier(16)
    procs = [
        multiprocessing.Process(target=_open_and_write, args=(db, i, start)) for i in range(16)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    assert len(StateStore(Path(db)).list()) == 160
