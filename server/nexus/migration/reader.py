"""Reading an export the user passes: only its manifest is parsed; every member is checked
against the manifest's size and sha256, and the working-copy archive's entry names and types are
checked, before anything is created. Nothing is ever extracted on this machine."""

from __future__ import annotations

import hashlib
import posixpath
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .manifest import (
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    WORKTREE_NAME,
    Manifest,
    invalid,
    parse,
)

CHUNK = 1 << 20
_ALLOWED_TYPES = (
    tarfile.REGTYPE,
    tarfile.AREGTYPE,
    tarfile.DIRTYPE,
    tarfile.SYMTYPE,
    tarfile.LNKTYPE,
)


@dataclass(frozen=True)
class Region:
    """Where a member's data is in the export file."""

    offset: int
    size: int


@dataclass
class ExportFile:
    path: Path
    manifest: Manifest
    regions: dict[str, Region]

    def chunks(self, name: str) -> Iterator[bytes]:
        """The bytes of member ``name``."""
        region = self.regions[name]
        with self.path.open("rb") as handle:
            handle.seek(region.offset)
            left = region.size
            while left:
                chunk = handle.read(min(CHUNK, left))
                if not chunk:
                    raise invalid(f"{name} is cut off")
                left -= len(chunk)
                yield chunk


class _Slice:
    """A read-only window on a file, for tarfile's stream mode."""

    def __init__(self, handle: IO[bytes], region: Region) -> None:
        self.handle = handle
        self.left = region.size
        handle.seek(region.offset)

    def read(self, size: int = -1) -> bytes:
        if size < 0 or size > self.left:
            size = self.left
        data = self.handle.read(size)
        self.left -= len(data)
        return data


def read_export(path: Path) -> ExportFile:
    """Validate the export at ``path`` (blocking): EXPORT_INVALID or EXPORT_VERSION_UNSUPPORTED
    for anything else than a complete, intact export this Nexus reads."""
    try:
        with tarfile.open(path, mode="r:") as tar:
            first = tar.next()
            if first is None or first.name != MANIFEST_NAME or not first.isreg():
                raise invalid(f"it does not start with {MANIFEST_NAME}")
            if first.size > MAX_MANIFEST_BYTES:
                raise invalid(f"{MANIFEST_NAME} is larger than {MAX_MANIFEST_BYTES} bytes")
            handle = tar.extractfile(first)
            assert handle is not None
            manifest = parse(handle.read())
            regions: dict[str, Region] = {}
            for member in manifest.members:
                entry = tar.next()
                if entry is None or entry.name != member.name or not entry.isreg():
                    raise invalid(f"{member.name} is missing or out of place")
                if entry.size != member.size:
                    raise invalid(
                        f"{member.name} has {entry.size} bytes, the manifest says {member.size}"
                    )
                regions[member.name] = Region(entry.offset_data, entry.size)
            if tar.next() is not None:
                raise invalid("it holds more than its manifest names")
    except (tarfile.TarError, EOFError, UnicodeDecodeError) as exc:
        raise invalid(f"it is not a complete tar archive ({exc})") from None
    export = ExportFile(path, manifest, regions)
    for member in manifest.members:
        sha = hashlib.sha256()
        for chunk in export.chunks(member.name):
            sha.update(chunk)
        if sha.hexdigest() != member.sha256:
            raise invalid(f"the checksum of {member.name} does not match (damaged on the way?)")
    with path.open("rb") as raw:
        check_worktree(_Slice(raw, regions[WORKTREE_NAME]))
    return export


def _parts(name: str, what: str) -> list[str]:
    """The components of an archive path, refusing anything that could leave the folder or
    reach version control."""
    stripped = name[:-1] if name.endswith("/") else name
    parts = stripped.split("/")
    if (
        not stripped
        or stripped.startswith("/")
        or any(part in ("", ".", "..") for part in parts)
        or "\x00" in stripped
    ):
        raise invalid(f"{WORKTREE_NAME} has an unsafe {what} {name[:200]!r}")
    if any(part.casefold() == ".git" for part in parts):
        raise invalid(f"{WORKTREE_NAME} has version-control data ({name[:200]!r})")
    return parts


def check_worktree(stream: Any) -> int:
    """Check every entry of the working-copy archive (a tar stream); returns how many there are.

    Only files, folders, symlinks and hard links inside the folder; no path below a symlink
    (writing through it would land elsewhere); no `.git`."""
    links: set[str] = set()
    seen: set[str] = set()
    count = 0
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for entry in tar:
                count += 1
                if entry.type not in _ALLOWED_TYPES:
                    raise invalid(f"{WORKTREE_NAME} has a device, fifo or other special entry")
                parts = _parts(entry.name, "path")
                for depth in range(1, len(parts)):
                    if "/".join(parts[:depth]) in links:
                        raise invalid(
                            f"{WORKTREE_NAME} writes below the symlink {'/'.join(parts[:depth])!r}"
                        )
                path = "/".join(parts)
                if entry.issym():
                    links.add(path)
                if entry.islnk():
                    target = posixpath.normpath(entry.linkname)
                    _parts(entry.linkname, "hard link")
                    if target not in seen or target in links:
                        raise invalid(
                            f"{WORKTREE_NAME} has a hard link to {entry.linkname[:200]!r}"
                        )
                seen.add(path)
    except (tarfile.TarError, EOFError, UnicodeDecodeError) as exc:
        raise invalid(f"{WORKTREE_NAME} is not a tar archive ({exc})") from None
    return count
