"""The fake honours the ``Backend`` protocol (so the service tests say something about the real
backends), and it really serves what the service waits for."""

from __future__ import annotations

import asyncio
import inspect

from nexus.domain.backend import Backend
from nexus.domain.kinds import BackendType, WorkspaceStatus
from nexus.service.workspaces import WorkspaceService

from .conftest import ports_of, seed
from .fake_backend import BANNER, FakeBackend


def protocol_members() -> list[str]:
    return [
        name
        for name in dir(Backend)
        if not name.startswith("_") and callable(getattr(Backend, name))
    ]


def test_the_fake_has_every_method_of_the_protocol_with_its_signature() -> None:
    members = protocol_members()
    assert "create" in members and "get_statuses" in members
    for name in members:
        expected, actual = getattr(Backend, name), getattr(FakeBackend, name)
        assert inspect.iscoroutinefunction(actual) == inspect.iscoroutinefunction(expected), name
        want, have = inspect.signature(expected), inspect.signature(actual)
        assert [(p.name, p.kind) for p in have.parameters.values()] == [
            (p.name, p.kind) for p in want.parameters.values()
        ], name
        assert have.return_annotation == want.return_annotation, name
    assert set(Backend.__annotations__) == {"type", "facts"}


async def test_a_served_workspace_greets_with_a_banner_on_its_recorded_port(
    service: WorkspaceService, docker: FakeBackend
) -> None:
    seed(service, "web", BackendType.DOCKER, WorkspaceStatus.RUNNING)
    resource = await docker.adopt("web", WorkspaceStatus.RUNNING)
    assert resource.port is not None and ports_of(service, "web") == [resource.port]

    reader, writer = await asyncio.open_connection("127.0.0.1", resource.port)
    try:
        assert await reader.readline() == BANNER
    finally:
        writer.close()
