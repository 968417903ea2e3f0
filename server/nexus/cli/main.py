"""Entry point: runs the typer app and turns every failure into ``CODE: message`` + resolution.

Start-up is kept cheap: the typer app (``nexus.cli.app``) is built only when a command needs
it, its command groups are imported on demand, `version` and a plain `workspace list` run
without it, and `workspace exec|ssh` to a running Docker workspace goes straight to the system
``ssh`` (``nexus.cli.openssh_exec``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, NoReturn

from ..domain.errors import ErrorCode, ExitCode, NexusError
from .output import print_json, render_error

if TYPE_CHECKING:
    from ..domain.kinds import BackendType


def __getattr__(name: str) -> Any:
    if name == "app":  # the typer app, built on first use (`nexus.cli.app`)
        from .app import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def show_version(as_json: bool) -> None:
    """`nexus version`."""
    from .. import __version__

    if as_json:
        print_json({"version": __version__})
    else:
        sys.stdout.write(f"nexus {__version__}\n")
        sys.stdout.flush()


def _plain_list(args: list[str]) -> tuple[BackendType | None, bool] | None:
    """The options of `workspace list ARGS` when they are plain: at most one ``--json`` and one
    ``--backend-filter`` with a valid backend; None for anything else."""
    backend: BackendType | None = None
    as_json = seen_backend = False
    rest = iter(args)
    for arg in rest:
        if arg == "--json" and not as_json:
            as_json = True
            continue
        option, eq, value = arg.partition("=")
        if option != "--backend-filter" or seen_backend:
            return None
        if not eq:
            value = next(rest, "")
        from ..domain.kinds import BackendType  # only here: a plain list does not need it

        if value not in {b.value for b in BackendType}:
            return None
        backend, seen_backend = BackendType(value), True
    return backend, as_json


def _fast_command(args: list[str]) -> Callable[[], None] | None:
    """`version` and a plain `workspace list`, run without building the typer app (typer,
    rich and pydantic are not imported for them); None for anything else (help, usage errors,
    every other command), which typer parses as usual."""
    if args in (["version"], ["version", "--json"]):
        return partial(show_version, "--json" in args)
    if args[:2] == ["workspace", "list"] and (options := _plain_list(args[2:])) is not None:
        return partial(_list_workspaces, *options)
    return None


def _list_workspaces(backend: BackendType | None, as_json: bool) -> None:
    """`workspace list`: straight from the store and the engine where that prints the same as
    the full listing and changes nothing (``nexus.cli.quick_list``), else the full listing."""
    from .quick_list import Unhandled, quick_list

    try:
        quick_list(backend, as_json)
        return
    except Unhandled as reason:
        setup_logging()
        import logging

        logging.getLogger(__name__).debug("full workspace list: %s", reason)
    from .listing import list_workspaces

    list_workspaces(backend, as_json)


def _run_fast(command: Callable[[], None]) -> None:
    """Run a fast command with the exits typer gives any command: Ctrl-C exits 130 quietly, a
    closed stdout (`nexus workspace list | head -0`) exits 1 quietly."""
    try:
        command()
        sys.stdout.flush()
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush
        sys.exit(1)
    sys.exit(0)


def _wants_json(argv: list[str]) -> bool:
    return "--json" in argv[: argv.index("--")] if "--" in argv else "--json" in argv


def click_errors() -> tuple[Any, Any]:
    """``ClickException`` and ``UsageError`` of the Click that typer runs on: the ``click``
    package, or the copy that recent typer releases carry inside. Found through typer's public
    ``BadParameter`` (a ``UsageError``), so neither a private module name nor a separately
    installed ``click`` of another version is relied on."""
    import importlib

    import typer

    module = importlib.import_module(typer.BadParameter.__module__)
    return module.ClickException, module.UsageError


def _run_json(args: list[str]) -> None:
    """Run with ``--json``: a usage error (bad flag, missing argument) is the same JSON error
    object as any other failure, on stdout, with the usage exit code."""
    import typer

    from .app import app

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


def setup_logging() -> None:
    """Warnings (everything with NEXUS_DEBUG) to stderr, secrets masked; once per process."""
    import logging

    from .. import redact

    root = logging.getLogger()
    if any(getattr(handler, "nexus", False) for handler in root.handlers):
        return
    level = logging.DEBUG if os.environ.get("NEXUS_DEBUG") else logging.WARNING
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    for handler in root.handlers:
        redact.install(handler)
        handler.nexus = True  # type: ignore[attr-defined]
    redact.register_secret(os.environ.get("DAYTONA_API_KEY"))


def main(argv: list[str] | None = None) -> None:
    """The console script (no ``argv``: the process's own arguments), or one call in-process."""
    if argv is not None:
        _main(argv)
        return
    try:
        _main(sys.argv[1:])
    except SystemExit as done:
        _exit_now(done.code)
    _exit_now(0)


def _exit_now(code: object) -> NoReturn:
    """Exit without tearing the interpreter down module by module, which costs a command with
    the SDKs loaded some 60 ms. What has to happen at exit is done here: the exit handlers
    (thread pools are joined there), the logs and the output flushed."""
    import atexit

    if isinstance(code, str):
        sys.stderr.write(code + "\n")
        code = 1
    status = code if isinstance(code, int) else 0 if code is None else 1
    atexit._run_exitfuncs()
    if "logging" in sys.modules:
        sys.modules["logging"].shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing left to say
            status = status or 1
    os._exit(status)


def _main(args: list[str]) -> None:
    if args[:1] == ["workspace"] and args[1:2] in (["exec"], ["ssh"], ["shell"]):
        from .openssh_exec import try_openssh

        try:
            try_openssh(args[1:])  # runs it through ssh, or returns for the full command to run
        except NexusError as error:
            render_error(error, False)
            sys.exit(int(error.exit_code))
    as_json = _wants_json(args)
    try:
        fast = _fast_command(args)
        if fast is not None:
            _run_fast(fast)  # logs nothing, unless it turns to the full path (which sets it up)
        setup_logging()
        if as_json:
            _run_json(args)
        from .app import app

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
