"""`nexus workspace provider <backend> <group> <action> …`: the escape hatches (PRD §4.2).

The command tree is built from the operation registry (``nexus.domain.provider``): each
operation's params model gives its options (``snake_case`` field -> ``--kebab-case``, a bool is a
flag, ``command: list[str]`` takes what follows ``--``, ``positional`` fields are arguments; a
field's ``json_schema_extra={"flag": "from"}`` names its option), so the CLI cannot drift from
what the service accepts.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer

from ..domain.kinds import BackendType
from ..domain.provider import OperationSpec
from ..service.backends import operations
from .output import print_json
from .runner import run as _run

if TYPE_CHECKING:
    from pydantic.fields import FieldInfo

    from ..domain.provider import OpResult


def option_name(field: str, info: FieldInfo) -> str:
    """The CLI option of a params field: ``--kebab-case``, or the field's own ``flag``."""
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    return "--" + str(extra.get("flag") or field.replace("_", "-"))


def _is_bool(info: FieldInfo) -> bool:
    return info.annotation is bool


def _is_command(field: str, info: FieldInfo) -> bool:
    return field == "command" and "list" in str(info.annotation)


def _parameters(spec: OperationSpec) -> tuple[list[inspect.Parameter], dict[str, Any]]:
    params: list[inspect.Parameter] = []
    annotations: dict[str, Any] = {}

    def add(name: str, annotation: Any, default: Any) -> None:
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default))
        annotations[name] = annotation

    if spec.workspace:
        add(
            "workspace",
            str,
            typer.Argument(..., help="The workspace.", metavar="WORKSPACE", show_default=False),
        )
    fields = spec.params.model_fields
    for name in spec.positional:
        info = fields[name]
        add(
            name,
            str if info.is_required() else str | None,
            typer.Argument(
                ... if info.is_required() else None,
                help=info.description or "",
                metavar=name.upper().replace("_", "-"),
                show_default=False,
            ),
        )
    command_field = None
    for name, info in fields.items():
        if name in spec.positional:
            continue
        if _is_command(name, info):
            command_field = name
            continue
        if _is_bool(info):
            add(
                name,
                bool,
                typer.Option(
                    bool(info.default), option_name(name, info), help=info.description or ""
                ),
            )
            continue
        required = " (required)" if info.is_required() else ""
        add(
            name,
            str | None,
            typer.Option(
                None,
                option_name(name, info),
                help=f"{info.description or ''}{required}",
                show_default=False,
            ),
        )
    if command_field is not None:
        needed = fields[command_field].is_required()
        add(
            command_field,
            list[str] if needed else list[str] | None,
            typer.Argument(... if needed else None, help="The command, after `--`."),
        )
    add(
        "no_fallback",
        bool,
        typer.Option(
            False,
            "--no-fallback",
            help="Fail instead of falling back to the common path (SSH) when the API is down.",
        ),
    )
    add(
        "as_json",
        bool,
        typer.Option(False, "--json", help="Machine-readable output (stable schema)."),
    )
    return params, annotations


def _command(spec: OperationSpec) -> Callable[..., None]:
    def command(**kwargs: Any) -> None:
        from ..service.provider import ProviderService
        from .output import CliProgress

        as_json = kwargs.pop("as_json")
        no_fallback = kwargs.pop("no_fallback")
        workspace = kwargs.pop("workspace", None)
        values = {k: v for k, v in kwargs.items() if v is not None}
        with CliProgress(quiet=as_json) as progress:
            result: OpResult = _run(
                lambda service: ProviderService(service).execute(
                    spec.id,
                    workspace,
                    values,
                    progress=progress,
                    allow_fallback=not no_fallback,
                )
            )
        _show(result, as_json)
        exit_code = result.data.get("exitCode")
        if isinstance(exit_code, int) and exit_code != 0:
            raise typer.Exit(exit_code)

    params, annotations = _parameters(spec)
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {**annotations, "return": None}
    command.__doc__ = spec.summary
    command.__name__ = spec.action
    return command


def _show(result: OpResult, as_json: bool) -> None:
    if as_json:
        print_json(result.data)
        return
    # written as they are (a command's output through the Process API must stay byte-exact)
    for line in result.lines:
        sys.stdout.write(line if line.endswith("\n") else line + "\n")
    if result.output:
        sys.stdout.write(result.output)
    sys.stdout.flush()
    if result.fallback:
        print(f"note: {result.fallback}", file=sys.stderr)


def build_app() -> typer.Typer:
    app = typer.Typer(
        help="Backend-specific operations (escape hatches): snapshots, previews, volumes, …",
        no_args_is_help=True,
    )
    for backend in BackendType:
        backend_app = typer.Typer(
            help=f"Operations of the {backend.value} backend.", no_args_is_help=True
        )
        groups: dict[str, typer.Typer] = {}
        for spec in operations(backend).values():
            if spec.group not in groups:
                groups[spec.group] = typer.Typer(
                    help=f"{backend.value} {spec.group} operations.", no_args_is_help=True
                )
                backend_app.add_typer(groups[spec.group], name=spec.group)
            groups[spec.group].command(spec.action)(_command(spec))
        app.add_typer(backend_app, name=backend.value)
    return app


provider_app = build_app()
