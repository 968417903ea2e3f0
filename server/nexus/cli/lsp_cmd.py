"""`nexus lsp WS --language L`: a language server that sees the workspace, spoken to on stdio.

Stdout carries LSP only; errors and logs go to stderr.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from .runner import run as _run

if TYPE_CHECKING:
    from ..lsp.proxy import Outcome
    from ..service.workspaces import WorkspaceService

lsp_app = typer.Typer(
    help="Speak LSP on stdio to a language server that sees the workspace (for local editors).",
    invoke_without_command=True,
    no_args_is_help=True,
    # a command group with no subcommand: options may follow the workspace name
    context_settings={"allow_interspersed_args": True},
    subcommand_metavar="",
)


@lsp_app.callback()
def lsp(
    workspace: str = typer.Argument(..., help="The workspace."),
    language: str = typer.Option(
        ..., "--language", "-l", help="The language server (config lsp.commands): python, …"
    ),
) -> None:
    """Relay an editor's LSP on stdio to the workspace's language server, moving document URIs
    between the workspace's local folder and its path in the workspace."""

    async def work(service: WorkspaceService) -> Outcome:
        from ..lsp.stdio import open_stdio
        from ..service.lsp import LspService

        lsp_service = LspService(service)
        lsp_service.command_for(language)  # an unknown language fails before anything starts
        reader, writer = await open_stdio()
        return await lsp_service.serve(workspace, language, reader, writer)

    outcome = _run(work, cancelled="interrupted; the language server was stopped")
    if outcome.error is not None:
        raise outcome.error
    if outcome.exit_code:
        raise typer.Exit(outcome.exit_code)
