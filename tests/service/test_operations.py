"""The claim and settle of lifecycle operations: one operation at a time per workspace, a
transition left by a dead process is taken over, and a failed one records what the backend says."""

from __future__ import annotations

import asyncio
import subprocess

import pytest

from nexus.domain.errors import ErrorCode, NexusError
from nexus.domain.kinds import BackendType, WorkspaceStatus
from nexus.ownership import current_owner
from nexus.service.workspaces import WorkspaceService

from .conftest import Home, host_key_file, options, owner_of, ports_of, reach, seed, ssh_config
from .fake_backend import FakeBackend


def engine_error() -> NexusError:
    return NexusError(ErrorCode.DOCKER_ERROR, "the engine timed out", "Retry.")


async def test_a_second_stop_while_one_is_in_flight_is_busy(
    service: WorkspaceService, docker: FakeBackend, home: Home
) -> None:
    await service.create(options("web", home.project))
    pause = docker.pause("stop")
    first = asyncio.create_task(service.stop("web"))
    await reach(pause, first)
    held = service.ctx.store.get("web")
    assert held.status is WorkspaceStatus.STOPPING and held.owner == current_owner()

    for second in (service.stop("web"), service.start("web"), service.delete("web")):
        with pytest.raises(NexusError) as raised:
            await second
        assert raised.value.code == ErrorCode.WORKSPACE_BUSY
        assert "stopping" in raised.value.message
    assert service.ctx.store.get("web").status is WorkspaceStatus.STOPPING

    pause.release()
    stopped = await first
    assert stopped.status is WorkspaceStatus.STOPPED
    assert service.ctx.store.get("web").owner is None
    assert docker.called("stop") == ["web"] and docker.called("start") == []
    assert (
        docker.called("delete") == [] and docker.resources["web"].status is WorkspaceStatus.STOPPED
    )


async def test_a_transition_of_a_dead_process_is_taken_over(
    service: WorkspaceService,
    docker: FakeBackend,
    home: Home,
    other_process: subprocess.Popen[bytes],
) -> None:
    await service.create(options("web", home.project))
    # another process is stopping it ...
    service.ctx.store.update("web", status=WorkspaceStatus.STOPPING)
    service.ctx.store.update("web", owner=owner_of(other_process.pid))
    with pytest.raises(NexusError) as raised:
        await service.stop("web")
    assert raised.value.code == ErrorCode.WORKSPACE_BUSY
    assert docker.called("stop") == []

    # ... until it dies half-way: its transition is stale, and this stop takes it over
    other_process.kill()
    other_process.wait()
    stopped = await service.stop("web")

    assert stopped.status is WorkspaceStatus.STOPPED and stopped.owner is None
    assert docker.called("stop") == ["web"]
    assert docker.resources["web"].status is WorkspaceStatus.STOPPED


async def test_a_stale_start_is_taken_over_by_start(
    service: WorkspaceService, docker: FakeBackend, home: Home, dead_owner: str
) -> None:
    await service.create(options("web", home.project))
    await service.stop("web")
    service.ctx.store.update("web", status=WorkspaceStatus.STARTING)
    service.ctx.store.update("web", owner=dead_owner)

    started = await service.start("web")

    assert started.status is WorkspaceStatus.RUNNING and started.owner is None
    assert docker.called("start") == ["web"]
    assert docker.resources["web"].status is WorkspaceStatus.RUNNING


async def test_a_failed_stop_settles_to_what_the_backend_says(
    service: WorkspaceService, docker: FakeBackend, home: Home
) -> None:
    await service.create(options("web", home.project))
    docker.fail("stop", engine_error())  # nothing stopped

    with pytest.raises(NexusError) as raised:
        await service.stop("web")

    assert raised.value.code == ErrorCode.DOCKER_ERROR
    record = service.ctx.store.get("web")
    assert record.status is WorkspaceStatus.RUNNING and record.owner is None
    assert docker.called("get_status") == ["web"]


async def test_a_stop_failing_after_it_stopped_settles_to_stopped(
    service: WorkspaceService, docker: FakeBackend, home: Home
) -> None:
    await service.create(options("web", home.project))
    docker.fail("stop", engine_error(), after=True)  # stopped, then the answer was lost

    with pytest.raises(NexusError):
        await service.stop("web")

    record = service.ctx.store.get("web")
    assert record.status is WorkspaceStatus.STOPPED and record.owner is None


async def test_a_failed_stop_the_backend_cannot_tell_goes_back(
    service: WorkspaceService, docker: FakeBackend, home: Home
) -> None:
    await service.create(options("web", home.project))
    docker.fail("stop", engine_error(), after=True)
    docker.fail("get_status", NexusError(ErrorCode.DOCKER_UNAVAILABLE, "gone", "Start it."))

    with pytest.raises(NexusError):
        await service.stop("web")

    # the status it had before the stop, never the transition
    record = service.ctx.store.get("web")
    assert record.status is WorkspaceStatus.RUNNING and record.owner is None


async def test_a_cancelled_start_settles(
    service: WorkspaceService, docker: FakeBackend, home: Home
) -> None:
    await service.create(options("web", home.project))
    await service.stop("web")
    pause = docker.pause("start", after=True)  # it started, then the caller went away
    task = asyncio.create_task(service.start("web"))
    await reach(pause, task)
    assert service.ctx.store.get("web").status is WorkspaceStatus.STARTING

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    record = service.ctx.store.get("web")
    assert record.status is WorkspaceStatus.RUNNING and record.owner is None


async def test_start_and_stop_round_trip_keep_the_endpoint(
    service: WorkspaceService, docker: FakeBackend, home: Home
) -> None:
    created = await service.create(options("web", home.project))
    await service.stop("web")
    assert f"Port {created.ssh_port}" in ssh_config(service)  # a stopped workspace keeps it

    started = await service.start("web")

    assert started.status is WorkspaceStatus.RUNNING and started.ssh_port == created.ssh_port
    assert docker.called("get_ssh_connection").count("web") >= 2  # create's and start's wait


async def test_an_ephemeral_workspace_removed_by_stop_loses_its_record(
    service: WorkspaceService, daytona: FakeBackend
) -> None:
    await daytona.adopt("tmp", WorkspaceStatus.RUNNING, serve=False, ephemeral=True)
    seed(
        service,
        "tmp",
        BackendType.DAYTONA,
        WorkspaceStatus.RUNNING,
        ssh_host="ssh.fake.test",
        ssh_port=2222,
        ssh_user="token-123",
    )
    service.ssh_files.refresh()
    token_file = service.ctx.paths.token_file("tmp")
    assert token_file.read_text() == "User token-123\n"
    assert "Host nexus-tmp\n" in ssh_config(service)

    gone = await service.stop("tmp")

    assert gone.status is WorkspaceStatus.MISSING
    assert daytona.called("stop") == ["tmp"] and "tmp" not in daytona.resources
    assert service.ctx.store.find("tmp") is None
    assert not token_file.exists() and "nexus-tmp" not in ssh_config(service)
    assert ports_of(service, "tmp") == [] and not host_key_file(service, "tmp").exists()
