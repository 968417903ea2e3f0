"""The Backend protocol (PRD §2.2): lifecycle + SSH endpoint as the common abstraction, escape hatches beside it."""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from .kinds import BackendType, WorkspaceStatus

if TYPE_CHECKING:
    from .lsp import LanguageServerLink
    from .models import (
        AutoStop,
        BackendCapabilities,
        CreateRequest,
        ProvisionedWorkspace,
        ProvisionKeys,
        ResourceStats,
        SSHConnection,
        Workspace,
    )
    from .progress import Progress
    from .provider import OpContext, OperationSpec, OpParams, OpResult
    from .recovery import FoundResource, RebuiltAccess


@dataclass(frozen=True)
class BackendFacts:
    """What the service needs to know of a backend without building it (no SDK, no API key)."""

    # binds the source folder (or its git worktree) into the workspace at create
    mounts_local_folder: bool
    # backend-specific CreateOptions fields it takes (nexus.domain.create_options)
    create_options: frozenset[str]
    # the SSH user name is an expiring access token (kept in a file of its own), not a key login
    token_auth: bool
    # "banner": sshd's banner means a login works (Nexus's image starts sshd last, keys in
    # place); "login": only a login tells (a gateway answers before the workspace does)
    ssh_ready: Literal["banner", "login"]
    # cpu, memory and disk in whole numbers only
    whole_resources: bool
    # what backs a workspace ("container", "sandbox") and how a user removes one by hand
    resource_kind: str
    cleanup_command: str  # formatted with {ref}
    # the record key holding the resource's name, when it was recorded
    resource_name_key: str
    # a setting of its config section without which it holds nothing (recover skips it)
    required_setting: str | None = None
    # the error code for a workspace found stopped where it must run (None: the generic one)
    stopped_code: str | None = None
    # the error code when its API does not answer (an escape hatch with no fallback, or none
    # allowed)
    unavailable_code: str = "INTERNAL_ERROR"
    # escape hatches that copy many files faster than tar over SSH: (upload id, download id),
    # used by `workspace cp` above the count at the config key ``bulk_copy_threshold``
    bulk_copy: tuple[str, str] | None = None
    bulk_copy_threshold: str = ""
    # a local source folder (or its git worktree) given at create is kept in step with the
    # workspace by a Mutagen sync (nexus.service.sync), where it cannot be mounted
    syncs_local_folder: bool = False

    @property
    def takes_local_folder(self) -> bool:
        return self.mounts_local_folder or self.syncs_local_folder


class PortAllocator(Protocol):
    """Hands out host ports unique across every workspace and process (the state store does this)."""

    def allocate_port(
        self, name: str, purpose: str, low: int, high: int, exclude: AbstractSet[int] = ...
    ) -> int: ...

    def release_ports(self, name: str) -> None: ...


class Backend(Protocol):
    """A place workspaces live. Methods take the stored ``Workspace`` so backends stay stateless."""

    type: BackendType
    facts: BackendFacts

    async def ensure_ready(self) -> None:
        """Fail fast (before anything is recorded) if the backend cannot be reached or used."""
        ...

    async def create(
        self, request: CreateRequest, keys: ProvisionKeys, progress: Progress
    ) -> ProvisionedWorkspace: ...

    async def start(self, workspace: Workspace, progress: Progress) -> None: ...

    async def stop(self, workspace: Workspace, progress: Progress) -> bool:
        """Stop it; True when stopping removed it (an ephemeral sandbox): the record goes too."""
        ...

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

    async def list_resources(self) -> list[FoundResource]:
        """Every container / sandbox of this installation (``workspace recover``)."""
        ...

    async def rebuild_access(
        self, found: FoundResource, kept_host_key: str | None
    ) -> RebuiltAccess:
        """SSH access for a record being rebuilt from ``found`` (``kept_host_key``: the host key
        Nexus generated for that workspace name and kept under NEXUS_HOME, if any)."""
        ...

    def unrecorded(self, recorded: set[str]) -> list[str]:
        """Workspaces of this installation the last ``get_statuses`` saw with no name in
        ``recorded`` (a lost or replaced state store: ``workspace recover`` rebuilds them)."""
        ...

    def observed_auto_stop(self, name: str) -> AutoStop | None:
        """When workspace ``name`` will stop itself, as the last status read of it said (None:
        it never does, or no read saw it running)."""
        ...

    async def keep_alive(self, workspace: Workspace) -> AutoStop | None:
        """Record activity in a running workspace now, postponing its auto-stop; the new
        deadline (None: it never stops itself)."""
        ...

    def get_capabilities(self) -> BackendCapabilities: ...

    async def open_language_server(
        self, workspace: Workspace, language: str, root: str
    ) -> LanguageServerLink | None:
        """The backend's own language server for ``language`` over the workspace folder
        ``root``; None: it has none, and ``nexus lsp`` runs the configured command over SSH."""
        ...

    async def execute_provider_specific(
        self, context: OpContext, operation: OperationSpec, params: OpParams
    ) -> OpResult:
        """Run one of this backend's escape hatches (``nexus.domain.provider``); the service has
        checked the params, the workspace's backend and the capability."""
        ...
