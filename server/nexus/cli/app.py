"""The typer command tree. Each command group's module is imported when that group is run,
or when the top-level help lists it, never before."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from typing import Any

import typer
from typer.core import TyperGroup

# name -> (module, attribute) of each command group, in the order the help lists them
COMMAND_GROUPS: dict[str, tuple[str, str]] = {
    "workspace": ("nexus.cli.workspace", "workspace_app"),
    "sync": ("nexus.cli.sync_cmd", "sync_app"),
    "lsp": ("nexus.cli.lsp_cmd", "lsp_app"),
    "usage": ("nexus.cli.usage_cmd", "usage_app"),
    "doctor": ("nexus.cli.doctor_cmd", "doctor_app"),
    "config": ("nexus.cli.config_cmd", "config_app"),
    "ssh-config": ("nexus.cli.ssh_config_cmd", "ssh_config_app"),
}


def load_group(name: str, groups: dict[str, tuple[str, str]] | None = None) -> Any:
    """The click group of one command group, exactly as ``add_typer(…, name=name)`` makes it."""
    module, attribute = (COMMAND_GROUPS if groups is None else groups)[name]
    holder = typer.Typer(add_completion=False)
    holder.add_typer(getattr(importlib.import_module(module), attribute), name=name)
    return typer.main.get_group(holder).commands[name]


class _Commands(MutableMapping[str, Any]):
    """The commands of the top-level group: its own, then the command groups, each loaded on
    first access. The names are known without loading anything (usage errors, suggestions)."""

    def __init__(
        self, own: MutableMapping[str, Any], groups: dict[str, tuple[str, str]] = COMMAND_GROUPS
    ) -> None:
        self._own = own
        self._groups = groups
        self._loaded: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name in self._own:
            return self._own[name]
        if name not in self._groups:
            raise KeyError(name)
        if name not in self._loaded:
            self._loaded[name] = load_group(name, self._groups)
        return self._loaded[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._own[name] = command

    def __delitem__(self, name: str) -> None:
        del self._own[name]

    def __iter__(self) -> Iterator[str]:
        yield from self._own
        yield from (name for name in self._groups if name not in self._own)

    def __len__(self) -> int:
        return len(self._own) + sum(1 for name in self._groups if name not in self._own)

    def __contains__(self, name: object) -> bool:
        return name in self._own or name in self._groups


class LazyGroup(TyperGroup):
    groups: dict[str, tuple[str, str]] = COMMAND_GROUPS

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _Commands(self.commands, self.groups)


class WorkspaceGroup(LazyGroup):
    """`nexus workspace`: its commands, and `provider`, whose tree is built from the operation
    registry only when it is run or listed."""

    groups = {"provider": ("nexus.cli.provider_cmd", "provider_app")}


app = typer.Typer(
    name="nexus",
    help="Isolated workspaces on Docker and Daytona, reached over SSH.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=LazyGroup,
)


@app.command("version")
def version(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Print the Nexus version."""
    from .main import show_version

    show_version(as_json)


@app.command(
    "sidecar",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def sidecar(ctx: typer.Context) -> None:
    """Serve the editor sidecar (JSON-RPC on stdio); same as `nexus-sidecar`."""
    from ..sidecar.main import main as sidecar_main

    sidecar_main(list(ctx.args))
