"""What ``ssh -G nexus-<name>`` resolves to through the user's config, and which line of the
user's shadows Nexus's stanza when it does not resolve to it."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..access.user_ssh_scan import Directive, directives

SSH_G_TIMEOUT = 10.0


@dataclass(frozen=True)
class Resolved:
    settings: dict[str, list[str]]
    problem: str = ""  # ssh could not resolve the alias (its message)


def ssh_g(user_config: Path, alias: str, timeout: float = SSH_G_TIMEOUT) -> Resolved:
    """``ssh -G -F user_config alias``: OpenSSH reads the file named, as plain ``ssh`` reads
    ``~/.ssh/config`` (which it finds from the password database, not ``$HOME``)."""
    ssh = shutil.which("ssh")
    if ssh is None:
        return Resolved({}, "the OpenSSH client (`ssh`) is not on PATH")
    try:
        done = subprocess.run(
            [ssh, "-G", "-F", str(user_config), alias],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return Resolved({}, f"`ssh -G {alias}` did not answer within {timeout:.0f} s")
    except OSError as exc:
        return Resolved({}, f"cannot run ssh: {exc}")
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", errors="replace").strip()[-400:]
        return Resolved({}, detail or f"`ssh -G {alias}` failed ({done.returncode})")
    settings: dict[str, list[str]] = {}
    for raw in done.stdout.split(b"\n"):
        key, _, value = raw.decode("utf-8", errors="surrogateescape").partition(" ")
        if key:
            settings.setdefault(key.lower(), []).append(value)
    return Resolved(settings)


def same(setting: str, expected: list[str], effective: list[str]) -> bool:
    if setting == "identityfile":
        # every IdentityFile read adds one: Nexus's key must be the first ssh offers
        return [os.path.expanduser(v) for v in effective[:1]] == expected[:1]
    if setting in ("hostname", "hostkeyalias"):
        return [v.lower() for v in effective] == [v.lower() for v in expected]
    return effective == expected


def differences(
    expected: dict[str, list[str]], settings: dict[str, list[str]]
) -> list[tuple[str, str, str]]:
    """(setting, Nexus's value, the effective value) for each setting that differs."""
    found = []
    for setting, wanted in expected.items():
        got = settings.get(setting, [])
        if not same(setting, wanted, got):
            found.append((setting, " ".join(wanted), " ".join(got) or "(none)"))
    return found


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


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path


def _includes(directive: Directive, target: Path) -> bool:
    return directive.keyword == "include" and any(
        _resolved(Path(os.path.expanduser(arg))) == target for arg in directive.args
    )


def shadowing_line(
    user_config: Path, alias: str, setting: str, nexus_config: Path
) -> Shadow | None:
    """The first line of the user's (Includes followed) that sets ``setting`` for ``alias`` before
    the Nexus Include is read; None if none can be told (e.g. a ``Match exec`` block)."""
    stop = _resolved(nexus_config)
    current: dict[Path, Directive] = {}
    for directive in directives(user_config, skip=frozenset({stop})):
        if directive.keyword in ("host", "match"):
            current[directive.path] = directive
            continue
        if _includes(directive, stop):
            return None
        if directive.keyword == setting and directive.applies(alias) is not False:
            enclosing = current.get(directive.path)
            if enclosing is None:
                return Shadow(directive.path, directive.line, "", None)
            text = f"{enclosing.keyword.capitalize()} {' '.join(enclosing.args)}"
            return Shadow(directive.path, directive.line, text, enclosing.line)
    return None
