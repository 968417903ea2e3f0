"""The one Nexus block in the user's ``~/.ssh/config``: an ``Include`` of the Nexus-generated file.

Guarantees:
- every byte of the user's own content is preserved (comments, Match/Host blocks, Includes,
  CRLF line ends, a missing final newline); removing the block gives back the exact original;
- the block is inserted once, at the top: after a leading run of ``Include`` lines, before any
  other directive (so no global option of the user's can override a Nexus host's settings);
- a file with unbalanced or duplicated markers is refused (SSH_CONFIG_CONFLICT), never "fixed";
- writes are atomic (temp file + rename, mode kept), symlinks are written through, and a
  read-only file (home-manager, chmod a-w) is left alone and reported instead.
"""

from __future__ import annotations

import difflib
import os
import stat
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from ..domain.errors import ErrorCode, NexusError
from ..fsutil import atomic_write
from ..locking import file_lock

BEGIN_MARKER = "# >>> nexus: managed block, edit with `nexus ssh-config` >>>"
END_MARKER = "# <<< nexus: managed block <<<"


class InstallStatus(StrEnum):
    INSTALLED = "installed"  # the block was written now
    UNCHANGED = "unchanged"  # it was already there, exactly
    READ_ONLY = "read-only"  # the user's config cannot be written: use the hint
    CONFLICT = "conflict"  # broken Nexus markers: left alone, see the hint


@dataclass(frozen=True)
class InstallResult:
    status: InstallStatus
    path: Path
    hint: str | None = None


def user_config_path(home: Path | None = None) -> Path:
    return (home or Path.home()) / ".ssh" / "config"


def include_line(nexus_config: Path) -> str:
    return f'Include "{nexus_config}"'


def manual_hint(nexus_config: Path, user_config: Path) -> str:
    return (
        f"{user_config} is not writable, so Nexus did not change it. Either add this line at its "
        f"top:\n    {include_line(nexus_config)}\nor use the Nexus file directly: "
        f"`ssh -F {nexus_config} nexus-<name>`, and in VS Code set "
        f'"remote.SSH.configFile": "{nexus_config}".'
    )


def _newline_of(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _keyword(line: str) -> str:
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return ""
    return stripped.replace("=", " ").split(None, 1)[0].lower()


def _conflict(path: Path, detail: str) -> NexusError:
    return NexusError(
        ErrorCode.SSH_CONFIG_CONFLICT,
        f"{path} has {detail}; Nexus will not guess how to repair it",
        f"Keep exactly one pair of the lines '{BEGIN_MARKER}' and '{END_MARKER}' (or none), "
        "then retry.",
    )


def find_block(text: str, path: Path) -> tuple[int, int] | None:
    """Line indexes (begin, end) of the Nexus block, None if absent; refuses broken markers."""
    lines = text.splitlines()
    begins = [i for i, line in enumerate(lines) if line.strip() == BEGIN_MARKER]
    ends = [i for i, line in enumerate(lines) if line.strip() == END_MARKER]
    if not begins and not ends:
        return None
    if len(begins) > 1 or len(ends) > 1:
        raise _conflict(path, "duplicated Nexus markers")
    if len(begins) != len(ends) or ends[0] < begins[0]:
        raise _conflict(path, "unbalanced Nexus markers")
    return begins[0], ends[0]


def _insert_index(lines: list[str]) -> int:
    """After the leading run of Include lines (blanks/comments may sit among them), else the top."""
    after_last_include = 0
    for i, line in enumerate(lines):
        keyword = _keyword(line)
        if keyword == "include":
            after_last_include = i + 1
        elif keyword:
            break
    if after_last_include and not lines[after_last_include - 1].endswith(("\n", "\r")):
        return 0  # a final Include without newline: inserting after it would change its bytes
    return after_last_include


def render_block(nexus_config: Path, newline: str) -> str:
    return newline.join([BEGIN_MARKER, include_line(nexus_config), END_MARKER]) + newline


def with_block(text: str, nexus_config: Path, path: Path) -> str:
    """``text`` with the Nexus block present and current (returns ``text`` itself if it already is)."""
    newline = _newline_of(text)
    block = render_block(nexus_config, newline)
    lines = text.splitlines(keepends=True)
    found = find_block(text, path)
    if found is not None:
        begin, end = found
        current = "".join(lines[begin : end + 1])
        if current.replace("\r\n", "\n").rstrip("\n") == block.replace("\r\n", "\n").rstrip("\n"):
            return text
        return "".join(lines[:begin]) + block + "".join(lines[end + 1 :])
    at = _insert_index(lines)
    return "".join(lines[:at]) + block + "".join(lines[at:])


def without_block(text: str, path: Path) -> str:
    found = find_block(text, path)
    if found is None:
        return text
    begin, end = found
    lines = text.splitlines(keepends=True)
    return "".join(lines[:begin]) + "".join(lines[end + 1 :])


def _writable(path: Path) -> bool:
    """Writable, and not marked read-only by its owner (no owner write bit; root ignores modes)."""
    target = path.resolve()
    if target.exists():
        owner_may_write = bool(target.stat().st_mode & stat.S_IWUSR)
        return owner_may_write and os.access(target, os.W_OK) and os.access(target.parent, os.W_OK)
    return os.access(target.parent, os.W_OK) if target.parent.exists() else True


def _read(path: Path) -> str:
    try:
        # newline="" keeps CRLF as written
        with open(path, encoding="utf-8", newline="") as handle:
            return handle.read()
    except FileNotFoundError:
        return ""


def _lock_path(path: Path) -> Path:
    return path.parent / ".nexus-config.lock"


class UserSshConfig:
    """Install, check and remove the Nexus block in one user ssh config file."""

    def __init__(self, path: Path, nexus_config: Path) -> None:
        self.path = path
        self.nexus_config = nexus_config

    def is_installed(self) -> bool:
        text = _read(self.path)
        try:
            return with_block(text, self.nexus_config, self.path) == text and bool(text)
        except NexusError:
            return False

    def diff(self) -> str:
        """The unified diff ``install`` would make (empty if none)."""
        text = _read(self.path)
        new = with_block(text, self.nexus_config, self.path)
        return "".join(
            difflib.unified_diff(
                text.splitlines(keepends=True),
                new.splitlines(keepends=True),
                fromfile=str(self.path),
                tofile=f"{self.path} (with the Nexus block)",
            )
        )

    def install(self) -> InstallResult:
        ssh_dir = self.path.parent
        try:
            ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError:
            return InstallResult(
                InstallStatus.READ_ONLY, self.path, manual_hint(self.nexus_config, self.path)
            )
        if not _writable(self.path):
            return InstallResult(
                InstallStatus.READ_ONLY, self.path, manual_hint(self.nexus_config, self.path)
            )
        with file_lock(_lock_path(self.path)):
            text = _read(self.path)
            new = with_block(text, self.nexus_config, self.path)
            if new == text:
                return InstallResult(InstallStatus.UNCHANGED, self.path)
            try:
                atomic_write(self.path.resolve(), new, mode=0o600)
            except PermissionError:
                return InstallResult(
                    InstallStatus.READ_ONLY, self.path, manual_hint(self.nexus_config, self.path)
                )
        return InstallResult(InstallStatus.INSTALLED, self.path)

    def uninstall(self) -> bool:
        """Remove our block, nothing else; True if there was one."""
        if not self.path.exists() or BEGIN_MARKER not in _read(self.path):
            return False
        with file_lock(_lock_path(self.path)):
            text = _read(self.path)
            new = without_block(text, self.path)
            if new == text:
                return False
            atomic_write(self.path.resolve(), new, mode=0o600)
        return True
