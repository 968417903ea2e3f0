"""`nexus workspace export | import | migrate`: move a workspace to another backend
(docs/migration.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..domain.errors import ErrorCode, NexusError
from ..domain.kinds import BackendType
from .output import escape, print_json, stdout_console
from .runner import run as _run

if TYPE_CHECKING:
    from ..domain.progress import Progress
    from ..service.migration import ExportResult, ImportResult, MigrateResult
    from ..service.workspaces import WorkspaceService

_JSON_HELP = "Machine-readable output (stable schema)."


def _size(value: int) -> str:
    return f"{value / 1e6:.1f} MB"


def export_cmd(
    name: str = typer.Argument(..., help="The workspace to export (running)."),
    target: BackendType | None = typer.Option(
        None,
        "--format",
        help="The backend the export is meant for (docker or daytona): its resources are "
        "fitted to that backend, and import uses it by default.",
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the export to FILE (default: stdout, never a terminal)."
    ),
    as_json: bool = typer.Option(False, "--json", help=_JSON_HELP + " Needs -o."),
) -> None:
    """Export a workspace: its branch with its history, uncommitted and untracked files (not
    ignored ones), resources, labels and env, as one file `workspace import` reads."""
    from ..service.migration import export_workspace
    from .output import CliProgress

    if output is None and as_json:
        raise NexusError(
            ErrorCode.INVALID_ARGUMENT,
            "--json needs -o FILE: without it the export itself goes to stdout",
            "Write the export to a file with -o FILE.",
        )
    if output is None and sys.stdout.isatty():
        raise NexusError(
            ErrorCode.INVALID_ARGUMENT,
            "the export is binary data and stdout is a terminal",
            f"Redirect it (`nexus workspace export {name} > {name}.nexus`) or pass -o FILE.",
        )

    async def work(service: WorkspaceService) -> ExportResult:
        with CliProgress(quiet=as_json) as progress:
            if output is None:
                sys.stdout.flush()
                return await export_workspace(
                    service, name, sys.stdout.buffer, target_backend=target, progress=progress
                )
            return await _export_to_file(service, name, output, target, progress)

    result = _run(work, cancelled="interrupted; no export was written")
    if output is None:
        sys.stdout.buffer.flush()
        return
    if as_json:
        print_json(result.to_json_dict())
        return
    stdout_console.print(
        f"Exported [bold]{escape(name)}[/] ({escape(_what(result))}, {_size(result.bytes)}) "
        f"to {escape(str(output))}",
        markup=True,
        highlight=False,
    )


async def _export_to_file(
    service: WorkspaceService,
    name: str,
    output: Path,
    target: BackendType | None,
    progress: Progress,
) -> ExportResult:
    """Written beside ``output`` and renamed at the end: a failed export leaves no file."""
    import contextlib
    import os
    import tempfile

    from ..service.migration import export_workspace

    path = output.expanduser().absolute()
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            result = await export_workspace(
                service, name, out, target_backend=target, progress=progress, path=str(path)
            )
        os.replace(temp, path)
        return result
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def _what(result: ExportResult) -> str:
    manifest = result.manifest
    if not manifest.repo:
        return "a folder, no git repository"
    if manifest.head is None:
        return f"branch {manifest.branch}, no commit yet"
    return f"branch {manifest.branch or '(detached)'} at {manifest.head[:12]}"


def import_cmd(
    name: str = typer.Argument(..., help="The new workspace's name."),
    backend: BackendType | None = typer.Option(
        None,
        "--backend",
        help="docker or daytona (default: the export's --format, else config).",
    ),
    input_file: Path | None = typer.Option(
        None, "--input", "-i", help="Read the export from FILE (default: stdin)."
    ),
    folder: Path | None = typer.Option(
        None,
        "--folder",
        help="Docker: the new folder the workspace mounts (default: "
        "<workspace.storage_path>/<name>; it must not exist).",
    ),
    as_json: bool = typer.Option(False, "--json", help=_JSON_HELP),
) -> None:
    """Create a workspace from an export: same branch, same history, same working copy,
    verified by the working tree's hash (the new workspace is removed if anything fails)."""
    from ..service.migration import import_stream, import_workspace
    from .output import CliProgress
    from .stdin_reader import stdin_is_data

    if input_file is None and not stdin_is_data():
        raise NexusError(
            ErrorCode.INVALID_ARGUMENT,
            "no export given: stdin is not a file or a pipe",
            f"Pipe it in (`nexus workspace import {name} < FILE`) or pass -i FILE.",
        )
    if input_file is not None and not input_file.expanduser().is_file():
        raise NexusError(
            ErrorCode.SOURCE_NOT_FOUND,
            f"{input_file} does not exist or is not a file",
            "Name the file `nexus workspace export -o` wrote.",
        )

    async def work(service: WorkspaceService) -> ImportResult:
        with CliProgress(quiet=as_json) as progress:
            if input_file is None:
                return await import_stream(
                    service,
                    name,
                    sys.stdin.buffer,
                    backend=backend,
                    folder=folder,
                    progress=progress,
                )
            return await import_workspace(
                service,
                name,
                input_file.expanduser(),
                backend=backend,
                folder=folder,
                progress=progress,
            )

    result = _run(work)
    if as_json:
        print_json(result.to_json_dict())
        return
    _print_imported(result)


def _print_imported(result: ImportResult) -> None:
    ws = result.workspace
    manifest = result.manifest
    branch = manifest.branch or ("(detached)" if manifest.head else "-")
    stdout_console.print(
        f"Workspace [bold]{escape(ws.name)}[/] ({ws.backend.value}) is ready on branch "
        f"{escape(branch)}, working tree verified ({manifest.tree[:12]}).",
        markup=True,
        highlight=False,
    )
    if ws.local_path:
        stdout_console.print(f"  Folder: {escape(ws.local_path)}", highlight=False)


def migrate_cmd(
    name: str = typer.Argument(..., help="The workspace to move (running)."),
    to_backend: BackendType = typer.Option(..., "--to-backend", help="docker or daytona."),
    new_name: str | None = typer.Option(
        None, "--name", help="The new workspace's name (default: <name>-<backend>)."
    ),
    keep_source: bool = typer.Option(
        False, "--keep-source", help="Leave the source running (default: stop it once verified)."
    ),
    folder: Path | None = typer.Option(
        None,
        "--folder",
        help="To docker: the new folder the workspace mounts (default: "
        "<workspace.storage_path>/<name>).",
    ),
    as_json: bool = typer.Option(False, "--json", help=_JSON_HELP),
) -> None:
    """Move a workspace to another backend: export, import, verify the working tree, then stop
    the source (unless --keep-source). A failure leaves the source as it was."""
    from ..service.migration import migrate_workspace
    from .output import CliProgress

    async def work(service: WorkspaceService) -> MigrateResult:
        with CliProgress(quiet=as_json) as progress:
            return await migrate_workspace(
                service,
                name,
                to_backend,
                new_name=new_name,
                keep_source=keep_source,
                folder=folder,
                progress=progress,
            )

    result = _run(work, cancelled="interrupted; the source was left as it was")
    if as_json:
        print_json(result.to_json_dict())
        return
    _print_imported(result.imported)
    state = "stopped" if result.source_stopped else "still running"
    stdout_console.print(f"  Source {escape(name)}: {state}.", highlight=False)
