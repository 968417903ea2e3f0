"""Bytes both ways between two streams until both sides are done (or one fails)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Protocol

CHUNK = 65536


class Reader(Protocol):
    async def read(self, n: int = -1) -> bytes: ...


class Writer(Protocol):
    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    def can_write_eof(self) -> bool: ...

    def write_eof(self) -> None: ...

    def close(self) -> None: ...


async def pump(reader: Reader, writer: Writer) -> None:
    """Copy until end of file, then pass the end of file on (a half-close, not a close)."""
    while chunk := await reader.read(CHUNK):
        writer.write(chunk)
        await writer.drain()
    with contextlib.suppress(Exception):  # the other side may be gone already
        if writer.can_write_eof():
            writer.write_eof()


def close_quietly(writer: Any) -> None:
    with contextlib.suppress(Exception):
        writer.close()


async def relay(a: tuple[Reader, Writer], b: tuple[Reader, Writer]) -> None:
    """Relay ``a`` <-> ``b``: a half-close travels on; an error on either side ends both."""
    tasks = [
        asyncio.create_task(pump(a[0], b[1])),
        asyncio.create_task(pump(b[0], a[1])),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        close_quietly(a[1])
        close_quietly(b[1])
