"""The Daytona backend: sandboxes through the `daytona` SDK, reached over the Daytona SSH gateway."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from ...asyncutil import run_blocking
from ...config.schema import DaytonaSettings
from ...domain.errors import ErrorCode, NexusError
from ...domain.lsp import LanguageServerLink
from ...domain.models import (
    AutoStop,
    BackendCapabilities,
    BackendType,
    CreateRequest,
    ProvisionedWorkspace,
    ProvisionKeys,
    ResourceStats,
    SSHConnection,
    Workspace,
    WorkspaceStatus,
)
from ...domain.progress import Progress
from ...domain.provider import OpContext, OperationSpec, OpParams, OpResult
from ...domain.recovery import FoundResource, RebuiltAccess
from ...redact import register_secret
from . import errors
from .activity import auto_stop_of
from .facts import FACTS
from .ssh_access import needs_renewal, parse_ssh_command, token_record
from .states import to_status

log = logging.getLogger(__name__)

LABEL_WORKSPACE = "nexus.workspace"
LABEL_INSTALLATION = "nexus.installation"
TOKEN_MINUTES = 60
STATUS_TIMEOUT = 10.0  # one status request
STATUS_DEADLINE = 20.0  # a whole status read, retries included: `list` and `exec` never hang
VALIDATE_TIMEOUT = 5.0  # checking an SSH token with the API before ssh connects
VALIDATION_TTL = timedelta(seconds=30)  # a token the API called valid is not asked about again

T = TypeVar("T")


class WorkspaceRecords(Protocol):
    """The slice of the state store a backend may touch: its own workspace's row."""

    def get(self, name: str) -> Workspace: ...

    def update(self, name: str, **changes: Any) -> Workspace: ...


def _gib(value: float | None, fallback: float) -> int:
    return max(1, round(value if value is not None else fallback))


def _no_retry_after_sleeps(client: Any) -> None:
    """The SDK's urllib3 pool sleeps for whatever Retry-After says (three times) on GETs, with no
    bound: let 429 reach Nexus's own retry loop, which caps the wait and keeps deadlines."""
    from urllib3.util.retry import Retry

    try:
        pool_manager = client._api_client.rest_client.pool_manager
        pool_manager.connection_pool_kw["retries"] = Retry(3, respect_retry_after_header=False)
        pool_manager.clear()
    except AttributeError:  # another SDK layout: the deadlines below still hold
        log.debug("cannot reach the SDK's HTTP pool to turn off its Retry-After sleeps")


async def _bounded(fn: Callable[[], T], timeout: float, action: str) -> T:
    """Run a blocking read in a daemon thread and give up on it after ``timeout`` seconds.

    Unlike ``run_blocking`` it does not wait for an abandoned call: a status read stuck in an
    HTTP client (a long Retry-After, a silent server) must not hold the command up, and the
    process may exit while that thread still sleeps."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def work() -> None:
        try:
            result, error = fn(), None
        except BaseException as exc:
            result, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=work, name="nexus-daytona-read", daemon=True).start()
    try:
        return await asyncio.wait_for(future, timeout)
    except TimeoutError:
        raise NexusError(
            ErrorCode.DAYTONA_UNAVAILABLE,
            f"the Daytona API did not answer within {timeout:.0f} s while trying to {action}",
            "Check your network and DAYTONA_API_URL (the API may be rate limiting), then retry.",
        ) from None


def _recently_validated(record: dict[str, str]) -> bool:
    try:
        checked = datetime.fromisoformat(record["validated_at"])
    except (KeyError, ValueError):
        return False
    return timedelta(0) <= datetime.now(UTC) - checked < VALIDATION_TTL


class DaytonaBackend:
    type = BackendType.DAYTONA
    facts = FACTS

    def __init__(
        self,
        settings: DaytonaSettings,
        records: WorkspaceRecords,
        installation_id: str,
        lock: Callable[[str], AbstractContextManager[None]],
        lsp_mode: str = "api",
    ) -> None:
        self._settings = settings
        self._lsp_mode = lsp_mode  # config lsp.daytona_mode: "api" (Daytona's LSP) or "ssh"
        self._records = records
        self._installation_id = installation_id
        self._lock = lock
        self._client: Any = None
        self._handed_out: dict[str, str] = {}
        # workspace name -> its auto-stop as the last read of its sandbox said
        self._auto_stops: dict[str, AutoStop | None] = {}

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

                client = daytona.Daytona(
                    daytona.DaytonaConfig(
                        api_key=self._settings.api_key,
                        api_url=self._settings.api_url,
                        use_deprecated_polling=True,  # no websocket thread per process
                    )
                )
            _no_retry_after_sleeps(client)
            self._client = client
        return self._client

    def sandbox_name(self, name: str) -> str:
        return f"nexus-{name}-{self._installation_id}"

    def _missing(self, workspace: Workspace) -> NexusError:
        return NexusError(
            ErrorCode.WORKSPACE_MISSING,
            f"the sandbox of workspace '{workspace.name}' no longer exists on Daytona",
            f"Delete the workspace (`nexus workspace delete {workspace.name}`) and create it again.",
        )

    def _find_sandbox(self, workspace: Workspace, deadline: float | None = None) -> Any | None:
        import daytona

        client = self._daytona()
        ref = workspace.backend_id or self.sandbox_name(workspace.name)

        def get() -> Any | None:
            timeout = None
            if deadline is not None:
                timeout = max(1.0, min(STATUS_TIMEOUT, deadline - time.monotonic()))
            try:
                return client.get(ref, request_timeout=timeout)
            except daytona.DaytonaNotFoundError:
                return None

        return errors.call(get, "find the sandbox", deadline=deadline)

    def _require_sandbox(self, workspace: Workspace) -> Any:
        sandbox = self._find_sandbox(workspace)
        if sandbox is None:
            raise self._missing(workspace)
        return sandbox

    # ---- for the escape hatches (nexus.backends.daytona.ops); all blocking ---------------------
    @property
    def settings(self) -> DaytonaSettings:
        return self._settings

    @property
    def installation_id(self) -> str:
        return self._installation_id

    def client(self) -> Any:
        """The SDK client."""
        return self._daytona()

    def find_sandbox(self, workspace: Workspace) -> Any | None:
        return self._find_sandbox(workspace)

    def require_sandbox(self, workspace: Workspace) -> Any:
        """The workspace's sandbox, or WORKSPACE_MISSING."""
        return self._require_sandbox(workspace)

    def token_lock(self, name: str) -> AbstractContextManager[None]:
        """Held while the SSH token of workspace ``name`` changes (renewal, a new sandbox)."""
        return self._lock(f"daytona-token-{name}")

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
                **request.record_labels,  # what a lost state store is rebuilt from
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
        try:
            return errors.call(
                lambda: client.create(params, timeout=self._settings.create_timeout),
                "create a sandbox",
            )
        except NexusError as exc:
            missing = f"snapshot {request.snapshot} not found".lower()
            if request.snapshot and missing in exc.message.lower():
                from .ops.snapshots import snapshot_not_found

                raise snapshot_not_found(request.snapshot) from None
            raise

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
            register_secret(dto.token)
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

    async def stop(self, workspace: Workspace, progress: Progress) -> bool:
        def _stop() -> None:
            sandbox = self._require_sandbox(workspace)
            progress.step("stop", f"Stopping sandbox {sandbox.name}")
            errors.call(
                lambda: sandbox.stop(timeout=self._settings.create_timeout), "stop the sandbox"
            )

        await run_blocking(_stop)
        # an ephemeral sandbox is deleted by Daytona when it stops
        return bool(workspace.metadata.get("delete_on_stop"))

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
        lock, so parallel processes share one token instead of revoking each other's).

        ``renew``: make sure the token works. A token this process handed out and that was then
        refused (or had its connection closed by the gateway) is checked with the API and
        replaced unless the API calls it valid; any other token is checked too (a positive
        answer is trusted for VALIDATION_TTL), so a token revoked elsewhere (every new token
        revokes the older ones) is replaced before ssh uses it."""
        with self._lock(f"daytona-token-{name}"):
            workspace = self._records.get(name)
            record = workspace.metadata.get("ssh_token")
            if record:
                register_secret(record.get("token"))
            if renew and not needs_renewal(record):
                assert record is not None
                refused = record.get("token") == self._handed_out.get(name)
                valid = self._token_valid(name, record, trust_cache=not refused)
                if valid is False or (valid is None and refused):
                    record = None  # revoked, expired early, or refused and not provably fine
                elif valid:
                    record = self._records.get(name).metadata.get("ssh_token", record)
            if needs_renewal(record):
                sandbox = self._require_sandbox(workspace)
                dto = errors.call(
                    lambda: sandbox.create_ssh_access(TOKEN_MINUTES), "renew SSH access"
                )
                register_secret(dto.token)
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

    def _token_valid(self, name: str, record: dict[str, str], *, trust_cache: bool) -> bool | None:
        """Does the API still accept this SSH token? None: it could not tell (quickly)."""
        if trust_cache and _recently_validated(record):
            return True
        try:
            valid = self._validate_token(record["token"])
        except Exception as exc:  # unreachable, rejected key, odd answer: cannot tell
            log.info("cannot validate the SSH token of %s: %s", name, type(exc).__name__)
            return None
        if valid:
            checked = {**record, "validated_at": datetime.now(UTC).isoformat()}
            workspace = self._records.get(name)
            if (workspace.metadata.get("ssh_token") or {}).get("token") == record["token"]:
                self._records.update(name, metadata={**workspace.metadata, "ssh_token": checked})
        return valid

    def _validate_token(self, token: str) -> bool:
        """``GET /sandbox/ssh-access/validate``, read raw: for an invalid token the server sends
        ``sandboxId: null``, which the SDK's model refuses to parse."""
        register_secret(token)
        api = self._daytona()._sandbox_api
        answer: list[tuple[int, bytes]] = []
        failure: list[Exception] = []

        def ask() -> None:
            try:
                response = api.validate_ssh_access_without_preload_content(
                    token=token, _request_timeout=VALIDATE_TIMEOUT
                )
            except Exception as exc:
                failure.append(exc)
                return
            try:
                answer.append((response.status, response.data))
            finally:
                response.release_conn()

        # one deadline whatever the HTTP pool retries underneath: ssh waits for this
        asker = threading.Thread(target=ask, name="nexus-daytona-validate", daemon=True)
        asker.start()
        asker.join(VALIDATE_TIMEOUT)
        if failure:
            raise failure[0]
        if not answer:
            raise TimeoutError("the Daytona API did not validate the token in time")
        status, data = answer[0]
        if status == 404:
            return False
        if status != 200:
            raise RuntimeError(f"validate answered HTTP {status}")
        body = json.loads(data or b"{}")
        return body.get("valid") is True

    async def get_status(self, workspace: Workspace) -> WorkspaceStatus:
        def _status() -> WorkspaceStatus:
            sandbox = self._find_sandbox(workspace, deadline=time.monotonic() + STATUS_DEADLINE)
            self._auto_stops[workspace.name] = None if sandbox is None else auto_stop_of(sandbox)
            return WorkspaceStatus.MISSING if sandbox is None else to_status(sandbox.state)

        # one deadline for the whole read, whatever the HTTP client does underneath
        return await _bounded(_status, STATUS_DEADLINE + 1, "read the sandbox status")

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
            self.seen_workspaces = {name for name in by_name if name}  # see unrecorded()
            for ws in workspaces:
                sandbox = by_name.get(ws.name)
                self._auto_stops[ws.name] = None if sandbox is None else auto_stop_of(sandbox)
            return {
                ws.name: to_status(by_name[ws.name].state)
                if ws.name in by_name
                else WorkspaceStatus.MISSING
                for ws in workspaces
            }

        return await _bounded(_statuses, STATUS_DEADLINE, "list sandboxes")

    # workspace names on this installation's sandboxes, as the last get_statuses read them
    seen_workspaces: set[str] | None = None

    def unrecorded(self, recorded: set[str]) -> list[str]:
        """Workspaces whose sandboxes the last status read saw but which have no record."""
        return sorted((self.seen_workspaces or set()) - recorded)

    def observed_auto_stop(self, name: str) -> AutoStop | None:
        return self._auto_stops.get(name)

    async def keep_alive(self, workspace: Workspace) -> AutoStop | None:
        """``POST /sandbox/{id}/last-activity``, then the sandbox read again for the new deadline."""

        def _touch() -> AutoStop | None:
            sandbox = self._require_sandbox(workspace)
            asked = datetime.now(UTC)
            errors.call(sandbox.refresh_activity, "record activity in the sandbox")
            found = auto_stop_of(self._require_sandbox(workspace))
            if found is not None and found.last_activity_at < asked:
                # the API buffers activity and writes it to lastActivityAt every ~10 s: until
                # then it shows the time before ours, but ours is what will count
                found = found.model_copy(update={"last_activity_at": asked})
            self._auto_stops[workspace.name] = found
            return found

        return await run_blocking(_touch)

    async def get_resource_stats(self, workspace: Workspace) -> ResourceStats | None:
        def _stats() -> ResourceStats | None:
            sandbox = self._find_sandbox(workspace)
            if sandbox is None:
                return None
            memory = getattr(sandbox, "memory", None)
            return ResourceStats(memory_limit_bytes=int(memory * 2**30) if memory else None)

        return await run_blocking(_stats)

    async def open_language_server(
        self, workspace: Workspace, language: str, root: str
    ) -> LanguageServerLink | None:
        """Daytona's LSP API (``lsp_link``) for the languages it serves; None (`nexus lsp` runs
        the configured language server over SSH) for others or with ``lsp.daytona_mode: ssh``."""
        from .lsp_link import DaytonaLanguageServer, supported

        if not supported(language) or self._lsp_mode == "ssh":
            return None
        return DaytonaLanguageServer(self, workspace, language, root)

    def get_capabilities(self) -> BackendCapabilities:
        # only what works here (tests/conformance walks every true flag and runs it)
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
        self, context: OpContext, operation: OperationSpec, params: OpParams
    ) -> OpResult:
        return await operation.handler(context, params)

    # ---- recovery ----------------------------------------------------------------------------
    async def list_resources(self) -> list[FoundResource]:
        """Every sandbox of this installation (its labels say which workspace it is)."""

        def _list() -> list[FoundResource]:
            import daytona

            client = self._daytona()
            query = daytona.ListSandboxesQuery(labels={LABEL_INSTALLATION: self._installation_id})
            found = errors.call(lambda: list(client.list(query)), "list sandboxes")
            return [
                FoundResource(
                    name=(s.labels or {}).get(LABEL_WORKSPACE, ""),
                    backend=BackendType.DAYTONA,
                    backend_id=s.id,
                    resource_name=s.name,
                    labels=dict(s.labels or {}),
                    status=to_status(s.state),
                    image=getattr(s, "snapshot", None) or self._settings.image,
                    metadata={
                        "sandbox_name": s.name,
                        "region": getattr(s, "target", None),
                        "delete_on_stop": bool(getattr(s, "ephemeral", False)),
                        "auto_stop_minutes": getattr(s, "auto_stop_interval", None),
                    },
                )
                for s in found
            ]

        return await run_blocking(_list)

    async def rebuild_access(
        self, found: FoundResource, kept_host_key: str | None
    ) -> RebuiltAccess:
        """SSH access for a sandbox whose record is being rebuilt: a new token, the gateway's
        host key pinned, the remote folder (read from a running sandbox, else the default home)."""
        from ...access.exec import fetch_host_key

        backend_id = found.backend_id

        def prepare() -> tuple[str, dict[str, str]]:
            client = self._daytona()
            sandbox = errors.call(lambda: client.get(backend_id), "find the sandbox")
            home = "/home/daytona"
            if to_status(sandbox.state) is WorkspaceStatus.RUNNING:
                home = errors.call(sandbox.get_user_home_dir, "read the sandbox home folder")
            dto = errors.call(lambda: sandbox.create_ssh_access(TOKEN_MINUTES), "create SSH access")
            register_secret(dto.token)
            return f"{home.rstrip('/')}/workspace", token_record(dto)

        remote_path, token = await run_blocking(prepare)
        gateway = parse_ssh_command(token["ssh_command"])
        return RebuiltAccess(
            fields={
                "remote_path": remote_path,
                "ssh_host": gateway.host,
                "ssh_port": gateway.port,
                "ssh_user": gateway.user,
                "host_key": await fetch_host_key(gateway.host, gateway.port),
            },
            metadata={"ssh_token": token},
        )
