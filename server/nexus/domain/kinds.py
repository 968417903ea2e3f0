"""The plain values of the domain (names, statuses, constants): no pydantic, cheap to import.

``nexus.domain.models`` re-exports them beside the pydantic models; code on a start-up path
(the CLI, the store) imports them from here so that it does not build the models.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

REMOTE_PATH = "/workspace"
SSH_ALIAS_PREFIX = "nexus-"


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def ssh_alias(name: str) -> str:
    return f"{SSH_ALIAS_PREFIX}{name}"


class BackendType(StrEnum):
    DOCKER = "docker"
    DAYTONA = "daytona"


class WorkspaceStatus(StrEnum):
    CREATING = "creating"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    PAUSED = "paused"  # frozen by the engine (`docker pause`): `start` resumes it
    DELETING = "deleting"
    ERROR = "error"
    MISSING = "missing"  # the backend no longer has it (removed behind Nexus's back)
    UNKNOWN = "unknown"  # the backend could not be asked


TRANSITIONAL = frozenset(
    {
        WorkspaceStatus.CREATING,
        WorkspaceStatus.STARTING,
        WorkspaceStatus.STOPPING,
        WorkspaceStatus.DELETING,
    }
)


def remote_uri(alias: str, path: str) -> str:
    """``vscode-remote://ssh-remote+<alias><path>``: a bare alias, no ``user@`` in the authority."""
    return f"vscode-remote://ssh-remote+{alias}{path if path.startswith('/') else '/' + path}"
