"""An in-memory backend that honours the ``Backend`` protocol, for the service's own tests.

Each workspace it makes is an entry in ``resources`` with a status and, until it is deleted, a
small asyncio server on 127.0.0.1 that greets with an SSH banner while the workspace runs: the
service's readiness wait for ``ssh_ready == "banner"`` backends succeeds without an sshd. Its port
comes from the state store (the ``PortAllocator``), as a real backend's does. Every call is recorded in ``calls``; any step
can be made to fail (``fail``) or to wait until released (``pause``), which lets a test cancel an
operation at that exact point.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nexus.domain.backend import Backend, BackendFacts, PortAllocator
from nexus.domain.errors import ErrorCode, NexusError
from nexus.domain.kinds import BackendType, WorkspaceStatus
from nexus.domain.models import (
    AutoStop,
    BackendCapabilities,
    CreateRequest,
    ProvisionedWorkspace,
    ProvisionKeys,
    ResourceStats,
    SSHConnection,
    Workspace,
)
from nexus.domain.progress import Progress
from nexus.domain.recovery import FoundResource, RebuiltAccess

if TYPE_CHECKING:
    from nexus.domain.lsp import LanguageServerLink
    from nexus.domain.provider import OpContext, OperationSpec, OpParams, OpResult

BANNER = b"SSH-2.0-Fake\r\n"
SSH_PURPOSE = "ssh"
PORT_RANGE = (45000, 45999)  # apart from the Docker backend's default range
PORT_ATTEMPTS = 20


@dataclass
class Pause:
    """A step held open: ``entered`` is set when the backend reaches it, ``release`` lets it go."""

    after: bool
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        self.released.set()


@dataclass
class Failure:
    error: BaseException
    after: bool  # raised once the step's effect is done (a backend failing half-way)


@dataclass
class Resource:
    """What the fake holds for one workspace (its "container")."""

    name: str
    status: WorkspaceStatus
    port: int | None
    backend_id: str
    ephemeral: bool = False
    greets: bool = True  # False (or stopped): its port answers, then closes before the banner
    request: CreateRequest | None = None
    keys: ProvisionKeys | None = None


class FakeBackend:
    """A ``Backend`` keeping its workspaces in memory (one per test; close it with ``aclose``)."""

    def __init__(self, backend_type: BackendType, facts: BackendFacts, ports: PortAllocator):
        self.type = backend_type
        self.facts = facts
        self._ports = ports
        self.resources: dict[str, Resource] = {}
        self.calls: list[tuple[str, str | None]] = []  # (method, workspace name)
        self._failures: dict[str, Failure] = {}
        self._pauses: dict[str, Pause] = {}
        self._servers: dict[str, asyncio.Server] = {}
        self._made = 0

    # ---- what a test sets up ------------------------------------------------------------------
    def fail(self, step: str, error: BaseException, *, after: bool = False) -> None:
        """Make every later call of ``step`` raise ``error`` (before or after its effect)."""
        self._failures[step] = Failure(error, after)

    def heal(self, step: str) -> None:
        self._failures.pop(step, None)

    def pause(self, step: str, *, after: bool = False) -> Pause:
        """Hold the next call of ``step`` until released (or cancelled)."""
        pause = Pause(after)
        self._pauses[step] = pause
        return pause

    def called(self, method: str) -> list[str | None]:
        """The workspace names ``method`` was called for, in order."""
        return [name for called, name in self.calls if called == method]

    async def adopt(
        self, name: str, status: WorkspaceStatus, *, serve: bool = True, ephemeral: bool = False
    ) -> Resource:
        """A workspace the backend has without Nexus having made it through ``create`` (a
        served one takes a port from the store: its record must exist)."""
        resource = Resource(name, status, None, self._new_id(name), ephemeral=ephemeral)
        self.resources[name] = resource
        if serve:
            await self._serve(resource)
        return resource

    async def aclose(self) -> None:
        for name in list(self._servers):
            await self._close_server(name)

    # ---- the Backend protocol -----------------------------------------------------------------
    async def ensure_ready(self) -> None:
        await self._checkpoint("ensure_ready", None, before=True)
        await self._checkpoint("ensure_ready", None, before=False)

    async def create(
        self, request: CreateRequest, keys: ProvisionKeys, progress: Progress
    ) -> ProvisionedWorkspace:
        name = request.name
        await self._checkpoint("create", name, before=True)
        progress.step("container", f"Creating fake workspace {name}")
        resource = Resource(
            name,
            WorkspaceStatus.RUNNING,
            None,
            self._new_id(name),
            ephemeral=request.ephemeral,
            request=request,
            keys=keys,
        )
        self.resources[name] = resource
        await self._serve(resource)
        await self._checkpoint("create", name, before=False)
        assert resource.port is not None
        return ProvisionedWorkspace(
            backend_id=resource.backend_id,
            image=request.image or "fake-image",
            ssh=SSHConnection(
                host="127.0.0.1",
                port=resource.port,
                username="nexus",
                host_key=keys.host_public_key,
                key_auth=not self.facts.token_auth,
            ),
            metadata={self.facts.resource_name_key: f"fake-{name}"},
        )

    async def start(self, workspace: Workspace, progress: Progress) -> None:
        await self._checkpoint("start", workspace.name, before=True)
        resource = self._require(workspace)
        await self._serve(resource)
        resource.status = WorkspaceStatus.RUNNING
        await self._checkpoint("start", workspace.name, before=False)

    async def stop(self, workspace: Workspace, progress: Progress) -> bool:
        await self._checkpoint("stop", workspace.name, before=True)
        resource = self._require(workspace)
        resource.status = WorkspaceStatus.STOPPED
        if resource.ephemeral:
            await self._drop(workspace.name)
        await self._checkpoint("stop", workspace.name, before=False)
        return resource.ephemeral

    async def delete(self, workspace: Workspace, progress: Progress) -> None:
        await self._checkpoint("delete", workspace.name, before=True)
        await self._drop(workspace.name)
        await self._checkpoint("delete", workspace.name, before=False)

    async def get_ssh_connection(
        self, workspace: Workspace, *, renew: bool = False
    ) -> SSHConnection:
        self.calls.append(("get_ssh_connection", workspace.name))
        if workspace.ssh_port is None:
            raise NexusError(
                ErrorCode.SSH_CONNECTION_FAILED,
                f"workspace '{workspace.name}' has no SSH endpoint yet",
                "Wait for the create to finish.",
            )
        return SSHConnection(
            host=workspace.ssh_host or "127.0.0.1",
            port=workspace.ssh_port,
            username=workspace.ssh_user or "nexus",
            host_key=workspace.host_key,
            key_auth=not self.facts.token_auth,
        )

    async def get_status(self, workspace: Workspace) -> WorkspaceStatus:
        await self._checkpoint("get_status", workspace.name, before=True)
        return self._status_of(workspace.name)

    async def get_statuses(self, workspaces: list[Workspace]) -> dict[str, WorkspaceStatus]:
        await self._checkpoint("get_statuses", None, before=True)
        return {ws.name: self._status_of(ws.name) for ws in workspaces}

    async def get_resource_stats(self, workspace: Workspace) -> ResourceStats | None:
        self.calls.append(("get_resource_stats", workspace.name))
        return ResourceStats(cpu_percent=1.0)

    async def open_language_server(
        self, workspace: Workspace, language: str, root: str
    ) -> LanguageServerLink | None:
        """None: `nexus lsp` runs the configured language server over SSH."""
        return None

    def get_capabilities(self) -> BackendCapabilities:
        return BackendCapabilities()

    async def execute_provider_specific(
        self, context: OpContext, operation: OperationSpec, params: OpParams
    ) -> OpResult:
        raise NexusError(
            ErrorCode.CAPABILITY_NOT_SUPPORTED,
            "the fake backend has no escape hatches",
            "Use the common commands.",
        )

    def unrecorded(self, recorded: set[str]) -> list[str]:
        """Workspaces it has that Nexus has no record of."""
        return sorted(set(self.resources) - recorded)

    def observed_auto_stop(self, name: str) -> AutoStop | None:
        return None  # its workspaces never stop themselves

    async def keep_alive(self, workspace: Workspace) -> AutoStop | None:
        return None

    async def list_resources(self) -> list[FoundResource]:
        self.calls.append(("list_resources", None))
        return [
            FoundResource(
                name=r.name,
                backend=self.type,
                backend_id=r.backend_id,
                resource_name=f"fake-{r.name}",
                labels={},
                status=r.status,
                ssh_port=r.port,
            )
            for r in self.resources.values()
        ]

    async def rebuild_access(
        self, found: FoundResource, kept_host_key: str | None
    ) -> RebuiltAccess:
        self.calls.append(("rebuild_access", found.name))
        fields: dict[str, object] = {"ssh_host": "127.0.0.1", "ssh_port": found.ssh_port}
        if kept_host_key:
            fields["host_key"] = kept_host_key
        ports = {"ssh": found.ssh_port} if found.ssh_port is not None else {}
        return RebuiltAccess(fields=fields, ports=ports)

    # ---- internals ----------------------------------------------------------------------------
    async def _checkpoint(self, step: str, name: str | None, *, before: bool) -> None:
        if before:
            self.calls.append((step, name))
        pause = self._pauses.get(step)
        if pause is not None and pause.after is not before:
            del self._pauses[step]
            pause.entered.set()
            await pause.released.wait()
        failure = self._failures.get(step)
        if failure is not None and failure.after is not before:
            raise failure.error

    def _new_id(self, name: str) -> str:
        self._made += 1
        return f"fake-{name}-{self._made}"

    def _require(self, workspace: Workspace) -> Resource:
        resource = self.resources.get(workspace.name)
        if resource is None:
            raise NexusError(
                ErrorCode.WORKSPACE_MISSING,
                f"the fake workspace of '{workspace.name}' is gone",
                "Delete it and create it again.",
            )
        return resource

    def _status_of(self, name: str) -> WorkspaceStatus:
        resource = self.resources.get(name)
        return resource.status if resource is not None else WorkspaceStatus.MISSING

    async def _drop(self, name: str) -> None:
        await self._close_server(name)
        if self.resources.pop(name, None) is not None:
            self._ports.release_ports(name)

    async def _serve(self, resource: Resource) -> None:
        """Listen on the resource's port (one from the store the first time) until it is deleted:
        a stopped one keeps its port, as a stopped container does, but greets no one."""
        if resource.name in self._servers:
            return
        if resource.port is not None:
            self._servers[resource.name] = await _banner_server(resource)
            return
        tried: set[int] = set()
        for attempt in range(1, PORT_ATTEMPTS + 1):
            resource.port = self._ports.allocate_port(
                resource.name, SSH_PURPOSE, *PORT_RANGE, tried
            )
            try:
                self._servers[resource.name] = await _banner_server(resource)
            except OSError:  # taken between the store's probe and our bind
                self._ports.release_ports(resource.name)
                tried.add(resource.port)
                resource.port = None
                if attempt == PORT_ATTEMPTS:
                    raise
                continue
            return

    async def _close_server(self, name: str) -> None:
        server = self._servers.pop(name, None)
        if server is not None:
            server.close()
            with contextlib.suppress(Exception):
                await server.wait_closed()


async def _banner_server(resource: Resource) -> asyncio.Server:
    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if resource.greets and resource.status is WorkspaceStatus.RUNNING:
                writer.write(BANNER)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    return await asyncio.start_server(greet, "127.0.0.1", resource.port)


def _honours_the_protocol(fake: FakeBackend) -> Backend:
    return fake  # mypy checks the fake against the protocol here
