"""The one Nexus block in the user's ``~/.ssh/config``: an ``Include`` of the Nexus-generated file.

Guarantees:
- every byte of the user's own content is preserved (comments, Match/Host blocks, Includes,
  CRLF line ends, a missing final newline, bytes in any encoding: the file is handled as bytes);
  removing the block gives back the exact original;
- the block is inserted once, at the top: after a leading run of ``Include`` lines, before any
  other directive (so no global option of the user's can override a Nexus host's settings);
- a file with unbalanced or duplicated markers is refused (SSH_CONFIG_CONFLICT), never "fixed";
- writes are atomic (temp file + rename, mode kept), symlinks are written through, the lock
  lives under NEXUS_HOME (nothing is ever left in ``~/.ssh``), and a read-only file (home-manager, chmod a-w) is left alone and reported instead.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import stat
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from ..domain.errors import ErrorCode, NexusError
from ..fsutil import atomic_write
from ..locking import file_lock
from ..paths import NexusPaths

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


# The file is handled as bytes throughout: OpenSSH does not require any encoding (a Latin-1
# comment is fine to it), and every byte the user wrote must come back exactly.
_BEGIN = BEGIN_MARKER.encode()
_END = END_MARKER.encode()


def split_lines(data: bytes) -> list[bytes]:
    """Lines as OpenSSH reads them (ended by LF only), each keeping its end; joins back exactly."""
    lines = data.split(b"\n")
    out = [line + b"\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


def _newline_of(data: bytes) -> bytes:
    return b"\r\n" if b"\r\n" in data else b"\n"


def _keyword(line: bytes) -> str:
    stripped = line.strip()
    if not stripped or stripped.startswith(b"#"):
        return ""
    words = stripped.replace(b"=", b" ").split(None, 1)
    return words[0].decode("latin-1").lower() if words else "="  # a bare "=": not blank


def _conflict(path: Path, detail: str) -> NexusError:
    return NexusError(
        ErrorCode.SSH_CONFIG_CONFLICT,
        f"{path} has {detail}; Nexus will not guess how to repair it",
        f"Keep exactly one pair of the lines '{BEGIN_MARKER}' and '{END_MARKER}' (or none), "
        "then retry.",
    )


def find_block(data: bytes, path: Path) -> tuple[int, int] | None:
    """Line indexes (begin, end) of the Nexus block, None if absent; refuses broken markers."""
    lines = split_lines(data)
    begins = [i for i, line in enumerate(lines) if line.strip() == _BEGIN]
    ends = [i for i, line in enumerate(lines) if line.strip() == _END]
    if not begins and not ends:
        return None
    if len(begins) > 1 or len(ends) > 1:
        raise _conflict(path, "duplicated Nexus markers")
    if len(begins) != len(ends) or ends[0] < begins[0]:
        raise _conflict(path, "unbalanced Nexus markers")
    return begins[0], ends[0]


def _insert_index(lines: list[bytes]) -> int:
    """After the leading run of Include lines (blanks/comments may sit among them), else the top."""
    after_last_include = 0
    for i, line in enumerate(lines):
        keyword = _keyword(line)
        if keyword == "include":
            after_last_include = i + 1
        elif keyword:
            break
    if after_last_include and not lines[after_last_include - 1].endswith(b"\n"):
        return 0  # a final Include without newline: inserting after it would change its bytes
    return after_last_include


def render_block(nexus_config: Path, newline: bytes) -> bytes:
    include = os.fsencode(include_line(nexus_config))
    return newline.join([_BEGIN, include, _END]) + newline


def _normalized(block: bytes) -> list[bytes]:
    return [line.strip() for line in split_lines(block)]


def with_block(data: bytes, nexus_config: Path, path: Path) -> bytes:
    """``data`` with the Nexus block present and current (returns ``data`` itself if it already is)."""
    block = render_block(nexus_config, _newline_of(data))
    lines = split_lines(data)
    found = find_block(data, path)
    if found is not None:
        begin, end = found
        if _normalized(b"".join(lines[begin : end + 1])) == _normalized(block):
            return data
        return b"".join(lines[:begin]) + block + b"".join(lines[end + 1 :])
    at = _insert_index(lines)
    return b"".join(lines[:at]) + block + b"".join(lines[at:])


def without_block(data: bytes, path: Path) -> bytes:
    found = find_block(data, path)
    if found is None:
        return data
    begin, end = found
    lines = split_lines(data)
    return b"".join(lines[:begin]) + b"".join(lines[end + 1 :])


def _writable(path: Path) -> bool:
    """Writable, and not marked read-only by its owner (no owner write bit; root ignores modes)."""
    target = path.resolve()
    if target.exists():
        owner_may_write = bool(target.stat().st_mode & stat.S_IWUSR)
        return owner_may_write and os.access(target, os.W_OK) and os.access(target.parent, os.W_OK)
    return os.access(target.parent, os.W_OK) if target.parent.exists() else True


def read_bytes(path: Path) -> bytes:
    """The file's exact bytes (empty if it does not exist)."""
    try:
        return path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return b""


def _for_display(data: bytes) -> str:
    return data.decode("utf-8", errors="backslashreplace")


# where versions before the lock moved to NEXUS_HOME/locks kept it: beside the user's config
LEGACY_LOCK_NAME = ".nexus-config.lock"


class UserSshConfig:
    """Install, check and remove the Nexus block in one user ssh config file.

    ``lock`` is the file serializing edits between processes; it lives with Nexus's own files
    (``NEXUS_HOME/locks``), never next to the user's config.
    """

    def __init__(self, path: Path, nexus_config: Path, lock: Path | None = None) -> None:
        self.path = path
        self.nexus_config = nexus_config
        self._lock = lock

    def _lock_path(self) -> Path:
        return self._lock or NexusPaths().lock("user-ssh-config")

    def _remove_legacy_lock(self) -> None:
        """Remove the lock file older versions left in ``~/.ssh`` (under the current lock; it is
        never made again, so this happens once)."""
        legacy = self.path.parent / LEGACY_LOCK_NAME
        if legacy.is_file() or legacy.is_symlink():
            with contextlib.suppress(OSError):
                legacy.unlink()

    def is_installed(self) -> bool:
        data = read_bytes(self.path)
        try:
            return bool(data) and with_block(data, self.nexus_config, self.path) == data
        except NexusError:
            return False

    def diff(self) -> str:
        """The unified diff ``install`` would make (empty if none)."""
        data = read_bytes(self.path)
        new = with_block(data, self.nexus_config, self.path)
        return "".join(
            difflib.unified_diff(
                [_for_display(line) for line in split_lines(data)],
                [_for_display(line) for line in split_lines(new)],
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
        with file_lock(self._lock_path()):
            self._remove_legacy_lock()
            data = read_bytes(self.path)
            new = with_block(data, self.nexus_config, self.path)
            if new == data:
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
        if _BEGIN not in read_bytes(self.path):
            return False
        with file_lock(self._lock_path()):
            self._remove_legacy_lock()
            data = read_bytes(self.path)
            new = without_block(data, self.path)
            if new == data:
                return False
            atomic_write(self.path.resolve(), new, mode=0o600)
        return True
