"""``list`` and ``refresh`` against what the backends say: the store follows the backend, except
where an operation in flight owns the status, a create never finished, or a backend cannot answer."""

from __future__ import annotations

import asyncio

import pytest

from nexus.domain.errors import ErrorCode, NexusError
from nexus.domain.kinds import BackendType, WorkspaceStatus
from nexus.domain.models import Workspace
from nexus.ownership import current_owner
from nexus.service.workspaces import CREATE_INTERRUPTED, WorkspaceService

from .conftest import Home, options, seed
from .fake_backend import FakeBackend


def by_name(workspaces: list[Workspace]) -> dict[str, WorkspaceStatus]:
    return {ws.name: ws.status for ws in workspaces}


async def test_list_records_what_the_backend_says(
    service: WorkspaceService, docker: FakeBackend, home: Home
) -> None:
    for name in ("a", "b", "c"):
        await service.create(options(name, home.project))
    # behind Nexus's back: one stopped, one removed, one paused
    docker.resources["a"].status = WorkspaceStatus.STOPPED
    del docker.resources["b"]
    docker.resources["c"].status = WorkspaceStatus.PAUSED
    calls = len(docker.calls)

    listed = await service.list(refresh=True)

    expected = {
        "a": WorkspaceStatus.STOPPED,
        "b": WorkspaceStatus.MISSING,
        "c": WorkspaceStatus.PAUSED,
    }
    assert by_name(listed) == expected
    assert by_name(service.ctx.store.list()) == expected
    assert [m for m, _ in docker.calls[calls:]] == ["get_statuses"]  # one round trip for all


async def test_list_without_refresh_asks_no_backend(
    service: WorkspaceService, docker: FakeBackend, home: Home
) -> None:
    await service.create(options("web", home.project))
    docker.resources["web"].status = WorkspaceStatus.STOPPED
    calls = len(docker.calls)

    listed = await service.list(refresh=False)

    assert by_name(listed) == {"web": WorkspaceStatus.RUNNING}
    assert len(docker.calls) == calls


async def test_an_in_flight_workspace_keeps_its_status(
    service: WorkspaceService, docker: FakeBackend, home: Home
) -> None:
    await service.create(options("web", home.project))
    service.ctx.store.update("web", status=WorkspaceStatus.STOPPING)  # this live process owns it
    assert service.ctx.store.get("web").owner == current_owner()
    docker.resources["web"].status = WorkspaceStatus.STOPPED

    listed = await service.list(refresh=True)
    refreshed = await service.refresh("web")

    assert by_name(listed) == {"web": WorkspaceStatus.STOPPING}
    assert refreshed.status is WorkspaceStatus.STOPPING
    assert service.ctx.store.get("web").status is WorkspaceStatus.STOPPING


async def test_a_stale_transition_is_reconciled(
    service: WorkspaceService, docker: FakeBackend, home: Home, dead_owner: str
) -> None:
    await service.create(options("web", home.project))
    service.ctx.store.update("web", status=WorkspaceStatus.STOPPING)
    service.ctx.store.update("web", owner=dead_owner)
    docker.resources["web"].status = WorkspaceStatus.STOPPED

    listed = await service.list(refresh=True)

    assert by_name(listed) == {"web": WorkspaceStatus.STOPPED}
    record = service.ctx.store.get("web")
    assert record.status is WorkspaceStatus.STOPPED and record.owner is None


async def test_an_interrupted_create_shows_error_with_the_flag(
    service: WorkspaceService, docker: FakeBackend, dead_owner: str
) -> None:
    # its process died after the backend made the workspace, before the record was complete
    seed(service, "web", BackendType.DOCKER, WorkspaceStatus.CREATING)
    await docker.adopt("web", WorkspaceStatus.RUNNING)  # its port is recorded under the name
    service.ctx.store.update("web", owner=dead_owner)

    listed = await service.list(refresh=True)

    assert by_name(listed) == {"web": WorkspaceStatus.ERROR}  # whatever its container does
    assert listed[0].metadata[CREATE_INTERRUPTED] is True
    record = service.ctx.store.get("web")
    assert record.status is WorkspaceStatus.ERROR and record.metadata[CREATE_INTERRUPTED] is True

    # it stays error even once the container runs, and only delete finishes it
    assert by_name(await service.list(refresh=True)) == {"web": WorkspaceStatus.ERROR}
    for operation in (service.start("web"), service.stop("web")):
        with pytest.raises(NexusError) as raised:
            await operation
        assert raised.value.code == ErrorCode.WORKSPACE_INCOMPLETE
    assert docker.called("start") == [] and docker.called("stop") == []
    await service.delete("web")
    assert service.ctx.store.find("web") is None and "web" not in docker.resources


async def test_a_create_that_finished_during_the_listing_is_not_taken_for_interrupted(
    service: WorkspaceService, docker: FakeBackend, dead_owner: str
) -> None:
    """The listing read the record while another process was creating it; that create ended
    and its process exited before the listing reconciled: the workspace is running, not cut
    short."""
    seed(service, "web", BackendType.DOCKER, WorkspaceStatus.CREATING)
    await docker.adopt("web", WorkspaceStatus.RUNNING)
    service.ctx.store.update("web", owner=dead_owner)  # gone by the time the listing looks
    pause = docker.pause("get_statuses")
    listing = asyncio.create_task(service.list(refresh=True))
    await pause.entered.wait()  # the records are read: "web" is creating
    service.ctx.store.update("web", status=WorkspaceStatus.RUNNING)  # the create's last write
    pause.release()

    assert by_name(await listing) == {"web": WorkspaceStatus.RUNNING}
    record = service.ctx.store.get("web")
    assert record.status is WorkspaceStatus.RUNNING
    assert CREATE_INTERRUPTED not in record.metadata


async def test_a_create_in_flight_is_not_interrupted(
    service: WorkspaceService, docker: FakeBackend
) -> None:
    seed(service, "web", BackendType.DOCKER, WorkspaceStatus.CREATING)  # owned by this process

    listed = await service.list(refresh=True)

    assert by_name(listed) == {"web": WorkspaceStatus.CREATING}
    assert CREATE_INTERRUPTED not in service.ctx.store.get("web").metadata


async def test_a_backend_that_cannot_answer_shows_unknown_without_recording_it(
    service: WorkspaceService, docker: FakeBackend, daytona: FakeBackend, home: Home
) -> None:
    await service.create(options("web", home.project))
    await daytona.adopt("cloud", WorkspaceStatus.STOPPED, serve=False)
    seed(service, "cloud", BackendType.DAYTONA, WorkspaceStatus.RUNNING)
    docker.fail("get_statuses", NexusError(ErrorCode.DOCKER_UNAVAILABLE, "no engine", "Start it."))

    listed = await service.list(refresh=True)

    # the other backend still answers, and is recorded
    assert by_name(listed) == {"web": WorkspaceStatus.UNKNOWN, "cloud": WorkspaceStatus.STOPPED}
    assert by_name(service.ctx.store.list()) == {
        "web": WorkspaceStatus.RUNNING,
        "cloud": WorkspaceStatus.STOPPED,
    }


async def test_refresh_of_one_says_what_the_backend_cannot(
    service: WorkspaceService, docker: FakeBackend, home: Home
) -> None:
    await service.create(options("web", home.project))
    docker.fail("get_status", NexusError(ErrorCode.DOCKER_UNAVAILABLE, "no engine", "Start it."))

    with pytest.raises(NexusError) as raised:
        await service.refresh("web")

    assert raised.value.code == ErrorCode.DOCKER_UNAVAILABLE
    assert service.ctx.store.get("web").status is WorkspaceStatus.RUNNING


async def test_list_names_what_the_backend_has_without_a_record(
    service: WorkspaceService, docker: FakeBackend, home: Home
) -> None:
    await service.create(options("web", home.project))
    await docker.adopt("ghost", WorkspaceStatus.RUNNING, serve=False)  # a lost store's workspace

    listed = await service.list(refresh=True)

    assert by_name(listed) == {"web": WorkspaceStatus.RUNNING}
    assert service.unrecorded == ("ghost",)
    assert service.ctx.store.find("ghost") is None
