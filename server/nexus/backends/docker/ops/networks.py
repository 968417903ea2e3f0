"""``docker network create|connect|disconnect``: workspaces that reach each other by name.

A Nexus network is a user-defined bridge network; the engine's DNS answers a connected
workspace's name (its alias there) to the others on the same network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from ....asyncutil import run_blocking
from ....domain.errors import ErrorCode, NexusError
from ....domain.kinds import BackendType
from ....domain.provider import OpParams, OpResult, operation
from .. import engine
from . import common

if TYPE_CHECKING:
    from ....domain.provider import OpContext

CAPABILITY = "supports_direct_volume_management"
_PREDEFINED = frozenset({"bridge", "host", "none", "default"})


class NetworkParams(OpParams):
    network: str = Field(description="The network's name.")


def _network_or_none(ctx: OpContext, name: str) -> Any | None:
    import docker.errors

    client = common.client(ctx)
    try:
        found = client.networks.get(name)
    except docker.errors.NotFound:
        return None
    except docker.errors.APIError as exc:
        raise engine.docker_error("inspect a network", str(exc.explanation or exc)) from None
    # the engine also matches an id prefix: only the network of that exact name counts
    return found if found.name == name else None


def _name(name: str) -> str:
    common.engine_name("network", name)
    if name in _PREDEFINED:
        raise NexusError(
            ErrorCode.INVALID_NAME,
            f"'{name}' is one of the engine's own networks",
            "Choose another network name.",
        )
    return name


def _nexus_network(ctx: OpContext, name: str) -> Any:
    """The network ``name`` this installation made, or a clear error."""
    predefined = name in _PREDEFINED  # exists, never Nexus's
    if not predefined:
        common.engine_name("network", name)
    found = (
        None
        if predefined
        else common.call("inspect a network", lambda: _network_or_none(ctx, name))
    )
    if found is None and not predefined:
        raise NexusError(
            ErrorCode.DOCKER_NETWORK_NOT_FOUND,
            f"there is no network '{name}' on the Docker engine",
            "Create it first (network create), or check the name.",
        )
    if found is None or not common.ours(found.attrs.get("Labels"), ctx):
        raise NexusError(
            ErrorCode.INVALID_ARGUMENT,
            f"network '{name}' was not made by Nexus (this installation); workspaces join only "
            "Nexus networks",
            "Create one with network create and connect the workspaces to it.",
        )
    return found


@operation(
    BackendType.DOCKER,
    "network",
    "create",
    capability=CAPABILITY,
    params=NetworkParams,
    summary="Create a Docker network workspaces can join to reach each other by name.",
    workspace=False,
    positional=("network",),
)
async def create_network(ctx: OpContext, params: NetworkParams) -> OpResult:
    name = _name(params.network)

    def _create() -> tuple[Any, bool]:
        existing = common.call("inspect a network", lambda: _network_or_none(ctx, name))
        if existing is not None:
            if not common.ours(existing.attrs.get("Labels"), ctx):
                raise NexusError(
                    ErrorCode.INVALID_ARGUMENT,
                    f"a network named '{name}' already exists on the Docker engine and was not "
                    "made by Nexus (this installation)",
                    "Choose another network name.",
                )
            return existing, False
        labels = {common.LABEL_INSTALLATION: common.installation(ctx), common.LABEL_NETWORK: name}
        client = common.client(ctx)
        made = common.call(
            "create a network",
            lambda: client.networks.create(
                name, driver="bridge", labels=labels, check_duplicate=True
            ),
        )
        return made, True

    network, created = await run_blocking(_create)
    return OpResult(
        data={"network": name, "id": network.id, "driver": "bridge", "created": created},
        lines=[
            f"Network '{name}' {'created' if created else 'already exists'} (bridge).",
            "Join a workspace: nexus workspace provider docker network connect WS "
            f"--network {name}",
        ],
    )


@operation(
    BackendType.DOCKER,
    "network",
    "connect",
    capability=CAPABILITY,
    params=NetworkParams,
    summary="Connect a workspace to a Nexus network (the others there reach it by its name).",
)
async def connect_network(ctx: OpContext, params: NetworkParams) -> OpResult:
    ws = common.workspace(ctx)

    def _connect() -> bool:
        network = _nexus_network(ctx, params.network)
        container = common.backend(ctx).require_container(ws)
        joined = (container.attrs.get("NetworkSettings") or {}).get("Networks") or {}
        if params.network in joined:
            return False
        common.call(
            f"connect '{ws.name}' to network {params.network}",
            lambda: network.connect(container.id, aliases=[ws.name]),
        )
        return True

    changed = await run_blocking(_connect)
    _record(ctx, params.network, joined=True)
    return OpResult(
        data={
            "network": params.network,
            "workspace": ws.name,
            "alias": ws.name,
            "changed": changed,
        },
        lines=[
            f"'{ws.name}' {'joined' if changed else 'is already on'} network '{params.network}': "
            f"the workspaces there reach it as '{ws.name}'."
        ],
    )


@operation(
    BackendType.DOCKER,
    "network",
    "disconnect",
    capability=CAPABILITY,
    params=NetworkParams,
    summary="Disconnect a workspace from a Nexus network.",
)
async def disconnect_network(ctx: OpContext, params: NetworkParams) -> OpResult:
    ws = common.workspace(ctx)

    def _disconnect() -> None:
        network = _nexus_network(ctx, params.network)
        container = common.backend(ctx).require_container(ws)
        joined = (container.attrs.get("NetworkSettings") or {}).get("Networks") or {}
        if params.network not in joined:
            raise NexusError(
                ErrorCode.INVALID_ARGUMENT,
                f"workspace '{ws.name}' is not on network '{params.network}'",
                f"Its networks: {', '.join(sorted(joined)) or 'none'}.",
            )
        common.call(
            f"disconnect '{ws.name}' from network {params.network}",
            lambda: network.disconnect(container.id),
        )

    await run_blocking(_disconnect)
    _record(ctx, params.network, joined=False)
    return OpResult(
        data={"network": params.network, "workspace": ws.name, "changed": True},
        lines=[f"'{ws.name}' left network '{params.network}'."],
    )


def _record(ctx: OpContext, network: str, *, joined: bool) -> None:
    """Keep the workspace's networks in its record (the container is the source of truth)."""

    def change(metadata: dict[str, Any]) -> None:
        networks = [n for n in metadata.get(common.META_NETWORKS) or [] if n != network]
        metadata[common.META_NETWORKS] = [*networks, network] if joined else networks

    ctx.records().update_metadata(common.workspace(ctx).name, change)
