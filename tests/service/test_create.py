"""Create: what a successful create records and writes, and that a failed, cancelled or
half-cleaned create leaves exactly what it says it leaves."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from nexus.domain.errors import ErrorCode, NexusError
from nexus.domain.kinds import BackendType, WorkspaceStatus
from nexus.service.workspaces import WorkspaceService

from .conftest import (
    Home,
    RecordingProgress,
    branches,
    git,
    host_key_file,
    options,
    ports_of,
    reach,
    ssh_config,
)
from .fake_backend import FakeBackend


def engine_down() -> NexusError:
    return NexusError(ErrorCode.DOCKER_ERROR, "the engine refused the container", "Retry later.")


async def test_create_records_running_with_the_endpoint_and_writes_the_stanza(
    service: WorkspaceService, docker: FakeBackend, home: Home
) -> None:
    created = await service.create(options("web", home.project))

    resource = docker.resources["web"]
    record = service.ctx.store.get("web")
    assert record.status is WorkspaceStatus.RUNNING and record.owner is None
    assert (record.ssh_host, record.ssh_port) == ("127.0.0.1", resource.port)
    assert record.backend_id == resource.backend_id == created.backend_id
    assert resource.keys is not None and record.host_key == resource.keys.host_public_key
    assert record.host_key.startswith("ssh-ed25519 ")
    assert record.metadata["container_name"] == "fake-web"
    assert ports_of(service, "web") == [resource.port]
    assert [m for m, _ in docker.calls[:2]] == ["ensure_ready", "create"]
    # a plain folder is mounted as it is (no repository in it: nothing read-only)
    assert resource.request is not None and resource.request.source_path == home.project
    assert record.local_path == str(home.project) and record.metadata["git_dirs"] == []

    config = ssh_config(service)
    assert "Host nexus-web\n" in config and f"  Port {resource.port}\n" in config
    assert "  HostName 127.0.0.1\n" in config
    key_type, key_blob = record.host_key.split()[:2]
    assert f"nexus-web {key_type} {key_blob}\n" in service.ctx.paths.known_hosts.read_text()
    assert host_key_file(service, "web").read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY")
    # the user's (temp) ~/.ssh/config includes the generated one
    user_config = (home.home / ".ssh" / "config").read_text()
    assert str(service.ctx.paths.ssh_config) in user_config


async def test_create_in_a_repository_makes_a_worktree_on_its_branch(
    service: WorkspaceService, docker: FakeBackend, repo: Path
) -> None:
    await service.create(options("web", repo))

    tree = repo / ".worktree" / "web"
    assert (tree / "README.md").read_text() == "hello\n"
    assert "nexus/web" in branches(repo)
    record = service.ctx.store.get("web")
    assert record.local_path == str(tree) and record.branch == "nexus/web"
    assert record.metadata["worktree"]["path"] == str(tree)
    request = docker.resources["web"].request
    assert request is not None and request.source_path == tree
    assert request.git_config["user.email"] == "dev@example.com"
    assert request.mounts  # the repository's git data, laid out by nexus.vcs.isolation


def assert_nothing_left(service: WorkspaceService, docker: FakeBackend, repo: Path) -> None:
    assert service.ctx.store.find("web") is None
    assert ports_of(service, "web") == []
    assert "web" not in docker.resources
    assert not host_key_file(service, "web").exists()
    assert "nexus-web" not in ssh_config(service)
    assert not (repo / ".worktree" / "web").exists()
    assert "nexus/web" not in branches(repo)
    assert str(repo / ".worktree" / "web") not in git(repo, "worktree", "list").stdout


async def test_a_failed_backend_create_is_rolled_back(
    service: WorkspaceService, docker: FakeBackend, repo: Path
) -> None:
    docker.fail("create", engine_down(), after=True)  # it made the workspace, then failed

    with pytest.raises(NexusError) as raised:
        await service.create(options("web", repo))

    assert raised.value.code == ErrorCode.DOCKER_ERROR
    assert docker.called("delete") == ["web"]
    assert_nothing_left(service, docker, repo)
    # the name is free again
    docker.heal("create")
    assert (await service.create(options("web", repo))).status is WorkspaceStatus.RUNNING


async def test_a_create_cancelled_mid_backend_create_is_rolled_back(
    service: WorkspaceService, docker: FakeBackend, repo: Path
) -> None:
    pause = docker.pause("create", after=True)
    task = asyncio.create_task(service.create(options("web", repo)))
    await reach(pause, task)
    # the moment of the cancel: the record, its port, its worktree and its key all exist
    assert service.ctx.store.get("web").status is WorkspaceStatus.CREATING
    assert ports_of(service, "web") == [docker.resources["web"].port]
    assert (repo / ".worktree" / "web").is_dir()
    assert host_key_file(service, "web").exists()

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert docker.called("delete") == ["web"]
    assert_nothing_left(service, docker, repo)


async def test_a_create_whose_sshd_never_greets_is_rolled_back(
    service: WorkspaceService, docker: FakeBackend, home: Home
) -> None:
    service.ctx.config.ssh.connect_timeout = 1  # how long the wait goes on (a second here)
    pause = docker.pause("create", after=True)
    task = asyncio.create_task(service.create(options("web", home.project)))
    await reach(pause, task)
    docker.resources["web"].greets = False  # its port answers, its sshd never does
    pause.release()

    with pytest.raises(NexusError) as raised:
        await task

    assert raised.value.code == ErrorCode.SSH_CONNECTION_FAILED
    assert service.ctx.store.find("web") is None and ports_of(service, "web") == []
    assert "nexus-web" not in ssh_config(service)
    assert not host_key_file(service, "web").exists()


async def test_a_create_failing_before_the_backend_records_nothing(
    service: WorkspaceService, docker: FakeBackend, home: Home
) -> None:
    docker.fail("ensure_ready", NexusError(ErrorCode.DOCKER_UNAVAILABLE, "no engine", "Start it."))

    with pytest.raises(NexusError) as raised:
        await service.create(options("web", home.project))

    assert raised.value.code == ErrorCode.DOCKER_UNAVAILABLE
    assert service.ctx.store.find("web") is None
    assert docker.called("create") == [] and not host_key_file(service, "web").exists()


async def test_a_failed_cleanup_keeps_the_record_as_error(
    service: WorkspaceService, docker: FakeBackend, repo: Path
) -> None:
    docker.fail("create", engine_down(), after=True)
    docker.fail("delete", NexusError(ErrorCode.DOCKER_UNAVAILABLE, "engine gone", "Start it."))
    progress = RecordingProgress()

    with pytest.raises(NexusError) as raised:
        await service.create(options("web", repo), progress)

    assert raised.value.code == ErrorCode.DOCKER_ERROR  # the create's error, not the cleanup's
    record = service.ctx.store.get("web")
    assert record.status is WorkspaceStatus.ERROR and record.owner is None
    assert "web" in docker.resources  # what it made may still exist: the record says so
    assert ports_of(service, "web") == [docker.resources["web"].port]
    assert (repo / ".worktree" / "web").is_dir() and "nexus/web" in branches(repo)
    assert any("could not remove what the failed create made" in w for w in progress.warnings)

    # once the backend is back, delete finishes the job
    docker.heal("delete")
    await service.delete("web")
    assert_nothing_left(service, docker, repo)


async def test_a_second_create_of_the_same_name_is_refused_and_harms_nothing(
    service: WorkspaceService, docker: FakeBackend, home: Home
) -> None:
    first = await service.create(options("web", home.project))

    with pytest.raises(NexusError) as raised:
        await service.create(options("web", home.project))

    assert raised.value.code == ErrorCode.WORKSPACE_EXISTS
    assert docker.called("create") == ["web"] and docker.called("delete") == []
    kept = service.ctx.store.get("web")
    assert kept.status is WorkspaceStatus.RUNNING and kept.ssh_port == first.ssh_port
    assert host_key_file(service, "web").exists() and "Host nexus-web\n" in ssh_config(service)
    assert service.ctx.store.get("web").backend is BackendType.DOCKER
