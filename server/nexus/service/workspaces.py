"""Workspace use cases: create, start, stop, delete, list, info, exec, connection details."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import dataclasses
import logging
import math
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..access import exec as ssh_exec
from ..access import openssh
from ..access.keys import ensure_client_key, generate_ed25519, kept_host_public_key
from ..asyncutil import run_blocking
from ..domain.backend import Backend, BackendFacts
from ..domain.errors import ErrorCode, NexusError, workspace_not_running
from ..domain.kinds import REMOTE_PATH, TRANSITIONAL, BackendType, WorkspaceStatus, remote_uri
from ..domain.names import validate_name
from ..domain.progress import NullProgress, Progress
from ..fsutil import atomic_write
from ..ownership import SIDECAR, owner_alive, parse_owner
from ..paths import ensure_dir
from ..store import StateStore
from ..store.peek import AccessRecord
from ..vcs import isolation, worktree
from .backends import facts
from .context import NexusContext
from .ssh_files import SshFiles

if TYPE_CHECKING:
    from ..domain.create_options import CreateOptions
    from ..domain.models import (
        BackendCapabilities,
        ConnectionInfo,
        CreateRequest,
        OpenTarget,
        ProvisionKeys,
        Resources,
        ResourceStats,
        SSHConnection,
        Workspace,
    )
    from .sync import SyncService

log = logging.getLogger(__name__)


def _resources_given(resources: Resources) -> builtins.list[tuple[str, float]]:
    """The resources given, each with its name (cpu, memory, disk)."""
    given = (
        ("cpu", resources.cpu),
        ("memory", resources.memory_gb),
        ("disk", resources.disk_gb),
    )
    return [(what, value) for what, value in given if value is not None]


# Accepted range per resource (docs/cli.md). Memory below 64 MiB cannot run sshd and a shell
# (Docker refuses under 6 MiB, and rounds to whole MiB); the upper bounds only keep the numbers
# meaningful, the backend may allow less (Docker: no more CPUs than the engine has).
_RESOURCE_FIELD = {"cpu": "cpu", "memory": "memory_gb", "disk": "disk_gb"}
_RESOURCE_RANGE: dict[str, tuple[float, float, str]] = {
    "cpu": (0.01, 1024.0, " CPUs"),
    "memory": (0.0625, 65536.0, " GB"),
    "disk": (0.0625, 1048576.0, " GB"),
}


def in_flight(workspace: Workspace) -> bool:
    """An operation is running on it right now (a transition whose process is still alive)."""
    return workspace.status in TRANSITIONAL and owner_alive(workspace.owner)


CREATE_INTERRUPTED = "create_interrupted"  # metadata flag: the create died before it finished


# how long exec waits for an answer before asking the engine whether the workspace is there
TRUSTED_CONNECT_SECONDS = 1.0


def create_interrupted(workspace: Workspace) -> bool:
    """Its create never finished: the process making it is gone (killed, crashed, power loss)."""
    if workspace.metadata.get(CREATE_INTERRUPTED):
        return True
    return workspace.status is WorkspaceStatus.CREATING and not owner_alive(workspace.owner)


def _incomplete(name: str) -> NexusError:
    return NexusError(
        ErrorCode.WORKSPACE_INCOMPLETE,
        f"workspace '{name}' was never fully created: its create was interrupted "
        "before the workspace was ready",
        f"Delete it with `nexus workspace delete {name}`, then create it again.",
    )


@dataclass
class WorkspaceInfo:
    workspace: Workspace
    capabilities: BackendCapabilities
    stats: ResourceStats | None

    def to_json_dict(self) -> dict[str, Any]:
        data = self.workspace.public_dict()
        data["capabilities"] = self.capabilities.to_json_dict()
        data["stats"] = self.stats.to_json_dict() if self.stats else None
        block = self.workspace.metadata.get("sync")  # nexus.service.sync.SYNC_KEY
        data["sync"] = (
            {key: block.get(key) for key in ("local", "remote", "mode", "ignore")}
            if block
            else None
        )
        return data


class WorkspaceService:
    def __init__(self, context: NexusContext) -> None:
        self.ctx = context
        # never opens the store: `recover` must settle the installation id before it exists
        # (an upgraded store rewrites the ssh files when it is opened: NexusContext.store)
        self.ssh_files = SshFiles(context)

    # ---- helpers -----------------------------------------------------------------------------
    @property
    def _store(self) -> StateStore:
        return self.ctx.store

    def _backend(self, backend_type: BackendType) -> Backend:
        return self.ctx.backends.get(backend_type)

    @staticmethod
    def _facts(backend_type: BackendType) -> BackendFacts:
        return facts(backend_type)

    def get(self, name: str) -> Workspace:
        return self._store.get(validate_name(name))

    def _resolve_resources(self, options: CreateOptions, backend: BackendType) -> Resources:
        from ..domain.models import Resources

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
        for what, value in _resources_given(resources):
            low, high, unit = _RESOURCE_RANGE[what]
            if not math.isfinite(value) or value <= 0:
                raise NexusError(
                    ErrorCode.INVALID_ARGUMENT,
                    f"{what} must be a positive number (got {value})",
                    f"Pass a value from {low:.10g} to {high:.10g}{unit}.",
                    options=(_RESOURCE_FIELD[what],),
                )
            if value < low or value > high:
                raise NexusError(
                    ErrorCode.INVALID_ARGUMENT,
                    f"{what} must be between {low:.10g} and {high:.10g}{unit} (got {value:g})",
                    f"Pass a value from {low:.10g} to {high:.10g}{unit}.",
                    options=(_RESOURCE_FIELD[what],),
                )

    def _source_path(self, given: Path | None) -> Path:
        path = (given or Path.cwd()).expanduser()
        if not path.is_dir():
            raise NexusError(
                ErrorCode.SOURCE_NOT_FOUND,
                f"source folder {path} does not exist or is not a folder",
                "Name an existing folder as the source.",
                options=("source_path",),
            )
        return path.resolve()

    def _new_keys(self, name: str) -> ProvisionKeys:
        from ..domain.models import ProvisionKeys

        _, client_public = ensure_client_key(self.ctx.paths)
        host = generate_ed25519(f"nexus-{name}")
        key_file = ensure_dir(self.ctx.paths.host_keys_dir) / f"{name}_ed25519"
        atomic_write(key_file, host.private_openssh, mode=0o600)
        return ProvisionKeys(
            authorized_key=client_public,
            host_private_key=host.private_openssh,
            host_public_key=host.public_openssh,
        )

    async def close_shared_connection(self, workspace: Workspace) -> None:
        """End the OpenSSH master of ``workspace`` (and the sessions on it) before it goes away:
        a later workspace of the same name must never be reached through it."""
        path = openssh.control_path(self.ctx.paths.ssh_dir, workspace.ssh_alias)
        await run_blocking(openssh.close_master, path)

    def _forget_keys(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.ctx.paths.host_keys_dir / f"{name}_ed25519").unlink()

    # ---- create ------------------------------------------------------------------------------
    async def create(self, options: CreateOptions, progress: Progress | None = None) -> Workspace:
        from ..domain.models import CreateRequest, Workspace
        from .budget import check_budget
        from .recovery import record_labels

        progress = progress or NullProgress()
        name = validate_name(options.name)
        if not options.force_alias:
            self.ssh_files.check_alias_free(name)
        backend_type = options.backend or self.ctx.config.workspace.default_backend
        backend = self._backend(backend_type)
        resources = self._resolve_resources(options, backend_type)
        self._check_resources(resources)
        backend_facts = self._facts(backend_type)
        self._check_backend_options(options, backend_type, backend_facts, resources)
        check_budget(
            self.ctx,
            backend_type.value,
            progress,
            action="create",
            name=name,
            over_budget=options.over_budget,
        )
        mounts_local_folder = backend_facts.mounts_local_folder
        # a backend that syncs takes a local folder only when one is named (no cwd default)
        syncs_local_folder = backend_facts.syncs_local_folder and options.source_path is not None
        takes_local_folder = mounts_local_folder or syncs_local_folder
        source = self._source_path(options.source_path) if takes_local_folder else None
        sync = self.sync_service()
        if syncs_local_folder:
            await sync.check_available()  # SYNC_FAILED before anything is made
        await backend.ensure_ready()
        request = CreateRequest(
            name=name,
            backend=backend_type,
            resources=resources,
            source_path=source,
            labels=options.labels or {},
            env=options.env or {},
            **options.request_fields(),
        )
        use_worktree = takes_local_folder and (
            options.worktree if options.worktree is not None else self.ctx.config.workspace.worktree
        )
        root = await run_blocking(worktree.repo_root, source) if use_worktree and source else None
        if options.base and root is None:
            raise NexusError(
                ErrorCode.INVALID_ARGUMENT,
                "a worktree base needs the source folder to be inside a git repository",
                "Create from a folder inside a repository, or leave the base out.",
                options=("base",),
            )
        self._store.reserve(
            Workspace(
                name=name,
                backend=backend_type,
                status=WorkspaceStatus.CREATING,
                local_path=str(source) if source else None,
                resources=resources,
                labels=request.labels,
                forward_agent=(
                    options.forward_agent
                    if options.forward_agent is not None
                    else self.ctx.config.ssh.forward_agent
                ),
            )
        )
        try:
            if root is not None:
                await self._add_worktree(request, root, options.base, progress)
            elif source is not None and mounts_local_folder:
                # a plain folder: the repositories in it stay read-only
                # the whole tree is walked (a missed repository would be writable): say so
                progress.step("git", f"Looking for git repositories in {source}")
                request.mounts = await run_blocking(isolation.folder_mounts, source, REMOTE_PATH)
                if request.mounts:
                    progress.warn(
                        f"the git repositories in {source} are read-only in the workspace (no "
                        "commits there); anything else in the folder it may change, including "
                        "new repositories your shell or editor would run git in (docs/security.md)"
                    )
                self._store.update(
                    name,
                    metadata={
                        **self.get(name).metadata,
                        "git_dirs": [str(m.source) for m in request.mounts],
                    },
                )
            keys = await run_blocking(self._new_keys, name)
            request.record_labels = record_labels(self.get(name))
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
                # the --env variables too, so an export can carry them (the store is private)
                metadata={**self.get(name).metadata, **provisioned.metadata, "env": request.env},
            )
            progress.step("ssh", "Waiting for SSH")
            await self._refresh_files_waiting_ssh(self.get(name))
            if syncs_local_folder and request.source_path is not None:
                await self._start_sync(name, request.source_path, sync, progress)
            return self._store.update(name, status=WorkspaceStatus.RUNNING)
        except BaseException:
            await asyncio.shield(self._undo_create(name, progress))
            raise

    def sync_service(self) -> SyncService:
        from .sync import SyncService

        return SyncService(self)

    async def _start_sync(
        self, name: str, local: Path, sync: SyncService, progress: Progress
    ) -> None:
        """Keep the new workspace's folder in step with ``local`` (its worktree or the source)."""
        from .sync import SyncBlock

        workspace = self._store.update(name, local_path=str(local))
        block = SyncBlock(
            local=str(local), remote=workspace.remote_path, mode=self.ctx.config.sync.mode
        )
        await sync.start_on(workspace, block, progress)

    def _check_backend_options(
        self,
        options: CreateOptions,
        backend: BackendType,
        backend_facts: BackendFacts,
        resources: Resources,
    ) -> None:
        """Refuse what this backend does not take; the messages name options by their labels
        (an editor user reads them too: the CLI names its flags, ``nexus.cli.flags``)."""
        from ..domain.create_options import OPTION_BY_FIELD

        refused = [
            spec
            for spec in OPTION_BY_FIELD.values()
            if not spec.common
            and spec.field not in backend_facts.create_options
            and options.given(spec.field)
        ]
        if refused:
            takers = sorted(
                b.value
                for b in BackendType
                if b is not backend
                and all(spec.field in self._facts(b).create_options for spec in refused)
            )
            raise NexusError(
                ErrorCode.INVALID_ARGUMENT,
                f"the {backend.value} backend does not take: "
                f"{', '.join(spec.label for spec in refused)}",
                f"Choose the {' or '.join(takers)} backend, or leave those options out."
                if takers
                else "Leave those options out.",
                options=("backend", *(spec.field for spec in refused)),
            )
        if options.git_branch and not options.git_url:
            raise NexusError(
                ErrorCode.INVALID_ARGUMENT,
                "a git branch needs a git URL to clone",
                "Give the repository URL with the branch.",
                options=("git_url", "git_branch"),
            )
        if options.auto_stop_minutes is not None and options.auto_stop_minutes < 0:
            raise NexusError(
                ErrorCode.INVALID_ARGUMENT,
                "auto-stop must be 0 (never) or a number of minutes",
                "Give a number of minutes, e.g. 30, or 0 to disable.",
                options=("auto_stop_minutes",),
            )
        fractional = [
            what for what, value in _resources_given(resources) if not float(value).is_integer()
        ]
        if backend_facts.whole_resources and fractional:
            raise NexusError(
                ErrorCode.INVALID_ARGUMENT,
                f"the {backend.value} backend takes whole numbers for {', '.join(fractional)}",
                "Give whole CPUs and GB, e.g. cpu 2, memory 4.",
                options=tuple(_RESOURCE_FIELD[what] for what in fractional),
            )

    async def _add_worktree(
        self, request: CreateRequest, root: Path, base: str | None, progress: Progress
    ) -> None:
        """Make ``.worktree/<name>`` on ``nexus/<name>`` and mount it, with the repository's git dir."""
        progress.step(
            "worktree", f"Creating git worktree on branch {worktree.branch_name(request.name)}"
        )
        # recorded in the same thread as git made it: a create cancelled meanwhile still undoes it
        tree = await run_blocking(self._create_recorded_worktree, root, request.name, base)
        request.source_path = tree.path
        # nothing the workspace writes may become git config, hooks or paths the host runs
        request.mounts = await run_blocking(isolation.worktree_mounts, tree, REMOTE_PATH)
        request.git_config = {
            **(await run_blocking(worktree.identity, tree.repo_root)),
            **isolation.WORKSPACE_GIT_SETTINGS,
        }

    @staticmethod
    def _made_by_nexus(workspace: Workspace, record: dict[str, str]) -> bool:
        """The worktree is the one Nexus makes for ``workspace``: ``.worktree/<name>`` on
        ``nexus/<name>`` (a record rebuilt from labels by recover may name anything)."""
        root = Path(record["repo"])
        return (record["branch"], Path(record["path"])) == (
            worktree.branch_name(workspace.name),
            root / worktree.WORKTREE_DIR / workspace.name,
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
        if not self._made_by_nexus(workspace, record):
            # Nexus only ever makes .worktree/<name> on nexus/<name>; anything else in a record
            # (rebuilt from labels by recover) is not Nexus's to delete
            progress.warn(
                f"kept worktree {path} and branch {branch}: not the worktree Nexus makes for "
                f"'{workspace.name}' (remove them yourself if they are yours to remove)"
            )
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
        await self.sync_service().before_delete(
            workspace.model_copy(update={"status": WorkspaceStatus.ERROR}), progress
        )
        try:
            await self._backend(workspace.backend).delete(workspace, NullProgress())
        except Exception as exc:  # keep the original error; report this one
            # what it made may still exist: keep the record, so `delete` can finish the job
            message = exc.message if isinstance(exc, NexusError) else str(exc)
            progress.warn(
                f"could not remove what the failed create made ({message}); kept workspace "
                f"'{name}' as error: delete it once the backend is back"
            )
            log.warning("cleanup after failed create of %s: %s", name, exc)
            with contextlib.suppress(NexusError):
                self._store.update(name, status=WorkspaceStatus.ERROR)
            return
        try:
            await self._remove_worktree(workspace, progress, force=True, keep_branch=False)
        except Exception as exc:
            progress.warn(f"cleanup of the worktree after failed create: {exc}")
        self._store.remove(name)
        self._forget_keys(name)
        self.ssh_files.refresh()

    async def _refresh_files_waiting_ssh(self, workspace: Workspace) -> None:
        """Write the ssh files while sshd comes up (neither needs the other)."""
        await asyncio.gather(run_blocking(self.ssh_files.refresh), self._wait_ssh(workspace))

    async def _wait_ssh(self, workspace: Workspace) -> None:
        """Wait for the workspace's sshd: on Docker its banner, elsewhere a login.

        A token gateway closes the connection after login both for a token it refuses and while
        the sandbox's sshd is not reachable yet (just after create/start): each time, the token
        is checked with the API (and replaced if it is no longer valid), and the wait goes on
        until the connect deadline."""
        timeout = self.ctx.config.ssh.connect_timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        conn = await self.connection(workspace, refresh_files=False)
        if self._facts(workspace.backend).ssh_ready == "banner":
            # Nexus's image starts sshd last, its keys in place: the banner says a login works
            await ssh_exec.wait_banner(conn, timeout)
            return
        delay = 0.2
        while True:
            try:
                await ssh_exec.wait_ready(conn, timeout=max(1.0, deadline - loop.time()))
                return
            except NexusError as error:
                if error.code != ErrorCode.SSH_AUTH_REJECTED or conn.key_auth:
                    raise
                if loop.time() + delay >= deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
            conn = await self.connection(workspace, refresh_files=False, renew=True)

    # ---- lifecycle ---------------------------------------------------------------------------
    def _claim(self, workspace: Workspace, transition: WorkspaceStatus) -> WorkspaceStatus:
        """Mark a workspace busy; refuse if another process is mid-operation on it."""
        if in_flight(workspace):
            raise NexusError(
                ErrorCode.WORKSPACE_BUSY,
                f"workspace '{workspace.name}' is {workspace.status.value}",
                "Wait for that operation to finish, then retry.",
            )
        if transition is not WorkspaceStatus.DELETING and create_interrupted(workspace):
            self._mark_interrupted(workspace)
            raise _incomplete(workspace.name)
        # a settled status, or a transition whose process died (stale: take over)
        allowed = (set(WorkspaceStatus) - TRANSITIONAL) | {workspace.status}
        if not self._store.set_status_if(workspace.name, allowed, transition):
            raise NexusError(
                ErrorCode.WORKSPACE_BUSY,
                f"workspace '{workspace.name}' is being changed by another process",
                "Wait for that operation to finish, then retry.",
            )
        return workspace.status

    async def start(
        self, name: str, progress: Progress | None = None, *, over_budget: bool = False
    ) -> Workspace:
        progress = progress or NullProgress()
        workspace = self.get(name)
        if workspace.status is not WorkspaceStatus.RUNNING:
            from .budget import check_budget

            check_budget(
                self.ctx,
                workspace.backend.value,
                progress,
                action="start",
                name=name,
                over_budget=over_budget,
            )
        backend = self._backend(workspace.backend)
        previous = self._claim(workspace, WorkspaceStatus.STARTING)
        try:
            await backend.start(workspace, progress)
            progress.step("ssh", "Waiting for SSH")
            await self._refresh_files_waiting_ssh(workspace)
        except BaseException:
            await asyncio.shield(self._settle(workspace, previous))
            raise
        started = self._store.update(name, status=WorkspaceStatus.RUNNING)
        await self.sync_service().after_start(started, progress)
        return started

    async def stop(self, name: str, progress: Progress | None = None) -> Workspace:
        progress = progress or NullProgress()
        workspace = self.get(name)
        backend = self._backend(workspace.backend)
        previous = self._claim(workspace, WorkspaceStatus.STOPPING)
        try:
            await self.sync_service().before_stop(workspace, progress)
            await self._stop_previews(workspace, progress)
            await self.close_shared_connection(workspace)
            removed = await backend.stop(workspace, progress)
        except BaseException:
            await asyncio.shield(self._settle(workspace, previous))
            raise
        if removed:
            # ephemeral: the backend deleted it on stop; forget it too
            gone = workspace.model_copy(update={"status": WorkspaceStatus.MISSING})
            await self.sync_service().before_delete(gone, progress)
            self._store.remove(name)
            self._forget_keys(name)
            self.ssh_files.refresh()
            return workspace.model_copy(update={"status": WorkspaceStatus.MISSING})
        return self._store.update(name, status=WorkspaceStatus.STOPPED)

    async def _stop_previews(self, workspace: Workspace, progress: Progress) -> None:
        """End the workspace's background previews (they would only serve errors now)."""
        from .preview import stop_previews

        try:
            stopped = await stop_previews(self.ctx, workspace.name)
        except (NexusError, OSError) as exc:
            progress.warn(f"could not stop the previews of '{workspace.name}': {exc}")
            return
        for record in stopped:
            progress.step("preview", f"Stopped the preview of port {record.port} ({record.url})")

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
        forget: bool = False,
    ) -> DeleteResult:
        """Remove the workspace, its container and its worktree.

        Never loses work silently: a worktree with uncommitted changes is refused without
        ``force``, and a branch with commits on no other branch is kept (unless ``force``).
        Never drops a record whose container / sandbox may still exist without saying so: when
        the backend cannot remove it the record is kept, unless ``forget``, which drops it and
        reports what is left behind. With ``force`` (or ``forget``) an operation another process
        is running on the workspace is cancelled first.
        """
        progress = progress or NullProgress()
        workspace = self.get(name)
        if (force or forget) and in_flight(workspace):
            remaining = await self._cancel_owner(workspace, progress)
            if remaining is None:  # it was a create: its own cleanup removed everything
                return DeleteResult(workspace, cancelled=True)
            workspace = remaining
        if not force and not forget:
            # what the workspace changed last arrives before the worktree is checked
            await self.sync_service().last_flush(workspace, progress)
        record = workspace.metadata.get("worktree")
        if (
            record
            and self._made_by_nexus(workspace, record)
            and not force
            and await run_blocking(
                worktree.is_dirty, Path(record["path"]), Path(record["common_dir"])
            )
        ):
            raise NexusError(
                ErrorCode.GIT_WORKTREE_DIRTY,
                f"worktree {record['path']} has uncommitted changes",
                f"Commit or stash them on {record['branch']}, or force the delete to discard them.",
                options=("force",),
            )
        if not force and not forget:
            self._claim(workspace, WorkspaceStatus.DELETING)
        else:
            self._store.update(name, status=WorkspaceStatus.DELETING)
        left_behind: builtins.list[dict[str, str]] = []
        try:
            backend = self._backend(workspace.backend)
            await self.sync_service().before_delete(workspace, progress)
            await self._stop_previews(workspace, progress)
            await self.close_shared_connection(workspace)
            await backend.delete(workspace, progress)
        except NexusError as exc:
            if not forget:
                await asyncio.shield(self._settle(workspace, workspace.status))
                raise self._kept(workspace, exc, force=force) from None
            left_behind.append(self._left_behind(workspace, exc))
        await self._remove_worktree(workspace, progress, force=force, keep_branch=keep_branch)
        self._store.remove(name)
        self._forget_keys(name)
        self.ssh_files.refresh()
        return DeleteResult(workspace, left_behind=left_behind)

    # ---- queries -----------------------------------------------------------------------------
    async def list(
        self, backend: BackendType | None = None, *, refresh: bool = True
    ) -> list[Workspace]:
        """All workspaces; with ``refresh`` each status is read from its engine (one call per backend)."""
        workspaces: list[Workspace] = self._store.list(backend)
        self.unrecorded = ()  # this call's finding only, never a previous call's
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
        self.unrecorded = await self._unrecorded(set(by_backend), backend)
        return [self._observed(self._reconcile(ws, statuses.get(ws.name))) for ws in workspaces]

    def _observed(self, workspace: Workspace) -> Workspace:
        """The record with what the last status read said beyond the status (its auto-stop)."""
        if workspace.status is not WorkspaceStatus.RUNNING:
            return workspace
        auto_stop = self._backend(workspace.backend).observed_auto_stop(workspace.name)
        return (
            workspace
            if auto_stop is None
            else workspace.model_copy(update={"auto_stop": auto_stop})
        )

    def _reconcile(self, workspace: Workspace, observed: WorkspaceStatus | None) -> Workspace:
        """Record what the engine says, unless an operation is in flight (it owns the status).

        A workspace whose create was interrupted stays ``error`` whatever its container does:
        it has no working SSH access, and only delete can finish it.
        """
        if in_flight(workspace):
            return workspace
        if create_interrupted(workspace):
            return self._mark_interrupted(workspace)
        if observed is None:
            return workspace
        if observed is WorkspaceStatus.UNKNOWN:
            return workspace.model_copy(update={"status": observed})
        if observed is not workspace.status:
            with contextlib.suppress(NexusError):
                return self._store.update(workspace.name, status=observed)
        return workspace

    def _mark_interrupted(self, workspace: Workspace) -> Workspace:
        """Record an interrupted create as ``error`` with the flag (a compare-and-set: a delete
        that took the workspace over meanwhile wins)."""
        if workspace.status is WorkspaceStatus.ERROR and workspace.metadata.get(CREATE_INTERRUPTED):
            return workspace
        with contextlib.suppress(NexusError):
            # ``workspace`` may have been read while its create was still running (a listing
            # that overlapped it): only the record as it is now, read after its owner was seen
            # gone (a process that is gone writes nothing more), tells whether it was cut short
            current = self._store.get(workspace.name)
            if not create_interrupted(current):
                return current
            workspace = current
            if not workspace.metadata.get(CREATE_INTERRUPTED):
                self._store.update_metadata(
                    workspace.name, lambda data: data.update({CREATE_INTERRUPTED: True})
                )
            self._store.set_status_if(workspace.name, {workspace.status}, WorkspaceStatus.ERROR)
            return self._store.get(workspace.name)
        return workspace.model_copy(update={"status": WorkspaceStatus.ERROR})

    async def refresh(self, name: str) -> Workspace:
        """The workspace with the status its engine reports now.

        A backend that cannot answer (API key rejected, API down, Docker unreachable) raises its
        own error here: exec, ssh and info say what is wrong instead of "status unknown"
        (only ``list`` tolerates it and shows ``unknown``).
        """
        workspace = self.get(name)
        observed = await self._backend(workspace.backend).get_status(workspace)
        return self._observed(self._reconcile(workspace, observed))

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
        if not conn.host_key:
            conn = await self._repin_host_key(workspace, conn)
            refresh_files = True  # known_hosts gets the key back
        if conn.key_auth and conn.private_key is None and conn.private_key_path is None:
            key_path, _ = ensure_client_key(self.ctx.paths)
            conn = conn.model_copy(update={"private_key_path": key_path})
        if refresh_files:
            self.ssh_files.refresh()
        return conn

    async def _repin_host_key(self, workspace: Workspace, conn: SSHConnection) -> SSHConnection:
        """The store lost the pinned host key: pin it again from a source Nexus trusts, or not at all.

        A key-auth workspace (Docker) gets it back from the host key Nexus generated for it
        (``ssh/host_keys/<name>_ed25519``); a token gateway (Daytona) is pinned on first contact,
        as at create. Without either the connection stays unpinned and exec refuses it
        (HOST_KEY_UNKNOWN), never connecting to an unchecked server.
        """
        host_key: str | None = None
        if conn.key_auth:
            host_key = await run_blocking(kept_host_public_key, self.ctx.paths, workspace.name)
            if host_key is None:  # exec then refuses with HOST_KEY_UNKNOWN, which says what to do
                return conn
        else:
            host_key = await ssh_exec.fetch_host_key(conn.host, conn.port)
        with contextlib.suppress(NexusError):
            self._store.update(workspace.name, host_key=host_key)
        log.info("re-pinned the host key of %s", workspace.name)
        return conn.model_copy(update={"host_key": host_key})

    async def connection_info(self, name: str) -> ConnectionInfo:
        """Everything an editor needs for Remote-SSH; the ssh files are current when this returns."""
        from ..domain.models import ConnectionInfo

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
        from ..domain.models import OpenTarget

        workspace = self.get(name)
        chosen = mode or self.ctx.config.workspace.ide_mode.get(workspace.backend, "remote-ssh")
        if chosen not in ("remote-ssh", "local"):
            raise NexusError(
                ErrorCode.INVALID_ARGUMENT,
                f"unknown open mode '{chosen}'",
                "Use mode remote-ssh or local.",
                options=("mode",),
            )
        if chosen == "local":
            if not workspace.local_path:
                raise NexusError(
                    ErrorCode.CAPABILITY_NOT_SUPPORTED,
                    f"workspace '{name}' has no local folder",
                    "Open it over SSH (mode remote-ssh).",
                    options=("mode",),
                )
            local = Path(workspace.local_path)
            await run_blocking(self._refuse_planted_repositories, workspace, local)
            if path:
                local = local / path.lstrip("/")
            return OpenTarget(mode="local", uri=local.as_uri(), local_path=str(local))
        info = await self.connection_info(name)
        remote = path or workspace.remote_path
        return OpenTarget(
            mode="remote-ssh", uri=remote_uri(info.alias, remote), local_path=workspace.local_path
        )

    def _refuse_planted_repositories(self, workspace: Workspace, folder: Path) -> None:
        """An editor opening the folder locally runs git on this machine in every repository it
        finds there; one the workspace made has a config the workspace chose (core.fsmonitor...)."""
        if not folder.is_dir():
            return
        known = workspace.metadata.get("git_dirs")
        record = workspace.metadata.get("worktree")
        if known is None and record:  # a record from before git_dirs, or rebuilt by recover
            known = [str(Path(record["path"]) / ".git")]
        # a plain folder whose repositories were not recorded: every one counts (fail closed)
        planted = isolation.planted_repositories(folder, set(known or ()))
        if planted:
            raise NexusError(
                ErrorCode.GIT_UNTRUSTED_REPOSITORY,
                "the workspace made git repositories in its folder "
                f"({', '.join(map(str, planted))}); "
                "an editor's git integration on this machine would run what their config says",
                "Open the workspace over SSH (mode remote-ssh), where git runs inside it, "
                "or look at those folders and remove them, then open it locally again.",
            )

    async def running_connection(self, name: str) -> tuple[Workspace, SSHConnection]:
        workspace = await self.refresh(name)
        if workspace.status is not WorkspaceStatus.RUNNING:
            if create_interrupted(workspace):
                raise _incomplete(name)
            backend_facts = self._facts(workspace.backend)
            if backend_facts.stopped_code and workspace.status is WorkspaceStatus.STOPPED:
                raise NexusError(
                    backend_facts.stopped_code,
                    f"the {workspace.backend.value} {backend_facts.resource_kind} of '{name}' is "
                    "stopped (auto-stop or `workspace stop`)",
                    f"Run `nexus workspace start {name}` (`exec` and `ssh` take `--start` to "
                    "start it first).",
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
        async def run(conn: SSHConnection, workspace: Workspace, connect_timeout: float) -> int:
            return await ssh_exec.run(
                conn,
                argv,
                stdout=stdout,
                stderr=stderr,
                stdin=stdin,
                workdir=workdir or workspace.remote_path or REMOTE_PATH,
                forward_agent=workspace.forward_agent,
                connect_timeout=connect_timeout,
            )

        trusted = self.get(name)
        if AccessRecord.of(trusted).reachable_directly:
            # no engine call: the connection attempt itself tells a workspace that is not there
            try:
                conn = await self.connection(trusted, refresh_files=False)
                return await run(conn, trusted, TRUSTED_CONNECT_SECONDS)
            except ssh_exec.NotReached:
                pass  # ask the engine below: a precise error, or a full wait if it is running
        workspace, conn = await self.running_connection(name)
        for attempt in (1, 2):
            try:
                return await run(conn, workspace, self.ctx.config.ssh.connect_timeout)
            except NexusError as error:
                # a token revoked or expired early on the server: renew once and retry
                if error.code != ErrorCode.SSH_AUTH_REJECTED or conn.key_auth or attempt == 2:
                    raise
                conn = await self.connection(workspace, renew=True)
        raise AssertionError("unreachable")

    # ---- delete and recovery helpers -----------------------------------------------------------
    def _create_recorded_worktree(
        self, root: Path, name: str, base: str | None
    ) -> worktree.Worktree:
        """Make the worktree and record it at once (blocking; one worker thread), with the one
        git dir the workspace may hold (``_refuse_planted_repositories`` reads ``git_dirs``)."""
        tree = worktree.create_worktree(root, name, base)
        record = {
            "repo": str(tree.repo_root),
            "path": str(tree.path),
            "branch": tree.branch,
            "base": tree.base,
            "common_dir": str(tree.common_dir),
        }
        self._store.update(
            name,
            local_path=str(tree.path),
            branch=tree.branch,
            metadata={"worktree": record, "git_dirs": [str(tree.path / ".git")]},
        )
        return tree

    async def _cancel_owner(self, workspace: Workspace, progress: Progress) -> Workspace | None:
        """Stop the live process running a transition of ``workspace`` (SIGTERM: the CLI cancels
        and cleans up), wait for it to exit, and return what is left of the record."""
        name, owner = workspace.name, workspace.owner or ""
        parsed = parse_owner(owner)
        busy = f"workspace '{name}' is {workspace.status.value}"
        if parsed is None or not parsed.local:
            host = parsed.host if parsed else "unknown"
            raise NexusError(
                ErrorCode.WORKSPACE_BUSY,
                f"{busy} by a process on host {host}",
                "Stop that operation there, or wait for it to finish, then retry.",
            )
        pid = parsed.pid
        if pid == os.getpid() or parsed.role == SIDECAR:
            raise NexusError(
                ErrorCode.WORKSPACE_BUSY,
                f"{busy} by the editor sidecar (process {pid})",
                "Cancel that operation in the editor, or wait for it to finish, then retry.",
            )
        progress.step("cancel", f"Cancelling the operation of process {pid} on '{name}'")
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass  # it has just finished
        except PermissionError:
            raise NexusError(
                ErrorCode.WORKSPACE_BUSY,
                f"{busy} by process {pid}, which belongs to another user: Nexus cannot stop it",
                f"Wait for it to finish, or have its owner (or root) stop process {pid}, "
                "then retry.",
            ) from None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CANCEL_WAIT_SECONDS
        while owner_alive(owner) and not _exited(pid):
            if loop.time() > deadline:
                raise NexusError(
                    ErrorCode.WORKSPACE_BUSY,
                    f"{busy}: process {pid} did not stop within {CANCEL_WAIT_SECONDS:.0f} s",
                    f"Stop process {pid} yourself, then retry.",
                )
            await asyncio.sleep(0.2)
        return self._store.find(name)

    def _resource_name(self, workspace: Workspace) -> str:
        """The name of the container / sandbox behind ``workspace`` (as recorded, or as made)."""
        recorded = workspace.metadata.get(self._facts(workspace.backend).resource_name_key)
        return str(recorded or f"nexus-{workspace.name}-{self._store.installation_id}")

    def _resource_of(self, workspace: Workspace) -> tuple[str, str]:
        """(kind, reference) of the container / sandbox behind ``workspace``."""
        kind = self._facts(workspace.backend).resource_kind
        return kind, workspace.backend_id or self._resource_name(workspace)

    def _kept(self, workspace: Workspace, error: NexusError, *, force: bool) -> NexusError:
        """The backend's own error, saying the record stays and naming both ways out."""
        kind, ref = self._resource_of(workspace)
        name = workspace.name
        fix = error.resolution.rstrip(". ") or "Fix the backend"
        return NexusError(
            error.code,
            f"{error.message}; workspace '{name}' is kept, since its {kind} {ref} may still exist",
            f"{fix}, then delete '{name}' again{' (forced)' if force else ''}; or delete it "
            "with forget to drop only Nexus's record (it lists what is left to remove by hand).",
            options=("force", "forget") if force else ("forget",),
        )

    def _left_behind(self, workspace: Workspace, error: NexusError) -> dict[str, str]:
        kind, ref = self._resource_of(workspace)
        command = self._facts(workspace.backend).cleanup_command.format(ref=ref)
        return {
            "backend": workspace.backend.value,
            "kind": kind,
            "id": ref,
            "name": self._resource_name(workspace),
            "command": command,
            "reason": f"{error.code}: {error.message}",
        }

    # workspaces with a container of this installation but no record, seen by the last list()
    unrecorded: tuple[str, ...] = ()

    async def _unrecorded(
        self, read: set[BackendType], only: BackendType | None
    ) -> tuple[str, ...]:
        """Workspaces of this installation on a backend but with no record (a lost store), from
        the status reads ``list`` made anyway. A key-login backend ``list`` did not read (no
        record on it at all) is asked only when this home keeps host keys of workspaces it has
        no record of (Nexus made them at create); a token backend only when it was read."""
        recorded = {ws.name for ws in self._store.list()}
        keys = self.ctx.paths.host_keys_dir
        unknown_keys = {p.name.removesuffix("_ed25519") for p in keys.glob("*_ed25519")} - recorded
        found: builtins.list[str] = []
        for backend_type in BackendType:
            if only is not None and backend_type is not only:
                continue
            if not self.ctx.backend_enabled(backend_type):
                continue
            was_read = backend_type in read
            if not was_read and (not unknown_keys or self._facts(backend_type).token_auth):
                continue
            try:
                backend = self._backend(backend_type)
                if not was_read:
                    await backend.get_statuses([])
                found += backend.unrecorded(recorded)
            except NexusError:
                continue
        return tuple(sorted(set(found)))


CANCEL_WAIT_SECONDS = 30.0


def _exited(pid: int) -> bool:
    """The process has finished (a zombie its parent has not collected yet counts as finished,
    where ``/proc`` tells; elsewhere whether the pid still exists)."""
    if not os.path.isdir("/proc/self"):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False  # exists, another user's
        return False
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return True


@dataclass
class DeleteResult:
    workspace: Workspace
    cancelled: bool = False  # it was being created: that create was cancelled and cleaned up
    left_behind: builtins.list[dict[str, str]] = dataclasses.field(default_factory=builtins.list)

    def to_json_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "deleted": self.workspace.name,
            "backend": self.workspace.backend.value,
            "leftBehind": self.left_behind,
        }
        if self.cancelled:
            data["cancelledCreate"] = True
        return data
