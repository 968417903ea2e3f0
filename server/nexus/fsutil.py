"""Atomic file writes: a reader sees the old file or the new one, never half of either."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_if_changed(path: Path, data: str, mode: int | None = None) -> bool:
    """``atomic_write`` unless the file already holds exactly ``data``; True if it wrote."""
    try:
        if path.read_text() == data:
            return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    atomic_write(path, data, mode)
    return True


def atomic_write(path: Path, data: bytes | str, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder + rename, keeping the mode.

    ``mode`` applies when the file is new; an existing file keeps its own mode.
    """
    raw = data.encode() if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        existing = path.stat()
        keep_mode: int | None = existing.st_mode & 0o7777
        keep_owner: tuple[int, int] | None = (existing.st_uid, existing.st_gid)
    except FileNotFoundError:
        keep_mode, keep_owner = None, None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        final_mode = keep_mode if keep_mode is not None else (mode if mode is not None else 0o644)
        os.chmod(tmp, final_mode)
        if keep_owner is not None and os.geteuid() == 0 and keep_owner != (0, 0):
            os.chown(tmp, *keep_owner)  # root editing a user's file leaves it the user's
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
