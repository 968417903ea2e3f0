"""Rebuilding the state store from what the backends hold: a lost or damaged ``state.db`` must
never orphan the containers and sandboxes a user pays for.

Every container / sandbox Nexus creates carries labels with what its record needs (backend,
local path, branch, worktree, resources, agent forwarding); the SSH port comes from the
container's port bindings and the host key from the private key Nexus keeps under
``NEXUS_HOME/ssh/host_keys``.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..access.keys import kept_host_public_key
from ..asyncutil import run_blocking
from ..backends.docker.backend import LABEL_USER_PREFIX, installations_on_engine
from ..domain.errors import ErrorCode, NexusError
from ..domain.models import REMOTE_PATH, BackendType, Resources, Workspace
from ..domain.names import validate_name
from ..domain.recovery import FoundResource
from ..fsutil import atomic_write
from ..paths import NexusPaths
from ..store.db import INSTALLATION_ID_FILE, StoreDamaged, host_key_names, read_installation_id
from .backends import facts

if TYPE_CHECKING:
    from ..domain.backend import Backend
    from .workspaces import WorkspaceService

LABEL_BACKEND = "nexus.backend"
LABEL_LOCAL_PATH = "nexus.local-path"
LABEL_BRANCH = "nexus.branch"
LABEL_WORKTREE = "nexus.worktree"
LABEL_RESOURCES = "nexus.resources"
LABEL_FORWARD_AGENT = "nexus.forward-agent"
LABEL_USER_LABELS = "nexus.labels"  # the user's own labels, as JSON (a provider adds its own)


def record_labels(workspace: Workspace) -> dict[str, str]:
    """What a container / sandbox must carry so its record can be rebuilt without the store."""
    labels = {
        LABEL_BACKEND: workspace.backend.value,
        LABEL_RESOURCES: workspace.resources.model_dump_json(exclude_none=True),
        LABEL_FORWARD_AGENT: "true" if workspace.forward_agent else "false",
    }
    if workspace.labels:
        labels[LABEL_USER_LABELS] = json.dumps(workspace.labels, sort_keys=True)
    if workspace.local_path:
        labels[LABEL_LOCAL_PATH] = workspace.local_path
    if workspace.branch:
        labels[LABEL_BRANCH] = workspace.branch
    if workspace.metadata.get("worktree"):
        labels[LABEL_WORKTREE] = json.dumps(workspace.metadata["worktree"], sort_keys=True)
    return labels


def workspace_from(found: FoundResource) -> Workspace:
    """The record a resource's labels describe (SSH details are filled in by the caller)."""
    labels = found.labels
    worktree: dict[str, Any] | None = None
    if labels.get(LABEL_WORKTREE):
        worktree = json.loads(labels[LABEL_WORKTREE])
    resources = Resources.model_validate_json(labels.get(LABEL_RESOURCES) or "{}")
    metadata = dict(found.metadata)
    if worktree:
        metadata["worktree"] = worktree
    user_labels = {
        key.removeprefix(LABEL_USER_PREFIX): value
        for key, value in labels.items()
        if key.startswith(LABEL_USER_PREFIX)
    }
    if labels.get(LABEL_USER_LABELS):
        user_labels = json.loads(labels[LABEL_USER_LABELS])
    data: dict[str, Any] = {
        "name": found.name,
        "backend": found.backend,
        "status": found.status,
        "backend_id": found.backend_id,
        "image": found.image,
        "local_path": labels.get(LABEL_LOCAL_PATH),
        "branch": labels.get(LABEL_BRANCH),
        "resources": resources,
        "labels": user_labels,
        "metadata": metadata,
        "remote_path": REMOTE_PATH,
        "forward_agent": labels.get(LABEL_FORWARD_AGENT) == "true",
    }
    if found.created_at is not None:
        data["created_at"] = found.created_at
    return Workspace(**data)


def move_aside(path: Path) -> Path:
    """Rename a damaged store (and its WAL files, which SQLite would replay into a new file) to
    ``state.db.broken-<time>``; never deletes it."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.broken-{stamp}")
    counter = 1
    while target.exists():
        counter += 1
        target = path.with_name(f"{path.name}.broken-{stamp}-{counter}")
    path.rename(target)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.rename(target.with_name(target.name + suffix))
    return target


def open_or_move_aside(paths: NexusPaths) -> Path | None:
    """Check the store opens; a damaged one is moved aside (returns where). Locked or unreadable
    stores raise as usual: those are not damage and moving them would lose records."""
    from ..store import StateStore

    try:
        StateStore(paths.state_db).close()
    except StoreDamaged:
        return move_aside(paths.state_db)
    return None


@dataclass
class RecoveryReport:
    installation_id: str
    moved_aside: Path | None = None
    recovered: list[Workspace] = field(default_factory=list)
    already_recorded: list[str] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    unreachable: list[dict[str, str]] = field(default_factory=list)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "installationId": self.installation_id,
            "movedAside": str(self.moved_aside) if self.moved_aside else None,
            "recovered": [ws.public_dict() for ws in self.recovered],
            "alreadyRecorded": self.already_recorded,
            "failed": self.failed,
            "unreachableBackends": self.unreachable,
        }


def resolve_installation_id(paths: NexusPaths, docker_host: str | None) -> str | None:
    """This home's installation id, settled before any store is opened (a new store would mint
    a new one): the id file; else the id in a readable store (kept to the file); else, for a
    home from before the file whose store is lost, the one installation on the local engine
    whose workspace names match the host keys this home keeps. None when the home keeps no
    host key (nothing can be orphaned: a new store mints the id); STORE_ERROR when it keeps
    some and the id cannot be told."""
    known = read_installation_id(paths.home)
    if known:
        return known
    names = set(host_key_names(paths.home))
    found = _id_in_store(paths.state_db)
    problem = ""
    if found is None and names:
        try:
            installations = installations_on_engine(docker_host)
        except NexusError as exc:
            installations, problem = {}, f" ({exc.code}: {exc.message})"
        matching = [iid for iid, workspaces in installations.items() if workspaces & names]
        found = matching[0] if len(matching) == 1 else None
        if len(matching) > 1:
            problem = f" (several installations match: {', '.join(sorted(matching))})"
    if found:
        atomic_write(paths.home / INSTALLATION_ID_FILE, found + "\n", mode=0o600)
        return found
    if not names:
        return None
    raise NexusError(
        ErrorCode.STORE_ERROR,
        "cannot tell this Nexus home's installation id: it has no installation id file, no "
        "readable state store, and no single installation on the local Docker engine has "
        f"containers of its workspaces ({', '.join(sorted(names))}){problem}",
        "If Docker is not running, start it and retry. Otherwise write the id to "
        f"{paths.home / INSTALLATION_ID_FILE}: it is the last part of the workspaces' container "
        "or sandbox names (nexus-<workspace>-<id>); then run `nexus workspace recover` again. "
        f"Keys of workspaces that no longer exist can be removed from {paths.host_keys_dir}.",
    )


def _id_in_store(db: Path) -> str | None:
    """The installation id recorded in ``db``, read without creating or changing anything."""
    try:
        if db.stat().st_size == 0:
            return None
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    except (OSError, sqlite3.Error):
        return None
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'installation_id'").fetchone()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    value = str(row[0]) if row else ""
    return value if value.isalnum() else None


async def recover(service: WorkspaceService) -> RecoveryReport:
    """Move a damaged store aside and rebuild the missing records from the backends' labels."""
    ctx = service.ctx
    # before any StateStore: opening one in a home without an id would mint a new id
    await run_blocking(resolve_installation_id, ctx.paths, ctx.config.backends.docker.host)
    moved = await run_blocking(open_or_move_aside, ctx.paths)
    store = ctx.store
    report = RecoveryReport(store.installation_id, moved)
    recorded = {ws.name for ws in store.list()}
    for backend_type in BackendType:
        settings = getattr(ctx.config.backends, backend_type.value)
        if not settings.enabled:
            continue
        required = facts(backend_type).required_setting
        if required and not getattr(settings, required, None):
            continue  # never configured: nothing of this installation can be there
        try:
            backend = ctx.backends.get(backend_type)
            found: list[FoundResource] = await backend.list_resources()
        except NexusError as exc:
            report.unreachable.append(
                {"backend": backend_type.value, "code": exc.code, "message": exc.message}
            )
            continue
        for resource in sorted(found, key=lambda r: r.name):
            if resource.name in recorded:
                report.already_recorded.append(resource.name)
                continue
            try:
                workspace = await _rebuild(service, backend, resource)
            except (NexusError, ValueError) as exc:
                reason = exc.message if isinstance(exc, NexusError) else str(exc)
                report.failed.append(
                    {
                        "name": resource.name,
                        "backend": backend_type.value,
                        "resource": resource.resource_name,
                        "id": resource.backend_id,
                        "reason": reason,
                    }
                )
                continue
            recorded.add(workspace.name)
            report.recovered.append(workspace)
    if report.recovered:
        await run_blocking(service.ssh_files.refresh)
    return report


async def _rebuild(service: WorkspaceService, backend: Backend, found: FoundResource) -> Workspace:
    name = validate_name(found.name)
    workspace = workspace_from(found)
    kept = await run_blocking(kept_host_public_key, service.ctx.paths, name)
    access = await backend.rebuild_access(found, kept)
    workspace = workspace.model_copy(
        update={**access.fields, "metadata": {**workspace.metadata, **access.metadata}}
    )
    store = service.ctx.store
    store.reserve(workspace)
    try:
        for purpose, port in access.ports.items():
            store.claim_port(name, purpose, port)
    except NexusError:
        store.remove(name)
        raise
    return store.get(name)
