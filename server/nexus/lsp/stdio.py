"""This process's stdin/stdout as asyncio streams, for an editor speaking LSP through them."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from typing import BinaryIO


def _is_pipe(stream: BinaryIO) -> bool:
    mode = os.fstat(stream.fileno()).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


class _ThreadWriter:
    """Blocking writes in a worker thread (stdout that is a file or a terminal)."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def write(self, data: bytes) -> None:
        self._stream.write(data)

    async def drain(self) -> None:
        await asyncio.to_thread(self._stream.flush)


async def _thread_reader(stream: BinaryIO, reader: asyncio.StreamReader) -> None:
    while chunk := await asyncio.to_thread(stream.read, 65536):
        reader.feed_data(chunk)
    reader.feed_eof()


async def open_stdio() -> tuple[asyncio.StreamReader, asyncio.StreamWriter | _ThreadWriter]:
    """(stdin, stdout) as a reader and a writer; pipes and sockets without threads."""
    loop = asyncio.get_running_loop()
    # copies of the descriptors: the transports close what they are given when they end, and
    # sys.stdout must stay open for the exit's flush
    stdin = os.fdopen(os.dup(sys.stdin.fileno()), "rb", buffering=0)
    stdout = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
    reader = asyncio.StreamReader(limit=2**24)
    if _is_pipe(stdin):
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), stdin)
    else:
        _keep.append(loop.create_task(_thread_reader(stdin, reader)))
    if not _is_pipe(stdout):
        return reader, _ThreadWriter(stdout)
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, stdout)
    return reader, asyncio.StreamWriter(transport, protocol, None, loop)


_keep: list[asyncio.Task[None]] = []  # the reader threads' tasks, alive until the loop ends
