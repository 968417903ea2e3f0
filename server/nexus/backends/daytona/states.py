"""Every Daytona sandbox state, mapped to a Nexus status."""

from __future__ import annotations

from ...domain.models import WorkspaceStatus

_MAP = {
    "started": WorkspaceStatus.RUNNING,
    "resizing": WorkspaceStatus.RUNNING,
    "snapshotting": WorkspaceStatus.RUNNING,
    "forking": WorkspaceStatus.RUNNING,
    "creating": WorkspaceStatus.CREATING,
    "pending_build": WorkspaceStatus.CREATING,
    "building_snapshot": WorkspaceStatus.CREATING,
    "pulling_snapshot": WorkspaceStatus.CREATING,
    "starting": WorkspaceStatus.STARTING,
    "restoring": WorkspaceStatus.STARTING,
    "resuming": WorkspaceStatus.STARTING,
    "stopping": WorkspaceStatus.STOPPING,
    "pausing": WorkspaceStatus.STOPPING,
    "archiving": WorkspaceStatus.STOPPING,
    "stopped": WorkspaceStatus.STOPPED,
    "paused": WorkspaceStatus.STOPPED,
    "archived": WorkspaceStatus.STOPPED,
    "destroying": WorkspaceStatus.DELETING,
    "destroyed": WorkspaceStatus.MISSING,
    "error": WorkspaceStatus.ERROR,
    "build_failed": WorkspaceStatus.ERROR,
    "unknown": WorkspaceStatus.UNKNOWN,
}

ALL_STATES = frozenset(_MAP)


def to_status(state: object) -> WorkspaceStatus:
    """``state`` may be the SDK enum, a string, or None (an unknown/absent state)."""
    value = getattr(state, "value", state)
    return (
        _MAP.get(str(value).lower(), WorkspaceStatus.UNKNOWN) if value else WorkspaceStatus.UNKNOWN
    )
