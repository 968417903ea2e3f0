"""Reading the client's messages from stdin on the event loop itself.

pygls's ``StdinAsyncReader`` hands every header line and every body to a worker thread: three
thread hops per message. When stdin is a pipe or a socket (as editors start the sidecar), the
loop can read it directly; anything else (a file, a terminal) keeps pygls's reader, so a
terminal is never switched to non-blocking mode.
"""

from __future__ import annotations

import asyncio
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO, Protocol

from pygls.io_ import StdinAsyncReader


class AsyncReader(Protocol):
    async def readline(self) -> bytes: ...

    async def readexactly(self, n: int) -> bytes: ...


class PipeReader:
    """pygls's reader interface over an ``asyncio.StreamReader``; ``b""`` at end of input."""

    def __init__(self, stream: asyncio.StreamReader, transport: asyncio.ReadTransport) -> None:
        self._stream = stream
        self.transport = transport

    async def readline(self) -> bytes:
        try:
            return await self._stream.readline()
        except ValueError:
            # a line longer than the buffer limit (dropped by the stream): junk outside any
            # frame, passed on as a line that is not a header, like any other junk
            return b"\x00\n"

    async def readexactly(self, n: int) -> bytes:
        try:
            return await self._stream.readexactly(n)
        except asyncio.IncompleteReadError as exc:
            return exc.partial

    def close(self) -> None:
        self.transport.close()


def _is_pipe(stdin: BinaryIO) -> bool:
    try:
        mode = os.fstat(stdin.fileno()).st_mode
    except (OSError, ValueError, AttributeError):  # no file descriptor (e.g. an in-memory stream)
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


async def stdin_reader(
    stdin: BinaryIO, executor: ThreadPoolExecutor
) -> PipeReader | StdinAsyncReader:
    """A reader for ``stdin``: on the loop for a pipe or socket, through ``executor`` otherwise."""
    if not _is_pipe(stdin):
        return StdinAsyncReader(stdin, executor)
    loop = asyncio.get_running_loop()
    stream = asyncio.StreamReader(loop=loop)
    try:
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(stream, loop=loop), stdin
        )
    except (OSError, ValueError):  # a descriptor this loop cannot watch
        return StdinAsyncReader(stdin, executor)
    return PipeReader(stream, transport)
