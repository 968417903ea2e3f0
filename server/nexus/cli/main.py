"""Entry point: runs the typer app and turns every failure into ``CODE: message`` + resolution."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import typer

from .. import redact
from ..domain.errors import ErrorCode, ExitCode, NexusError
from .config_cmd import config_app
from .output import render_error
from .ssh_config_cmd import ssh_config_app
from .workspace import workspace_app

app = typer.Typer(
    name="nexus",
    help="Isolated workspaces on Docker and Daytona, reached over SSH.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(workspace_app, name="workspace")
app.add_typer(config_app, name="config")
app.add_typer(ssh_config_app, name="ssh-config")


@app.command("version")
def version(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Print the Nexus version."""
    from .. import __version__

    if as_json:
        from .output import print_json

        print_json({"version": __version__})
    else:
        typer.echo(f"nexus {__version__}")


@app.command(
    "sidecar",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def sidecar(ctx: typer.Context) -> None:
    """Serve the editor sidecar (JSON-RPC on stdio); same as `nexus-sidecar`."""
    from ..sidecar.main import main as sidecar_main

    sidecar_main(list(ctx.args))


def _wants_json(argv: list[str]) -> bool:
    return "--json" in argv[: argv.index("--")] if "--" in argv else "--json" in argv


def click_errors() -> tuple[Any, Any]:
    """``ClickException`` and ``UsageError`` of the Click that typer runs on: the ``click``
    package, or the copy that recent typer releases carry inside. Found through typer's public
    ``BadParameter`` (a ``UsageError``), so neither a private module name nor a separately
    installed ``click`` of another version is relied on."""
    import importlib

    module = importlib.import_module(typer.BadParameter.__module__)
    return module.ClickException, module.UsageError


def _run_json(args: list[str]) -> None:
    """Run with ``--json``: a usage error (bad flag, missing argument) is the same JSON error
    object as any other failure, on stdout, with the usage exit code."""
    ClickException, UsageError = click_errors()

    try:
        result = app(args=args, prog_name="nexus", standalone_mode=False)
    except UsageError as error:
        render_error(
            NexusError(
                ErrorCode.INVALID_ARGUMENT,
                error.format_message(),
                f"Run `{_command_path(error)} --help` for the usage.",
            ),
            True,
        )
        sys.exit(int(ExitCode.USAGE))
    except ClickException as error:
        render_error(NexusError(ErrorCode.INVALID_ARGUMENT, error.format_message()), True)
        sys.exit(error.exit_code)
    except typer.Abort:
        raise KeyboardInterrupt from None
    sys.exit(result if isinstance(result, int) else 0)


def _command_path(error: Exception) -> str:
    ctx = getattr(error, "ctx", None)
    return ctx.command_path if ctx is not None else "nexus"


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    level = logging.DEBUG if os.environ.get("NEXUS_DEBUG") else logging.WARNING
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    for handler in logging.getLogger().handlers:
        redact.install(handler)
    redact.register_secret(os.environ.get("DAYTONA_API_KEY"))
    as_json = _wants_json(args)
    try:
        if as_json:
            _run_json(args)
        app(args=args, prog_name="nexus")  # exits by itself on success and on usage errors
    except NexusError as error:
        render_error(error, as_json)
        sys.exit(getattr(error, "exit_override", None) or int(error.exit_code))
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        sys.exit(130)
    except Exception as error:  # never a traceback, unless asked for
        if os.environ.get("NEXUS_DEBUG"):
            raise
        render_error(
            NexusError(
                ErrorCode.INTERNAL_ERROR,
                f"unexpected {type(error).__name__}: {error}",
                "Re-run with NEXUS_DEBUG=1 for details and report it.",
            ),
            as_json,
        )
        sys.exit(int(ExitCode.INTERNAL))


if __name__ == "__main__":
    main()
