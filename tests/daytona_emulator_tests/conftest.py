"""Fixtures for the Daytona emulator tests: real Docker, the unmodified `daytona` SDK."""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import docker
import docker.errors
import pytest
from daytona import CreateSandboxFromSnapshotParams, Daytona, Sandbox

from tests.daytona_emulator import Emulator, EmulatorConfig, EmulatorThread
from tests.daytona_emulator.runtime import INSTANCE_LABEL
from tests.daytona_emulator.sdk import sync_client

REPOS_MOUNT = "/mnt/repos"


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        # like the rest of the suite: no engine is a failure, never a silent pass
        pytest.fail(f"no Docker engine: {exc}", pytrace=False)
    yield client
    client.close()


def sweep_containers(client: docker.DockerClient, instance_id: str) -> None:
    """Belt and braces: remove whatever an emulator instance may have left behind."""
    for container in client.containers.list(
        all=True, filters={"label": f"{INSTANCE_LABEL}={instance_id}"}
    ):
        with contextlib.suppress(docker.errors.DockerException):
            container.remove(force=True, v=True)


@pytest.fixture(scope="session", autouse=True)
def _loopback_no_proxy() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NO_PROXY", "127.0.0.1,localhost")
        mp.setenv("no_proxy", "127.0.0.1,localhost")
        yield


def _git(*args: str, cwd: Path | None = None) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Emu",
        "GIT_AUTHOR_EMAIL": "emu@example.invalid",
        "GIT_COMMITTER_NAME": "Emu",
        "GIT_COMMITTER_EMAIL": "emu@example.invalid",
    }
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


@pytest.fixture(scope="session")
def repos_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with a bare repository `demo.git` (branches main and feature).

    It is bind-mounted read-only at /mnt/repos in every sandbox of the session emulator,
    so sandboxes clone it with `file:///mnt/repos/demo.git`.
    """
    base = tmp_path_factory.mktemp("repos")
    work = tmp_path_factory.mktemp("work")
    _git("init", "-q", "-b", "main", str(work))
    (work / "README.md").write_text("hello from the emulator repo\n")
    _git("add", "README.md", cwd=work)
    _git("commit", "-q", "-m", "initial", cwd=work)
    _git("checkout", "-q", "-b", "feature", cwd=work)
    (work / "feature.txt").write_text("feature branch\n")
    _git("add", "feature.txt", cwd=work)
    _git("commit", "-q", "-m", "feature", cwd=work)
    _git("checkout", "-q", "main", cwd=work)
    _git("clone", "-q", "--bare", str(work), str(base / "demo.git"))
    for path in [base, *base.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o555 if path.is_dir() else path.stat().st_mode | 0o444)
    return base


@pytest.fixture(scope="session")
def emulator(docker_client: docker.DockerClient, repos_dir: Path) -> Iterator[EmulatorThread]:
    emu = EmulatorThread(
        docker_client=docker_client,
        bind_mounts={str(repos_dir): REPOS_MOUNT},
        config=EmulatorConfig(regions=("us", "eu")),
    )
    try:
        emu.start()
        yield emu
    finally:
        emu.stop()
        sweep_containers(docker_client, emu.instance_id)


@pytest.fixture(scope="session")
def daytona(emulator: EmulatorThread) -> Iterator[Daytona]:
    client = sync_client(emulator.api_url, emulator.api_key)
    yield client
    with contextlib.suppress(Exception):
        client.close()


@pytest.fixture
def unique_label() -> dict[str, str]:
    return {"emu-test": uuid.uuid4().hex[:12]}


@pytest.fixture
def sandbox(daytona: Daytona, unique_label: dict[str, str]) -> Iterator[Sandbox]:
    created = daytona.create(CreateSandboxFromSnapshotParams(labels=unique_label), timeout=120)
    yield created
    with contextlib.suppress(Exception):
        daytona.delete(created)


@pytest.fixture(scope="module")
def shared_sandbox(daytona: Daytona) -> Iterator[Sandbox]:
    """One sandbox for a whole module of read-mostly toolbox tests."""
    created = daytona.create(
        CreateSandboxFromSnapshotParams(labels={"emu-test": "shared"}), timeout=120
    )
    yield created
    with contextlib.suppress(Exception):
        daytona.delete(created)


@pytest.fixture
async def async_emulator(docker_client: docker.DockerClient) -> AsyncIterator[Emulator]:
    """A private in-loop emulator with fast 'minutes' for auto-stop/delete tests."""
    config = EmulatorConfig(minute_seconds=0.2, reaper_interval=0.1)
    emu = Emulator(docker_client=docker_client, config=config)
    try:
        async with emu:
            yield emu
    finally:
        sweep_containers(docker_client, emu.instance_id)
