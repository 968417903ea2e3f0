"""``docker volume create|attach|detach|delete``: named engine volumes a workspace mounts."""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING, Any

from pydantic import Field

from ....asyncutil import run_blocking
from ....domain.errors import ErrorCode, NexusError
from ....domain.kinds import REMOTE_PATH, BackendType
from ....domain.provider import OpParams, OpResult, operation
from .. import engine
from . import common
from .recreate import MountChange, recreate

if TYPE_CHECKING:
    from ....domain.provider import OpContext

CAPABILITY = "supports_direct_volume_management"
# folders a volume may not hide: the system's, and what sshd and the workspace need
_RESERVED = frozenset(
    {
        "/bin",
        "/boot",
        "/dev",
        "/etc",
        "/etc/ssh",
        "/home",
        "/lib",
        "/lib64",
        "/proc",
        "/run",
        "/sbin",
        "/sys",
        "/usr",
        "/usr/bin",
        "/usr/lib",
        "/usr/sbin",
        "/var",
    }
)


class VolumeParams(OpParams):
    volume: str = Field(description="The volume's name.")


class CreateParams(VolumeParams):
    size: float | None = Field(
        default=None, gt=0, description="Size in GB (recorded; the local driver sets no limit)."
    )


class AttachParams(VolumeParams):
    mount: str = Field(description="Absolute path in the workspace to mount the volume at.")


def _volume_or_none(ctx: OpContext, name: str) -> Any | None:
    import docker.errors

    client = common.client(ctx)
    try:
        return client.volumes.get(name)
    except docker.errors.NotFound:
        return None
    except docker.errors.APIError as exc:
        raise engine.docker_error("inspect a volume", str(exc.explanation or exc)) from None


def _nexus_volume(ctx: OpContext, name: str) -> Any:
    """The volume ``name`` this installation made, or a clear error."""
    common.engine_name("volume", name)
    found = common.call("inspect a volume", lambda: _volume_or_none(ctx, name))
    if found is None:
        raise NexusError(
            ErrorCode.DOCKER_VOLUME_NOT_FOUND,
            f"there is no volume '{name}' on the Docker engine",
            "Create it first (volume create), or check the name.",
        )
    if not common.ours(found.attrs.get("Labels"), ctx):
        raise NexusError(
            ErrorCode.INVALID_ARGUMENT,
            f"volume '{name}' was not made by Nexus (this installation); Nexus manages only "
            "its own volumes",
            "Create one with volume create, or manage this one with `docker volume`.",
        )
    return found


def _mount_path(path: str) -> str:
    """An absolute, normalised path that hides nothing the workspace needs."""
    problem = None
    clean = "/" + posixpath.normpath(path).lstrip("/") if path.startswith("/") else ""
    if not clean:
        problem = "it must be an absolute path (starting with /)"
    elif ".." in path.split("/"):
        problem = "it may not contain '..'"
    elif clean == "/":
        problem = "it is the root folder"
    elif clean == REMOTE_PATH:
        problem = "it is the workspace folder (the project mounted from this machine)"
    elif clean in _RESERVED or clean.startswith(("/etc/ssh/", "/proc/", "/sys/", "/dev/")):
        problem = "the workspace needs what is there"
    if problem:
        raise NexusError(
            ErrorCode.INVALID_ARGUMENT,
            f"cannot mount a volume at {path!r}: {problem}",
            "Choose an absolute path of its own, e.g. /data or /workspace/node_modules.",
        )
    return clean


def _users(ctx: OpContext, name: str) -> list[tuple[str, str]]:
    """(workspace or container name, container name) of every container using the volume."""
    client = common.client(ctx)
    found = common.call(
        "list containers", lambda: client.api.containers(all=True, filters={"volume": name})
    )
    users = []
    for summary in found:
        container = str((summary.get("Names") or ["?"])[0]).lstrip("/")
        labels = summary.get("Labels") or {}
        user = common.workspace_of(labels) if common.ours(labels, ctx) else None
        users.append((user or container, container))
    return users


@operation(
    BackendType.DOCKER,
    "volume",
    "create",
    capability=CAPABILITY,
    params=CreateParams,
    summary="Create a named Docker volume for a workspace.",
)
async def create_volume(ctx: OpContext, params: CreateParams) -> OpResult:
    ws = common.workspace(ctx)
    name = common.engine_name("volume", params.volume)

    def _create() -> tuple[Any, bool]:
        existing = common.call("inspect a volume", lambda: _volume_or_none(ctx, name))
        if existing is not None:
            if not common.ours(existing.attrs.get("Labels"), ctx):
                raise NexusError(
                    ErrorCode.INVALID_ARGUMENT,
                    f"a volume named '{name}' already exists on the Docker engine and was not "
                    "made by Nexus (this installation)",
                    "Choose another volume name.",
                )
            return existing, False
        labels = {
            common.LABEL_INSTALLATION: common.installation(ctx),
            common.LABEL_VOLUME: name,
            common.LABEL_VOLUME_WORKSPACE: ws.name,
        }
        if params.size is not None:
            labels[common.LABEL_VOLUME_SIZE] = f"{params.size:g}"
        client = common.client(ctx)
        made = common.call(
            "create a volume",
            lambda: client.volumes.create(name=name, driver="local", labels=labels),
        )
        return made, True

    volume, created = await run_blocking(_create)
    attrs = volume.attrs
    labels = attrs.get("Labels") or {}
    size = labels.get(common.LABEL_VOLUME_SIZE)
    data: dict[str, Any] = {
        "volume": name,
        "workspace": ws.name,
        "created": created,
        "driver": attrs.get("Driver", "local"),
        "sizeGb": float(size) if size else None,
        "sizeEnforced": False,
        "mountpoint": attrs.get("Mountpoint"),
    }
    lines = [
        f"Volume '{name}' {'created' if created else 'already exists'} (driver {data['driver']})."
    ]
    if size:
        lines.append(
            f"Size {size} GB recorded; Docker's local volume driver sets no size limit, "
            "the volume grows with the engine's disk."
        )
    lines.append(
        f"Mount it: nexus workspace provider docker volume attach {ws.name} --volume {name} "
        "--mount /data"
    )
    return OpResult(data=data, lines=lines)


@operation(
    BackendType.DOCKER,
    "volume",
    "attach",
    capability=CAPABILITY,
    params=AttachParams,
    summary="Mount a volume in a workspace (its container is recreated, same port and host key).",
)
async def attach_volume(ctx: OpContext, params: AttachParams) -> OpResult:
    ws = common.workspace(ctx)
    target = _mount_path(params.mount)
    await run_blocking(_nexus_volume, ctx, params.volume)
    attached = await run_blocking(_attached, ctx)
    if attached.get(params.volume) == target:
        return OpResult(
            data={"volume": params.volume, "workspace": ws.name, "mount": target, "changed": False},
            lines=[f"Volume '{params.volume}' is already mounted at {target} in '{ws.name}'."],
        )
    if params.volume in attached:
        raise NexusError(
            ErrorCode.INVALID_ARGUMENT,
            f"volume '{params.volume}' is already mounted in '{ws.name}' at "
            f"{attached[params.volume]}",
            "Detach it first to mount it somewhere else.",
        )
    if target in await run_blocking(_targets, ctx):
        raise NexusError(
            ErrorCode.INVALID_ARGUMENT,
            f"something is already mounted at {target} in '{ws.name}'",
            "Choose another mount path.",
        )
    done = await recreate(ctx, ws, MountChange(add={params.volume: target}))

    def record(metadata: dict[str, Any]) -> None:
        metadata[common.META_VOLUMES] = {
            **(metadata.get(common.META_VOLUMES) or {}),
            params.volume: target,
        }

    ctx.records().update_metadata(ws.name, record)
    state = "running" if done.running else "stopped"
    return OpResult(
        data={
            "volume": params.volume,
            "workspace": ws.name,
            "mount": target,
            "changed": True,
            "containerId": done.container_id,
            "status": state,
        },
        lines=[
            f"Volume '{params.volume}' mounted at {target} in '{ws.name}' "
            f"(container recreated, same SSH port and host key; {state})."
        ],
    )


@operation(
    BackendType.DOCKER,
    "volume",
    "detach",
    capability=CAPABILITY,
    params=VolumeParams,
    summary="Unmount a volume from a workspace (its container is recreated; the data stays).",
)
async def detach_volume(ctx: OpContext, params: VolumeParams) -> OpResult:
    ws = common.workspace(ctx)
    await run_blocking(_nexus_volume, ctx, params.volume)
    attached = await run_blocking(_attached, ctx)
    if params.volume not in attached:
        raise NexusError(
            ErrorCode.INVALID_ARGUMENT,
            f"volume '{params.volume}' is not attached to '{ws.name}'",
            f"Its volumes: {', '.join(sorted(attached)) or 'none'}.",
        )
    done = await recreate(ctx, ws, MountChange(remove={params.volume}))

    def forget(metadata: dict[str, Any]) -> None:
        volumes = dict(metadata.get(common.META_VOLUMES) or {})
        volumes.pop(params.volume, None)
        metadata[common.META_VOLUMES] = volumes

    ctx.records().update_metadata(ws.name, forget)
    state = "running" if done.running else "stopped"
    return OpResult(
        data={
            "volume": params.volume,
            "workspace": ws.name,
            "mount": attached[params.volume],
            "containerId": done.container_id,
            "status": state,
        },
        lines=[
            f"Volume '{params.volume}' detached from '{ws.name}' (its data is kept; "
            f"container recreated, {state})."
        ],
    )


@operation(
    BackendType.DOCKER,
    "volume",
    "delete",
    capability=CAPABILITY,
    params=VolumeParams,
    summary="Delete a volume Nexus made (refused while a workspace mounts it).",
)
async def delete_volume(ctx: OpContext, params: VolumeParams) -> OpResult:
    ws = common.workspace(ctx)

    def _delete() -> None:
        volume = _nexus_volume(ctx, params.volume)
        users = _users(ctx, params.volume)
        if users:
            names = ", ".join(f"'{user}'" for user, _ in users)
            first = users[0][0]
            raise NexusError(
                ErrorCode.DOCKER_VOLUME_IN_USE,
                f"volume '{params.volume}' is in use by {names}",
                f"Detach it from '{first}' first (volume detach), then delete it.",
            )
        common.call("delete a volume", volume.remove)

    await run_blocking(_delete)
    return OpResult(
        data={"volume": params.volume, "workspace": ws.name, "deleted": True},
        lines=[f"Volume '{params.volume}' deleted (its data is gone)."],
    )


def _attached(ctx: OpContext) -> dict[str, str]:
    """{volume: mount path} of the named volumes the workspace's container mounts."""
    container = common.backend(ctx).require_container(common.workspace(ctx))
    return {
        str(m["Source"]): str(m.get("Target"))
        for m in (container.attrs.get("HostConfig") or {}).get("Mounts") or []
        if m.get("Type") == "volume" and m.get("Source")
    }


def _targets(ctx: OpContext) -> list[str]:
    container = common.backend(ctx).require_container(common.workspace(ctx))
    return [str(m.get("Destination")) for m in container.attrs.get("Mounts") or []]
