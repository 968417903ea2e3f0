"""Writing an export: ``manifest.json`` first, then each member, as one tar stream."""

from __future__ import annotations

import hashlib
import tarfile
import time
from pathlib import Path
from typing import BinaryIO

from .manifest import MANIFEST_NAME, Manifest, Member

CHUNK = 1 << 20


def digest(path: Path) -> Member:
    """The size and sha256 of one member file (named by its file name)."""
    sha = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            sha.update(chunk)
            size += len(chunk)
    return Member(path.name, size, sha.hexdigest())


def _entry(name: str, size: int) -> tarfile.TarInfo:
    entry = tarfile.TarInfo(name)
    entry.size = size
    entry.mode = 0o600
    entry.mtime = int(time.time())
    return entry


def write_export(out: BinaryIO, manifest: Manifest, files: list[Path]) -> None:
    """Write the export of ``manifest`` to ``out`` (blocking). ``files`` are the members in order
    (their file names are their member names); their sizes and checksums go into the manifest,
    computed here from what is written."""
    manifest.members = [digest(path) for path in files]
    data = manifest.to_bytes()
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, bufsize=CHUNK) as tar:
        import io

        tar.addfile(_entry(MANIFEST_NAME, len(data)), io.BytesIO(data))
        for path, member in zip(files, manifest.members, strict=True):
            with path.open("rb") as handle:
                tar.addfile(_entry(member.name, member.size), handle)
