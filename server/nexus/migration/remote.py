"""Running one script in a workspace over Nexus's SSH exec, with a file or a byte stream as its
input and a file as its output (both streamed, never held in memory)."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..access import exec as ssh_exec
from ..domain.errors import ErrorCode, NexusError

if TYPE_CHECKING:
    from ..domain.models import SSHConnection, Workspace
    from ..service.workspaces import WorkspaceService


class Writer(Protocol):
    """Where a command's stdout goes when it is not captured (a file, a guarded file)."""

    def write(self, chunk: bytes, /) -> object: ...


MAX_CAPTURE = 1 << 16  # bytes of stdout / stderr kept when they are not written to a file


@dataclass
class Outcome:
    code: int
    out: bytes
    err: bytes

    def error_text(self) -> str:
        return self.err.decode("utf-8", errors="replace").strip()[-800:]


class _Capture:
    def __init__(self) -> None:
        self.data = bytearray()

    def __call__(self, chunk: bytes) -> None:
        room = MAX_CAPTURE - len(self.data)
        if room > 0:
            self.data += chunk[:room]


def _feed(write_fd: int, chunks: Iterator[bytes]) -> None:
    """Write ``chunks`` into the pipe (a worker thread); stops when the reader went away."""
    try:
        with os.fdopen(write_fd, "wb", buffering=0) as pipe:
            for chunk in chunks:
                view = memoryview(chunk)
                while view:
                    view = view[pipe.write(view) or 0 :]
    except (BrokenPipeError, OSError):
        return


class Remote:
    """One workspace's exec endpoint; a token the gateway refused is renewed once (it is refused
    at login, before the command ran, so running it again is safe)."""

    def __init__(
        self, service: WorkspaceService, workspace: Workspace, conn: SSHConnection
    ) -> None:
        self.service = service
        self.workspace = workspace
        self.conn = conn

    async def run(
        self,
        script: str,
        *args: str,
        stdin: Callable[[], Iterator[bytes]] | None = None,
        stdout: Writer | None = None,
    ) -> Outcome:
        try:
            return await self._run(script, args, stdin, stdout)
        except NexusError as error:
            if error.code != ErrorCode.SSH_AUTH_REJECTED or self.conn.key_auth:
                raise
        self.conn = await self.service.connection(self.workspace, renew=True)
        return await self._run(script, args, stdin, stdout)

    async def _run(
        self,
        script: str,
        args: tuple[str, ...],
        stdin: Callable[[], Iterator[bytes]] | None,
        stdout: Writer | None,
    ) -> Outcome:
        out, err = _Capture(), _Capture()
        reader: asyncio.StreamReader | None = None
        transport: asyncio.BaseTransport | None = None
        feeder: threading.Thread | None = None
        if stdin is not None:
            loop = asyncio.get_running_loop()
            read_fd, write_fd = os.pipe()
            reader = asyncio.StreamReader(limit=1 << 20)
            transport, _ = await loop.connect_read_pipe(
                lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", buffering=0)
            )
            feeder = threading.Thread(target=_feed, args=(write_fd, stdin()), daemon=True)
            feeder.start()

        def write_out(chunk: bytes) -> None:
            assert stdout is not None
            stdout.write(chunk)

        try:
            code = await ssh_exec.run(
                self.conn,
                ["sh", "-c", script, "nexus-migrate", *args],
                stdout=write_out if stdout is not None else out,
                stderr=err,
                stdin=reader,
                workdir=self.workspace.remote_path,
            )
        finally:
            if transport is not None:
                transport.close()  # a feeder still writing gets EPIPE and ends
            if feeder is not None:
                await asyncio.get_running_loop().run_in_executor(None, feeder.join)
        return Outcome(code, bytes(out.data), bytes(err.data))


def file_chunks(path: Path, chunk: int = 1 << 20) -> Callable[[], Iterator[bytes]]:
    def chunks() -> Iterator[bytes]:
        with path.open("rb") as handle:
            while data := handle.read(chunk):
                yield data

    return chunks
