"""The local end of a preview: a listener on 127.0.0.1 that hands each connection to a handler
and, when closed, ends the connections it is still serving."""

from __future__ import annotations

import asyncio
import contextlib
import errno
from collections.abc import Awaitable, Callable

from ..domain.errors import ErrorCode, NexusError

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
HOST = "127.0.0.1"


class LocalServer:
    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = asyncio.Event()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._handler(reader, writer)
        except (Exception, asyncio.CancelledError):  # the preview closing, or one broken
            pass  # connection: neither ends the others
        finally:
            self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def start(self, port: int | None, preferred: int | None = None) -> None:
        """Listen on ``port`` (0: any free one); without one, on ``preferred`` when it is free,
        else on any free port."""
        if port is not None:
            try:
                self._server = await asyncio.start_server(self._serve, HOST, port)
            except OSError as exc:
                reason = "in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
                raise NexusError(
                    ErrorCode.INVALID_ARGUMENT,
                    f"cannot listen on {HOST}:{port}: {reason}",
                    "Choose another local port, or leave it out to get a free one.",
                    options=("local_port",),
                ) from None
            return
        if preferred is not None:
            with contextlib.suppress(OSError):
                self._server = await asyncio.start_server(self._serve, HOST, preferred)
                return
        self._server = await asyncio.start_server(self._serve, HOST, 0)

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        self._closed.set()
