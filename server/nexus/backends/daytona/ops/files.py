"""``file upload|download``: files and folders through the Daytona File API (PRD §4.2).

What lands where follows ``docker cp`` (``nexus.access.transfer_paths``, as ``nexus workspace
cp``): a folder copied to an existing folder goes inside it, to a new path it is created there.
Folders are walked here; files travel in batches (one multipart request each), folders are made
with the File API, modes are set with it afterwards (the daemon creates files 0644). Every copy is
checked after it lands: the workspace lists the tree with each file's size, mode and sha256, and
each one must match the source (``verified`` in the result). Symlinks are made with ``ln -s``
through the Process API (the File API has no call for them).

When the File API cannot serve the copy (down, not answering, 5xx), the same copy goes as a tar
stream over SSH (``ctx.upload``/``ctx.download``) and is checked the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import posixpath
import shlex
import shutil
import stat
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from pydantic import Field

from ....access.transfer_paths import bare
from ....asyncutil import run_blocking
from ....domain.errors import ErrorCode, NexusError
from ....domain.kinds import BackendType
from ....domain.provider import (
    EscapeHatchUnavailable,
    OpContext,
    OpParams,
    OpResult,
    operation,
)
from .toolbox import (
    failure,
    home_of,
    resolve_remote,
    started_sandbox,
    toolbox_call,
    workspace_of,
)

if TYPE_CHECKING:
    from ....access.transfer_paths import Kind, Placement, Source
    from ....domain.progress import Progress

BATCH_FILES = 500  # files per bulk-upload / bulk-download request
BATCH_BYTES = 64 << 20  # ... and bytes
STREAM_BYTES = 16 << 20  # a file this large goes alone, streamed, its progress shown as it goes
REPORT_EVERY = 0.25  # seconds between progress lines of one streamed file
HASH_CHUNK = 1 << 20
FILE_API = "file-api"
TAR_SSH = "tar-ssh"

# (exit code, stdout) of a shell script run in the workspace
Runner = Callable[[str], Awaitable[tuple[int, bytes]]]
Components = tuple[str, ...]  # a path below the copy's target, () for the target itself


class FileUploadParams(OpParams):
    local_path: str = Field(description="The local file or folder to copy.")
    remote_path: str = Field(
        description="Where it goes in the workspace (relative: from the workspace folder)."
    )


class FileDownloadParams(OpParams):
    remote_path: str = Field(
        description="The workspace file or folder to copy (relative: from the workspace folder)."
    )
    local_path: str = Field(description="Where it goes on this machine.")


# ---- both sides, described the same way ---------------------------------------------------
@dataclass
class Entry:
    kind: str  # "d" folder, "f" regular file, "l" symlink
    mode: int  # permission bits (stat.S_IMODE)
    size: int = 0
    sha256: str | None = None
    link: str = ""  # a symlink's target
    path: str = ""  # where it is on its side (local or workspace path)


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _listing_script(parent: str, top: str) -> str:
    """List ``parent/top`` and everything below it: type, mode, size, link target and path,
    then ``sha256sum`` of every regular file; NUL-terminated records. Exit 3: nothing there."""
    where = shlex.quote(parent)
    name = shlex.quote(f"./{top}" if top != "." else ".")
    return (
        f"cd {where} 2>/dev/null || exit 3\n"
        f"[ -e {name} ] || [ -L {name} ] || exit 3\n"
        f"find {name} -printf 'E\\t%y\\t%m\\t%s\\t%l\\t%p\\0' 2>/dev/null\n"
        f"find {name} -type f -exec sha256sum -z -- {{}} + 2>/dev/null\n"
        "exit 0\n"
    )


def _components(path: str, top: str) -> Components:
    """The listed ``path`` below ``top`` as components. The listing comes from the workspace,
    which may forge it: a path that is absolute, holds ``..`` or is not under ``top`` refuses
    the whole copy (it would name a place outside the destination on this machine)."""
    from ....access.transfer_paths import member_target

    parts = member_target(path, top)
    if parts is None:
        raise _unsafe(f"the workspace listed {path!r}, which is not a path inside {top!r}")
    return parts


def _unsafe(reason: str) -> NexusError:
    return NexusError(
        ErrorCode.SYNC_FAILED,
        f"refused the copy: {reason}",
        "Nothing was written outside the destination; look at what runs in the workspace.",
    )


def _check_parents(entries: dict[Components, Entry]) -> None:
    """Every listed entry sits in a listed folder: nothing is written through a symlink or
    into a place the listing did not say is a folder."""
    for key in entries:
        if key and (key[:-1] not in entries or entries[key[:-1]].kind != "d"):
            raise _unsafe(f"the workspace listed {'/'.join(key)!r} outside any listed folder")


def _parse_listing(output: bytes, top: str, parent: str) -> dict[Components, Entry]:
    entries: dict[Components, Entry] = {}
    hashes: dict[Components, str] = {}
    for record in output.split(b"\0"):
        text = record.decode(errors="surrogateescape").lstrip("\n")
        if text.startswith("E\t") and text.count("\t") >= 5:
            _, kind, mode, size, link, path = text.split("\t", 5)
            parts = _components(path, top)
            if not mode.isdigit():
                continue
            entries[parts] = Entry(
                kind=kind,
                mode=int(mode, 8),
                size=int(size) if size.isdigit() else 0,
                link=link,
                path=posixpath.normpath(posixpath.join(parent, path)),
            )
        elif len(text) > 66 and text[64:66] == "  ":
            hashes[_components(text[66:], top)] = text[:64]
    for parts, digest in hashes.items():
        if parts in entries:
            entries[parts].sha256 = digest
    _check_parents(entries)
    return entries


async def _remote_tree(run: Runner, target: str, top: str | None = None) -> dict[Components, Entry]:
    """What is at ``target`` in the workspace (empty when nothing is); ``top`` "." lists a
    folder's contents as ``target``'s own."""
    parent, base = posixpath.split(target.rstrip("/") or "/")
    if top == ".":
        parent, base = target, "."
    code, output = await run(_listing_script(parent or "/", base or "."))
    if code == 3:
        return {}
    if code != 0:
        raise NexusError(
            ErrorCode.DAYTONA_ERROR,
            f"could not list {target} in the workspace (exit {code}): "
            f"{output.decode(errors='replace').strip()[-300:]}",
            "Retry; if it persists, check the workspace with `nexus workspace exec`.",
        )
    return _parse_listing(output, base or ".", parent or "/")


def _local_entries(
    source: Source, placement: Placement, warn: Callable[[str], None]
) -> dict[Components, Entry]:
    """Every entry of the local source (blocking: reads and hashes the files)."""
    from ....access.transfer import walk_source

    entries: dict[Components, Entry] = {}
    for path, name, info in walk_source(source, placement):
        parts = name.split("/")
        key = tuple(parts[1:]) if placement.name is not None else tuple(p for p in parts if p)
        mode = stat.S_IMODE(info.st_mode)
        if stat.S_ISDIR(info.st_mode):
            entries[key] = Entry("d", mode, path=path)
        elif stat.S_ISREG(info.st_mode):
            entries[key] = Entry("f", mode, info.st_size, _sha256(path), path=path)
        elif stat.S_ISLNK(info.st_mode):
            entries[key] = Entry("l", mode, link=os.readlink(path), path=path)
        else:
            warn(f"skipped {path}: devices, fifos and sockets are not copied")
    return entries


def _mismatches(
    expected: dict[Components, Entry], found: dict[Components, Entry]
) -> tuple[list[str], list[Components]]:
    """(what differs in content, entries whose mode differs)."""
    problems: list[str] = []
    modes: list[Components] = []
    for key, want in expected.items():
        name = "/".join(key) or "."
        got = found.get(key)
        if got is None or got.kind != want.kind:
            problems.append(f"{name}: missing")
        elif want.kind == "f" and got.size != want.size:
            problems.append(f"{name}: {got.size} bytes, expected {want.size}")
        elif want.kind == "f" and got.sha256 != want.sha256:
            problems.append(f"{name}: sha256 differs")
        elif want.kind == "l" and got.link != want.link:
            problems.append(f"{name}: links to {got.link}, expected {want.link}")
        elif want.kind != "l" and got.mode != want.mode:
            modes.append(key)
    return problems, modes


def _check(problems: list[str], target: str) -> None:
    if problems:
        shown = "; ".join(problems[:5]) + (f" (and {len(problems) - 5} more)" * (len(problems) > 5))
        raise NexusError(
            ErrorCode.SYNC_FAILED,
            f"the copy at {target} does not match its source: {shown}",
            "Retry the copy; if it persists, check the free space on both sides.",
        )


def _batches(files: list[tuple[str, str, int]]) -> Iterator[list[tuple[str, str, int]]]:
    batch: list[tuple[str, str, int]] = []
    size = 0
    for item in files:
        if batch and (
            len(batch) >= BATCH_FILES or size + item[2] > BATCH_BYTES or item[2] >= STREAM_BYTES
        ):
            yield batch
            batch, size = [], 0
        if item[2] >= STREAM_BYTES:
            yield [item]
            continue
        batch.append(item)
        size += item[2]
    if batch:
        yield batch


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def _count(files: int) -> str:
    return f"{files} file{'s' * (files != 1)}"


def _totals(entries: dict[Components, Entry]) -> tuple[int, int]:
    files = [e for e in entries.values() if e.kind == "f"]
    return len(files), sum(e.size for e in files)


def _result(
    verb: str, source: str, target: str, entries: dict[Components, Entry], method: str
) -> OpResult:
    files, size = _totals(entries)
    data = {
        "source": source,
        "destination": target,
        "files": files,
        "bytes": size,
        "verified": True,
        "method": method,
    }
    how = "the Daytona File API" if method == FILE_API else "tar over SSH"
    line = (
        f"{verb} {_count(files)} ({_human(size)}) to {target} through {how}; "
        "sizes, sha256 and modes checked"
    )
    return OpResult(data=data, lines=[line])


class _Meter:
    def __init__(self, progress: Progress, verb: str, files: int, size: int) -> None:
        self.progress, self.verb, self.total_files, self.total = progress, verb, files, size
        self.files = self.bytes = 0

    def add(self, files: int, size: int) -> None:
        self.files += files
        self.bytes += size
        self.show(0)

    def show(self, pending: int) -> None:
        """Report, counting ``pending`` bytes of a file still on its way."""
        done = self.bytes + pending
        percent = int(100 * done / self.total) if self.total else 100
        self.progress.detail(
            f"{self.verb} {self.files}/{self.total_files} files, "
            f"{_human(done)} of {_human(self.total)}",
            percent,
        )


# ---- the workspace side through the SDK ---------------------------------------------------
def _process_runner(sandbox: Any) -> Runner:
    async def run(script: str) -> tuple[int, bytes]:
        response = await toolbox_call(
            partial(sandbox.process.exec, script), "list the files in the workspace"
        )
        return int(response.exit_code), str(response.result or "").encode(errors="surrogateescape")

    return run


def _ssh_runner(ctx: OpContext) -> Runner:
    async def run(script: str) -> tuple[int, bytes]:
        code, out, _ = await ctx.exec(["sh", "-c", script])
        return code, out

    return run


def _remote_kind(sandbox: Any, path: str) -> Kind:
    """What is at ``path`` (followed), through the File API (blocking)."""
    import daytona

    from ....access.transfer_paths import Kind

    try:
        info = sandbox.fs.get_file_info(path)
    except daytona.DaytonaNotFoundError:
        return Kind.MISSING
    return Kind.DIR if info.is_dir else Kind.OTHER


def _local_source(local_path: str) -> tuple[str, Source]:
    from ....access.transfer import local_kind, local_path_text
    from ....access.transfer_paths import source_of

    text = local_path_text(os.path.expanduser(local_path))
    return text, source_of(text, local_kind(bare(text), follow=False))


async def _home_over_ssh(ctx: OpContext) -> str:
    code, out, err = await ctx.exec(["sh", "-c", 'printf %s "$HOME"'])
    if code != 0 or not out:
        raise NexusError(
            ErrorCode.SSH_CONNECTION_FAILED,
            f"could not read the user's home folder over SSH: {err.decode(errors='replace')}",
            "Check the workspace with `nexus workspace exec NAME -- true`.",
        )
    return out.decode(errors="replace").rstrip("/") or "/"


async def _remote_kind_over_ssh(ctx: OpContext, path: str) -> tuple[Kind, bool]:
    """What is at ``path`` (followed) and whether its parent is a folder, over SSH."""
    from ....access.transfer import kind_script, parse_kind

    code, out, err = await ctx.exec(["sh", "-c", kind_script(path, follow=True)])
    return parse_kind(path, code, out, err)


# ---- upload -------------------------------------------------------------------------------
async def _upload_over_ssh(ctx: OpContext, params: FileUploadParams) -> OpResult:
    from ....access.transfer_paths import Kind, place

    workspace = workspace_of(ctx)
    local_text, source = await run_blocking(_local_source, params.local_path)
    home = await _home_over_ssh(ctx)
    dest = resolve_remote(params.remote_path, workspace.remote_path, lambda: home)
    kind, parent_is_dir = await _remote_kind_over_ssh(ctx, bare(dest))
    placement = place(source, dest, kind, parent_is_dir or kind is not Kind.MISSING)
    expected = await run_blocking(_local_entries, source, placement, ctx.progress.warn)
    # a str keeps a trailing "/." (copy a folder's contents), which a Path would drop
    await ctx.upload(local_text, dest)
    run = _ssh_runner(ctx)
    top = "." if placement.name is None else None
    found = await _remote_tree(run, placement.target, top)
    problems, modes = _mismatches(expected, found)
    _check(problems, placement.target)
    if modes:
        script = "\n".join(
            f"chmod {expected[k].mode:o} -- {shlex.quote(found[k].path)}"
            for k in sorted(modes, key=len, reverse=True)
        )
        code, out = await run(script)
        if code != 0:
            _check([out.decode(errors="replace").strip() or "chmod failed"], placement.target)
    return _result("Uploaded", local_text, placement.target, expected, TAR_SSH)


@operation(
    BackendType.DAYTONA,
    "file",
    "upload",
    capability="supports_file_api",
    params=FileUploadParams,
    summary="Copy a local file or folder into the workspace through the Daytona File API.",
    positional=("local_path", "remote_path"),
    fallback=_upload_over_ssh,
    fallback_label="tar over SSH",
)
async def upload(ctx: OpContext, params: FileUploadParams) -> OpResult:
    from ....access.transfer_paths import Kind, place

    workspace = workspace_of(ctx)
    local_text, source = await run_blocking(_local_source, params.local_path)
    sandbox = await started_sandbox(ctx)
    home = home_of(sandbox)

    def plan() -> tuple[Placement, Kind]:
        import daytona

        dest = resolve_remote(params.remote_path, workspace.remote_path, home)
        try:
            kind = _remote_kind(sandbox, bare(dest))
            parent_is_dir = kind is not Kind.MISSING or (
                _remote_kind(sandbox, posixpath.dirname(bare(dest)) or "/") is Kind.DIR
            )
        except daytona.DaytonaError as exc:
            raise failure(exc, f"look at {dest} in the workspace") from None
        return place(source, dest, kind, parent_is_dir), kind

    placement, dest_kind = await run_blocking(plan)
    ctx.progress.step("upload", f"Reading {local_text}")
    expected = await run_blocking(_local_entries, source, placement, ctx.progress.warn)
    files_total, bytes_total = _totals(expected)
    ctx.progress.step(
        "upload",
        f"Uploading {_count(files_total)} ({_human(bytes_total)}) through the Daytona File API",
    )
    try:
        await _write_through_api(sandbox, expected, placement, ctx.progress)
    except EscapeHatchUnavailable:
        if dest_kind is Kind.MISSING:
            # what got there would make the fallback copy into it instead of to it
            with contextlib.suppress(Exception):
                await ctx.exec(["rm", "-rf", "--", placement.target])
        raise
    return _result("Uploaded", local_text, placement.target, expected, FILE_API)


async def _write_through_api(
    sandbox: Any, expected: dict[Components, Entry], placement: Placement, progress: Progress
) -> None:
    target = placement.target
    files_total, bytes_total = _totals(expected)

    def remote(key: Components) -> str:
        return posixpath.join(target, *key) if key else target

    # folders that hold no file are made explicitly; the others come with their files
    has_files = {key[:i] for key, e in expected.items() if e.kind == "f" for i in range(len(key))}
    empty = [k for k, e in expected.items() if e.kind == "d" and k not in has_files]
    for key in sorted(empty, key=len):
        folder = remote(key)
        await toolbox_call(partial(sandbox.fs.create_folder, folder, "755"), f"create {folder}")
    await _send_files(sandbox, expected, remote, progress, files_total, bytes_total)
    links = [(k, e) for k, e in expected.items() if e.kind == "l"]
    run = _process_runner(sandbox)
    if links:
        script = "\n".join(
            f"ln -sfn -- {shlex.quote(e.link)} {shlex.quote(remote(k))} || exit 1" for k, e in links
        )
        code, out = await run(script)
        if code != 0:
            _check([f"symlinks: {out.decode(errors='replace').strip()}"], target)
    progress.step("verify", f"Checking {target}")
    found = await _remote_tree(run, target, "." if placement.name is None else None)
    problems, modes = _mismatches(expected, found)
    _check(problems, target)
    for key in sorted(modes, key=len, reverse=True):  # deepest first: a 0500 folder comes last
        path, mode = remote(key), f"{expected[key].mode:o}"
        await toolbox_call(
            partial(sandbox.fs.set_file_permissions, path, mode=mode),
            f"set the mode of {path}",
        )


async def _send_files(
    sandbox: Any,
    expected: dict[Components, Entry],
    remote: Callable[[Components], str],
    progress: Progress,
    files_total: int,
    bytes_total: int,
) -> None:
    from daytona import FileUpload, UploadProgress

    meter = _Meter(progress, "sent", files_total, bytes_total)
    files = [(e.path, remote(k), e.size) for k, e in expected.items() if e.kind == "f"]
    loop = asyncio.get_running_loop()
    for batch in _batches(files):
        if batch[0][2] >= STREAM_BYTES:
            local, dest, _ = batch[0]
            last = [0.0]

            def on_progress(sent: UploadProgress, last: list[float] = last) -> None:
                if time.monotonic() - last[0] >= REPORT_EVERY:  # a worker thread: hand it over
                    last[0] = time.monotonic()
                    loop.call_soon_threadsafe(meter.show, sent.bytes_sent)

            call = partial(sandbox.fs.upload_file_stream, local, dest, on_progress=on_progress)
        else:
            uploads = [FileUpload(source=local, destination=dest) for local, dest, _ in batch]
            call = partial(sandbox.fs.upload_files, uploads)
        await toolbox_call(call, f"upload {len(batch)} file{'s' * (len(batch) != 1)}")
        meter.add(len(batch), sum(size for _, _, size in batch))


# ---- download -----------------------------------------------------------------------------
def _local_target(placement: Placement, key: Components) -> str:
    return os.path.join(placement.target, *key) if key else placement.target


def _prepare_local(placement: Placement, found: dict[Components, Entry]) -> None:
    """Make the folders (owner-writable until the end) and clear symlinks in the way."""
    for key in sorted(found, key=len):
        entry, path = found[key], _local_target(placement, key)
        if key == () and placement.name is None:
            continue  # `src/.`: the destination folder exists and keeps its own mode
        if os.path.islink(path):
            os.unlink(path)  # never write through a link that was there before
        if entry.kind == "d":
            os.makedirs(path, mode=0o700, exist_ok=True)


def _finish_local(placement: Placement, found: dict[Components, Entry]) -> list[str]:
    """Make the symlinks, set the modes (deepest first), and check every file (blocking)."""
    problems: list[str] = []
    for key in sorted(found, key=len, reverse=True):
        entry, path = found[key], _local_target(placement, key)
        if key == () and placement.name is None:
            continue
        name = "/".join(key) or "."
        if entry.kind == "l":
            if os.path.lexists(path):
                os.unlink(path)
            os.symlink(entry.link, path)
        elif entry.kind == "f":
            if not os.path.isfile(path) or os.path.islink(path):
                problems.append(f"{name}: missing")
                continue
            os.chmod(path, entry.mode & 0o777)  # no setuid/setgid bits are made here
            size = os.path.getsize(path)
            if size != entry.size:
                problems.append(f"{name}: {size} bytes, expected {entry.size}")
            elif entry.sha256 is None or _sha256(path) != entry.sha256:
                problems.append(f"{name}: sha256 differs")
        elif entry.kind == "d" and not os.path.islink(path):
            os.chmod(path, entry.mode & 0o777)
    return problems


async def _download_plan(
    run: Runner, remote_text: str, local_path: str
) -> tuple[Source, Placement, dict[Components, Entry]]:
    from ....access.transfer import plan_download
    from ....access.transfer_paths import Kind, source_of

    listed = await _remote_tree(run, bare(remote_text))
    top = listed.get(())
    kind = Kind.MISSING if top is None else Kind.DIR if top.kind == "d" else Kind.OTHER
    source = source_of(remote_text, kind)
    local_text = os.path.expanduser(local_path)
    placement = await run_blocking(plan_download, source, local_text)
    skipped = [k for k, e in listed.items() if e.kind not in ("d", "f", "l")]
    for key in skipped:
        del listed[key]
    return source, placement, listed


async def _download_over_ssh(ctx: OpContext, params: FileDownloadParams) -> OpResult:
    workspace = workspace_of(ctx)
    home = await _home_over_ssh(ctx)
    remote_text = resolve_remote(params.remote_path, workspace.remote_path, lambda: home)
    run = _ssh_runner(ctx)
    _, placement, found = await _download_plan(run, remote_text, params.local_path)
    await ctx.download(remote_text, os.path.expanduser(params.local_path))
    problems = await run_blocking(_finish_local, placement, found)
    _check(problems, placement.target)
    return _result("Downloaded", remote_text, placement.target, found, TAR_SSH)


@operation(
    BackendType.DAYTONA,
    "file",
    "download",
    capability="supports_file_api",
    params=FileDownloadParams,
    summary="Copy a workspace file or folder to this machine through the Daytona File API.",
    positional=("remote_path", "local_path"),
    fallback=_download_over_ssh,
    fallback_label="tar over SSH",
)
async def download(ctx: OpContext, params: FileDownloadParams) -> OpResult:
    from daytona import FileDownloadRequest

    workspace = workspace_of(ctx)
    sandbox = await started_sandbox(ctx)
    home = home_of(sandbox)
    remote_text = await run_blocking(
        resolve_remote, params.remote_path, workspace.remote_path, home
    )
    run = _process_runner(sandbox)
    _, placement, found = await _download_plan(run, remote_text, params.local_path)
    files_total, bytes_total = _totals(found)
    ctx.progress.step(
        "download",
        f"Downloading {_count(files_total)} ({_human(bytes_total)}) through the Daytona File API",
    )
    fresh = placement.name is not None and not os.path.lexists(placement.target)
    await run_blocking(_prepare_local, placement, found)
    meter = _Meter(ctx.progress, "received", files_total, bytes_total)
    files = [
        (e.path, _local_target(placement, k), e.size) for k, e in found.items() if e.kind == "f"
    ]
    try:
        for batch in _batches(files):
            requests = [FileDownloadRequest(source=src, destination=dst) for src, dst, _ in batch]
            answers = await toolbox_call(
                partial(sandbox.fs.download_files, requests),
                f"download {len(batch)} files",
            )
            errors = [f"{a.source}: {a.error}" for a in answers if a.error]
            _check(errors, placement.target)
            meter.add(len(batch), sum(size for _, _, size in batch))
    except EscapeHatchUnavailable:
        if fresh:  # made here: the fallback must find the destination as it was
            await run_blocking(shutil.rmtree, placement.target, ignore_errors=True)
        raise
    ctx.progress.step("verify", f"Checking {placement.target}")
    problems = await run_blocking(_finish_local, placement, found)
    _check(problems, placement.target)
    return _result("Downloaded", remote_text, placement.target, found, FILE_API)
