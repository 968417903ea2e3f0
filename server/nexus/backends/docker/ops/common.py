"""What the Docker operations share: the engine client, Nexus's labels on engine objects, names."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ....domain.errors import ErrorCode, NexusError
from .. import engine

if TYPE_CHECKING:
    from ....domain.models import Workspace
    from ....domain.provider import OpContext
    from ..backend import DockerBackend

T = TypeVar("T")

# Every volume, network and cached image Nexus makes carries LABEL_INSTALLATION (its containers
# too): `docker volume ls --filter label=nexus.installation=ID` finds them.
LABEL_INSTALLATION = engine.LABEL_INSTALLATION
LABEL_VOLUME = "nexus.volume"  # the volume's name, on volumes Nexus made
LABEL_VOLUME_WORKSPACE = "nexus.volume.workspace"  # the workspace it was created for
LABEL_VOLUME_SIZE = "nexus.volume.size-gb"  # the size asked for (the local driver has no limit)
LABEL_NETWORK = "nexus.network"  # the network's name, on networks Nexus made

# workspace metadata: the Nexus volumes attached, {volume: mount path}, and networks joined
META_VOLUMES = "docker_volumes"
META_NETWORKS = "docker_networks"

# what Docker accepts for volume and network names ([a-zA-Z0-9][a-zA-Z0-9_.-]+), kept short
_ENGINE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$")


def backend(ctx: OpContext) -> DockerBackend:
    found: DockerBackend = ctx.backend
    return found


def client(ctx: OpContext) -> Any:
    return backend(ctx).client()


def installation(ctx: OpContext) -> str:
    return backend(ctx).installation_id


def workspace(ctx: OpContext) -> Workspace:
    if ctx.workspace is None:
        raise NexusError(ErrorCode.INTERNAL_ERROR, "this operation needs a workspace")
    return ctx.workspace


def call(action: str, fn: Callable[[], T]) -> T:
    """An SDK call; engine failures become DOCKER_ERROR / DOCKER_UNAVAILABLE."""
    return engine.translate(fn, action)


def engine_name(kind: str, name: str) -> str:
    """``name`` if the engine accepts it as a volume / network name, else INVALID_NAME."""
    if not _ENGINE_NAME.match(name):
        raise NexusError(
            ErrorCode.INVALID_NAME,
            f"invalid {kind} name {name!r}: 2 to 64 characters, letters, digits, '_', '.' and "
            "'-', starting with a letter or digit",
            f"Use a {kind} name such as 'cache-data'.",
        )
    return name


def ours(labels: dict[str, str] | None, ctx: OpContext) -> bool:
    """The engine object was made by this Nexus installation."""
    return (labels or {}).get(LABEL_INSTALLATION) == installation(ctx)


def workspace_of(labels: dict[str, str] | None) -> str | None:
    return (labels or {}).get(engine.LABEL_WORKSPACE) or None
