"""``docker image cache|prune``: a workspace committed to a reusable image, and the cleanup.

A cached image is a workspace image already (sshd, the ``nexus`` user, the entrypoint), so
``workspace create --image <ref>`` runs it as it is. It holds the container's own filesystem
(installed packages, files outside the workspace folder), not the workspace folder (a bind
mount of the project) nor volumes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from ....asyncutil import run_blocking
from ....domain.errors import ErrorCode, NexusError
from ....domain.kinds import BackendType
from ....domain.provider import NoParams, OpParams, OpResult, operation
from .. import engine
from ..backend import LABEL_IMAGE
from . import common
from .recreate import RECREATE

if TYPE_CHECKING:
    from ....domain.provider import OpContext

CAPABILITY = "supports_image_caching"
CACHE = "cache"  # the LABEL_IMAGE value of a cached workspace
LABEL_CACHE_WORKSPACE = "nexus.cache.workspace"  # the workspace it was made from
LABEL_CACHE_FROM = "nexus.cache.from"  # the image it is meant to replace
LABEL_BASE = "nexus.base"  # the base the workspace image was built from (image_builder)
REPOSITORY = "nexus-cache"


class CacheParams(OpParams):
    from_image: str | None = Field(
        default=None,
        alias="from",
        json_schema_extra={"flag": "from"},
        description="The image this cache replaces (default: the workspace's image).",
    )
    to: str | None = Field(
        default=None, description="The image reference to write (default nexus-cache/WS:latest)."
    )


def _image_or_none(client: Any, ref: str) -> dict[str, Any] | None:
    import docker.errors

    try:
        found: dict[str, Any] = client.api.inspect_image(ref)
        return found
    except docker.errors.NotFound:
        return None
    except docker.errors.APIError as exc:
        if exc.status_code == 400:
            raise _invalid(ref, str(exc.explanation or exc)) from None
        raise engine.docker_error("inspect an image", str(exc.explanation or exc)) from None


def _invalid(ref: str, detail: str) -> NexusError:
    return NexusError(
        ErrorCode.IMAGE_INVALID,
        f"'{ref}' is not a valid image reference: {detail}",
        "Use a reference like `my-cache/project:v1` (lowercase repository name).",
    )


def _split(ref: str) -> tuple[str, str]:
    """(repository, tag) of a reference; ``latest`` when it names no tag."""
    last = ref.rsplit("/", 1)[-1]
    if ":" in last and "@" not in ref:
        repository, _, tag = ref.rpartition(":")
        return repository, tag
    return ref, "latest"


def _commit_config(container: Any, image_env: list[str], labels: dict[str, str]) -> dict[str, Any]:
    """The image config of the commit. The engine merges the container's own labels and
    environment into it (it cannot drop them): the workspace's (its name, port, record labels,
    the user's env) are blanked, so a workspace made from the image never inherits them."""
    config = container.attrs.get("Config") or {}
    own = {k: "" for k in config.get("Labels") or {} if k not in (LABEL_IMAGE, LABEL_BASE)}
    image_keys = {item.partition("=")[0] for item in image_env}
    env = list(image_env) + [
        f"{item.partition('=')[0]}="
        for item in config.get("Env") or []
        if item.partition("=")[0] not in image_keys
    ]
    return {"Labels": {**own, **labels}, "Env": env}


@operation(
    BackendType.DOCKER,
    "image",
    "cache",
    capability=CAPABILITY,
    params=CacheParams,
    summary="Commit a workspace to a reusable image (workspace create --image takes it).",
)
async def cache_image(ctx: OpContext, params: CacheParams) -> OpResult:
    import docker.errors

    ws = common.workspace(ctx)
    ref = params.to or f"{REPOSITORY}/{ws.name}:latest"
    replaces = params.from_image or ws.image or ""

    def _cache() -> tuple[str, int]:
        client = common.client(ctx)
        container = common.backend(ctx).require_container(ws)
        existing = _image_or_none(client, ref)
        if existing is not None:
            labels = (existing.get("Config") or {}).get("Labels") or {}
            if labels.get(LABEL_IMAGE) != CACHE or not common.ours(labels, ctx):
                raise NexusError(
                    ErrorCode.INVALID_ARGUMENT,
                    f"image '{ref}' exists and is not a cache Nexus made; it would be replaced",
                    "Choose another image reference.",
                )
        image_id = str(container.attrs.get("Image", ""))
        base = common.call("inspect an image", lambda: client.api.inspect_image(image_id))
        labels = {
            LABEL_IMAGE: CACHE,
            common.LABEL_INSTALLATION: common.installation(ctx),
            LABEL_CACHE_WORKSPACE: ws.name,
            LABEL_CACHE_FROM: replaces,
        }
        conf = _commit_config(container, list((base.get("Config") or {}).get("Env") or []), labels)
        repository, tag = _split(ref)
        ctx.progress.step("image", f"Committing '{ws.name}' to {ref}")
        try:
            made = client.api.commit(
                container.id,
                repository=repository,
                tag=tag,
                message=f"nexus: cache of workspace {ws.name}",
                conf=conf,
                pause=True,
            )
        except docker.errors.APIError as exc:
            if exc.status_code == 400:
                raise _invalid(ref, str(exc.explanation or exc)) from None
            raise engine.docker_error("commit the workspace", str(exc.explanation or exc)) from None
        except docker.errors.DockerException as exc:
            raise engine.docker_unavailable(str(exc)) from None
        image_id = str(made.get("Id", ""))
        size = int(
            common.call("inspect an image", lambda: client.api.inspect_image(image_id))["Size"]
        )
        return image_id, size

    image_id, size = await run_blocking(_cache)
    return OpResult(
        data={
            "image": ref,
            "id": image_id,
            "workspace": ws.name,
            "from": replaces or None,
            "sizeBytes": size,
        },
        lines=[
            f"Cached workspace '{ws.name}' as {ref} ({size / 2**20:.0f} MB)"
            + (f", to replace {replaces}." if replaces else "."),
            "The workspace folder and volumes are not in the image.",
            f"Use it: nexus workspace create NAME --image {ref}",
        ],
    )


@operation(
    BackendType.DOCKER,
    "image",
    "prune",
    capability=CAPABILITY,
    params=NoParams,
    summary="Remove the images Nexus made (cached, saved by a volume attach or detach) that no container uses.",
    workspace=False,
)
async def prune_images(ctx: OpContext, params: NoParams) -> OpResult:
    recorded = {ws.name for ws in ctx.workspaces()}
    removed, kept = await run_blocking(_prune, ctx, recorded)
    lines = [f"Removed {entry['image']} ({entry['id'][:19]})" for entry in removed]
    lines += [f"Kept {entry['image']}: {entry['reason']}" for entry in kept]
    if not lines:
        lines = ["No cached images to prune."]
    return OpResult(data={"removed": removed, "kept": kept}, lines=lines)


def _prune(ctx: OpContext, recorded: set[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    import docker.errors

    client = common.client(ctx)
    filters = {"label": [f"{common.LABEL_INSTALLATION}={common.installation(ctx)}"]}
    # caches, and the images a volume attach/detach saved a container to (a deleted
    # workspace's, or one an interrupted recreate left)
    images = [
        image
        for image in common.call("list images", lambda: client.api.images(filters=filters))
        if (image.get("Labels") or {}).get(LABEL_IMAGE) in (CACHE, RECREATE)
    ]
    containers = common.call("list containers", lambda: client.api.containers(all=True))
    users: dict[str, list[str]] = {}
    for summary in containers:
        labels = summary.get("Labels") or {}
        name = common.workspace_of(labels) if common.ours(labels, ctx) else None
        who = (
            f"workspace '{name}'"
            if name in recorded
            else f"container {str((summary.get('Names') or ['?'])[0]).lstrip('/')}"
        )
        users.setdefault(str(summary.get("ImageID", "")), []).append(who)
    removed: list[dict[str, Any]] = []
    kept: list[dict[str, Any]] = []
    # newest first: a cache made from a workspace created from an older cache goes before it
    for image in sorted(images, key=lambda i: -int(i.get("Created") or 0)):
        image_id = str(image.get("Id", ""))
        refs = [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"]
        shown = ", ".join(refs) or image_id[:19]
        if image_id in users:
            kept.append(
                {"image": shown, "id": image_id, "reason": "used by " + ", ".join(users[image_id])}
            )
            continue
        try:
            for ref in refs or [image_id]:
                client.api.remove_image(ref, force=False, noprune=False)
        except docker.errors.APIError as exc:
            kept.append({"image": shown, "id": image_id, "reason": str(exc.explanation or exc)})
            continue
        removed.append({"image": shown, "id": image_id})
    return removed, kept
