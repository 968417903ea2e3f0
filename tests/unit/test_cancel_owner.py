"""`delete --force` on a workspace another process is changing: it cancels a CLI operation by
signalling that process, never an editor sidecar (marked in the owner it records), and says
WORKSPACE_BUSY (not INTERNAL_ERROR) when it may not signal it; without /proc it still works."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nexus import ownership
from nexus.domain.errors import ErrorCode, NexusError
from nexus.domain.models import BackendType, Workspace, WorkspaceStatus
from nexus.ownership import SIDECAR, current_owner, owner_alive, parse_owner, set_role
from nexus.paths import NexusPaths
from nexus.service import workspaces
from nexus.service.context import NexusContext
from nexus.service.workspaces import WorkspaceService


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WorkspaceService]:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NEXUS_HOME", str(tmp_path / "home" / ".nexus"))
    context = NexusContext(NexusPaths(tmp_path / "home" / ".nexus"))
    try:
        yield WorkspaceService(context)
    finally:
        context.close()


@pytest.fixture
def other_process() -> Iterator[subprocess.Popen[bytes]]:
    """A live process of this host that is not this one (reaped as soon as it ends, as a
    shell reaps a CLI it started)."""
    proc = subprocess.Popen(["sleep", "120"])
    threading.Thread(target=proc.wait, daemon=True).start()
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()


def owner_of(pid: int, role: str | None = None) -> str:
    owner = f"{socket.gethostname()}:{pid}:{ownership._start_time(pid) or '?'}"
    return f"{owner}/{role}" if role else owner


def creating(service: WorkspaceService, name: str, owner: str) -> None:
    service.ctx.store.reserve(
        Workspace(name=name, backend=BackendType.DOCKER, status=WorkspaceStatus.CREATING)
    )
    service.ctx.store.update(name, owner=owner)


def test_the_sidecar_role_is_part_of_the_owner() -> None:
    plain = current_owner()
    unmarked = parse_owner(plain)
    assert unmarked is not None and unmarked.role is None and unmarked.pid == os.getpid()
    set_role(SIDECAR)
    try:
        marked = current_owner()
        assert marked == f"{plain}/{SIDECAR}"
        parsed = parse_owner(marked)
        assert parsed is not None and parsed.role == SIDECAR and parsed.pid == os.getpid()
        assert owner_alive(marked)
    finally:
        set_role(None)
    assert current_owner() == plain
    assert parse_owner("not an owner") is None


def test_delete_force_never_signals_a_sidecar(
    service: WorkspaceService, other_process: subprocess.Popen[bytes]
) -> None:
    creating(service, "web", owner_of(other_process.pid, SIDECAR))
    with pytest.raises(NexusError) as raised:
        asyncio.run(service.delete("web", force=True))
    assert raised.value.code == ErrorCode.WORKSPACE_BUSY
    assert "editor sidecar" in raised.value.message
    assert other_process.poll() is None  # untouched
    assert service.get("web").status is WorkspaceStatus.CREATING


def test_a_process_it_may_not_signal_is_busy(
    service: WorkspaceService,
    other_process: subprocess.Popen[bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_kill: Callable[[int, int], None] = os.kill

    def kill(pid: int, sig: int) -> None:  # as for another user's process, when not root
        if pid == other_process.pid and sig == signal.SIGTERM:
            raise PermissionError(1, "Operation not permitted")
        real_kill(pid, sig)

    monkeypatch.setattr(os, "kill", kill)
    creating(service, "web", owner_of(other_process.pid))
    with pytest.raises(NexusError) as raised:
        asyncio.run(service.delete("web", force=True))
    assert raised.value.code == ErrorCode.WORKSPACE_BUSY
    assert "another user" in raised.value.message and str(other_process.pid) in raised.value.message
    assert other_process.poll() is None
    assert service.get("web").status is WorkspaceStatus.CREATING


@pytest.mark.docker
@pytest.mark.usefixtures("docker_engine")
def test_delete_force_cancels_without_proc(
    service: WorkspaceService,
    other_process: subprocess.Popen[bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_isdir = os.path.isdir
    monkeypatch.setattr(os.path, "isdir", lambda path: path != "/proc/self" and real_isdir(path))
    assert workspaces._exited(other_process.pid) is False
    creating(service, "web", owner_of(other_process.pid))
    result = asyncio.run(service.delete("web", force=True))
    assert other_process.wait(timeout=30) == -signal.SIGTERM  # it was asked to stop
    assert workspaces._exited(other_process.pid) is True
    assert result.workspace.name == "web" and result.left_behind == []
    assert service.ctx.store.find("web") is None
