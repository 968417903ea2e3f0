"""The command line a workspace's sshd runs for ``exec``, whichever client sends it."""

from __future__ import annotations

import shlex
from collections.abc import Sequence


def build_remote_command(argv: Sequence[str], workdir: str | None) -> str:
    """One argument is a shell snippet (like ssh); several are quoted exactly as given."""
    command = argv[0] if len(argv) == 1 else shlex.join(argv)
    if workdir:
        return f"cd {shlex.quote(workdir)} || exit 1; {command}"
    return command
