"""Create options a backend does not take, and resources out of range, are refused before
anything is made; the messages name options by their labels, never by a CLI flag (an editor
user reads them too)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from nexus.domain.errors import ErrorCode, NexusError
from nexus.domain.kinds import BackendType
from nexus.service.workspaces import WorkspaceService

from .conftest import Home, options
from .fake_backend import FakeBackend


async def refused(service: WorkspaceService, **fields: Any) -> NexusError:
    with pytest.raises(NexusError) as raised:
        await service.create(options("web", **fields))
    error = raised.value
    assert error.code == ErrorCode.INVALID_ARGUMENT
    assert "--" not in error.message and "--" not in error.resolution
    # nothing was made, nor was the backend asked anything
    assert service.ctx.store.find("web") is None
    assert not (service.ctx.paths.host_keys_dir / "web_ed25519").exists()
    return error


@pytest.fixture
def both(docker: FakeBackend, daytona: FakeBackend) -> list[FakeBackend]:
    return [docker, daytona]


def untouched(fakes: list[FakeBackend]) -> bool:
    return all(fake.calls == [] for fake in fakes)


async def test_an_option_only_another_backend_takes_is_named_by_its_label(
    service: WorkspaceService, both: list[FakeBackend]
) -> None:
    error = await refused(service, backend=BackendType.DOCKER, region="eu")

    assert error.message == "the docker backend does not take: region"
    assert error.resolution == "Choose the daytona backend, or leave those options out."
    assert error.options == ("backend", "region")
    assert untouched(both)


async def test_every_refused_option_is_named(
    service: WorkspaceService, both: list[FakeBackend]
) -> None:
    error = await refused(
        service,
        backend=BackendType.DOCKER,
        ephemeral=True,
        auto_stop_minutes=30,
        git_url="https://example.com/repo.git",
        env={"A": "1"},
    )

    named = error.message.removeprefix("the docker backend does not take: ").split(", ")
    # env is given too: Docker takes it (the container's environment)
    assert set(named) == {"auto-stop", "ephemeral", "git URL to clone"}
    assert set(error.options) == {"backend", "auto_stop_minutes", "ephemeral", "git_url"}
    assert "daytona" in error.resolution
    assert untouched(both)


async def test_a_local_folder_on_a_backend_that_syncs_needs_mutagen(
    service: WorkspaceService,
    both: list[FakeBackend],
    home: Home,
) -> None:
    """Daytona takes a local folder by syncing it: without Mutagen that is SYNC_FAILED, before
    the backend is asked anything."""
    service.ctx.config.sync.mutagen_path = str(home.home / "no-mutagen-here")
    with pytest.raises(NexusError) as raised:
        await service.create(options("web", backend=BackendType.DAYTONA, source=home.project))
    assert raised.value.code == ErrorCode.SYNC_FAILED
    assert "sync.mutagen_path" in raised.value.message and raised.value.resolution
    assert service.ctx.store.find("web") is None
    assert untouched(both)


async def test_a_worktree_base_needs_a_repository(
    service: WorkspaceService, both: list[FakeBackend], home: Home
) -> None:
    """A base for the worktree, from a plain folder: refused on both backends before anything is
    made (Daytona checks that it could sync first, and it could not here either)."""
    error = await refused(service, backend=BackendType.DOCKER, source=home.project, base="main")
    assert error.message == "a worktree base needs the source folder to be inside a git repository"
    assert error.options == ("base",)


async def test_options_one_backend_takes_together(
    service: WorkspaceService, both: list[FakeBackend]
) -> None:
    error = await refused(service, backend=BackendType.DOCKER, region="eu", base="main")

    # region is a Daytona option and Daytona takes a worktree base too: it is named
    assert error.message == "the docker backend does not take: region"
    assert error.resolution == "Choose the daytona backend, or leave those options out."


async def test_whole_resources_on_a_backend_that_wants_them(
    service: WorkspaceService, both: list[FakeBackend]
) -> None:
    error = await refused(service, backend=BackendType.DAYTONA, cpu=1.5, memory_gb=2.5)

    assert error.message == "the daytona backend takes whole numbers for cpu, memory"
    assert error.options == ("cpu", "memory_gb")
    assert untouched(both)


async def test_fractions_are_fine_where_the_facts_allow_them(
    service: WorkspaceService, docker: FakeBackend, home: Home
) -> None:
    created = await service.create(options("web", home.project, cpu=1.5, memory_gb=0.5))

    assert created.resources.cpu == 1.5 and created.resources.memory_gb == 0.5
    request = docker.resources["web"].request
    assert request is not None and request.resources.cpu == 1.5


@pytest.mark.parametrize(
    ("field", "value", "what", "message"),
    [
        ("cpu", 0.0, "cpu", "cpu must be a positive number (got 0.0)"),
        ("cpu", math.nan, "cpu", "cpu must be a positive number (got nan)"),
        ("memory_gb", -1.0, "memory", "memory must be a positive number (got -1.0)"),
        ("memory_gb", 0.01, "memory", "memory must be between 0.0625 and 65536 GB (got 0.01)"),
        ("cpu", 2000.0, "cpu", "cpu must be between 0.01 and 1024 CPUs (got 2000)"),
        ("disk_gb", math.inf, "disk", "disk must be a positive number (got inf)"),
    ],
)
async def test_resources_out_of_range(
    service: WorkspaceService,
    both: list[FakeBackend],
    home: Home,
    field: str,
    value: float,
    what: str,
    message: str,
) -> None:
    error = await refused(service, source=home.project, **{field: value})

    assert error.message == message
    assert error.options == (field,)
    assert untouched(both)


async def test_a_git_branch_without_a_url(
    service: WorkspaceService, both: list[FakeBackend]
) -> None:
    error = await refused(service, backend=BackendType.DAYTONA, git_branch="dev")

    assert error.message == "a git branch needs a git URL to clone"
    assert error.options == ("git_url", "git_branch")


async def test_a_negative_auto_stop(service: WorkspaceService, both: list[FakeBackend]) -> None:
    error = await refused(service, backend=BackendType.DAYTONA, auto_stop_minutes=-5)

    assert error.options == ("auto_stop_minutes",)
    assert untouched(both)
