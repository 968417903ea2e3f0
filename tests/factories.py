"""Records the unit tests put in a store without a backend behind them."""

from __future__ import annotations

from typing import Any

from nexus.domain.models import BackendType, Workspace, WorkspaceStatus

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOJ0sqTsGbjSZ9Z0Oo4XfyFQ3kxGN6SJ3UNkvvAJRrHu"


def running_docker_workspace(name: str, port: int, **fields: Any) -> Workspace:
    """A running Docker workspace reached on 127.0.0.1:``port``, with a pinned host key."""
    return Workspace(
        **{
            "name": name,
            "backend": BackendType.DOCKER,
            "status": WorkspaceStatus.RUNNING,
            "ssh_host": "127.0.0.1",
            "ssh_port": port,
            "ssh_user": "nexus",
            "host_key": HOST_KEY,
            **fields,
        }
    )
