"""Finding and launching VS Code-family editors for `nexus workspace open`."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

from .domain.errors import ErrorCode, NexusError

KNOWN_IDES = ("code", "cursor", "code-insiders", "codium")
_INSTALL_HINT = {
    "code": "Install VS Code and its `code` command (Command Palette: Shell Command: Install 'code' command in PATH) plus the Remote - SSH extension (ms-vscode-remote.remote-ssh).",
    "cursor": "Install Cursor and its `cursor` command (Command Palette: Shell Command: Install 'cursor' command); Cursor ships its own Remote-SSH (anysphere.remote-ssh).",
    "code-insiders": "Install VS Code Insiders and its `code-insiders` command plus Remote - SSH.",
    "codium": "Install VSCodium and its `codium` command plus the Open Remote - SSH extension (jeanp413.open-remote-ssh).",
}


@dataclass(frozen=True)
class Launch:
    ide: str
    argv: list[str]


def resolve_ide(requested: str | None) -> str:
    """The editor to use: the one asked for, else the first of KNOWN_IDES on PATH."""
    if requested:
        if requested not in KNOWN_IDES:
            raise NexusError(
                ErrorCode.INVALID_ARGUMENT,
                f"unknown IDE '{requested}'",
                f"Use one of: {', '.join(KNOWN_IDES)}.",
            )
        if shutil.which(requested) is None:
            raise NexusError(
                ErrorCode.IDE_NOT_FOUND, f"`{requested}` is not on PATH", _INSTALL_HINT[requested]
            )
        return requested
    for ide in KNOWN_IDES:
        if shutil.which(ide):
            return ide
    raise NexusError(
        ErrorCode.IDE_NOT_FOUND,
        f"no editor found on PATH (looked for {', '.join(KNOWN_IDES)})",
        _INSTALL_HINT["code"] + " Or pass --print to get the URI.",
    )


def build_launch(ide: str, mode: str, uri: str, local_path: str | None, new_window: bool) -> Launch:
    argv = [ide]
    if new_window:
        argv.append("--new-window")
    if mode == "remote-ssh":
        argv.append(f"--folder-uri={uri}")  # joined with '=' so no shell or OS splits it
    else:
        argv.append(local_path or uri)
    return Launch(ide, argv)


def launch(spec: Launch) -> None:
    """Start the editor detached: `open` returns at once and the editor outlives it."""
    executable = shutil.which(spec.ide)
    if executable is None:
        raise NexusError(
            ErrorCode.IDE_NOT_FOUND, f"`{spec.ide}` is not on PATH", _INSTALL_HINT[spec.ide]
        )
    subprocess.Popen(
        [executable, *spec.argv[1:]],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
