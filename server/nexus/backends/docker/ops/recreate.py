"""Recreating a workspace's container with other volume mounts.

The engine cannot add a mount to an existing container, so the container is made again: same
name, labels, environment, entrypoint, user, published port, resources, networks and mounts,
plus or minus a volume, and the same SSH host key and authorized key, so ``ssh nexus-<ws>`` and
Remote-SSH keep working without a host key warning. The workspace folder is a bind mount and the
volumes are kept; the rest of the container's own filesystem (installed packages, files in the
home folder) is kept by committing the old container to an image (``nexus.image=recreate``, one
per workspace at a time) that the new container runs. If anything fails before the old container
is gone, the old one is put back as it was and that image is removed.
"""

from __future__ import annotations

import io
import secrets
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from ....asyncutil import run_blocking
from ....domain.errors import ErrorCode, NexusError
from ....domain.kinds import TRANSITIONAL, WorkspaceStatus
from ....ownership import owner_alive
from .. import engine
from ..backend import LABEL_IMAGE, PRIVATE_VOLUMES, SSH_USER
from . import common

if TYPE_CHECKING:
    from ....domain.models import Workspace
    from ....domain.provider import OpContext

KEYS_DIR = "/etc/ssh/nexus"  # host key and authorized keys (see backend._key_files)
GITCONFIG = f"/home/{SSH_USER}/.gitconfig"
OWNED_DIRS = "NEXUS_OWNED_DIRS"  # folders the entrypoint gives to the workspace user
BANNER_SECONDS = 60.0
RECREATE = "recreate"  # the LABEL_IMAGE value of a container committed to be made again
REPOSITORY = "nexus-recreate"


@dataclass
class MountChange:
    """Volumes to add ({volume: mount path}) and to take away (volume names)."""

    add: dict[str, str] = field(default_factory=dict)
    remove: set[str] = field(default_factory=set)


@dataclass
class Recreated:
    container_id: str
    running: bool
    private_volumes: list[str]


async def recreate(ctx: OpContext, workspace: Workspace, change: MountChange) -> Recreated:
    """Make the workspace's container again with ``change`` applied; running again afterwards
    (sshd answering) if it was running, stopped if it was stopped."""
    from ....access.exec import wait_banner

    store = ctx.records()
    previous = _claim(store, workspace)
    settled = previous
    try:
        ctx.progress.step("container", f"Recreating the container of '{workspace.name}'")
        done = await run_blocking(_recreate, ctx, workspace, change)
        settled = WorkspaceStatus.RUNNING if done.running else WorkspaceStatus.STOPPED
        store.update(workspace.name, backend_id=done.container_id)
        if done.private_volumes:

            def keep(metadata: dict[str, Any]) -> None:
                known = list(metadata.get(PRIVATE_VOLUMES) or [])
                metadata[PRIVATE_VOLUMES] = known + [
                    v for v in done.private_volumes if v not in known
                ]

            store.update_metadata(workspace.name, keep)
        if done.running:
            ctx.progress.step("ssh", "Waiting for SSH")
            await wait_banner(await ctx.backend.get_ssh_connection(workspace), BANNER_SECONDS)
        return done
    finally:
        store.set_status_if(workspace.name, set(WorkspaceStatus), settled)


def _claim(store: Any, workspace: Workspace) -> WorkspaceStatus:
    """Mark the workspace busy while its container is replaced (start/stop/delete wait)."""
    current = store.get(workspace.name)
    status: WorkspaceStatus = current.status
    if status in TRANSITIONAL and owner_alive(current.owner):
        raise NexusError(
            ErrorCode.WORKSPACE_BUSY,
            f"workspace '{workspace.name}' is {status.value}",
            "Wait for that operation to finish, then retry.",
        )
    if status is WorkspaceStatus.PAUSED:
        raise NexusError(
            ErrorCode.WORKSPACE_BUSY,
            f"workspace '{workspace.name}' is paused",
            "Start it (which resumes it) or stop it, then retry.",
        )
    busy = (
        WorkspaceStatus.STARTING if status is WorkspaceStatus.RUNNING else WorkspaceStatus.STOPPING
    )
    if not store.set_status_if(workspace.name, {status}, busy):
        raise NexusError(
            ErrorCode.WORKSPACE_BUSY,
            f"workspace '{workspace.name}' is being changed by another process",
            "Wait for that operation to finish, then retry.",
        )
    return status


def _recreate(ctx: OpContext, workspace: Workspace, change: MountChange) -> Recreated:
    import docker.errors

    api = common.client(ctx).api
    old = common.backend(ctx).require_container(workspace)
    attrs: dict[str, Any] = common.call("inspect the workspace container", lambda: old.attrs)
    state = attrs.get("State") or {}
    running = bool(state.get("Running"))
    mounts, private = _mounts(attrs, change)
    config = _config(attrs, mounts, change)
    networks = _networks(attrs, workspace.name)
    files = _files(api, old.id)
    name = str(attrs.get("Name", "")).lstrip("/") or common.backend(ctx).container_name(
        workspace.name
    )
    aside = f"{name}-replaced"
    installation = common.installation(ctx)
    undo = _Undo(api, old.id, name, running, ctx.progress.warn)
    try:
        if running:
            common.call("stop the workspace container", lambda: api.stop(old.id, timeout=10))
        ctx.progress.step("image", "Saving the container's files")
        image = undo.image = _commit(api, old.id, attrs, installation, workspace.name)
        config["Image"] = image
        common.call("rename the old workspace container", lambda: api.rename(old.id, aside))
        undo.renamed = True
        created = common.call(
            "create the workspace container",
            lambda: api.create_container_from_config(config, name),
        )
        new_id = undo.new_id = str(created["Id"])
        for path, tar in files:
            common.call("copy the SSH keys", partial(api.put_archive, new_id, path, tar))
        for network, aliases in networks:
            common.call(
                f"connect to network {network}",
                partial(api.connect_container_to_network, new_id, network, aliases=aliases),
            )
        if running:
            common.call("start the workspace container", lambda: api.start(new_id))
    except BaseException:
        undo.run()
        raise
    try:
        api.remove_container(old.id, force=True, v=False)  # the volumes live on in the new one
    except docker.errors.APIError as exc:
        ctx.progress.warn(f"could not remove the old container {aside}: {exc.explanation or exc}")
    for problem in remove_images(api, installation, workspace.name, keep=image):
        ctx.progress.warn(problem)
    return Recreated(container_id=new_id, running=running, private_volumes=private)


def _commit(
    api: Any, container_id: str, attrs: dict[str, Any], installation: str, workspace: str
) -> str:
    """The stopped container committed to a new image; its reference. The image's environment is
    the old image's: the engine adds the container's own to a commit, so those are blanked (the
    new container sets the ones it keeps, and a detached volume's folder is not brought back)."""
    image_id = str(attrs.get("Image") or "")
    base = common.call("inspect an image", lambda: api.inspect_image(image_id))
    image_env = list((base.get("Config") or {}).get("Env") or [])
    keys = {item.partition("=")[0] for item in image_env}
    own = (item.partition("=")[0] for item in (attrs.get("Config") or {}).get("Env") or [])
    conf = {
        "Env": image_env + [f"{key}=" for key in own if key not in keys],
        "Labels": {
            LABEL_IMAGE: RECREATE,
            common.LABEL_INSTALLATION: installation,
            engine.LABEL_WORKSPACE: workspace,
        },
    }
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    repository = f"{REPOSITORY}/{workspace}-{installation}"
    tag = f"{stamp}-{secrets.token_hex(2)}"
    common.call(
        "save the workspace container to an image",
        lambda: api.commit(
            container_id,
            repository=repository,
            tag=tag,
            message=f"nexus: workspace {workspace} before its mounts changed",
            conf=conf,
            pause=True,
        ),
    )
    return f"{repository}:{tag}"


def remove_images(
    api: Any, installation: str, workspace: str, keep: str | None = None
) -> list[str]:
    """Remove the workspace's recreate images (but ``keep``) that no container uses; what could
    not be removed, as messages (a leftover is for ``image prune``)."""
    import docker.errors

    filters = {
        "label": [
            f"{LABEL_IMAGE}={RECREATE}",
            f"{common.LABEL_INSTALLATION}={installation}",
            f"{engine.LABEL_WORKSPACE}={workspace}",
        ]
    }
    problems: list[str] = []
    try:
        images = api.images(filters=filters)
        used = {str(c.get("ImageID", "")) for c in api.containers(all=True)}
    except docker.errors.DockerException as exc:
        return [f"could not list the workspace's saved images: {exc}"]
    for image in images:
        refs = [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"]
        if keep in refs or str(image.get("Id", "")) in used:
            continue
        for ref in refs or [str(image.get("Id", ""))]:
            try:
                api.remove_image(ref, force=False, noprune=False)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                problems.append(f"could not remove the image {ref}: {exc.explanation or exc}")
    return problems


@dataclass
class _Undo:
    """Putting a failed recreate back: the new container goes, the old one gets its name back
    and runs again if it ran, the image it was saved to goes. Each step is tried on its own."""

    api: Any
    old_id: str
    name: str
    running: bool
    warn: Callable[[str], None]
    renamed: bool = False
    new_id: str | None = None
    image: str | None = None

    def run(self) -> None:
        import docker.errors

        api = self.api
        steps: list[tuple[str, Callable[[], object]]] = []
        if self.new_id is not None:
            steps.append(
                (
                    "remove the new container",
                    partial(api.remove_container, self.new_id, force=True, v=False),
                )
            )
        if self.renamed:
            steps.append(
                (
                    f"rename the old container back to {self.name}",
                    partial(api.rename, self.old_id, self.name),
                )
            )
        if self.running:
            steps.append(("start the old container", partial(api.start, self.old_id)))
        if self.image is not None:
            steps.append(
                (
                    f"remove the image {self.image}",
                    partial(api.remove_image, self.image, force=False),
                )
            )
        for what, step in steps:
            try:
                step()
            except docker.errors.DockerException as exc:
                # the error that brought us here is the one to report; this one is told
                self.warn(f"could not {what}: {exc}")


def _mounts(attrs: dict[str, Any], change: MountChange) -> tuple[list[dict[str, Any]], list[str]]:
    """The new container's mounts, and the private (anonymous) volumes it takes over by name."""
    by_target = {
        str(m.get("Destination")): str(m.get("Name"))
        for m in attrs.get("Mounts") or []
        if m.get("Type") == "volume" and m.get("Name")
    }
    mounts: list[dict[str, Any]] = []
    private: list[str] = []
    for spec in (attrs.get("HostConfig") or {}).get("Mounts") or []:
        spec = dict(spec)
        if spec.get("Type") == "volume":
            if not spec.get("Source"):  # a private folder of the workspace: keep its data
                source = by_target.get(str(spec.get("Target")))
                if source:
                    spec["Source"] = source
                    private.append(source)
            elif spec["Source"] in change.remove:
                continue
        mounts.append(spec)
    for volume, target in change.add.items():
        mounts.append({"Type": "volume", "Source": volume, "Target": target, "ReadOnly": False})
    return mounts, private


def _config(
    attrs: dict[str, Any], mounts: list[dict[str, Any]], change: MountChange
) -> dict[str, Any]:
    """The ``/containers/create`` body of the new container, from the old one's."""
    old = attrs.get("Config") or {}
    config = {
        key: old[key] for key in ("Hostname", "Domainname", "Labels", "WorkingDir") if old.get(key)
    }
    config.update(
        {
            # the old container's own, not what the saved image may carry
            "Entrypoint": old.get("Entrypoint"),
            "Cmd": old.get("Cmd"),
            "User": old.get("User") or "",
            "Env": _env(list(old.get("Env") or []), mounts, change),
            "ExposedPorts": old.get("ExposedPorts") or {"22/tcp": {}},
            "AttachStdin": False,
            "AttachStdout": False,
            "AttachStderr": False,
            "Tty": False,
            "OpenStdin": False,
        }
    )
    host_config = dict(attrs.get("HostConfig") or {})
    host_config["Mounts"] = mounts
    config["HostConfig"] = host_config
    return config


def _env(env: list[str], mounts: list[dict[str, Any]], change: MountChange) -> list[str]:
    """The old environment, with the volumes' folders in the list the entrypoint gives to the
    workspace user (an engine volume starts out root's)."""
    owned: list[str] = []
    kept: list[str] = []
    for item in env:
        key, _, value = item.partition("=")
        if key == OWNED_DIRS:
            owned = [line for line in value.split("\n") if line]
        else:
            kept.append(item)
    targets = {str(m.get("Target")) for m in mounts}
    owned = [t for t in owned if t in targets]  # a detached volume's folder is no longer ours
    owned += [t for t in change.add.values() if t not in owned]
    if owned:
        kept.append(f"{OWNED_DIRS}=" + "\n".join(owned))
    return kept


def _networks(attrs: dict[str, Any], workspace: str) -> list[tuple[str, list[str]]]:
    """The user-defined networks the container is on (the default one comes with create)."""
    mode = str((attrs.get("HostConfig") or {}).get("NetworkMode") or "default")
    default = {"bridge", "default", "host", "none", mode}
    joined = ((attrs.get("NetworkSettings") or {}).get("Networks") or {}).keys()
    return [(network, [workspace]) for network in joined if network not in default]


def _files(api: Any, container_id: str) -> list[tuple[str, bytes]]:
    """The SSH keys (and git identity) of the old container, as tars to put in the new one at
    the parent folder each was read from."""
    import docker.errors

    files: list[tuple[str, bytes]] = []
    for path, required in ((KEYS_DIR, True), (GITCONFIG, False)):
        try:
            stream, _ = api.get_archive(container_id, path)
        except docker.errors.NotFound:
            if required:
                raise NexusError(
                    ErrorCode.WORKSPACE_MISSING,
                    f"the workspace container has no SSH keys at {path}",
                    "Delete the workspace and create it again.",
                ) from None
            continue
        except docker.errors.APIError as exc:
            raise engine.docker_error("read the SSH keys", str(exc.explanation or exc)) from None
        data = b"".join(stream)
        _check_tar(data)
        files.append((path.rsplit("/", 1)[0] or "/", data))
    return files


def _check_tar(data: bytes) -> None:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        if not tar.getmembers():
            raise NexusError(ErrorCode.DOCKER_ERROR, "the engine returned an empty archive")
