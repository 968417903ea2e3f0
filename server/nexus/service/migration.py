"""`nexus workspace export | import | migrate`: move a workspace to another backend.

Git and tar run only inside workspaces (the source at export, the target at import), over
Nexus's SSH exec; this machine moves bytes and reads nothing of an export but its manifest,
which it validates, checking every member's size and sha256 before the target is created
(docs/migration.md has the format). A target that fails at any step is deleted; ``migrate``
stops the source only once the target's working tree hashes to the source's.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from ..asyncutil import run_blocking
from ..disk_space import DiskGuard
from ..domain.errors import ErrorCode, NexusError
from ..domain.kinds import BackendType
from ..domain.names import validate_name
from ..domain.progress import NullProgress, Progress
from ..migration import scripts
from ..migration.manifest import BUNDLE_NAME, WORKTREE_NAME, Manifest, valid_branch
from ..paths import ensure_dir
from .backends import facts

if TYPE_CHECKING:
    from ..domain.models import Workspace
    from ..migration.reader import ExportFile
    from ..migration.remote import Outcome, Remote
    from .workspaces import WorkspaceService

_HEX_LENGTHS = (40, 64)


# ---- results -----------------------------------------------------------------------------------
@dataclass
class ExportResult:
    workspace: str
    manifest: Manifest
    path: str | None  # None: written to a stream (stdout)

    @property
    def bytes(self) -> int:
        return sum(member.size for member in self.manifest.members)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "workspace": self.workspace,
            "path": self.path,
            "branch": self.manifest.branch,
            "head": self.manifest.head,
            "tree": self.manifest.tree,
            "repository": self.manifest.repo,
            "targetBackend": self.manifest.target_backend,
            "bytes": self.bytes,
        }


@dataclass
class ImportResult:
    workspace: Workspace
    manifest: Manifest

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "workspace": self.workspace.public_dict(),
            "source": {
                "name": self.manifest.source_name,
                "backend": self.manifest.source_backend,
            },
            "branch": self.manifest.branch,
            "head": self.manifest.head,
            "tree": self.manifest.tree,
            "verified": True,
        }


@dataclass
class MigrateResult:
    source: str
    imported: ImportResult
    source_stopped: bool
    warnings: list[str] = field(default_factory=list)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            **self.imported.to_json_dict(),
            "source": {
                "name": self.source,
                "backend": self.imported.manifest.source_backend,
                "stopped": self.source_stopped,
            },
            "warnings": self.warnings,
        }


# ---- helpers -----------------------------------------------------------------------------------
def private_temp(service: WorkspaceService) -> Path:
    """A folder only this user reads, under NEXUS_HOME (an export may hold env values)."""
    base = ensure_dir(ensure_dir(service.ctx.paths.home) / "tmp")
    return Path(tempfile.mkdtemp(prefix="migration-", dir=base))


def fit_resources(
    resources: dict[str, float | None], backend: BackendType
) -> dict[str, float | None]:
    """The resources as ``backend`` takes them: whole numbers (rounded up) where it needs them."""
    if not facts(backend).whole_resources:
        return dict(resources)
    return {k: float(math.ceil(v)) if v is not None else None for k, v in resources.items()}


def _script_failed(workspace: str, what: str, outcome: Outcome) -> NexusError:
    text = outcome.error_text()
    if outcome.code == scripts.EXIT_NO_GIT:
        return NexusError(
            ErrorCode.GIT_FAILED,
            f"{what}: there is no git in workspace '{workspace}'",
            "Install git in the workspace image (Debian: apt-get install git).",
        )
    if outcome.code == scripts.EXIT_NO_TAR:
        return NexusError(
            ErrorCode.GIT_FAILED,
            f"{what}: there is no tar in workspace '{workspace}'",
            "Install tar in the workspace image (Debian: apt-get install tar).",
        )
    return NexusError(
        ErrorCode.GIT_FAILED,
        f"{what} in workspace '{workspace}' failed (exit {outcome.code})"
        + (f": {text}" if text else ""),
        "See the message; fix it inside the workspace (`nexus workspace ssh`), then retry.",
    )


def _untrusted(workspace: str, what: str) -> NexusError:
    return NexusError(
        ErrorCode.GIT_FAILED,
        f"workspace '{workspace}' answered with an unexpected {what}",
        "Check git in the workspace (`nexus workspace exec " + workspace + " -- git status`).",
    )


async def _remote(service: WorkspaceService, name: str) -> Remote:
    from ..migration.remote import Remote

    workspace, conn = await service.running_connection(name)
    return Remote(service, workspace, conn)


# ---- export ------------------------------------------------------------------------------------
async def export_workspace(
    service: WorkspaceService,
    name: str,
    out: BinaryIO,
    *,
    target_backend: BackendType | None = None,
    progress: Progress | None = None,
    path: str | None = None,
) -> ExportResult:
    """Write the export of running workspace ``name`` to ``out`` (``path``: what to report)."""
    from .. import __version__
    from ..migration.writer import write_export

    progress = progress or NullProgress()
    remote = await _remote(service, name)
    workspace = remote.workspace
    progress.step("snapshot", f"Taking a snapshot of {name}'s branch and working copy")
    outcome = await remote.run(scripts.EXPORT)
    values = scripts.parse_output(outcome.out)
    remote_dir = values.get("dir", "")
    if not scripts.temp_dir(remote_dir):
        remote_dir = ""
    local = await run_blocking(private_temp, service)
    try:
        if outcome.code != 0:
            raise _script_failed(name, "taking the snapshot", outcome)
        if not remote_dir:
            raise _untrusted(name, "snapshot folder")
        manifest = _manifest_from(name, workspace, values, target_backend, __version__)
        members = [BUNDLE_NAME, WORKTREE_NAME] if manifest.has_bundle else [WORKTREE_NAME]
        files = []
        for member in members:
            progress.step("download", f"Reading {member} from {name}")
            target = local / member
            with target.open("wb") as handle:
                guarded = DiskGuard(handle, local, f"reading {member} from {name}")
                got = await remote.run(scripts.CAT, remote_dir, member, stdout=guarded)
            if got.code != 0:
                raise _script_failed(name, f"reading {member}", got)
            files.append(target)
        progress.step("write", "Writing the export")
        await run_blocking(write_export, out, manifest, files)
        return ExportResult(name, manifest, path)
    finally:
        if remote_dir:
            with contextlib.suppress(NexusError):
                await asyncio.shield(remote.run(scripts.REMOVE, remote_dir))
        await run_blocking(shutil.rmtree, local, True)


def _manifest_from(
    name: str,
    workspace: Workspace,
    values: dict[str, str],
    target_backend: BackendType | None,
    version: str,
) -> Manifest:
    """The manifest of what the source's snapshot script printed (checked: it is the
    workspace's word)."""
    repo = values.get("repo")
    branch = values.get("branch") or None
    head = values.get("head") or None
    tree = values.get("tree", "")
    if repo not in ("true", "false"):
        raise _untrusted(name, "repository flag")
    if branch is not None and not valid_branch(branch):
        raise NexusError(
            ErrorCode.GIT_FAILED,
            f"the branch {branch!r} of workspace '{name}' has a name Nexus does not move",
            "Rename the branch inside the workspace (git branch -m NEW), then retry.",
        )
    for text in (head, tree):
        if text is not None and (len(text) not in _HEX_LENGTHS or text.strip("0123456789abcdef")):
            raise _untrusted(name, "git object id")
    resources = workspace.resources.model_dump()
    target = target_backend
    env = workspace.metadata.get("env")
    return Manifest(
        source_name=name,
        source_backend=workspace.backend.value,
        tree=tree,
        repo=repo == "true",
        branch=branch,
        head=head,
        target_backend=target.value if target else None,
        resources=fit_resources(resources, target) if target else resources,
        labels=dict(workspace.labels),
        env={str(k): str(v) for k, v in env.items()} if isinstance(env, dict) else {},
        nexus_version=version,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


# ---- import ------------------------------------------------------------------------------------
async def read_export_file(path: Path) -> ExportFile:
    from ..migration.reader import read_export

    return await run_blocking(read_export, path)


async def import_stream(
    service: WorkspaceService,
    name: str,
    stream: BinaryIO,
    *,
    backend: BackendType | None = None,
    folder: Path | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """``import_workspace`` of an export read from ``stream`` (kept in a private file first:
    it is checked whole before anything is created)."""
    progress = progress or NullProgress()
    local = await run_blocking(private_temp, service)
    try:
        path = local / "import.nexus"
        progress.step("read", "Reading the export")
        await run_blocking(_copy_stream, stream, path)
        return await import_workspace(
            service, name, path, backend=backend, folder=folder, progress=progress
        )
    finally:
        await run_blocking(shutil.rmtree, local, True)


def _copy_stream(stream: BinaryIO, path: Path) -> None:
    with path.open("wb") as out:
        shutil.copyfileobj(stream, out, 1 << 20)


async def import_workspace(
    service: WorkspaceService,
    name: str,
    path: Path,
    *,
    backend: BackendType | None = None,
    folder: Path | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Create workspace ``name`` from the export at ``path``: the branch, its history and the
    working copy, verified by the tree hash. On any failure the new workspace is deleted."""
    from ..domain.create_options import CreateOptions

    progress = progress or NullProgress()
    name = validate_name(name)
    progress.step("check", "Checking the export")
    export = await read_export_file(path)
    manifest = export.manifest
    backend_type = (
        backend
        or (BackendType(manifest.target_backend) if manifest.target_backend else None)
        or service.ctx.config.workspace.default_backend
    )
    backend_facts = facts(backend_type)
    made_folder: Path | None = None
    if backend_facts.mounts_local_folder:
        made_folder = _new_folder(service, name, folder)
    elif folder is not None:
        raise NexusError(
            ErrorCode.INVALID_ARGUMENT,
            f"the {backend_type.value} backend keeps the files in the workspace, not in a folder "
            "on this machine",
            "Leave the folder out for this backend.",
            options=("folder",),
        )
    resources = fit_resources(manifest.resources, backend_type)
    options = CreateOptions(
        name=name,
        backend=backend_type,
        cpu=resources.get("cpu"),
        memory_gb=resources.get("memory_gb"),
        disk_gb=resources.get("disk_gb"),
        labels=dict(manifest.labels) or None,
        env=dict(manifest.env) or None,
        source_path=made_folder,
        worktree=False if made_folder is not None else None,
    )
    created = False
    try:
        progress.step("create", f"Creating {backend_type.value} workspace {name}")
        await service.create(options, progress)
        created = True
        await _unpack(service, name, export, progress)
        return ImportResult(service.get(name), manifest)
    except BaseException:
        await asyncio.shield(_undo(service, name, created, made_folder, progress))
        raise


def _new_folder(service: WorkspaceService, name: str, given: Path | None) -> Path:
    """A new empty folder for a workspace that mounts one (never a repository's worktree: git in
    the workspace writes there, and nothing on this machine runs git in it)."""
    folder = (given or Path(service.ctx.config.workspace.storage_path) / name).expanduser()
    folder = folder.absolute()
    if folder.exists() or folder.is_symlink():
        raise NexusError(
            ErrorCode.INVALID_ARGUMENT,
            f"{folder} already exists; the imported workspace needs a new folder",
            "Name another folder, or move that one away.",
            options=("folder",),
        )
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.mkdir(mode=0o755)
    return folder


async def _undo(
    service: WorkspaceService, name: str, created: bool, folder: Path | None, progress: Progress
) -> None:
    if created:
        progress.step("undo", f"Removing the half-made workspace {name}")
        try:
            await service.delete(name, progress, force=True)
        except NexusError as error:
            progress.warn(f"could not remove workspace {name}: {error.message}")
    if folder is not None:
        await run_blocking(shutil.rmtree, folder, True)


async def _unpack(
    service: WorkspaceService, name: str, export: ExportFile, progress: Progress
) -> None:
    manifest = export.manifest
    remote = await _remote(service, name)
    outcome = await remote.run(scripts.PREPARE)
    remote_dir = scripts.parse_output(outcome.out).get("dir", "")
    if outcome.code != 0 or not scripts.temp_dir(remote_dir):
        raise _script_failed(name, "preparing the import", outcome)
    try:
        if manifest.repo:
            if manifest.has_bundle:
                progress.step("history", f"Sending the history of {manifest.branch or 'HEAD'}")
                sent = await remote.run(
                    scripts.RECEIVE, remote_dir, BUNDLE_NAME, stdin=_member(export, BUNDLE_NAME)
                )
                if sent.code != 0:
                    raise _script_failed(name, "receiving the history", sent)
            progress.step("branch", f"Setting up branch {manifest.branch or '(detached)'}")
            unpacked = await remote.run(
                scripts.UNPACK_REPO, remote_dir, manifest.branch or "", manifest.head or ""
            )
            if unpacked.code != 0:
                raise _script_failed(name, "restoring the history", unpacked)
        progress.step("files", "Sending the working copy")
        extracted = await remote.run(scripts.EXTRACT, stdin=_member(export, WORKTREE_NAME))
        if extracted.code != 0:
            raise _script_failed(name, "unpacking the working copy", extracted)
        progress.step("verify", "Comparing the working tree hash")
        verified = await remote.run(scripts.VERIFY, remote_dir)
        if verified.code != 0:
            raise _script_failed(name, "hashing the working copy", verified)
        tree = scripts.parse_output(verified.out).get("tree", "")
        if tree != manifest.tree:
            raise NexusError(
                ErrorCode.MIGRATION_VERIFY_FAILED,
                f"the working tree of {name} hashes to {tree[:12] or 'nothing'}, the export's to "
                f"{manifest.tree[:12]}: the files did not arrive as they were",
                "The new workspace was removed. Check the source for files a git filter or "
                "attribute changes (docs/migration.md), then retry.",
            )
    finally:
        with contextlib.suppress(NexusError):
            await asyncio.shield(remote.run(scripts.REMOVE, remote_dir))


def _member(export: ExportFile, name: str) -> Any:
    return lambda: export.chunks(name)


# ---- migrate -----------------------------------------------------------------------------------
async def migrate_workspace(
    service: WorkspaceService,
    name: str,
    to_backend: BackendType,
    *,
    new_name: str | None = None,
    keep_source: bool = False,
    folder: Path | None = None,
    progress: Progress | None = None,
) -> MigrateResult:
    """Export ``name``, import it as ``new_name`` on ``to_backend``, verify, then (unless
    ``keep_source``) stop the source. Until the target is verified the source is only read."""
    progress = progress or NullProgress()
    source = service.get(name)
    target = validate_name(new_name or f"{source.name}-{to_backend.value}")
    local = await run_blocking(private_temp, service)
    try:
        path = local / "export.nexus"
        with path.open("wb") as out:
            await export_workspace(service, name, out, target_backend=to_backend, progress=progress)
        imported = await import_workspace(
            service, target, path, backend=to_backend, folder=folder, progress=progress
        )
    finally:
        await run_blocking(shutil.rmtree, local, True)
    result = MigrateResult(source=name, imported=imported, source_stopped=False)
    if not keep_source:
        progress.step("stop", f"Stopping {name}")
        try:
            await service.stop(name, progress)
            result.source_stopped = True
        except NexusError as error:
            text = f"{target} is ready, but {name} could not be stopped: {error.message}"
            progress.warn(text)
            result.warnings.append(text)
    return result
