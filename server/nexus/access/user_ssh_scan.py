"""Read-only views of the user's ssh config, for the checks Nexus makes before and after it edits it.

- ``directives``: every directive of ``~/.ssh/config`` in the order OpenSSH reads it, Includes
  followed (the Nexus-generated file is not), each with its file, line and enclosing Host/Match
  (the Host and Match lines themselves included);
- ``alias_definitions``: where the user's own config names a ``Host`` exactly ``nexus-<name>``;
- ``check_effective``: what OpenSSH really uses for one Nexus alias (``ssh -G``), compared with
  what Nexus generated: a ``Host *`` above the Nexus block (first value wins) can turn off host
  key checking for every Nexus host, and this says so, naming the line responsible.

The file is bytes (any encoding); nothing here writes anything.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MAX_DEPTH = 16  # OpenSSH's own Include nesting limit


@dataclass(frozen=True)
class Condition:
    """The Host or Match line a directive sits under."""

    kind: str  # "host" or "match"
    args: tuple[str, ...]

    def applies(self, alias: str) -> bool | None:
        """True/False when it can be told from the alias alone; None when it cannot (Match exec…)."""
        if self.kind == "host":
            return _host_matches(self.args, alias)
        words = [w.lower() for w in self.args]
        result: bool | None = True
        i = 0
        while i < len(words):
            word = words[i]
            negate = word.startswith("!")
            word = word.lstrip("!")
            if word in ("all", "canonical", "final"):
                i += 1
                continue
            value = self.args[i + 1] if i + 1 < len(self.args) else ""
            i += 2
            if word in ("host", "originalhost"):
                matched = _pattern_list_matches(value.split(","), alias)
                if matched is not (not negate):
                    return False
            else:  # exec, user, localuser, localnetwork, tagged: not decidable here
                result = None
        return result


@dataclass(frozen=True)
class Directive:
    path: Path
    line: int  # 1-based
    keyword: str  # lower case
    args: tuple[str, ...]
    conditions: tuple[Condition, ...]  # enclosing Host/Match of this file and the including ones

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    def applies(self, alias: str) -> bool | None:
        result: bool | None = True
        for condition in self.conditions:
            verdict = condition.applies(alias)
            if verdict is False:
                return False
            if verdict is None:
                result = None
        return result


def _pattern_list_matches(patterns: list[str] | tuple[str, ...], alias: str) -> bool:
    """OpenSSH's pattern lists: a negated match vetoes, else any positive match wins."""
    host = alias.lower()
    matched = False
    for pattern in patterns:
        pattern = pattern.strip().lower()
        if not pattern:
            continue
        if pattern.startswith("!"):
            if fnmatch.fnmatchcase(host, pattern[1:]):
                return False
        elif fnmatch.fnmatchcase(host, pattern):
            matched = True
    return matched


def _host_matches(patterns: tuple[str, ...], alias: str) -> bool:
    return _pattern_list_matches(patterns, alias)


def _split(text: str) -> tuple[str, tuple[str, ...]]:
    """``Keyword args`` or ``Keyword=args``; arguments unquoted as OpenSSH does."""
    keyword = re.match(r"[^\s=]+", text)
    if keyword is None:
        return "", ()
    rest = text[keyword.end() :].strip()
    if rest.startswith("="):
        rest = rest[1:].strip()
    try:
        args = shlex.split(rest, comments=True)
    except ValueError:  # unbalanced quotes: OpenSSH refuses the file; show what is there
        args = rest.split()
    return keyword.group(0).lower(), tuple(args)


def _include_targets(arg: str, base: Path) -> list[Path]:
    expanded = os.path.expanduser(arg)
    if not os.path.isabs(expanded):
        expanded = str(base / expanded)
    return [Path(p) for p in sorted(glob.glob(expanded))]


def directives(
    path: Path, *, skip: frozenset[Path] = frozenset(), base: Path | None = None
) -> Iterator[Directive]:
    """Every directive OpenSSH would read from ``path`` (Includes followed, ``skip`` not).

    A ``Host``/``Match`` line is yielded too, with the conditions around it (those of the files
    that include it), before the directives it governs."""
    yield from _walk(path, (), skip, base or path.parent, ())


def _walk(
    path: Path,
    outer: tuple[Condition, ...],
    skip: frozenset[Path],
    base: Path,
    stack: tuple[Path, ...],
) -> Iterator[Directive]:
    here = _resolved(path)
    if len(stack) > MAX_DEPTH or here in stack:  # too deep, or a file that Includes itself
        return
    stack = (*stack, here)
    try:
        data = path.read_bytes()
    except OSError:
        return
    current: tuple[Condition, ...] = ()
    for number, raw in enumerate(data.split(b"\n"), start=1):
        text = raw.decode("utf-8", errors="surrogateescape").strip()
        if not text or text.startswith("#"):
            continue
        keyword, args = _split(text)
        if keyword in ("host", "match"):
            yield Directive(path, number, keyword, args, outer)
            current = (Condition(keyword, args),)
            continue
        directive = Directive(path, number, keyword, args, outer + current)
        yield directive
        if keyword == "include":
            for arg in args:
                for target in _include_targets(arg, base):
                    if _resolved(target) in skip:
                        continue
                    yield from _walk(target, outer + current, skip, base, stack)


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path


def alias_definitions(user_config: Path, alias: str, nexus_files: list[Path]) -> list[str]:
    """``file:line`` of every literal ``Host <alias>`` of the user's own (not in Nexus's files)."""
    skip = frozenset(_resolved(p) for p in nexus_files)
    found: list[str] = []
    for directive in directives(user_config, skip=skip):
        if directive.keyword != "host" or directive.where in found:
            continue  # a file Included twice is one definition
        if any(pattern.lower() == alias.lower() for pattern in directive.args):
            found.append(directive.where)
    return found


@dataclass(frozen=True)
class Override:
    """A setting of a Nexus alias that OpenSSH takes from somewhere other than Nexus's stanza."""

    alias: str
    setting: str
    expected: str
    effective: str
    source: str | None  # file:line of the user's line responsible, when it can be found

    def message(self) -> str:
        where = f" by {self.source}" if self.source else " by a line above the Nexus block"
        return (
            f"plain `ssh {self.alias}` uses {self.setting} {self.effective!r}, not Nexus's "
            f"{self.expected!r}: it is set{where} (OpenSSH takes the first value it reads)"
        )


def resolve_alias(
    user_config: Path, alias: str, timeout: float = 10
) -> tuple[dict[str, list[str]], str]:
    """``ssh -G -F user_config alias``: every setting, each with all its values, and "" — or {}
    and why ssh could not tell (not installed, no answer, its own error message)."""
    ssh = shutil.which("ssh")
    if ssh is None:
        return {}, "the OpenSSH client (`ssh`) is not on PATH"
    try:
        result = subprocess.run(
            [ssh, "-G", "-F", str(user_config), alias],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {}, f"`ssh -G {alias}` did not answer within {timeout:.0f} s"
    except OSError as exc:
        return {}, f"cannot run ssh: {exc}"
    if result.returncode != 0:
        detail = result.stderr.decode("utf-8", errors="replace").strip()[-400:]
        return {}, detail or f"`ssh -G {alias}` failed ({result.returncode})"
    settings: dict[str, list[str]] = {}
    for raw in result.stdout.split(b"\n"):
        key, _, value = raw.decode("utf-8", errors="surrogateescape").partition(" ")
        if key:
            settings.setdefault(key.lower(), []).append(value)
    return settings, ""


def effective_settings(user_config: Path, alias: str, timeout: float = 10) -> dict[str, list[str]]:
    """``resolve_alias`` without the reason: {} if unavailable."""
    return resolve_alias(user_config, alias, timeout)[0]


def same_setting(setting: str, expected: list[str], effective: list[str]) -> bool:
    if setting == "identityfile":
        # every IdentityFile read adds one (a `Host *` below the Nexus block too): what matters
        # is that Nexus's key is the first one ssh offers
        return [os.path.expanduser(v) for v in effective[:1]] == expected[:1]
    if setting in ("hostname", "hostkeyalias"):
        return [v.lower() for v in effective] == [v.lower() for v in expected]
    return effective == expected


def differences(
    expected: dict[str, list[str]], effective: dict[str, list[str]]
) -> list[tuple[str, str, str]]:
    """(setting, Nexus's value, the effective value) for each setting that differs."""
    found = []
    for setting, wanted in expected.items():
        got = effective.get(setting, [])
        if not same_setting(setting, wanted, got):
            found.append((setting, " ".join(wanted), " ".join(got) or "(none)"))
    return found


def first_setter(
    user_config: Path, alias: str, setting: str, stop_at: Path
) -> tuple[Directive, Directive | None] | None:
    """The first line of the user's config (Includes followed) that sets ``setting`` for
    ``alias`` before the Include of ``stop_at`` is read, with the Host/Match line it sits under
    in its file (None: a global one); None if none can be told (e.g. a Match exec block)."""
    stop = _resolved(stop_at)
    enclosing: dict[Path, Directive] = {}
    for directive in directives(user_config, skip=frozenset({stop})):
        if directive.keyword in ("host", "match"):
            enclosing[directive.path] = directive
            continue
        if directive.keyword == "include" and any(
            _resolved(t) == stop
            for arg in directive.args
            for t in _include_targets(arg, user_config.parent)
        ):
            return None
        if directive.keyword == setting and directive.applies(alias) is not False:
            return directive, enclosing.get(directive.path)
    return None


def check_effective(
    user_config: Path, alias: str, expected: dict[str, list[str]], nexus_config: Path
) -> list[Override]:
    """Compare OpenSSH's effective settings for ``alias`` with what Nexus generated.

    Runs ``ssh -G`` once; returns [] when ssh is absent or the config cannot be read by it.
    """
    effective = effective_settings(user_config, alias)
    if not effective:
        return []
    found = []
    for setting, wanted, got in differences(expected, effective):
        setter = first_setter(user_config, alias, setting, nexus_config)
        found.append(
            Override(
                alias=alias,
                setting=setting,
                expected=wanted,
                effective=got,
                source=setter[0].where if setter else None,
            )
        )
    return found
