"""The Backend protocol (PRD §2.2): lifecycle + SSH endpoint as the common abstraction, escape hatches beside it."""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any, Protocol

from .kinds import BackendType, WorkspaceStatus

if TYPE_CHECKING:
    from .models import (
        BackendCapabilities,
        CreateRequest,
        ProviderOperation,
        ProvisionedWorkspace,
        ProvisionKeys,
        ResourceStats,
        SSHConnection,
        Workspace,
    )
    from .progress import Progress


class PortAllocator(Protocol):
    """Hands out host ports unique across every workspace and process (the state store does this)."""

    def allocate_port(
        self, name: str, purpose: str, low: int, high: int, exclude: AbstractSet[int] = ...
    ) -> int: ...

    def release_ports(self, name: str) -> None: ...


class Backend(Protocol):
    """A place workspaces live. Methods take the stored ``Workspace`` so backends stay stateless."""

    type: BackendType

    async def ensure_ready(self) -> None:
        """Fail fast (before anything is recorded) if the backend cannot be reached or used."""
        ...

    async def create(
        self, request: CreateRequest, keys: ProvisionKeys, progress: Progress
    ) -> ProvisionedWorkspace: ...

    async def start(self, workspace: Workspace, progress: Progress) -> None: ...

    async def stop(self, workspace: Workspace, progress: Progress) -> None: ...

    async def delete(self, workspace: Workspace, progress: Progress) -> None: ...

    async def get_ssh_connection(
        self, workspace: Workspace, *, renew: bool = False
    ) -> SSHConnection:
        """The endpoint; ``renew`` forces fresh credentials (the old ones were refused)."""
        ...

    async def get_status(self, workspace: Workspace) -> WorkspaceStatus: ...

    async def get_statuses(self, workspaces: list[Workspace]) -> dict[str, WorkspaceStatus]:
        """Status of many workspaces in one round trip (``list`` must stay fast)."""
        ...

    async def get_resource_stats(self, workspace: Workspace) -> ResourceStats | None: ...

    def get_capabilities(self) -> BackendCapabilities: ...

    async def execute_provider_specific(
        self, workspace: Workspace | None, operation: ProviderOperation
    ) -> Any: ...
