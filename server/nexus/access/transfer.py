"""Copying files over the workspace's SSH endpoint: tar streamed over one exec channel.

One connection, two channels: a probe (what is at the destination, or the source) and the tar
itself (``tar -x`` or ``tar -c`` in the workspace). The archive streams through a pipe between
the event loop and one worker thread (tarfile is blocking), so nothing is held in memory. What
lands where follows ``docker cp`` (``transfer_paths``); what a workspace sends is extracted by
``tar_extract``, which trusts nothing in it. ``upload_sftp_per_file`` is the slow baseline the
benchmark compares against: one SFTP put per file.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import posixpath
import shlex
import stat
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..asyncutil import run_blocking
from ..domain.errors import ErrorCode, NexusError
from ..domain.provider import TransferStats
from .exec import _ClientWatch, _connection_failed, _open_session, connect, exit_code_of
from .tar_extract import UnsafeArchive, extract_stream
from .transfer_paths import Kind, Placement, Source, bare, place, source_of

if TYPE_CHECKING:
    import asyncssh

    from ..domain.models import SSHConnection
    from ..domain.progress import Progress

CHUNK = 1 << 18  # bytes per channel write / pipe read
PIPE_SIZE = 1 << 20
REPORT_EVERY = 0.25  # seconds between progress lines
TAR_METHOD = "tar-ssh"


def local_path_text(local: Path | str) -> str:
    """An absolute POSIX path that keeps a trailing ``/`` or ``/.`` (``Path`` drops both)."""
    text = os.fspath(local)
    suffix = "/." if text == "." or text.endswith("/.") else "/" if text.endswith("/") else ""
    absolute = os.path.abspath(text)
    return absolute + suffix if absolute != "/" else "/" + suffix.lstrip("/")


def local_kind(path: str, *, follow: bool) -> Kind:
    try:
        info = os.stat(path) if follow else os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        if follow and os.path.lexists(path):
            return Kind.OTHER  # a dangling symlink: writing replaces it
        return Kind.MISSING
    return Kind.DIR if stat.S_ISDIR(info.st_mode) else Kind.OTHER


def _sync_failed(message: str, resolution: str = "") -> NexusError:
    return NexusError(
        ErrorCode.SYNC_FAILED,
        message,
        resolution or "Check the paths and the free space on both sides, then retry.",
    )


class _Meter:
    """Counts files and bytes; tells the progress sink now and then (any thread may count)."""

    def __init__(self, progress: Progress | None, verb: str) -> None:
        self.progress = progress
        self.verb = verb
        self.files = 0
        self.bytes = 0
        self._last = 0.0

    def count(self, files: int, size: int) -> None:
        self.files, self.bytes = files, size

    def report(self) -> None:
        now = time.monotonic()
        if self.progress is None or now - self._last < REPORT_EVERY:
            return
        self._last = now
        self.progress.detail(f"{self.verb} {self.files} files, {self.bytes / 1e6:.1f} MB")


# ---- the remote side ------------------------------------------------------------------------
class _Session:
    """One SSH connection to the workspace; each command runs on a channel of its own."""

    def __init__(self, conn: SSHConnection) -> None:
        self.conn = conn
        self.watch = _ClientWatch()
        self.client: asyncssh.SSHClientConnection | None = None

    async def __aenter__(self) -> _Session:
        self.client = await connect(self.conn, watch=self.watch)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()
            with contextlib.suppress(Exception):
                await self.client.wait_closed()

    async def process(self, command: str) -> Any:
        assert self.client is not None
        return await _open_session(self.client, self.conn, self.watch, command)

    async def output(self, command: str) -> tuple[int, bytes, bytes]:
        process = await self.process(command)
        process.stdin.write_eof()
        out, err = await asyncio.gather(process.stdout.read(), process.stderr.read())
        await process.wait_closed()
        return exit_code_of(process), out, err

    async def kind(self, path: str, *, follow: bool) -> tuple[Kind, bool]:
        """What is at ``path`` (following a symlink or not), and whether its parent is a folder."""
        code, out, err = await self.output(kind_script(path, follow=follow))
        return parse_kind(path, code, out, err)


def kind_script(path: str, *, follow: bool) -> str:
    """A shell snippet printing what is at ``path`` (dir/file/missing) and whether its parent is
    a folder (yes/no); ``parse_kind`` reads its answer."""
    parent = posixpath.dirname(posixpath.normpath(path)) or "/"
    link_test = "false" if follow else '[ -L "$p" ]'
    return (
        f"p={shlex.quote(path)}; "
        f'if {link_test}; then k=file; elif [ -d "$p" ]; then k=dir; '
        f'elif [ -e "$p" ] || [ -L "$p" ]; then k=file; else k=missing; fi; '
        f'if [ -d {shlex.quote(parent)} ]; then echo "$k yes"; else echo "$k no"; fi'
    )


def parse_kind(path: str, code: int, out: bytes, err: bytes) -> tuple[Kind, bool]:
    lines = out.decode(errors="replace").split("\n")
    words = next((line.split() for line in reversed(lines) if line.strip()), [])
    if code != 0 or len(words) != 2 or words[0] not in ("dir", "file", "missing"):
        raise _sync_failed(
            f"cannot look at {path} in the workspace: {err.decode(errors='replace').strip()}"
        )
    return Kind(words[0]), words[1] == "yes"


def _tar_failed(code: int, err: bytes, what: str) -> NexusError:
    text = err.decode(errors="replace").strip()
    if code == 127:
        return _sync_failed(
            f"{what}: there is no `tar` in the workspace",
            "Install tar in the workspace image (Debian: apt-get install tar).",
        )
    return _sync_failed(f"{what}: tar exited with {code}" + (f": {text[-800:]}" if text else ""))


def _pipe() -> tuple[int, int]:
    """A pipe between the event loop and the tar thread, as large as the system allows (fewer
    hand-overs between them)."""
    read_fd, write_fd = os.pipe()
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)  # Linux
    if set_size is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(write_fd, set_size, PIPE_SIZE)
    return read_fd, write_fd


# ---- upload ---------------------------------------------------------------------------------
def _tar_info(name: str, path: str, info: os.stat_result) -> tarfile.TarInfo | None:
    entry = tarfile.TarInfo(name)
    entry.mode = stat.S_IMODE(info.st_mode)
    entry.mtime = int(info.st_mtime)
    if stat.S_ISREG(info.st_mode):
        entry.size = info.st_size
    elif stat.S_ISDIR(info.st_mode):
        entry.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(info.st_mode):
        entry.type = tarfile.SYMTYPE
        entry.linkname = os.readlink(path)
    else:
        return None
    return entry


def walk_source(source: Source, placement: Placement) -> Iterator[tuple[str, str, os.stat_result]]:
    """(local path, archive name, lstat) of every entry to send, folders before what is in them;
    the source's own top entry is named ``placement.name`` (absent for ``src/.``)."""
    top = source.folder if source.contents_only else os.path.join(source.folder, source.top)
    stack: list[tuple[str, str]] = []
    if placement.name is None:
        stack.append((top, ""))
    else:
        info = os.lstat(top)
        yield top, placement.name, info
        if stat.S_ISDIR(info.st_mode):
            stack.append((top, placement.name))
    while stack:
        folder, prefix = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                name = f"{prefix}/{entry.name}" if prefix else entry.name
                info = entry.stat(follow_symlinks=False)
                yield entry.path, name, info
                if stat.S_ISDIR(info.st_mode):
                    stack.append((entry.path, name))


class _Stopped(Exception):
    """The copy failed or was cancelled on the event loop's side; the archive writer stops."""


class _PipeOut:
    """Where tarfile writes (it buffers ``CHUNK`` bytes itself): the pipe, until told to stop."""

    def __init__(self, fd: int, stop: threading.Event) -> None:
        self.fd = fd
        self.stop = stop

    def write(self, data: bytes) -> int:
        if self.stop.is_set():
            raise _Stopped
        _write_all(self.fd, data)
        return len(data)


def _write_archive(
    fd: int,
    source: Source,
    placement: Placement,
    meter: _Meter,
    warn: Callable[[str], None],
    stop: threading.Event,
) -> None:
    """Write the tar stream of ``source`` to ``fd`` and close it (blocking; a worker thread)."""
    try:
        out: Any = _PipeOut(fd, stop)  # tarfile only writes to it
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, bufsize=CHUNK) as tar:
            files = size = 0
            for path, name, info in walk_source(source, placement):
                if stop.is_set():
                    raise _Stopped
                entry = _tar_info(name, path, info)
                if entry is None:
                    warn(f"skipped {path}: devices, fifos and sockets are not copied")
                    continue
                if entry.isreg():
                    with open(path, "rb") as data:
                        tar.addfile(entry, data)
                    files, size = files + 1, size + entry.size
                    meter.count(files, size)
                else:
                    tar.addfile(entry)
    finally:
        os.close(fd)


async def _pipe_to_channel(fd: int, process: Any, meter: _Meter) -> None:
    # run_blocking: a cancelled read still finishes before the pipe is closed
    while chunk := await run_blocking(os.read, fd, CHUNK):
        process.stdin.write(chunk)
        await process.stdin.drain()
        meter.report()
    process.stdin.write_eof()


async def _drain(fd: int) -> None:
    """Read the pipe to its end (the writer, told to stop, closes it at its next write)."""
    while await run_blocking(os.read, fd, CHUNK):
        pass


async def upload(
    conn: SSHConnection,
    local: Path | str,
    remote: str,
    *,
    progress: Progress | None = None,
) -> TransferStats:
    """Copy a local file or folder to ``remote`` (absolute) in the workspace, as ``docker cp``.

    ``local`` given as a string keeps a trailing ``/.`` (copy the folder's contents)."""
    path = local_path_text(local)
    source = source_of(path, local_kind(path.rstrip("/") or "/", follow=False))
    meter = _Meter(progress, "sent")
    warn = progress.warn if progress is not None else (lambda message: None)
    try:
        async with _Session(conn) as session:
            kind, parent_is_dir = await session.kind(remote, follow=True)
            placement = place(source, remote, kind, parent_is_dir)
            process = await session.process(f"tar -x -p -o -f - -C {shlex.quote(placement.parent)}")
            errors = asyncio.create_task(process.stderr.read())
            drained = asyncio.create_task(process.stdout.read())
            stop = threading.Event()
            read_fd, write_fd = _pipe()
            writer = asyncio.create_task(
                asyncio.to_thread(_write_archive, write_fd, source, placement, meter, warn, stop)
            )
            sent = cut = False
            try:
                await _pipe_to_channel(read_fd, process, meter)
                sent = True
            except (BrokenPipeError, ConnectionError):
                cut = True  # the workspace's end closed: its exit status says why, below
            finally:
                if not sent:  # the channel closed, the copy failed or was cancelled
                    stop.set()
                    await _drain(read_fd)
                os.close(read_fd)
                await asyncio.gather(writer, return_exceptions=True)
            if not cut:
                writer.result()  # the local side's own failure first (a file vanished...)
            await process.wait_closed()
            err, _ = await asyncio.gather(errors, drained)
            if process.exit_status is None and not process.exit_signal:
                raise _connection_failed(conn, "the connection closed before the copy finished")
            code = exit_code_of(process)
            if code != 0 or cut:
                raise _tar_failed(code, err, f"copying to {placement.target} failed")
    except OSError as exc:
        raise _sync_failed(f"copying {path} failed: {exc}") from exc
    except _asyncssh_errors() as exc:
        raise _connection_failed(conn, str(exc) or type(exc).__name__) from exc
    return TransferStats(files=meter.files, bytes=meter.bytes, method=TAR_METHOD)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


# ---- download -------------------------------------------------------------------------------


async def _channel_to_pipe(process: Any, fd: int, meter: _Meter) -> None:
    try:
        while chunk := await process.stdout.read(CHUNK):
            await run_blocking(_write_all, fd, chunk)
            meter.report()
    except BrokenPipeError:
        pass  # the extractor stopped (it says why)
    finally:
        os.close(fd)


def _extract(
    fd: int, placement: Placement, top: str, meter: _Meter, warn: Callable[[str], None]
) -> tuple[int, int]:
    with os.fdopen(fd, "rb", buffering=CHUNK) as stream:
        return extract_stream(
            stream,
            Path(placement.parent),
            placement.name,
            top,
            warn=warn,
            on_file=meter.count,
        )


def plan_download(source: Source, local: Path | str) -> Placement:
    """Where ``source`` lands under the local destination (``docker cp`` rules)."""
    dest = local_path_text(local)
    target = bare(dest)
    parent = os.path.dirname(os.path.normpath(target)) or "/"
    return place(source, dest, local_kind(target, follow=True), os.path.isdir(parent))


async def download(
    conn: SSHConnection,
    remote: str,
    local: Path | str,
    *,
    progress: Progress | None = None,
) -> TransferStats:
    """Copy the workspace's file or folder ``remote`` (absolute) to ``local``, as ``docker cp``.

    Nothing the workspace sends lands outside the destination, no symlink is followed, no
    device file or setuid bit is made here."""
    meter = _Meter(progress, "received")
    warn = progress.warn if progress is not None else (lambda message: None)
    try:
        async with _Session(conn) as session:
            # "x/." keeps the dot: a symlink to a folder is then looked at as the folder
            probe = remote if remote in ("/", "/.") else remote.rstrip("/")
            kind, _ = await session.kind(probe, follow=False)
            source = source_of(remote, kind)
            placement = plan_download(source, local)
            top = f"./{source.top}" if source.top.startswith("-") else source.top
            process = await session.process(
                f"tar -c -f - -C {shlex.quote(source.folder)} {shlex.quote(top)}"
            )
            process.stdin.write_eof()
            read_fd, write_fd = _pipe()
            extractor = asyncio.create_task(
                asyncio.to_thread(_extract, read_fd, placement, source.top, meter, warn)
            )
            errors = asyncio.create_task(process.stderr.read())
            try:
                await _channel_to_pipe(process, write_fd, meter)
                await asyncio.wait([extractor])
                if extractor.exception() is None:
                    await process.wait_closed()  # its exit status tells a complete archive
            finally:
                if not extractor.done():  # cancelled: let the thread see the end of the stream
                    await asyncio.gather(extractor, return_exceptions=True)
                process.close()
            err = await errors
            try:
                files, size = extractor.result()
            except UnsafeArchive as exc:
                raise _sync_failed(
                    f"the workspace sent an unsafe archive: {exc}; nothing was written outside "
                    f"{placement.target}",
                    "Look at what the workspace holds at that path (links, odd names).",
                ) from None
            except tarfile.TarError as exc:
                code = exit_code_of(process)
                if code != 0:
                    raise _tar_failed(code, err, f"copying {remote} failed") from exc
                raise _sync_failed(f"the archive from the workspace is damaged: {exc}") from exc
            code = exit_code_of(process)
            if code == 1 and err:  # GNU tar: a file changed while it was read; the rest arrived
                warn(err.decode(errors="replace").strip()[-400:])
            elif code != 0:
                raise _tar_failed(code, err, f"copying {remote} failed")
    except OSError as exc:
        raise _sync_failed(f"copying {remote} failed: {exc}") from exc
    except _asyncssh_errors() as exc:
        raise _connection_failed(conn, str(exc) or type(exc).__name__) from exc
    return TransferStats(files=files, bytes=size, method=TAR_METHOD)


async def count_remote_files(conn: SSHConnection, remote: str) -> int:
    """How many regular files are at or under ``remote`` in the workspace (0 when missing)."""
    script = f"find {shlex.quote(remote)} -type f 2>/dev/null | wc -l"
    try:
        async with _Session(conn) as session:
            _, out, _ = await session.output(script)
    except _asyncssh_errors() as exc:
        raise _connection_failed(conn, str(exc) or type(exc).__name__) from exc
    text = out.decode(errors="replace").strip()
    return int(text) if text.isdigit() else 0


def count_local_files(local: Path | str) -> int:
    """How many regular files are at or under ``local`` (symlinks not followed; blocking)."""
    path = local_path_text(local).rstrip("/") or "/"
    if not os.path.isdir(path) or os.path.islink(path):
        return 1 if os.path.isfile(path) and not os.path.islink(path) else 0
    count = 0
    for _, _, files in os.walk(path):
        count += len(files)
    return count


def _asyncssh_errors() -> type[Exception]:
    import asyncssh

    return asyncssh.Error


# ---- the per-file SFTP baseline ---------------------------------------------------------------
async def _sftp_kind(sftp: Any, path: str) -> Kind:
    import asyncssh

    try:
        attrs = await sftp.stat(path)
    except asyncssh.SFTPNoSuchFile:
        return Kind.OTHER if await sftp.islink(path) else Kind.MISSING
    return Kind.DIR if stat.S_ISDIR(attrs.permissions or 0) else Kind.OTHER


async def upload_sftp_per_file(
    conn: SSHConnection, local: Path | str, remote: str
) -> TransferStats:
    """The same copy as ``upload``, one SFTP request sequence per file (the slow baseline)."""
    import asyncssh

    path = local_path_text(local)
    source = source_of(path, local_kind(path.rstrip("/") or "/", follow=False))
    files = size = 0
    try:
        async with _Session(conn) as session:
            assert session.client is not None
            async with session.client.start_sftp_client() as sftp:
                kind = await _sftp_kind(sftp, remote)
                parent = posixpath.dirname(posixpath.normpath(remote)) or "/"
                placement = place(source, remote, kind, await sftp.isdir(parent))
                for local_entry, name, info in walk_source(source, placement):
                    target = posixpath.join(placement.parent, name)
                    if stat.S_ISDIR(info.st_mode):
                        if not await sftp.isdir(target):
                            await sftp.mkdir(target)
                        await sftp.chmod(target, stat.S_IMODE(info.st_mode))
                    elif stat.S_ISLNK(info.st_mode):
                        if await sftp.islink(target) or await sftp.exists(target):
                            await sftp.remove(target)
                        await sftp.symlink(os.readlink(local_entry), target)
                    elif stat.S_ISREG(info.st_mode):
                        await sftp.put(local_entry, target, preserve=True)
                        files, size = files + 1, size + info.st_size
    except asyncssh.SFTPError as exc:
        raise _sync_failed(f"copying {path} over SFTP failed: {exc.reason}") from exc
    except OSError as exc:
        raise _sync_failed(f"copying {path} failed: {exc}") from exc
    except asyncssh.Error as exc:
        raise _connection_failed(conn, str(exc) or type(exc).__name__) from exc
    return TransferStats(files=files, bytes=size, method="sftp")
