"""`nexus sync start|status|pause|resume|flush|stop`: a workspace's Mutagen sync."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from .output import escape, print_json, stdout_console
from .runner import run as _run

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ..service.sync import SyncReport, SyncService
    from ..service.workspaces import WorkspaceService
    from ..sync.sessions import SyncSession

sync_app = typer.Typer(
    help="Keep a local folder and a workspace in step (Mutagen, two-way).",
    no_args_is_help=True,
)
JSON_OPTION = typer.Option(False, "--json", help="Machine-readable output (stable schema).")
NAME = typer.Argument(..., help="The workspace.")


def _size(value: int) -> str:
    size = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{value} B"


_STATE_STYLE = {
    "watching": "green",
    "syncing": "cyan",
    "connecting": "yellow",
    "paused": "dim",
    "conflicts": "bold yellow",
    "problems": "yellow",
    "error": "bold red",
    "halted": "bold red",
}


def _print_session(session: SyncSession) -> None:
    style = _STATE_STYLE.get(session.state, "")
    out = stdout_console
    out.print(
        f"  [{style}]{session.state}[/] ({escape(session.status_text)}) · {session.mode} · "
        f"{session.successful_cycles} cycle(s) since it (re)connected",
        markup=True,
        highlight=False,
    )
    for label, end in (("local    ", session.local), ("workspace", session.remote)):
        contents = (
            f"{end.files} files, {end.directories} folders, {_size(end.size)}"
            if end.scanned
            else "not scanned yet"
        )
        link = "connected" if end.connected else "not connected"
        out.print(f"  {label} {escape(end.url)}: {contents}, {link}", highlight=False)
    if session.last_error:
        out.print(f"  [red]last error:[/] {escape(session.last_error)}", markup=True)
    if session.conflict_count:
        out.print(
            f"  [bold yellow]{session.conflict_count} conflict(s)[/] (kept on both sides until "
            "you make them agree; then the sync carries on):",
            markup=True,
        )
        for conflict in session.conflicts:
            out.print(f"    {escape(conflict.path)}", highlight=False)
            for change in conflict.local:
                out.print(f"      here:      {escape(change)}", highlight=False)
            for change in conflict.workspace:
                out.print(f"      workspace: {escape(change)}", highlight=False)
    for problem in session.problems:
        out.print(
            f"  [yellow]problem[/] ({problem['side']}, {problem['kind']}): "
            f"{escape(problem['path'])}: {escape(problem['error'])}",
            markup=True,
        )
    if session.ignores:
        out.print(
            f"  ignored: {escape(', '.join(session.ignores))}"
            + (" and version control folders" if session.ignore_vcs else ""),
            highlight=False,
        )


def _print_reports(reports: list[SyncReport]) -> None:
    if not reports:
        stdout_console.print("No workspace syncs.")
        return
    for report in reports:
        if not report.sessions:
            if report.block is not None:
                stdout_console.print(
                    f"{report.workspace}: its sync of {escape(report.block.local)} is not "
                    f"running (start the workspace, or `nexus sync start {report.workspace}`)",
                    highlight=False,
                )
            else:
                stdout_console.print(f"{report.workspace}: no sync", highlight=False)
            continue
        stdout_console.print(f"[bold]{escape(report.workspace)}[/]", markup=True)
        for session in report.sessions:
            _print_session(session)


def _run_sync(action: Callable[[SyncService], Awaitable[list[SyncReport]]], as_json: bool) -> None:
    async def work(service: WorkspaceService) -> list[SyncReport]:
        return await action(service.sync_service())

    reports = _run(work)
    if as_json:
        print_json({"workspaces": [r.to_json_dict() for r in reports]})
        return
    _print_reports(reports)


@sync_app.command("start")
def start(
    name: str = NAME,
    local: Path | None = typer.Option(
        None, "--local", help="The local folder (default: the workspace's own, or its last)."
    ),
    remote: str | None = typer.Option(
        None,
        "--remote",
        help="The path in the workspace (default: its folder; a Docker workspace needs one "
        "outside its mounted /workspace).",
    ),
    ignore: list[str] = typer.Option(
        [], "--ignore", help="Another pattern to leave out (repeatable; .git always is)."
    ),
    mode: str | None = typer.Option(
        None,
        "--mode",
        help="two-way-safe (default), two-way-resolved, one-way-safe, one-way-replica.",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Start syncing a local folder with the workspace; returns after the first full cycle."""
    from .output import CliProgress

    async def action(sync: SyncService) -> list[SyncReport]:
        with CliProgress(quiet=as_json) as progress:
            report = await sync.start(
                name, local=local, remote=remote, ignore=tuple(ignore), mode=mode,
                progress=progress,
            )  # fmt: skip
        return [report]

    _run_sync(action, as_json)


@sync_app.command("status")
def status(
    name: str | None = typer.Argument(None, help="The workspace (default: every one that syncs)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Each sync: its state, both sides, conflicts and problems."""

    async def action(sync: SyncService) -> list[SyncReport]:
        return await sync.status(name)

    _run_sync(action, as_json)


@sync_app.command("pause")
def pause(name: str = NAME, as_json: bool = JSON_OPTION) -> None:
    """Pause the workspace's sync (nothing is copied until it resumes)."""

    async def action(sync: SyncService) -> list[SyncReport]:
        return [await sync.pause(name)]

    _run_sync(action, as_json)


@sync_app.command("resume")
def resume(name: str = NAME, as_json: bool = JSON_OPTION) -> None:
    """Resume the workspace's sync."""

    async def action(sync: SyncService) -> list[SyncReport]:
        return [await sync.resume(name)]

    _run_sync(action, as_json)


@sync_app.command("flush")
def flush(name: str = NAME, as_json: bool = JSON_OPTION) -> None:
    """Run a full sync cycle now and wait for it."""

    async def action(sync: SyncService) -> list[SyncReport]:
        return [await sync.flush(name)]

    _run_sync(action, as_json)


@sync_app.command("stop")
def stop(name: str = NAME, as_json: bool = JSON_OPTION) -> None:
    """Stop syncing (the files stay on both sides)."""

    async def action(sync: SyncService) -> list[SyncReport]:
        return [await sync.stop(name)]

    _run_sync(action, as_json)
