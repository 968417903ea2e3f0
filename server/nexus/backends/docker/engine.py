"""Connecting to the Docker engine and turning its failures into Nexus errors."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any, TypeVar

from ...domain.errors import ErrorCode, NexusError

T = TypeVar("T")

LABEL_WORKSPACE = "nexus.workspace"
LABEL_INSTALLATION = "nexus.installation"

# a container's state (``State`` in the engine's container list) -> the workspace status value
STATE_STATUS = {
    "created": "stopped",
    "running": "running",
    "paused": "paused",
    "restarting": "starting",
    "removing": "deleting",
    "exited": "stopped",
    "dead": "error",
}


def installation_filter(installation_id: str) -> dict[str, list[str]]:
    """The container-list filter for one installation's containers."""
    return {"label": [f"{LABEL_INSTALLATION}={installation_id}"]}


def states_by_workspace(summaries: list[dict[str, Any]]) -> dict[str, str]:
    """Workspace name -> container state, from the engine's container list (unlabelled
    containers left out)."""
    states: dict[str, str] = {}
    for summary in summaries:
        name = (summary.get("Labels") or {}).get(LABEL_WORKSPACE)
        if name:
            states[name] = str(summary.get("State", ""))
    return states


def _short(detail: str) -> str:
    """The useful tail of a requests/urllib3 error ("[Errno 111] Connection refused")."""
    found = re.search(r"\[Errno -?\d+\][^'\")]*", detail)
    if found:
        return found.group(0).strip()
    return detail.splitlines()[0][:200] if detail else "no answer"


def docker_unavailable(detail: str, host: str | None = None) -> NexusError:
    detail = _short(detail)
    where = host or os.environ.get("DOCKER_HOST") or "the local socket"
    return NexusError(
        ErrorCode.DOCKER_UNAVAILABLE,
        f"cannot reach the Docker engine at {where}: {detail}",
        "Start Docker (e.g. `sudo systemctl start docker`) or fix DOCKER_HOST, then retry.",
    )


def docker_error(action: str, detail: str) -> NexusError:
    """The engine answered, with an error."""
    return NexusError(
        ErrorCode.DOCKER_ERROR,
        f"Docker failed to {action}: {detail}",
        "Check `docker info` and the engine's log.",
    )


def connect(host: str | None) -> Any:
    """A ``docker.DockerClient``, pinged; DOCKER_UNAVAILABLE if the engine does not answer."""
    import docker

    try:
        if host:
            client = docker.DockerClient(base_url=host, timeout=120)
        else:
            client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:
        raise docker_unavailable(str(exc) or type(exc).__name__, host) from None
    return client


def translate(call: Callable[[], T], action: str) -> T:
    """Run a docker SDK call; engine/connection failures become Nexus errors."""
    import docker.errors
    import requests

    try:
        return call()
    except NexusError:
        raise
    except requests.exceptions.ConnectionError as exc:
        raise docker_unavailable(str(exc)) from None
    except docker.errors.APIError as exc:
        raise docker_error(action, str(exc.explanation or exc)) from None
    except docker.errors.DockerException as exc:
        raise docker_unavailable(str(exc)) from None


def container_or_none(client: Any, ref: str) -> Any | None:
    import docker.errors

    try:
        return client.containers.get(ref)
    except docker.errors.NotFound:
        return None
