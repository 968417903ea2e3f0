"""Workspace use cases: create, start, stop, delete, list, info, exec, connection details."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..access import exec as ssh_exec
from ..access.keys import ensure_client_key, generate_ed25519
from ..asyncutil import run_blocking
from ..domain.backend import Backend
from ..domain.errors import ErrorCode, NexusError, workspace_not_running
from ..domain.models import (
    REMOTE_PATH,
    TRANSITIONAL,
    BackendCapabilities,
    BackendType,
    ConnectionInfo,
    CreateRequest,
    OpenTarget,
    ProvisionKeys,
    Resources,
    ResourceStats,
    SSHConnection,
    Workspace,
    WorkspaceStatus,
    remote_uri,
)
from ..domain.names import validate_name
from ..domain.progress import NullProgress, Progress
from ..fsutil import atomic_write
from ..ownership import owner_alive
from ..paths import ensure_dir
from ..store import StateStore
from ..vcs import worktree
from .context import NexusContext
from .ssh_files import SshFiles

log = logging.getLogger(__name__)


def _resource_flags(resources: Resources) -> builtins.list[tuple[str, float]]:
    """The resources given, each with the CLI flag that sets it (for error messages)."""
    given = (
        ("--cpu", resources.cpu),
        ("--memory", resources.memory_gb),
        ("--disk", resources.disk_gb),
    )
    return [(flag, value) for flag, value in given if value is not None]


def in_flight(workspace: Workspace) -> bool:
    """An operation is running on it right now (a transition whose process is still alive)."""
    return workspace.status in TRANSITIONAL and owner_alive(workspace.owner)


@dataclass
class WorkspaceInfo:
    workspace: Workspace
    capabilities: BackendCapabilities
    stats: ResourceStats | None

    def to_json_dict(self) -> dict[str, Any]:
        data = self.workspace.public_dict()
        data["capabilities"] = self.capabilities.to_json_dict()
        data["stats"] = self.stats.to_json_dict() if self.stats else None
        return data


@dataclass
class CreateOptions:
    """What a user asks for at create (CLI flags / sidecar params), before defaults apply."""

    name: str
    backend: BackendType | None = None
    cpu: float | None = None
    memory_gb: float | None = None
    disk_gb: float | None = None
    image: str | None = None
    source_path: Path | None = None
    labels: dict[str, str] | None = None
    worktree: bool | None = None  # None: config workspace.worktree
    base: str | None = None  # worktree base ref (default HEAD)
    # Daytona
    region: str | None = None
    auto_stop_minutes: int | None = None
    ephemeral: bool = False
    snapshot: str | None = None
    git_url: str | None = None
    git_branch: str | None = None
    env: dict[str, str] | None = None


class WorkspaceService:
    def __init__(self, context: NexusContext) -> None:
        self.ctx = context
        self.ssh_files = SshFiles(context)

    # ---- helpers -----------------------------------------------------------------------------
    @property
    def _store(self) -> StateStore:
        return self.ctx.store

    def _backend(self, backend_type: BackendType) -> Backend:
        return self.ctx.backends.get(backend_type)

    def get(self, name: str) -> Workspace:
        return self._store.get(validate_name(name))

    def _resolve_resources(self, options: CreateOptions, backend: BackendType) -> Resources:
        defaults = getattr(self.ctx.config.backends, backend.value).default_resources
        return Resources(
            cpu=options.cpu if options.cpu is not None else (defaults.cpu if defaults else None),
            memory_gb=options.memory_gb
            if options.memory_gb is not None
            else (defaults.memory if defaults else None),
            disk_gb=options.disk_gb
            if options.disk_gb is not None
            else (defaults.disk if defaults else None),
        )

    def _check_resources(self, resources: Resources) -> None:
        for field, value in _resource_flags(resources):
            if value <= 0:
                raise NexusError(
                    ErrorCode.INVALID_ARGUMENT,
                    f"{field} must be a positive number (got {value})",
                    "Pass a value greater than 0.",
                )

    def _source_path(self, given: Path | None) -> Path:
        path = (given or Path.cwd()).expanduser()
        if not path.is_dir():
            raise NexusError(
                ErrorCode.SOURCE_NOT_FOUND,
                f"source folder {path} does not exist or is not a folder",
                "Pass an existing folder with --from PATH.",
            )
        return path.resolve()

    def _new_keys(self, name: str) -> ProvisionKeys:
        _, client_public = ensure_client_key(self.ctx.paths)
        host = generate_ed25519(f"nexus-{name}")
        key_file = ensure_dir(self.ctx.paths.host_keys_dir) / f"{name}_ed25519"
        atomic_write(key_file, host.private_openssh, mode=0o600)
        return ProvisionKeys(
            authorized_key=client_public,
            host_private_key=host.private_openssh,
            host_public_key=host.public_openssh,
        )

    def _forget_keys(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.ctx.paths.host_keys_dir / f"{name}_ed25519").unlink()

    # ---- create ------------------------------------------------------------------------------
    async def create(self, options: CreateOptions, progress: Progress | None = None) -> Workspace:
        progress = progress or NullProgress()
        name = validate_name(options.name)
        backend_type = options.backend or self.ctx.config.workspace.default_backend
        backend = self._backend(backend_type)
        resources = self._resolve_resources(options, backend_type)
        self._check_resources(resources)
        self._check_backend_options(options, backend_type, resources)
        mounts_local_folder = backend_type is BackendType.DOCKER
        source = self._source_path(options.source_path) if mounts_local_folder else None
        await backend.ensure_ready()
        request = CreateRequest(
            name=name,
            backend=backend_type,
            resources=resources,
            image=options.image,
            source_path=source,
            labels=options.labels or {},
            region=options.region,
            auto_stop_minutes=options.auto_stop_minutes,
            ephemeral=options.ephemeral,
            snapshot=options.snapshot,
            git_url=options.git_url,
            git_branch=options.git_branch,
            env=options.env or {},
        )
        use_worktree = mounts_local_folder and (
            options.worktree if options.worktree is not None else self.ctx.config.workspace.worktree
        )
        root = await run_blocking(worktree.repo_root, source) if use_worktree and source else None
        if options.base and root is None:
            raise NexusError(
                ErrorCode.INVALID_ARGUMENT,
                "--base needs the source folder to be inside a git repository",
                "Run create inside a repository, or drop --base.",
            )
        self._store.reserve(
            Workspace(
                name=name,
                backend=backend_type,
                status=WorkspaceStatus.CREATING,
                local_path=str(source) if source else None,
                resources=resources,
                labels=request.labels,
            )
        )
        try:
            if root is not None:
                await self._add_worktree(request, root, options.base, progress)
            keys = await run_blocking(self._new_keys, name)
            provisioned = await backend.create(request, keys, progress)
            self._store.update(
                name,
                backend_id=provisioned.backend_id,
                ssh_host=provisioned.ssh.host,
                ssh_port=provisioned.ssh.port,
                ssh_user=provisioned.ssh.username,
                host_key=provisioned.ssh.host_key,
                image=provisioned.image,
                remote_path=provisioned.remote_path or REMOTE_PATH,
                metadata={**self.get(name).metadata, **provisioned.metadata},
            )
            self.ssh_files.refresh()
            progress.step("ssh", "Waiting for SSH")
            await self._wait_ssh(self.get(name))
            return self._store.update(name, status=WorkspaceStatus.RUNNING)
        except BaseException:
            await asyncio.shield(self._undo_create(name, progress))
            raise

    def _check_backend_options(
        self, options: CreateOptions, backend: BackendType, resources: Resources
    ) -> None:
        daytona_only = {
            "--region": options.region,
            "--auto-stop": options.auto_stop_minutes,
            "--ephemeral": options.ephemeral or None,
            "--from-snapshot": options.snapshot,
            "--from URL": options.git_url,
        }
        if backend is not BackendType.DAYTONA:
            given = [flag for flag, value in daytona_only.items() if value is not None]
            if given:
                raise NexusError(
                    ErrorCode.INVALID_ARGUMENT,
                    f"{', '.join(given)} only apply to the daytona backend",
                    "Add --backend daytona, or drop those options.",
                )
        if backend is BackendType.DAYTONA and options.source_path is not None:
            raise NexusError(
                ErrorCode.INVALID_ARGUMENT,
                "a Daytona sandbox cannot mount a local folder",
                "Pass --from with a git URL to clone, or create without --from "
                "(syncing a local folder to a sandbox is the `nexus sync` feature).",
            )
        if options.git_branch and not options.git_url:
            raise NexusError(
                ErrorCode.INVALID_ARGUMENT,
                "--branch needs --from URL (a git repository to clone)",
                "Pass --from https://host/org/repo --branch NAME.",
            )
        if options.auto_stop_minutes is not None and options.auto_stop_minutes < 0:
            raise NexusError(
                ErrorCode.INVALID_ARGUMENT,
                "--auto-stop must be 0 (never) or a number of minutes",
                "Pass --auto-stop 30, or 0 to disable.",
            )
        fractional = [
            flag for flag, value in _resource_flags(resources) if not float(value).is_integer()
        ]
        if backend is BackendType.DAYTONA and fractional:
            raise NexusError(
                ErrorCode.INVALID_ARGUMENT,
                f"Daytona takes whole numbers for {', '.join(fractional)}",
                "Pass whole CPUs and GB, e.g. --cpu 2 --memory 4.",
            )

    async def _add_worktree(
        self, request: CreateRequest, root: Path, base: str | None, progress: Progress
    ) -> None:
        """Make ``.worktree/<name>`` on ``nexus/<name>`` and mount it, with the repository's git dir."""
        progress.step(
            "worktree", f"Creating git worktree on branch {worktree.branch_name(request.name)}"
        )
        tree = await run_blocking(worktree.create_worktree, root, request.name, base)
        request.source_path = tree.path
        request.extra_mounts.append(tree.common_dir)
        hooks = tree.common_dir / "hooks"
        if hooks.is_dir():  # code in the workspace must not plant hooks that run on the host
            request.readonly_mounts.append(hooks)
        request.git_config = await run_blocking(worktree.identity, tree.path)
        record = {
            "repo": str(tree.repo_root),
            "path": str(tree.path),
            "branch": tree.branch,
            "base": tree.base,
            "common_dir": str(tree.common_dir),
        }
        self._store.update(
            request.name,
            local_path=str(tree.path),
            branch=tree.branch,
            metadata={"worktree": record},
        )

    async def _remove_worktree(
        self, workspace: Workspace, progress: Progress, *, force: bool, keep_branch: bool
    ) -> None:
        record = workspace.metadata.get("worktree")
        if not record:
            return
        root, path, branch = Path(record["repo"]), Path(record["path"]), record["branch"]
        if not root.exists():
            progress.warn(f"repository {root} is gone; nothing to clean up there")
            return
        try:
            # without force, git itself refuses a worktree that changed since the check
            await run_blocking(worktree.remove_worktree, root, path, force=force)
        except NexusError as exc:
            progress.warn(f"kept worktree {path} and branch {branch}: {exc.message}")
            return
        if keep_branch:
            return
        try:
            unmerged = await run_blocking(worktree.unmerged_commits, root, branch)
        except NexusError as exc:
            progress.warn(f"kept branch {branch}: {exc.message}")
            return
        if unmerged and not force:
            progress.warn(
                f"kept branch {branch}: it has {unmerged} commit(s) on no other branch "
                f"(delete it with `git branch -D {branch}`)"
            )
            return
        await run_blocking(worktree.delete_branch, root, branch)

    async def _undo_create(self, name: str, progress: Progress) -> None:
        """Remove everything a failed or cancelled create made: container, ports, worktree, row, keys."""
        workspace = self._store.find(name)
        if workspace is None:
            return
        try:
            await self._backend(workspace.backend).delete(workspace, NullProgress())
        except Exception as exc:  # keep the original error; report this one
            progress.warn(f"cleanup after failed create: {exc}")
            log.warning("cleanup after failed create of %s: %s", name, exc)
        try:
            await self._remove_worktree(workspace, progress, force=True, keep_branch=False)
        except Exception as exc:
            progress.warn(f"cleanup of the worktree after failed create: {exc}")
        self._store.remove(name)
        self._forget_keys(name)
        self.ssh_files.refresh()

    async def _wait_ssh(self, workspace: Workspace) -> None:
        conn = await self.connection(workspace, refresh_files=False)
        try:
            await ssh_exec.wait_ready(conn, timeout=self.ctx.config.ssh.connect_timeout)
        except NexusError as error:
            if error.code != ErrorCode.SSH_AUTH_REJECTED or conn.key_auth:
                raise
            conn = await self.connection(workspace, refresh_files=False, renew=True)
            await ssh_exec.wait_ready(conn, timeout=self.ctx.config.ssh.connect_timeout)

    # ---- lifecycle ---------------------------------------------------------------------------
    def _claim(self, workspace: Workspace, transition: WorkspaceStatus) -> WorkspaceStatus:
        """Mark a workspace busy; refuse if another process is mid-operation on it."""
        if in_flight(workspace):
            raise NexusError(
                ErrorCode.WORKSPACE_BUSY,
                f"workspace '{workspace.name}' is {workspace.status.value}",
                "Wait for that operation to finish, then retry.",
            )
        # a settled status, or a transition whose process died (stale: take over)
        allowed = (set(WorkspaceStatus) - TRANSITIONAL) | {workspace.status}
        if not self._store.set_status_if(workspace.name, allowed, transition):
            raise NexusError(
                ErrorCode.WORKSPACE_BUSY,
                f"workspace '{workspace.name}' is being changed by another process",
                "Wait for that operation to finish, then retry.",
            )
        return workspace.status

    async def start(self, name: str, progress: Progress | None = None) -> Workspace:
        progress = progress or NullProgress()
        workspace = self.get(name)
        backend = self._backend(workspace.backend)
        previous = self._claim(workspace, WorkspaceStatus.STARTING)
        try:
            await backend.start(workspace, progress)
            self.ssh_files.refresh()
            progress.step("ssh", "Waiting for SSH")
            await self._wait_ssh(workspace)
        except BaseException:
            await asyncio.shield(self._settle(workspace, previous))
            raise
        return self._store.update(name, status=WorkspaceStatus.RUNNING)

    async def stop(self, name: str, progress: Progress | None = None) -> Workspace:
        progress = progress or NullProgress()
        workspace = self.get(name)
        backend = self._backend(workspace.backend)
        previous = self._claim(workspace, WorkspaceStatus.STOPPING)
        try:
            await backend.stop(workspace, progress)
        except BaseException:
            await asyncio.shield(self._settle(workspace, previous))
            raise
        if workspace.metadata.get("delete_on_stop"):
            # ephemeral: the backend deleted it on stop; forget it too
            self._store.remove(name)
            self._forget_keys(name)
            self.ssh_files.refresh()
            return workspace.model_copy(update={"status": WorkspaceStatus.MISSING})
        return self._store.update(name, status=WorkspaceStatus.STOPPED)

    async def _settle(self, workspace: Workspace, fallback: WorkspaceStatus) -> None:
        """After a failed transition, record what the backend really says (or the old status)."""
        try:
            status = await self._backend(workspace.backend).get_status(workspace)
        except Exception:
            status = fallback
        with contextlib.suppress(NexusError):
            self._store.update(workspace.name, status=status)

    async def delete(
        self,
        name: str,
        progress: Progress | None = None,
        *,
        force: bool = False,
        keep_branch: bool = False,
    ) -> Workspace:
        """Remove the workspace, its container and its worktree.

        Never loses work silently: a worktree with uncommitted changes is refused without
        ``force``, and a branch with commits on no other branch is kept (unless ``force``).
        """
        progress = progress or NullProgress()
        workspace = self.get(name)
        record = workspace.metadata.get("worktree")
        if record and not force and await run_blocking(worktree.is_dirty, Path(record["path"])):
            raise NexusError(
                ErrorCode.GIT_WORKTREE_DIRTY,
                f"worktree {record['path']} has uncommitted changes",
                f"Commit or stash them on {record['branch']}, or delete with --force to discard them.",
            )
        if not force:
            self._claim(workspace, WorkspaceStatus.DELETING)
        else:
            self._store.update(name, status=WorkspaceStatus.DELETING)
        try:
            backend = self._backend(workspace.backend)
            await backend.delete(workspace, progress)
        except NexusError as exc:
            if not force:
                await asyncio.shield(self._settle(workspace, workspace.status))
                raise
            progress.warn(f"backend cleanup failed, removing the record anyway: {exc.message}")
        await self._remove_worktree(workspace, progress, force=force, keep_branch=keep_branch)
        self._store.remove(name)
        self._forget_keys(name)
        self.ssh_files.refresh()
        return workspace

    # ---- queries -----------------------------------------------------------------------------
    async def list(
        self, backend: BackendType | None = None, *, refresh: bool = True
    ) -> list[Workspace]:
        """All workspaces; with ``refresh`` each status is read from its engine (one call per backend)."""
        workspaces: list[Workspace] = self._store.list(backend)
        if not refresh:
            return workspaces
        by_backend: dict[BackendType, builtins.list[Workspace]] = {}
        for ws in workspaces:
            by_backend.setdefault(ws.backend, []).append(ws)
        statuses: dict[str, WorkspaceStatus] = {}

        async def read(backend_type: BackendType, group: builtins.list[Workspace]) -> None:
            try:
                statuses.update(await self._backend(backend_type).get_statuses(group))
            except NexusError as exc:
                log.warning("cannot refresh %s statuses: %s", backend_type.value, exc.message)
                statuses.update({ws.name: WorkspaceStatus.UNKNOWN for ws in group})

        # every backend at once: a slow or unreachable one does not hold up the others
        await asyncio.gather(*(read(b, group) for b, group in by_backend.items()))
        return [self._reconcile(ws, statuses.get(ws.name)) for ws in workspaces]

    def _reconcile(self, workspace: Workspace, observed: WorkspaceStatus | None) -> Workspace:
        """Record what the engine says, unless an operation is in flight (it owns the status)."""
        if observed is None or in_flight(workspace):
            return workspace
        if observed is WorkspaceStatus.UNKNOWN:
            return workspace.model_copy(update={"status": observed})
        if observed is not workspace.status:
            with contextlib.suppress(NexusError):
                return self._store.update(workspace.name, status=observed)
        return workspace

    async def refresh(self, name: str) -> Workspace:
        workspace = self.get(name)
        try:
            observed = await self._backend(workspace.backend).get_status(workspace)
        except NexusError as exc:
            log.warning("cannot refresh %s: %s", name, exc.message)
            observed = WorkspaceStatus.UNKNOWN
        return self._reconcile(workspace, observed)

    async def info(self, name: str) -> WorkspaceInfo:
        workspace = await self.refresh(name)
        backend = self._backend(workspace.backend)
        stats = None
        if workspace.status is WorkspaceStatus.RUNNING:
            with contextlib.suppress(NexusError):
                stats = await backend.get_resource_stats(workspace)
        return WorkspaceInfo(workspace, backend.get_capabilities(), stats)

    # ---- access ------------------------------------------------------------------------------
    async def connection(
        self, workspace: Workspace, *, refresh_files: bool = True, renew: bool = False
    ) -> SSHConnection:
        """The SSH endpoint with Nexus's client key; fresh credentials, current ssh files."""
        backend = self._backend(workspace.backend)
        conn: SSHConnection = await backend.get_ssh_connection(workspace, renew=renew)
        if conn.key_auth and conn.private_key is None and conn.private_key_path is None:
            key_path, _ = ensure_client_key(self.ctx.paths)
            conn = conn.model_copy(update={"private_key_path": key_path})
        if refresh_files:
            self.ssh_files.refresh()
        return conn

    async def connection_info(self, name: str) -> ConnectionInfo:
        """Everything an editor needs for Remote-SSH; the ssh files are current when this returns."""
        workspace = self.get(name)
        conn = await self.connection(workspace)
        alias = workspace.ssh_alias
        return ConnectionInfo(
            alias=alias,
            host=conn.host,
            port=conn.port,
            user=conn.username,
            remote_path=workspace.remote_path,
            authority=f"ssh-remote+{alias}",
            uri=remote_uri(alias, workspace.remote_path),
            ssh_command=self.ssh_files.ssh_command(alias),
            ssh_config_path=str(self.ssh_files.nexus_config),
        )

    async def open_target(
        self, name: str, path: str | None = None, mode: str | None = None
    ) -> OpenTarget:
        """What `open` should show: the remote folder over SSH, or the local folder/worktree.

        The mode comes from ``mode``, else config ``workspace.ide_mode[<backend>]``.
        """
        workspace = self.get(name)
        chosen = mode or self.ctx.config.workspace.ide_mode.get(workspace.backend, "remote-ssh")
        if chosen not in ("remote-ssh", "local"):
            raise NexusError(
                ErrorCode.INVALID_ARGUMENT,
                f"unknown open mode '{chosen}'",
                "Use --mode remote-ssh or --mode local.",
            )
        if chosen == "local":
            if not workspace.local_path:
                raise NexusError(
                    ErrorCode.CAPABILITY_NOT_SUPPORTED,
                    f"workspace '{name}' has no local folder",
                    "Open it over SSH with --mode remote-ssh.",
                )
            local = Path(workspace.local_path)
            if path:
                local = local / path.lstrip("/")
            return OpenTarget(mode="local", uri=local.as_uri(), local_path=str(local))
        info = await self.connection_info(name)
        remote = path or workspace.remote_path
        return OpenTarget(
            mode="remote-ssh", uri=remote_uri(info.alias, remote), local_path=workspace.local_path
        )

    async def running_connection(self, name: str) -> tuple[Workspace, SSHConnection]:
        workspace = await self.refresh(name)
        if workspace.status is not WorkspaceStatus.RUNNING:
            if (
                workspace.backend is BackendType.DAYTONA
                and workspace.status is WorkspaceStatus.STOPPED
            ):
                raise NexusError(
                    ErrorCode.DAYTONA_SANDBOX_STOPPED,
                    f"the Daytona sandbox of '{name}' is stopped (auto-stop or `workspace stop`)",
                    f"Run `nexus workspace start {name}`.",
                )
            if workspace.status is WorkspaceStatus.MISSING:
                raise NexusError(
                    ErrorCode.WORKSPACE_MISSING,
                    f"the {workspace.backend.value} side of workspace '{name}' no longer exists",
                    f"Delete it (`nexus workspace delete {name}`) and create it again.",
                )
            raise workspace_not_running(name, workspace.status.value)
        return workspace, await self.connection(workspace)

    async def exec(
        self,
        name: str,
        argv: builtins.list[str],
        *,
        stdout: ssh_exec.OutputSink,
        stderr: ssh_exec.OutputSink,
        stdin: asyncio.StreamReader | None = None,
        workdir: str | None = None,
    ) -> int:
        workspace, conn = await self.running_connection(name)
        for attempt in (1, 2):
            try:
                return await ssh_exec.run(
                    conn,
                    argv,
                    stdout=stdout,
                    stderr=stderr,
                    stdin=stdin,
                    workdir=workdir or workspace.remote_path or REMOTE_PATH,
                    forward_agent=self.ctx.config.ssh.forward_agent,
                    connect_timeout=self.ctx.config.ssh.connect_timeout,
                )
            except NexusError as error:
                # a token revoked or expired early on the server: renew once and retry
                if error.code != ErrorCode.SSH_AUTH_REJECTED or conn.key_auth or attempt == 2:
                    raise
                conn = await self.connection(workspace, renew=True)
        raise AssertionError("unreachable")
