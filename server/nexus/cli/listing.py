"""`nexus workspace list`, and how a workspace's status and endpoint are shown.

Kept free of typer: ``nexus.cli.main`` runs the plain forms of `workspace list` straight from
here, without building the command tree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..domain.kinds import BackendType, WorkspaceStatus
from .list_view import COLUMNS, EMPTY, STATUS_STYLE, endpoint_text
from .output import escape, print_json, stderr_console, stdout_console
from .runner import run

if TYPE_CHECKING:
    from rich.table import Table

    from ..domain.models import Workspace
    from ..service.workspaces import WorkspaceService


def status_text(ws: Workspace) -> str:
    """The status, styled (markup), with the reason when the create never finished and when
    a workspace that stops itself will do so."""
    from ..service.workspaces import create_interrupted

    text = ws.status.value
    if ws.status is WorkspaceStatus.ERROR and create_interrupted(ws):
        text += " (create interrupted)"
    if ws.auto_stop is not None:
        from ..service.auto_stop import minutes_left_text

        text += f" ({minutes_left_text(ws.auto_stop)})"
    style = STATUS_STYLE.get(ws.status, "")
    return f"[{style}]{text}[/]" if style else text


def endpoint(ws: Workspace) -> str:
    if not ws.ssh_port:
        return "-"
    user = ws.public_dict()["sshUser"]  # a token-based gateway's user name is a credential
    return endpoint_text(user, ws.ssh_host, ws.ssh_port)


def list_workspaces(backend_filter: BackendType | None, as_json: bool) -> None:
    """List workspaces with their live status."""

    async def work(service: WorkspaceService) -> tuple[list[Workspace], tuple[str, ...]]:
        listed = await service.list(backend_filter)
        return listed, service.unrecorded

    workspaces, unrecorded = run(work)
    if unrecorded:
        stderr_console.print(
            f"[yellow]note:[/] {len(unrecorded)} workspace(s) of this installation have no "
            f"record ({escape(', '.join(unrecorded))}): run `nexus workspace recover`",
            highlight=False,
        )
    if as_json:
        print_json({"workspaces": [ws.public_dict() for ws in workspaces]})
        return
    if not workspaces:
        before, command, after = EMPTY
        stdout_console.print(f"{before}[bold]{command}[/]{after}")
        return
    stdout_console.print(workspace_table(workspaces))


def workspace_table(workspaces: list[Workspace]) -> Table:
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in COLUMNS:
        table.add_column(column)
    for ws in workspaces:
        table.add_row(
            ws.name,
            ws.backend.value,
            status_text(ws),
            escape(ws.branch or "-"),
            escape(endpoint(ws)),
            escape(ws.local_path or "-"),
        )
    return table
