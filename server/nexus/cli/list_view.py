"""What `workspace list` shows, as plain values (no rich, no models): shared by the full listing
(``nexus.cli.listing``) and the quick one (``nexus.cli.quick_list``)."""

from __future__ import annotations

# style of each status in the table (keys are status values; a WorkspaceStatus looks them up too)
STATUS_STYLE = {
    "running": "green",
    "stopped": "yellow",
    "paused": "yellow",
    "missing": "red",
    "error": "red",
    "unknown": "dim",
}
COLUMNS = ("NAME", "BACKEND", "STATUS", "BRANCH", "SSH", "PATH")
# the line shown for an empty list: text, the command (bold), text
EMPTY = ("No workspaces. Create one with ", "nexus workspace create NAME", ".")


def endpoint_text(user: str | None, host: str | None, port: int | None) -> str:
    """The SSH column: ``user@host:port``, ``host:port`` without a user, ``-`` without a port."""
    if not port:
        return "-"
    return f"{user}@{host}:{port}" if user else f"{host}:{port}"
