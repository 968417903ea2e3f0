"""Daytona snapshots of a workspace (PRD §4.2, Flow 4).

``create`` captures the workspace's sandbox (its filesystem) as a named Daytona snapshot, which
``nexus workspace create --backend daytona --from-snapshot NAME`` also accepts. ``restore`` gives
the workspace a new sandbox started from one of its snapshots; the workspace keeps its name, ssh
alias and record, and the old sandbox is deleted only once the new one answers. The names Nexus
made are kept in the workspace record (``daytona_snapshots``): ``list`` and ``delete`` see only
those, never the rest of the organization's snapshots.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
from datetime import UTC, datetime
from typing import Any

from pydantic import Field

from ....asyncutil import run_blocking
from ....domain.errors import ErrorCode, NexusError
from ....domain.kinds import TRANSITIONAL, BackendType, WorkspaceStatus
from ....domain.provider import NoParams, OpContext, OpParams, OpResult, operation
from ....redact import register_secret
from .. import errors
from .previews import RECORD_KEY as PREVIEWS_KEY

RECORD_KEY = "daytona_snapshots"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
SNAPSHOT_TIMEOUT = 900  # seconds: a large sandbox takes minutes to commit and push
SNAPSHOT_NOT_FOUND = ErrorCode.SNAPSHOT_NOT_FOUND


class SnapshotParams(OpParams):
    name: str = Field(
        description="The snapshot's name (letters, digits, '.', '_', '-'; unique in your "
        "Daytona organization)."
    )


def snapshot_not_found(name: str, detail: str = "", resolution: str = "") -> NexusError:
    return NexusError(
        SNAPSHOT_NOT_FOUND,
        f"Daytona snapshot '{name}' not found{detail}",
        resolution
        or "Check the name: `nexus workspace provider daytona snapshot list WORKSPACE` shows "
        "the snapshots of a workspace.",
    )


def _workspace_name(ctx: OpContext) -> str:
    assert ctx.workspace is not None  # every snapshot operation takes a workspace
    return ctx.workspace.name


def _recorded(ctx: OpContext) -> list[dict[str, Any]]:
    workspace = ctx.records().get(_workspace_name(ctx))
    return [dict(entry) for entry in workspace.metadata.get(RECORD_KEY) or []]


def _require_recorded(ctx: OpContext, name: str) -> dict[str, Any]:
    for entry in _recorded(ctx):
        if entry.get("name") == name:
            return entry
    workspace = _workspace_name(ctx)
    raise snapshot_not_found(
        name,
        f" among the snapshots of workspace '{workspace}'",
        f"See them with `nexus workspace provider daytona snapshot list {workspace}`; to start "
        "a new workspace from another snapshot use `nexus workspace create NAME --backend "
        "daytona --from-snapshot SNAPSHOT`.",
    )


def _remember(ctx: OpContext, entry: dict[str, Any]) -> None:
    def mutate(metadata: dict[str, Any]) -> None:
        kept = [e for e in metadata.get(RECORD_KEY) or [] if e.get("name") != entry["name"]]
        metadata[RECORD_KEY] = [*kept, entry]

    ctx.records().update_metadata(_workspace_name(ctx), mutate)


def _forget(ctx: OpContext, name: str) -> None:
    def mutate(metadata: dict[str, Any]) -> None:
        metadata[RECORD_KEY] = [e for e in metadata.get(RECORD_KEY) or [] if e.get("name") != name]

    ctx.records().update_metadata(_workspace_name(ctx), mutate)


def _lookup(client: Any, name: str) -> Any | None:
    """The snapshot called ``name`` (blocking), or None."""
    import daytona

    def get() -> Any | None:
        try:
            return client.snapshot.get(name)
        except daytona.DaytonaNotFoundError:
            return None

    return errors.call(get, f"look up snapshot '{name}'")


def _state(snapshot: Any) -> str:
    return str(getattr(snapshot.state, "value", snapshot.state))


def _ours(snapshot: Any | None, entry: dict[str, Any]) -> bool:
    """The snapshot Nexus made, not one made since under the same name."""
    return snapshot is not None and entry.get("id") in (None, snapshot.id)


# ---- create ------------------------------------------------------------------------------------
@operation(
    BackendType.DAYTONA,
    "snapshot",
    "create",
    capability="supports_snapshots",
    params=SnapshotParams,
    summary="Capture the workspace's sandbox as a named snapshot.",
)
async def create(ctx: OpContext, params: SnapshotParams) -> OpResult:
    workspace = ctx.records().get(_workspace_name(ctx))
    name = params.name
    if not NAME_PATTERN.fullmatch(name):
        raise NexusError(
            ErrorCode.INVALID_ARGUMENT,
            f"invalid snapshot name {name!r}",
            "Use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit.",
        )
    backend = ctx.backend
    ctx.progress.step("snapshot", f"Capturing workspace '{workspace.name}' as snapshot '{name}'")

    def capture() -> tuple[str, Any | None, NexusError | None]:
        client = backend.client()
        sandbox = backend.require_sandbox(workspace)
        state = str(getattr(sandbox.state, "value", sandbox.state))
        if state not in ("started", "stopped"):
            raise NexusError(
                ErrorCode.WORKSPACE_NOT_RUNNING,
                f"the sandbox of workspace '{workspace.name}' is {state}; Daytona snapshots a "
                "started or stopped sandbox",
                f"Run `nexus workspace start {workspace.name}` (or wait for it to settle), then "
                "retry.",
            )
        if _lookup(client, name) is not None:
            raise NexusError(
                ErrorCode.INVALID_ARGUMENT,
                f"a Daytona snapshot named '{name}' already exists",
                "Snapshot names are unique in your Daytona organization: pick another name.",
                options=("name",),
            )
        failure: NexusError | None = None
        try:
            errors.call(
                lambda: sandbox.create_snapshot(name, timeout=SNAPSHOT_TIMEOUT),
                f"create snapshot '{name}'",
            )
        except NexusError as exc:
            failure = exc
        # the API answers before the snapshot exists, and a failure on its side only shows as
        # a snapshot that never appears: look it up either way
        return sandbox.id, _lookup(client, name), failure

    sandbox_id, snapshot, failure = await run_blocking(capture)
    if snapshot is not None:  # recorded even when the call failed: list/delete must see it
        _remember(
            ctx,
            {
                "name": name,
                "id": snapshot.id,
                "sourceSandboxId": sandbox_id,
                "createdAt": datetime.now(UTC).isoformat(timespec="seconds"),
            },
        )
    if failure is not None:
        raise failure
    if snapshot is None:
        raise NexusError(
            ErrorCode.DAYTONA_ERROR,
            f"Daytona did not create snapshot '{name}' of workspace '{workspace.name}'",
            "Retry; if it persists, check the organization's snapshot quota in the Daytona "
            "dashboard.",
        )
    state = _state(snapshot)
    return OpResult(
        data={
            "workspace": workspace.name,
            "snapshot": {"name": name, "id": snapshot.id, "state": state},
        },
        lines=[
            f"Snapshot '{name}' of workspace '{workspace.name}' created ({state}).",
            f"Restore it: nexus workspace provider daytona snapshot restore {workspace.name} "
            f"--name {name}",
            f"Start another workspace from it: nexus workspace create NEW --backend daytona "
            f"--from-snapshot {name}",
        ],
    )


# ---- list --------------------------------------------------------------------------------------
@operation(
    BackendType.DAYTONA,
    "snapshot",
    "list",
    capability="supports_snapshots",
    params=NoParams,
    summary="List the snapshots Nexus made of the workspace, with their state.",
)
async def list_snapshots(ctx: OpContext, params: NoParams) -> OpResult:
    name = _workspace_name(ctx)
    entries = _recorded(ctx)
    backend = ctx.backend

    def states() -> dict[str, str]:
        client = backend.client()
        found = {}
        for entry in entries:
            snapshot = _lookup(client, entry["name"])
            found[entry["name"]] = _state(snapshot) if _ours(snapshot, entry) else "missing"
        return found

    by_name = await run_blocking(states) if entries else {}
    items = [
        {
            "name": e["name"],
            "id": e.get("id"),
            "state": by_name[e["name"]],
            "createdAt": e.get("createdAt"),
        }
        for e in entries
    ]
    if not items:
        lines = [
            f"Workspace '{name}' has no snapshots. Make one: nexus workspace provider daytona "
            f"snapshot create {name} --name NAME"
        ]
    else:
        width = max(len(i["name"]) for i in items)
        lines = [f"{'NAME':<{width}}  {'STATE':<9}  CREATED"] + [
            f"{i['name']:<{width}}  {i['state']:<9}  {i['createdAt'] or ''}" for i in items
        ]
    return OpResult(data={"workspace": name, "snapshots": items}, lines=lines)


# ---- delete ------------------------------------------------------------------------------------
@operation(
    BackendType.DAYTONA,
    "snapshot",
    "delete",
    capability="supports_snapshots",
    params=SnapshotParams,
    summary="Delete a snapshot Nexus made of the workspace.",
)
async def delete(ctx: OpContext, params: SnapshotParams) -> OpResult:
    workspace = _workspace_name(ctx)
    entry = _require_recorded(ctx, params.name)
    backend = ctx.backend

    def remove() -> bool:
        client = backend.client()
        snapshot = _lookup(client, params.name)
        if not _ours(snapshot, entry):
            return False  # gone already, or the name now belongs to another snapshot
        errors.call(lambda: client.snapshot.delete(snapshot), f"delete snapshot '{params.name}'")
        return True

    deleted = await run_blocking(remove)
    _forget(ctx, params.name)
    line = (
        f"Snapshot '{params.name}' of workspace '{workspace}' deleted."
        if deleted
        else f"Snapshot '{params.name}' was already gone from Daytona; forgotten."
    )
    return OpResult(
        data={"workspace": workspace, "snapshot": params.name, "deleted": deleted}, lines=[line]
    )


# ---- restore -----------------------------------------------------------------------------------
@operation(
    BackendType.DAYTONA,
    "snapshot",
    "restore",
    capability="supports_snapshots",
    params=SnapshotParams,
    summary="Replace the workspace's sandbox with a new one started from its snapshot.",
)
async def restore(ctx: OpContext, params: SnapshotParams) -> OpResult:
    from ....access.exec import fetch_host_key
    from ..ssh_access import parse_ssh_command

    store = ctx.records()
    backend = ctx.backend
    workspace = store.get(_workspace_name(ctx))
    entry = _require_recorded(ctx, params.name)
    previous = workspace.status
    if not store.set_status_if(
        workspace.name, set(WorkspaceStatus) - TRANSITIONAL, WorkspaceStatus.STARTING
    ):
        raise NexusError(
            ErrorCode.WORKSPACE_BUSY,
            f"workspace '{workspace.name}' is being changed by another operation",
            "Wait for that operation to finish, then retry.",
        )
    # sandbox names are unique: the old sandbox keeps its name until it is deleted
    new_name = f"{backend.sandbox_name(workspace.name)}-{secrets.token_hex(3)}"
    committed: list[bool] = []

    def commit() -> None:
        """Point the record at the new sandbox (one store write)."""
        with backend.token_lock(workspace.name):
            metadata = {
                **store.get(workspace.name).metadata,
                "sandbox_name": new.name,
                "region": getattr(new, "target", None),
                "auto_stop_minutes": getattr(new, "auto_stop_interval", None),
                "ssh_token": token,
                PREVIEWS_KEY: {},  # they pointed at the old sandbox
            }
            store.update(
                workspace.name,
                backend_id=new.id,
                image=params.name,
                ssh_host=gateway.host,
                ssh_port=gateway.port,
                ssh_user=gateway.user,
                host_key=host_key,
                metadata=metadata,
                status=WorkspaceStatus.RUNNING,
            )
            committed.append(True)

    try:
        new, old, token = await run_blocking(
            _new_sandbox, backend, workspace, entry, new_name, ctx.progress
        )
        gateway = parse_ssh_command(token["ssh_command"])
        host_key = await fetch_host_key(gateway.host, gateway.port)
        await run_blocking(commit)
    except BaseException:
        if committed:  # cancelled once the record pointed at the new sandbox: it is the one
            raise
        # the old sandbox and the record stay as they were
        await asyncio.shield(run_blocking(_discard, backend, new_name))
        with contextlib.suppress(NexusError):
            store.update(workspace.name, status=previous)
        raise

    ctx.refresh_ssh_files()
    # a shared OpenSSH connection still reaches the old sandbox: later sessions must not
    await ctx.close_shared_connection()

    left_behind: str | None = None
    if old is not None:
        try:
            await backend.delete(workspace, ctx.progress)  # the old record: old id, old token
        except NexusError as exc:
            left_behind = old.id
            ctx.progress.warn(
                f"the previous sandbox {old.name} ({old.id}) could not be deleted: "
                f"{exc.message}; delete it in the Daytona dashboard"
            )
    closed = len(workspace.metadata.get(PREVIEWS_KEY) or {})
    lines = [
        f"Workspace '{workspace.name}' restored from snapshot '{params.name}' "
        f"(new sandbox {new.name}).",
    ]
    if closed:
        lines.append(
            f"{closed} preview(s) of the previous sandbox were closed; create them again with "
            f"`nexus workspace provider daytona preview create {workspace.name} --port PORT`."
        )
    return OpResult(
        data={
            "workspace": workspace.name,
            "snapshot": params.name,
            "backendId": new.id,
            "previousBackendId": old.id if old is not None else None,
            "previousDeleted": old is not None and left_behind is None,
            "previewsClosed": closed,
        },
        lines=lines,
    )


def _new_sandbox(
    backend: Any, workspace: Any, entry: dict[str, Any], new_name: str, progress: Any
) -> tuple[Any, Any | None, dict[str, str]]:
    """Start a sandbox from the snapshot, set up like the workspace's current one (labels, env,
    region, auto-stop), with SSH access: (new sandbox, old sandbox or None, token record)."""
    import daytona

    from ..backend import LABEL_INSTALLATION, LABEL_WORKSPACE, TOKEN_MINUTES
    from ..ssh_access import token_record

    client = backend.client()
    name = entry["name"]
    snapshot = _lookup(client, name)
    if not _ours(snapshot, entry):
        raise snapshot_not_found(
            name,
            " (deleted or replaced outside Nexus)",
            f"Forget it with `nexus workspace provider daytona snapshot delete {workspace.name} "
            f"--name {name}`.",
        )
    state = _state(snapshot)
    if state != "active":
        raise NexusError(
            ErrorCode.INVALID_ARGUMENT,
            f"snapshot '{name}' is {state}, not active",
            f"Wait until `nexus workspace provider daytona snapshot list {workspace.name}` shows "
            "it active, then retry.",
        )
    old = backend.find_sandbox(workspace)
    settings = backend.settings
    metadata = workspace.metadata
    if old is not None:
        labels = dict(old.labels or {})
        env = dict(getattr(old, "env", None) or {})
        target = getattr(old, "target", None)
        auto_stop = getattr(old, "auto_stop_interval", None)
    else:  # gone on Daytona's side: the record says what it was
        labels = dict(workspace.labels)
        env = {}
        target = metadata.get("region")
        auto_stop = metadata.get("auto_stop_minutes")
    labels[LABEL_WORKSPACE] = workspace.name
    labels[LABEL_INSTALLATION] = backend.installation_id
    extra: dict[str, Any] = {"ephemeral": True} if metadata.get("delete_on_stop") else {}
    params = daytona.CreateSandboxFromSnapshotParams(
        name=new_name,
        snapshot=name,
        language="python",
        labels=labels,
        env_vars=env or None,
        auto_stop_interval=auto_stop if auto_stop is not None else settings.auto_stop_interval,
        target=target or settings.default_region,
        **extra,
    )
    progress.step("sandbox", f"Creating sandbox {params.name} from snapshot '{name}'")
    new = errors.call(
        lambda: client.create(params, timeout=settings.create_timeout),
        f"create a sandbox from snapshot '{name}'",
    )
    progress.step("ssh", "Requesting SSH access")
    dto = errors.call(lambda: new.create_ssh_access(TOKEN_MINUTES), "create SSH access")
    register_secret(dto.token)
    return new, old, token_record(dto)


def _discard(backend: Any, sandbox_name: str) -> None:
    """Delete a sandbox a failed restore made (best effort: it may not exist)."""
    import daytona

    with contextlib.suppress(daytona.DaytonaError, NexusError):
        client = backend.client()
        client.delete(client.get(sandbox_name), timeout=backend.settings.create_timeout)
