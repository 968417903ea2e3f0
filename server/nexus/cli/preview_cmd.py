"""`nexus workspace preview WS PORT | list | stop`: a workspace's port at a local URL."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

from ..domain.errors import ErrorCode, NexusError
from .output import escape, print_json, stderr_console, stdout_console
from .runner import run as _run

if TYPE_CHECKING:
    import click

    from ..preview.state import PreviewRecord
    from ..service.preview import RunningPreview
    from ..service.workspaces import WorkspaceService


class PreviewGroup(TyperGroup):
    """`preview WS PORT …` is `preview open WS PORT …`."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["open", *args]
        return super().resolve_command(ctx, args)


preview_app = typer.Typer(
    help="Open a workspace's port in your browser: `preview WS PORT` (short for "
    "`preview open WS PORT`), `preview list`, `preview stop WS PORT`.",
    no_args_is_help=True,
    cls=PreviewGroup,
)
JSON_OPTION = typer.Option(False, "--json", help="Machine-readable output (stable schema).")
NAME = typer.Argument(..., help="The workspace.")
PORT = typer.Argument(..., min=1, max=65535, help="The port in the workspace.")


def _open_browser(url: str) -> None:
    """The default browser; a machine without one only gets a warning."""
    import webbrowser

    try:
        opened = webbrowser.open(url)
    except Exception as exc:  # webbrowser raises whatever its launcher raises
        opened = False
        reason = str(exc)
    else:
        reason = "no browser found"
    if not opened:
        stderr_console.print(
            f"[yellow]warning:[/] could not open a browser ({escape(reason)}); open "
            f"{escape(url)} yourself.",
            markup=True,
            highlight=False,
        )


def _print_started(data: dict[str, Any], *, background: bool, already: bool = False) -> None:
    url = data["url"]
    where = f"port {data['port']} of [bold]{escape(data['workspace'])}[/]"
    if background:
        state = "already serves" if already else "serves"
        stdout_console.print(
            f"Preview of {where}: {escape(url)}\n"
            f"A background preview (pid {data['pid']}) {state} it; end it with "
            f"`nexus workspace preview stop {data['workspace']} {data['port']}`.",
            markup=True,
            highlight=False,
        )
    else:
        stdout_console.print(
            f"Preview of {where}: {escape(url)}\nPress Ctrl-C to stop.",
            markup=True,
            highlight=False,
        )


@preview_app.command("open")
def open_(
    name: str = NAME,
    port: int = PORT,
    local_port: int | None = typer.Option(
        None,
        "--local-port",
        min=0,
        max=65535,
        help="The port on 127.0.0.1 (default: the same number when it is free, else any free "
        "port; 0: any free port).",
    ),
    open_browser: bool = typer.Option(False, "--open", help="Open it in the default browser."),
    background: bool = typer.Option(
        False,
        "--background",
        help="Run it in a background process that outlives this command "
        "(`preview list`, `preview stop`); it ends when the workspace stops.",
    ),
    serve_managed: bool = typer.Option(False, "--serve-managed", hidden=True),
    as_json: bool = JSON_OPTION,
) -> None:
    """Serve a port of the workspace at a local URL (HTTP, keep-alive, WebSockets).

    Docker: through the workspace's SSH connection.
    Daytona: through its preview URL, the token added here (the browser never sees it).
    Runs until Ctrl-C, unless --background.
    """
    from ..service.preview import PreviewService

    if serve_managed:
        _serve_managed(name, port, local_port)
        return
    if background:

        async def start(service: WorkspaceService) -> tuple[PreviewRecord, bool]:
            return await PreviewService(service).start_background(name, port, local_port=local_port)

        record, started = _run(start)
        data = record.to_json_dict()
        if as_json:
            print_json({**data, "background": True, "started": started})
        else:
            _print_started(data, background=True, already=not started)
        if open_browser:
            _open_browser(record.url)
        return

    serving = False

    async def serve(service: WorkspaceService) -> None:
        nonlocal serving
        running: RunningPreview = await PreviewService(service).serve(
            name, port, local_port=local_port
        )
        try:
            serving = True
            data = running.to_json_dict()
            if as_json:
                print_json({**data, "background": False})
            else:
                _print_started(data, background=False)
            if open_browser:
                _open_browser(running.url)
            await running.wait()
        finally:
            await running.close()

    try:
        _run(serve)
    except NexusError as error:
        if error.code != ErrorCode.CANCELLED or not serving:
            raise
        if not as_json:  # Ctrl-C is how a foreground preview ends
            stderr_console.print("Preview stopped.", highlight=False)


def _serve_managed(name: str, port: int, local_port: int | None) -> None:
    """The background process (started by --background): announce on stdout, then let go of
    it, so the starting command reads the announcement to its end and exits."""
    from ..service.preview import PreviewService

    def announce(record: PreviewRecord) -> None:
        print_json(record.to_json_dict())
        sys.stdout.flush()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)

    async def serve(service: WorkspaceService) -> None:
        await PreviewService(service).serve_managed(
            name, port, local_port=local_port, announce=announce
        )

    try:
        _run(serve)
    except NexusError as error:
        if error.code != ErrorCode.CANCELLED:
            raise


@preview_app.command("list")
def list_(as_json: bool = JSON_OPTION) -> None:
    """List the background previews (those that ended are dropped)."""

    async def work(service: WorkspaceService) -> list[PreviewRecord]:
        from ..service.preview import PreviewService

        return PreviewService(service).list()

    records = _run(work)
    if as_json:
        print_json({"previews": [r.to_json_dict() for r in records]})
        return
    if not records:
        stdout_console.print("No background previews.")
        return
    for r in records:
        stdout_console.print(
            f"{escape(r.workspace)}:{r.port}  {escape(r.url)}  (pid {r.pid}, via {r.via}, "
            f"since {escape(r.started_at)})",
            markup=True,
            highlight=False,
        )


@preview_app.command("stop")
def stop(name: str = NAME, port: int = PORT, as_json: bool = JSON_OPTION) -> None:
    """End the background preview of a workspace's port."""

    async def work(service: WorkspaceService) -> PreviewRecord:
        from ..service.preview import PreviewService

        return await PreviewService(service).stop(name, port)

    record = _run(work)
    if as_json:
        print_json({**record.to_json_dict(), "stopped": True})
        return
    stdout_console.print(
        f"Stopped the preview of port {record.port} of [bold]{escape(record.workspace)}[/] "
        f"({escape(record.url)}).",
        markup=True,
        highlight=False,
    )
