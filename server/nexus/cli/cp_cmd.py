"""`nexus workspace cp SRC DEST`: copy files between this machine and a workspace."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from .output import print_json, stdout_console
from .runner import run as _run

if TYPE_CHECKING:
    from ..service.transfer import CopyResult
    from ..service.workspaces import WorkspaceService


def cp(
    source: str = typer.Argument(..., help="What to copy: a local path, or WS:PATH."),
    dest: str = typer.Argument(..., help="Where to: WS:PATH, or a local path."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output (stable schema)."),
    no_fallback: bool = typer.Option(
        False,
        "--no-fallback",
        help="Fail when the Daytona File API cannot serve the copy, instead of using tar over SSH.",
    ),
) -> None:
    """Copy a file or folder between this machine and a workspace (like `docker cp`).

    One side is WS:PATH (relative to the workspace's folder), the other a local path.
    A folder copied to an existing folder goes inside it; to a new path, it is created there.
    End the source with /. to copy only what is in the folder.
    Symlinks stay symlinks, modes are kept; on Daytona, many files go through the File API.
    """
    from ..service.transfer import TransferService
    from .output import CliProgress

    async def work(service: WorkspaceService) -> CopyResult:
        with CliProgress(quiet=as_json) as progress:
            return await TransferService(service).copy(
                source, dest, progress=progress, allow_fallback=not no_fallback
            )

    result = _run(
        work,
        cancelled="interrupted; the files copied so far stay, a file cut off part-way was removed",
    )
    if as_json:
        print_json(result.to_json_dict())
        return
    stdout_console.print(result.summary(), markup=False)
