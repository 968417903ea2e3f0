"""Fixtures of the service tests: a ``WorkspaceService`` in this process, in a temp HOME and
NEXUS_HOME, with fake backends put in place of Docker and Daytona (nothing real is reached)."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from nexus import ownership
from nexus.backends.daytona.facts import FACTS as REAL_DAYTONA_FACTS
from nexus.backends.docker.facts import FACTS as REAL_DOCKER_FACTS
from nexus.config.schema import NexusConfig
from nexus.domain.backend import BackendFacts
from nexus.domain.create_options import CreateOptions
from nexus.domain.kinds import BackendType, WorkspaceStatus
from nexus.domain.models import Workspace
from nexus.paths import NexusPaths
from nexus.service import backends
from nexus.service.context import NexusContext
from nexus.service.workspaces import WorkspaceService
from nexus.store.db import StateStore

from .fake_backend import FakeBackend, Pause

# what the service is told of each backend: the real facts, with cleanup commands of the fakes
DOCKER_FACTS = replace(REAL_DOCKER_FACTS, cleanup_command="fake-engine rm {ref}")
DAYTONA_FACTS = replace(REAL_DAYTONA_FACTS, cleanup_command="fake-cloud sandbox delete {ref}")


@dataclass
class FakeEntry:
    """A ``BackendEntry`` (nexus.service.backends) whose backend is a ``FakeBackend``."""

    type: BackendType
    fake_facts: BackendFacts
    built: list[FakeBackend] = field(default_factory=list)

    def facts(self) -> BackendFacts:
        return self.fake_facts

    def build(self, config: NexusConfig, store: StateStore, paths: NexusPaths) -> FakeBackend:
        backend = FakeBackend(self.type, self.fake_facts, store)
        self.built.append(backend)
        return backend

    def load_operations(self) -> None:
        pass


@dataclass
class Home:
    home: Path
    nexus_home: Path
    project: Path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    """A temp HOME (its ~/.ssh/config is the only one written) and NEXUS_HOME, no config
    overrides from this machine's environment, and a project folder as the working directory."""
    home = tmp_path / "home"
    project = tmp_path / "project"
    for path in (home, project):
        path.mkdir()
    (project / "README.md").write_text("hello\n")
    for key in list(os.environ):
        if key.startswith(("NEXUS_", "DAYTONA_")):
            monkeypatch.delenv(key)
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("NEXUS_HOME", str(home / ".nexus"))
    monkeypatch.chdir(project)
    assert Path.home() == home
    return Home(home, home / ".nexus", project)


@pytest.fixture
def entries(monkeypatch: pytest.MonkeyPatch) -> dict[BackendType, FakeEntry]:
    fakes = {
        BackendType.DOCKER: FakeEntry(BackendType.DOCKER, DOCKER_FACTS),
        BackendType.DAYTONA: FakeEntry(BackendType.DAYTONA, DAYTONA_FACTS),
    }
    monkeypatch.setattr(backends, "BACKENDS", fakes)
    return fakes


@pytest.fixture
async def service(
    home: Home, entries: dict[BackendType, FakeEntry]
) -> AsyncIterator[WorkspaceService]:
    context = NexusContext(NexusPaths(home.nexus_home))
    try:
        yield WorkspaceService(context)
    finally:
        for entry in entries.values():
            for fake in entry.built:
                await fake.aclose()
        context.close()


def fake_of(service: WorkspaceService, backend_type: BackendType) -> FakeBackend:
    backend = service.ctx.backends.get(backend_type)
    assert isinstance(backend, FakeBackend)
    return backend


@pytest.fixture
def docker(service: WorkspaceService) -> FakeBackend:
    return fake_of(service, BackendType.DOCKER)


@pytest.fixture
def daytona(service: WorkspaceService) -> FakeBackend:
    return fake_of(service, BackendType.DAYTONA)


# ---- helpers -------------------------------------------------------------------------------------
class RecordingProgress:
    """A ``Progress`` keeping what it was told."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, str]] = []
        self.warnings: list[str] = []

    def step(self, phase: str, message: str) -> None:
        self.steps.append((phase, message))

    def detail(self, message: str, percent: int | None = None) -> None:
        pass

    def warn(self, message: str) -> None:
        self.warnings.append(message)


def options(name: str, source: Path | None = None, **fields: Any) -> CreateOptions:
    return CreateOptions(name=name, source_path=source, **fields)


async def reach(pause: Pause, task: asyncio.Task[Any]) -> None:
    """Wait until the backend holds ``pause`` (failing at once if the task ended before it)."""
    entered = asyncio.ensure_future(pause.entered.wait())
    await asyncio.wait({entered, task}, return_when=asyncio.FIRST_COMPLETED)
    if not pause.entered.is_set():
        entered.cancel()
        task.result()  # raises what ended it
        raise AssertionError("the operation finished without reaching the paused step")


def ports_of(service: WorkspaceService, name: str) -> list[int]:
    """The host ports the store holds for ``name`` (also after its record is gone)."""
    with sqlite3.connect(service.ctx.paths.state_db) as conn:
        rows = conn.execute("SELECT port FROM ports WHERE workspace = ?", (name,)).fetchall()
    return [int(port) for (port,) in rows]


def ssh_config(service: WorkspaceService) -> str:
    return service.ctx.paths.ssh_config.read_text()


def host_key_file(service: WorkspaceService, name: str) -> Path:
    return service.ctx.paths.host_keys_dir / f"{name}_ed25519"


def seed(
    service: WorkspaceService,
    name: str,
    backend: BackendType,
    status: WorkspaceStatus,
    **fields: Any,
) -> Workspace:
    """A record put straight in the store (as another process, or an older one, left it)."""
    service.ctx.store.reserve(Workspace(name=name, backend=backend, status=status))
    return service.ctx.store.update(name, **fields) if fields else service.ctx.store.get(name)


def owner_of(pid: int) -> str:
    return f"{socket.gethostname()}:{pid}:{ownership._start_time(pid) or '?'}"


@pytest.fixture
def other_process() -> Iterator[subprocess.Popen[bytes]]:
    """A live process of this host other than this one."""
    proc = subprocess.Popen(["sleep", "300"])
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture
def dead_owner() -> str:
    """The owner a process recorded before it died (its pid is gone, or reused by another)."""
    proc = subprocess.Popen(["true"])
    owner = owner_of(proc.pid)
    proc.wait()
    assert not ownership.owner_alive(owner)
    return owner


# ---- git -----------------------------------------------------------------------------------------
def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-c", "safe.directory=*", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=check,
        env={**os.environ, "GIT_PAGER": "", "PAGER": ""},
    )


def branches(repo: Path) -> set[str]:
    out = git(repo, "branch", "--format=%(refname:short)").stdout
    return set(out.split())


@pytest.fixture
def repo(home: Home) -> Path:
    """The project as a git repository with one commit on main."""
    path = home.project
    for args in (
        ("init", "-q", "-b", "main"),
        ("config", "user.name", "Dev Person"),
        ("config", "user.email", "dev@example.com"),
        ("add", "README.md"),
        ("commit", "-qm", "initial"),
    ):
        git(path, *args)
    return path
