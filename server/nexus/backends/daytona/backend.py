"""The Daytona backend: sandboxes through the `daytona` SDK, reached over the Daytona SSH gateway."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from ...asyncutil import run_blocking
from ...config.schema import DaytonaSettings
from ...domain.errors import ErrorCode, NexusError, provider_operation_unavailable
from ...domain.models import (
    BackendCapabilities,
    BackendType,
    CreateRequest,
    ProviderOperation,
    ProvisionedWorkspace,
    ProvisionKeys,
    ResourceStats,
    SSHConnection,
    Workspace,
    WorkspaceStatus,
)
from ...domain.progress import Progress
from ...redact import register_secret
from . import errors
from .ssh_access import needs_renewal, parse_ssh_command, token_record
from .states import to_status

log = logging.getLogger(__name__)

LABEL_WORKSPACE = "nexus.workspace"
LABEL_INSTALLATION = "nexus.installation"
TOKEN_MINUTES = 60
STATUS_TIMEOUT = 10.0


class WorkspaceRecords(Protocol):
    """The slice of the state store a backend may touch: its own workspace's row."""

    def get(self, name: str) -> Workspace: ...

    def update(self, name: str, **changes: Any) -> Workspace: ...


def _gib(value: float | None, fallback: float) -> int:
    return max(1, round(value if value is not None else fallback))


class DaytonaBackend:
    type = BackendType.DAYTONA

    def __init__(
        self,
        settings: DaytonaSettings,
        records: WorkspaceRecords,
        installation_id: str,
        lock: Callable[[str], AbstractContextManager[None]],
    ) -> None:
        self._settings = settings
        self._records = records
        self._installation_id = installation_id
        self._lock = lock
        self._client: Any = None
        self._handed_out: dict[str, str] = {}

    # ---- plumbing ----------------------------------------------------------------------------
    def _daytona(self) -> Any:
        if self._client is None:
            if not self._settings.api_key:
                raise NexusError(
                    ErrorCode.DAYTONA_AUTH_FAILED,
                    "no Daytona API key is configured",
                    "Set DAYTONA_API_KEY (or `nexus config set backends.daytona.api_key '${DAYTONA_API_KEY}'`).",
                )
            register_secret(self._settings.api_key)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import daytona

                self._client = daytona.Daytona(
                    daytona.DaytonaConfig(
                        api_key=self._settings.api_key,
                        api_url=self._settings.api_url,
                        use_deprecated_polling=True,  # no websocket thread per process
                    )
                )
        return self._client

    def sandbox_name(self, name: str) -> str:
        return f"nexus-{name}-{self._installation_id}"

    def _missing(self, workspace: Workspace) -> NexusError:
        return NexusError(
            ErrorCode.WORKSPACE_MISSING,
            f"the sandbox of workspace '{workspace.name}' no longer exists on Daytona",
            f"Delete the workspace (`nexus workspace delete {workspace.name}`) and create it again.",
        )

    def _find_sandbox(self, workspace: Workspace) -> Any | None:
        import daytona

        client = self._daytona()
        ref = workspace.backend_id or self.sandbox_name(workspace.name)

        def get() -> Any | None:
            try:
                return client.get(ref)
            except daytona.DaytonaNotFoundError:
                return None

        return errors.call(get, "find the sandbox")

    def _require_sandbox(self, workspace: Workspace) -> Any:
        sandbox = self._find_sandbox(workspace)
        if sandbox is None:
            raise self._missing(workspace)
        return sandbox

    # ---- lifecycle ---------------------------------------------------------------------------
    async def ensure_ready(self) -> None:
        """Fail fast on a missing or rejected API key, before anything is recorded."""

        def check() -> None:
            import daytona

            client = self._daytona()
            query = daytona.ListSandboxesQuery(
                labels={LABEL_INSTALLATION: self._installation_id}, limit=1
            )
            errors.call(lambda: next(iter(client.list(query)), None), "reach the Daytona API")

        await run_blocking(check)

    def _create_params(self, request: CreateRequest) -> Any:
        import daytona

        settings = self._settings
        common: dict[str, Any] = {
            "name": self.sandbox_name(request.name),
            "language": "python",
            "labels": {
                **request.labels,
                LABEL_WORKSPACE: request.name,
                LABEL_INSTALLATION: self._installation_id,
            },
            "env_vars": request.env or None,
            "auto_stop_interval": request.auto_stop_minutes
            if request.auto_stop_minutes is not None
            else settings.auto_stop_interval,
            "target": request.region or settings.default_region,
        }
        if request.ephemeral:
            common["ephemeral"] = True
        if request.snapshot:
            return daytona.CreateSandboxFromSnapshotParams(snapshot=request.snapshot, **common)
        defaults = settings.default_resources
        resources = daytona.Resources(
            cpu=_gib(request.resources.cpu, defaults.cpu),
            memory=_gib(request.resources.memory_gb, defaults.memory),
            disk=_gib(request.resources.disk_gb, defaults.disk),
        )
        image = request.image or settings.image
        return daytona.CreateSandboxFromImageParams(image=image, resources=resources, **common)

    async def create(
        self, request: CreateRequest, keys: ProvisionKeys, progress: Progress
    ) -> ProvisionedWorkspace:
        sandbox = await run_blocking(self._create_sandbox, request, progress)
        # if anything below fails, the service's cleanup finds the sandbox by its name
        return await self._provision(sandbox, request, progress)

    def _create_sandbox(self, request: CreateRequest, progress: Progress) -> Any:
        client = self._daytona()
        params = self._create_params(request)
        progress.step("sandbox", f"Creating Daytona sandbox {params.name}")
        return errors.call(
            lambda: client.create(params, timeout=self._settings.create_timeout), "create a sandbox"
        )

    async def _provision(
        self, sandbox: Any, request: CreateRequest, progress: Progress
    ) -> ProvisionedWorkspace:
        from ...access.exec import fetch_host_key

        def prepare() -> tuple[str, dict[str, str]]:
            home = errors.call(sandbox.get_user_home_dir, "read the sandbox home folder")
            remote_path = f"{home.rstrip('/')}/workspace"
            if request.git_url:
                progress.step("clone", f"Cloning {request.git_url} into the sandbox")
                errors.call(
                    lambda: sandbox.git.clone(
                        request.git_url, remote_path, branch=request.git_branch
                    ),
                    "clone the repository",
                )
            else:
                errors.call(
                    lambda: sandbox.fs.create_folder(remote_path, "755"),
                    "create the workspace folder",
                )
            progress.step("ssh", "Requesting SSH access")
            dto = errors.call(lambda: sandbox.create_ssh_access(TOKEN_MINUTES), "create SSH access")
            return remote_path, token_record(dto)

        remote_path, token = await run_blocking(prepare)
        gateway = parse_ssh_command(token["ssh_command"])
        host_key = await fetch_host_key(gateway.host, gateway.port)
        return ProvisionedWorkspace(
            backend_id=sandbox.id,
            image=request.snapshot or request.image or self._settings.image,
            remote_path=remote_path,
            ssh=SSHConnection(
                host=gateway.host,
                port=gateway.port,
                username=gateway.user,
                host_key=host_key,
                key_auth=False,
                expires_at=datetime.fromisoformat(token["expires_at"]),
            ),
            metadata={
                "sandbox_name": sandbox.name,
                "region": getattr(sandbox, "target", None),
                "ssh_token": token,
                "delete_on_stop": bool(request.ephemeral),
                "auto_stop_minutes": getattr(sandbox, "auto_stop_interval", None),
                "git_url": request.git_url,
                "git_branch": request.git_branch,
            },
        )

    async def start(self, workspace: Workspace, progress: Progress) -> None:
        def _start() -> None:
            sandbox = self._require_sandbox(workspace)
            progress.step("start", f"Starting sandbox {sandbox.name}")
            errors.call(
                lambda: sandbox.start(timeout=self._settings.create_timeout), "start the sandbox"
            )

        await run_blocking(_start)

    async def stop(self, workspace: Workspace, progress: Progress) -> None:
        def _stop() -> None:
            sandbox = self._require_sandbox(workspace)
            progress.step("stop", f"Stopping sandbox {sandbox.name}")
            errors.call(
                lambda: sandbox.stop(timeout=self._settings.create_timeout), "stop the sandbox"
            )

        await run_blocking(_stop)

    async def delete(self, workspace: Workspace, progress: Progress) -> None:
        def _delete() -> None:
            sandbox = self._find_sandbox(workspace)
            if sandbox is None:
                return
            token = (workspace.metadata.get("ssh_token") or {}).get("token")
            if token:
                self._revoke(sandbox, token)
            progress.step("delete", f"Deleting sandbox {sandbox.name}")
            errors.call(
                lambda: self._daytona().delete(
                    sandbox, timeout=self._settings.create_timeout, wait=True
                ),  # returns once it is really gone
                "delete the sandbox",
            )

        await run_blocking(_delete)

    @staticmethod
    def _revoke(sandbox: Any, token: str) -> None:
        """Revoke one token. The SDK's own ``revoke_ssh_access`` sends the token as an organization
        header (so a server revokes every token of the sandbox, or rejects the call); call the
        generated API with the token as the query parameter it is meant to be."""
        try:
            sandbox._sandbox_api.revoke_ssh_access(sandbox.id, token=token)
        except Exception as exc:  # revoking is best effort: the sandbox is going away
            log.info("revoking the SSH token failed: %s", type(exc).__name__)

    # ---- connection and status ---------------------------------------------------------------
    async def get_ssh_connection(
        self, workspace: Workspace, *, renew: bool = False
    ) -> SSHConnection:
        return await run_blocking(self._fresh_connection, workspace.name, renew)

    def _fresh_connection(self, name: str, renew: bool) -> SSHConnection:
        """The gateway endpoint with a token that has at least RENEW_MARGIN left (renewed under a
        lock, so parallel processes share one token instead of revoking each other's)."""
        with self._lock(f"daytona-token-{name}"):
            workspace = self._records.get(name)
            record = workspace.metadata.get("ssh_token")
            if renew and record and record.get("token") == self._handed_out.get(name):
                record = None  # the token this process handed out was refused: mint another
            if needs_renewal(record):
                sandbox = self._require_sandbox(workspace)
                dto = errors.call(
                    lambda: sandbox.create_ssh_access(TOKEN_MINUTES), "renew SSH access"
                )
                record = token_record(dto)
                gateway = parse_ssh_command(record["ssh_command"])
                metadata = {**workspace.metadata, "ssh_token": record}
                workspace = self._records.update(
                    name,
                    ssh_user=gateway.user,
                    ssh_host=gateway.host,
                    ssh_port=gateway.port,
                    metadata=metadata,
                )
            assert record is not None
            self._handed_out[name] = record["token"]
            gateway = parse_ssh_command(record["ssh_command"])
            return SSHConnection(
                host=gateway.host,
                port=gateway.port,
                username=gateway.user,
                host_key=workspace.host_key,
                key_auth=False,
                expires_at=datetime.fromisoformat(record["expires_at"]),
            )

    async def get_status(self, workspace: Workspace) -> WorkspaceStatus:
        def _status() -> WorkspaceStatus:
            sandbox = self._find_sandbox(workspace)
            return WorkspaceStatus.MISSING if sandbox is None else to_status(sandbox.state)

        return await run_blocking(_status)

    async def get_statuses(self, workspaces: list[Workspace]) -> dict[str, WorkspaceStatus]:
        def _statuses() -> dict[str, WorkspaceStatus]:
            import daytona

            client = self._daytona()
            query = daytona.ListSandboxesQuery(labels={LABEL_INSTALLATION: self._installation_id})
            # a status read: one attempt with a short timeout, so `list` never hangs offline
            found = errors.call(
                lambda: list(client.list(query, request_timeout=STATUS_TIMEOUT)),
                "list sandboxes",
                attempts=1,
            )
            by_name = {s.labels.get(LABEL_WORKSPACE): s for s in found}
            return {
                ws.name: to_status(by_name[ws.name].state)
                if ws.name in by_name
                else WorkspaceStatus.MISSING
                for ws in workspaces
            }

        return await run_blocking(_statuses)

    async def get_resource_stats(self, workspace: Workspace) -> ResourceStats | None:
        def _stats() -> ResourceStats | None:
            sandbox = self._find_sandbox(workspace)
            if sandbox is None:
                return None
            memory = getattr(sandbox, "memory", None)
            return ResourceStats(memory_limit_bytes=int(memory * 2**30) if memory else None)

        return await run_blocking(_stats)

    def get_capabilities(self) -> BackendCapabilities:
        return BackendCapabilities(
            supports_ssh=True,
            supports_sync=True,
            supports_snapshots=True,
            supports_lsp=True,
            supports_web_previews=True,
            supports_process_api=True,
            supports_file_api=True,
        )

    async def execute_provider_specific(
        self, workspace: Workspace | None, operation: ProviderOperation
    ) -> Any:
        raise provider_operation_unavailable(operation.type, self.type.value)
