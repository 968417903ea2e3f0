"""What a backend reports about a workspace resource it holds, for rebuilding a lost record."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .kinds import BackendType, WorkspaceStatus


@dataclass
class FoundResource:
    """A container or sandbox of this installation, as its backend lists it."""

    name: str  # the workspace name (label nexus.workspace)
    backend: BackendType
    backend_id: str
    resource_name: str
    labels: dict[str, str]
    status: WorkspaceStatus
    image: str | None = None
    ssh_port: int | None = None
    created_at: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class RebuiltAccess:
    """How a rebuilt record reaches its workspace: the Workspace fields to set, metadata to add,
    and the host ports (purpose -> port) the record must hold."""

    fields: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
