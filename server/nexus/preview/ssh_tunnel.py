"""A port inside the workspace over its SSH connection (a ``direct-tcpip`` channel per stream).

One SSH connection serves every stream of a preview; when it drops (the workspace restarted,
the network went away) the next stream connects again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..domain.errors import NexusError
from . import relay

if TYPE_CHECKING:
    import asyncssh

# where a dev server listens inside the workspace: IPv4 first, then IPv6 (a server bound to
# `localhost` may have picked ::1 alone)
LOOPBACK = ("127.0.0.1", "::1")
HEAD_TIMEOUT = 5.0


class Unreachable(Exception):
    """Nothing accepted the connection on the port (or the workspace itself is out of reach)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


Connect = Callable[[], Awaitable["asyncssh.SSHClientConnection"]]


async def _interactive(client: asyncssh.SSHClientConnection) -> None:
    """Hold an idle terminal session on the connection, so sshd treats it as interactive and
    turns Nagle off on its side (OpenSSH does for sessions with a terminal only).

    Without it, a response the server writes in two parts (headers, then body: most servers
    do) leaves sshd holding the second until this side's delayed ACK, some 40 ms per request.
    The session ends with the connection; where it cannot be opened the preview works all the
    same, only slower."""
    import asyncssh

    with contextlib.suppress(asyncssh.Error, OSError):
        await client.create_process("exec cat >/dev/null", term_type="dumb", encoding=None)


class SshTunnel:
    def __init__(self, connect: Connect, port: int) -> None:
        self._connect = connect
        self.port = port
        self._client: asyncssh.SSHClientConnection | None = None
        self._lock = asyncio.Lock()
        self._hosts = list(LOOPBACK)

    async def _connection(self, fresh: bool) -> asyncssh.SSHClientConnection:
        async with self._lock:
            if fresh and self._client is not None:
                relay.close_quietly(self._client)
                self._client = None
            if self._client is None or self._client.is_closed():
                try:
                    self._client = await self._connect()
                except NexusError as exc:
                    raise Unreachable(exc.message) from exc
                await _interactive(self._client)
            return self._client

    async def open(self) -> tuple[Any, Any]:
        """A stream to the port, from the first loopback address that accepts it."""
        import asyncssh

        last = "connection refused"
        for attempt in (1, 2):
            client = await self._connection(fresh=attempt == 2)
            try:
                for host in list(self._hosts):
                    try:
                        reader, writer = await client.open_connection(host, self.port)
                    except asyncssh.ChannelOpenError as exc:
                        last = (
                            "connection refused"
                            if exc.code == asyncssh.OPEN_CONNECT_FAILED
                            else exc.reason or str(exc)
                        )
                        continue
                    if host != self._hosts[0]:  # the next stream tries it first
                        self._hosts.remove(host)
                        self._hosts.insert(0, host)
                    return reader, writer
                raise Unreachable(last)
            except (asyncssh.Error, OSError) as exc:  # the SSH connection itself is gone
                last = str(exc) or type(exc).__name__
        raise Unreachable(f"the SSH connection failed: {last}")

    async def check(self) -> None:
        """Raise Unreachable unless something listens on the port now."""
        _, writer = await self.open()
        relay.close_quietly(writer)

    def close(self) -> None:
        if self._client is not None:
            relay.close_quietly(self._client)
            self._client = None


async def serve_connection(
    tunnel: SshTunnel, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, where: str
) -> None:
    """One accepted connection: relayed byte for byte (keep-alive, streaming and WebSocket
    upgrades pass as they are), or a 502 page when nothing answers on the port."""
    from . import pages

    try:
        upstream = await tunnel.open()
    except Unreachable as exc:
        # read the request head first: closing on an unread request resets the connection,
        # and the browser would show that instead of the page
        with contextlib.suppress(Exception):
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT)
        writer.write(pages.unreachable(tunnel.port, where, exc.reason))
        await writer.drain()
        relay.close_quietly(writer)
        return
    await relay.relay((reader, writer), upstream)
