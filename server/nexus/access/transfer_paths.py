"""Where a copy lands: the ``docker cp`` rules, as pure functions of the two paths and what exists.

Both sides are described by POSIX path strings (remote paths always are; local paths are made
absolute and given with ``/`` before they get here). A copy is one tar archive whose members all
start with one top entry: the source is archived as ``tar -c -C <folder> <top>``, and the
destination extracts it into ``parent``, renaming that top entry to ``name`` (or, for ``src/.``,
merging the source's contents into ``parent`` itself).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from enum import StrEnum

from ..domain.errors import ErrorCode, NexusError


class Kind(StrEnum):
    """What is at a path. ``OTHER`` is anything not a folder (a file, a symlink, a fifo...)."""

    DIR = "dir"
    OTHER = "file"
    MISSING = "missing"


@dataclass(frozen=True)
class Source:
    """The source as an archive: ``tar -c -C folder top``; ``top`` is ``.`` for ``src/.``."""

    folder: str
    top: str
    is_dir: bool

    @property
    def contents_only(self) -> bool:
        return self.top == "."


@dataclass(frozen=True)
class Placement:
    """Extract into ``parent``; the archive's top entry becomes ``parent/name`` (``name`` None:
    the source's contents go straight into ``parent``)."""

    parent: str
    name: str | None

    @property
    def target(self) -> str:
        return posixpath.join(self.parent, self.name) if self.name else self.parent


def _bad(message: str, resolution: str) -> NexusError:
    return NexusError(ErrorCode.INVALID_ARGUMENT, message, resolution)


def bare(path: str) -> str:
    """``path`` without the trailing ``/`` or ``/.`` that only says how to copy."""
    if path.endswith("/."):
        path = path[:-2]
    return path.rstrip("/") or "/"


def wants_contents(path: str) -> bool:
    """``src/.``: copy what is in the folder, not the folder itself (as ``docker cp``)."""
    return path == "." or path.endswith("/.")


def source_of(path: str, kind: Kind) -> Source:
    """The archive of the (absolute) source ``path`` whose ``kind`` was looked up (lstat: a
    symlink is copied as a symlink, never followed)."""
    if kind is Kind.MISSING:
        raise NexusError(
            ErrorCode.SOURCE_NOT_FOUND,
            f"{path} does not exist",
            "Check the source path.",
        )
    contents = wants_contents(path)
    if (contents or path.endswith("/")) and kind is not Kind.DIR:
        raise _bad(
            f"{path} is not a folder",
            "Drop the trailing '/' or '/.'; they are only for folders.",
        )
    clean = posixpath.normpath(path)
    folder, base = posixpath.split(clean)
    if contents or not base:  # `src/.`, or the root folder itself
        return Source(folder=clean, top=".", is_dir=True)
    return Source(folder=folder or "/", top=base, is_dir=kind is Kind.DIR)


def place(source: Source, dest: str, dest_kind: Kind, parent_is_dir: bool) -> Placement:
    """Where ``source`` lands given the (absolute) ``dest`` path, what is there (followed: a
    symlink to a folder counts as a folder), and whether the folder above it exists.

    - a folder copied to an existing folder goes inside it (``dest/<name>``), or with ``src/.``
      its contents merge into it; to a new path it is created there with the folder's contents
    - a file copied to an existing folder goes inside it; to a file or a new path it is written
      there (a new path ending in ``/`` must be an existing folder)
    """
    clean = posixpath.normpath(dest)
    if dest_kind is Kind.DIR:
        if source.contents_only:
            return Placement(parent=clean, name=None)
        return Placement(parent=clean, name=source.top)
    if dest_kind is Kind.OTHER and source.is_dir:
        raise _bad(
            f"cannot copy a folder onto the file {dest}",
            "Pick a folder, or a path that does not exist yet.",
        )
    trailing = dest.endswith("/") or wants_contents(dest)
    if dest_kind is Kind.MISSING and trailing and not source.is_dir:
        raise _bad(
            f"the folder {dest} does not exist",
            "Create the folder first, or name the file to write without a trailing '/'.",
        )
    parent, name = posixpath.split(clean)
    if not name:  # "/" exists as a folder, so only a missing path gets here; keep it total
        raise _bad(f"cannot copy to {dest}", "Pick a folder or a file path.")
    if not parent_is_dir:
        raise _bad(
            f"the folder {parent or '/'} does not exist",
            "Create it first, or copy into a folder that exists.",
        )
    return Placement(parent=parent or "/", name=name)


def member_target(name: str, top: str) -> tuple[str, ...] | None:
    """The path below the extraction target of archive member ``name`` of an archive whose top
    entry is ``top``, as components (``()`` for the top itself), or None when the member is not
    under ``top`` or is unsafe: an absolute path, or a ``..`` anywhere."""
    if name.startswith("/") or not name:
        return None
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if any(part == ".." for part in parts):
        return None
    if top == ".":
        return tuple(parts)
    if not parts or parts[0] != top:
        return None
    return tuple(parts[1:])


def inside(path: str, folder: str) -> bool:
    """``path`` is ``folder`` or below it (both POSIX paths of the workspace, normalized here)."""
    clean, root = posixpath.normpath(path), posixpath.normpath(folder)
    return clean == root or clean.startswith(root.rstrip("/") + "/")
