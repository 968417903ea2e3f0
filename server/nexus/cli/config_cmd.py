"""`nexus config get|set|list`."""

from __future__ import annotations

from typing import Any

import typer

from ..config.loader import ConfigManager
from .output import print_json, stdout_console

config_app = typer.Typer(help="Read and change ~/.nexus/config.yaml.", no_args_is_help=True)
JSON_OPTION = typer.Option(False, "--json", help="Machine-readable output.")


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        import json

        return json.dumps(value)
    return str(value)


@config_app.command("get")
def get(
    key: str = typer.Argument(..., help="Dotted key, e.g. workspace.default_backend"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Print one setting (effective value: file, ${VAR} expansion and env overrides applied)."""
    value = ConfigManager().get(key)
    if as_json:
        print_json({"key": key, "value": value})
    else:
        typer.echo(_show(value))


@config_app.command("set")
def set_(
    key: str = typer.Argument(..., help="Dotted key, e.g. workspace.default_backend"),
    value: str = typer.Argument(..., help="New value (YAML: true, 2, [a, b], ${VAR} …)"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Change one setting; the value is validated before the file is written."""
    manager = ConfigManager()
    effective = manager.set(key, value)
    if as_json:
        print_json({"key": key, "value": effective})
    else:
        stdout_console.print(f"{key} = {_show(effective)}", markup=False)


@config_app.command("list")
def list_(as_json: bool = JSON_OPTION) -> None:
    """Print every setting (secrets masked)."""
    manager = ConfigManager()
    flat = manager.list()
    if as_json:
        print_json({"path": str(manager.path), "values": flat})
        return
    for key, value in flat.items():
        stdout_console.print(f"{key} = {_show(value)}", markup=False)
