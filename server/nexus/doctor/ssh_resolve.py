"""What ``ssh -G nexus-<name>`` resolves to through the user's config, and which line of the
user's shadows Nexus's stanza when it does not resolve to it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..access.user_ssh_scan import first_setter, resolve_alias

SSH_G_TIMEOUT = 10.0


@dataclass(frozen=True)
class Resolved:
    settings: dict[str, list[str]]
    problem: str = ""  # ssh could not resolve the alias (its message)


def ssh_g(user_config: Path, alias: str, timeout: float = SSH_G_TIMEOUT) -> Resolved:
    """``ssh -G -F user_config alias``: OpenSSH reads the file named, as plain ``ssh`` reads
    ``~/.ssh/config`` (which it finds from the password database, not ``$HOME``)."""
    settings, problem = resolve_alias(user_config, alias, timeout)
    return Resolved(settings, problem)


@dataclass(frozen=True)
class Shadow:
    """The user's line that sets a Nexus host's setting before Nexus's stanza is read."""

    path: Path
    line: int  # the line setting it
    condition: str  # the Host/Match line it sits under ("" for a global one)
    condition_line: int | None

    def describe(self, setting: str) -> str:
        if self.condition and self.condition_line is not None:
            return (
                f"`{self.condition}` at {self.path}:{self.condition_line} (its {setting} on "
                f"line {self.line})"
            )
        return f"a global {setting} at {self.path}:{self.line}"


def shadowing_line(
    user_config: Path, alias: str, setting: str, nexus_config: Path
) -> Shadow | None:
    """The first line of the user's (Includes followed) that sets ``setting`` for ``alias`` before
    the Nexus Include is read; None if none can be told (e.g. a ``Match exec`` block)."""
    found = first_setter(user_config, alias, setting, nexus_config)
    if found is None:
        return None
    directive, enclosing = found
    if enclosing is None:
        return Shadow(directive.path, directive.line, "", None)
    text = f"{enclosing.keyword.capitalize()} {' '.join(enclosing.args)}"
    return Shadow(directive.path, directive.line, text, enclosing.line)
