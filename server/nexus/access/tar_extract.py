"""Extract a tar stream a workspace sent, on this machine, trusting nothing in it.

A workspace is untrusted: its archive may name ``/etc/x`` or ``../x``, plant a symlink and then
write through it, link to files outside, or carry device files and setuid bits. Here every
member lands under the destination or the whole copy fails: absolute names and ``..`` are
refused, no path is ever written through a symlink (each folder on the way is checked with
lstat, files are opened with ``O_NOFOLLOW``), symlinks are created as symlinks exactly as sent
(never followed), hard links may only point at files this extraction wrote, devices and fifos
are skipped, and modes keep only the permission bits (no setuid, setgid or sticky). And it
never fills this machine's disk (``nexus.disk_space``).
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from ..disk_space import DiskRoom
from .transfer_paths import member_target

CHUNK = 1 << 20


class UnsafeArchive(Exception):
    """The archive tried to write outside the destination, or through a link."""


class _Extractor:
    def __init__(
        self, base: Path, name: str | None, top: str, warn: Callable[[str], None], room: DiskRoom
    ):
        self.room = room
        self.base = base  # exists; the user chose it, so it may itself be a symlink
        self.root = base / name if name else base
        self.top = top
        self.warn = warn
        self.files = 0
        self.bytes = 0
        self._dirs: set[Path] = {base}  # checked real folders (never removed while extracting)
        self._written: set[Path] = set()  # regular files written here (hard link targets)
        self._dir_modes: list[tuple[Path, int, float]] = []

    # ---- paths -------------------------------------------------------------------------------
    def _target(self, member_name: str) -> Path:
        parts = member_target(member_name, self.top)
        if parts is None:
            raise UnsafeArchive(
                f"the archive member {member_name!r} would land outside {self.root}"
            )
        return self.root.joinpath(*parts) if parts else self.root

    def _ensure_dir(self, path: Path) -> None:
        """``path`` is a real folder (not a symlink to one) below ``base``; made if missing."""
        # from the outermost folder not yet checked down to ``path`` (a loop, not recursion:
        # an archive may nest thousands of folders deep)
        missing: list[Path] = []
        here = path
        while here not in self._dirs:
            if here == here.parent:  # never the case for a checked member: it is below base
                raise UnsafeArchive(f"{path} is not below {self.base}")
            missing.append(here)
            here = here.parent
        for folder in reversed(missing):
            try:
                info = os.lstat(folder)
            except FileNotFoundError:
                os.mkdir(folder, 0o700)
                self._dir_modes.append((folder, 0o755, -1.0))  # a folder the archive did not list
            else:
                if stat.S_ISLNK(info.st_mode):
                    raise UnsafeArchive(f"{folder} is a symlink; nothing is written through it")
                if not stat.S_ISDIR(info.st_mode):
                    raise UnsafeArchive(f"{folder} is not a folder")
            self._dirs.add(folder)

    def _clear(self, path: Path) -> None:
        """Remove a file or symlink where a member goes; a folder there is never replaced."""
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(info.st_mode):
            raise UnsafeArchive(f"{path} is a folder; the archive would replace it")
        os.unlink(path)
        self._written.discard(path)  # whatever comes next there is not the file written before

    # ---- members -----------------------------------------------------------------------------
    def member(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        target = self._target(member.name)
        if target != self.base:
            self._ensure_dir(target.parent)
        if member.isdir():
            self._directory(target, member)
        elif member.isreg():
            self._file(tar, target, member)
        elif member.issym():
            self._clear(target)
            os.symlink(member.linkname, target)
            os.utime(target, (member.mtime, member.mtime), follow_symlinks=False)
        elif member.islnk():
            self._hard_link(target, member)
        else:
            self.warn(f"skipped {member.name}: devices, fifos and sockets are not copied")

    def _directory(self, target: Path, member: tarfile.TarInfo) -> None:
        if target == self.base:  # `src/.` into an existing folder: leave that folder as it is
            return
        try:
            info = os.lstat(target)
        except FileNotFoundError:
            os.mkdir(target, 0o700)
        else:
            if not stat.S_ISDIR(info.st_mode):
                os.unlink(target)
                os.mkdir(target, 0o700)
        self._dirs.add(target)
        # applied at the end, deepest first: a read-only folder must not block its own files
        self._dir_modes.append((target, member.mode & 0o777, float(member.mtime)))

    def _file(self, tar: tarfile.TarFile, target: Path, member: tarfile.TarInfo) -> None:
        self._clear(target)
        source = tar.extractfile(member)
        if source is None:
            raise UnsafeArchive(f"cannot read {member.name} from the archive")
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            while chunk := source.read(CHUNK):
                self.room.spend(len(chunk))
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
            os.fchmod(fd, member.mode & 0o777)
        except BaseException:
            os.unlink(target)  # no half-written file (the stream ended or failed mid-file)
            raise
        finally:
            os.close(fd)
        os.utime(target, (member.mtime, member.mtime), follow_symlinks=False)
        self._written.add(target)
        self.files += 1
        self.bytes += member.size

    def _hard_link(self, target: Path, member: tarfile.TarInfo) -> None:
        source = self._target(member.linkname)
        if source not in self._written:
            self.warn(f"skipped {member.name}: a hard link to a file this copy did not write")
            return
        self._clear(target)
        os.link(source, target, follow_symlinks=False)
        self._written.add(target)
        self.files += 1

    def finish(self) -> None:
        """Set the folders' modes and times, deepest first (best effort: it runs after a refusal
        too, which must stay the error the caller sees)."""
        for path, mode, mtime in sorted(self._dir_modes, key=lambda item: -len(item[0].parts)):
            try:
                os.chmod(path, mode, follow_symlinks=False)
                if mtime >= 0:
                    os.utime(path, (mtime, mtime), follow_symlinks=False)
            except (OSError, NotImplementedError):
                continue


def extract_stream(
    stream: IO[bytes],
    base: Path,
    name: str | None,
    top: str,
    *,
    warn: Callable[[str], None] = lambda message: None,
    on_file: Callable[[int, int], None] | None = None,
    room: DiskRoom | None = None,
) -> tuple[int, int]:
    """Extract the tar ``stream`` (read sequentially, never held in memory) whose members start
    with ``top`` into ``base/name`` (``name`` None: into ``base``); returns (files, bytes).

    ``base`` must exist. Raises ``UnsafeArchive`` at the first member that would land outside
    or write through a link (what was extracted before it stays, all of it inside); SYNC_FAILED
    before the disk would keep too little free (``room``, by default the usual floor)."""
    room = room or DiskRoom(base, f"copying into {base}")
    extractor = _Extractor(base, name, top, warn, room)
    try:
        # plain tar only: the workspace's `tar -c` never compresses, and a compressed stream
        # could expand without bound
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                extractor.member(tar, member)
                if on_file is not None and member.isreg():
                    on_file(extractor.files, extractor.bytes)
    finally:
        extractor.finish()
    return extractor.files, extractor.bytes
