"""SSH connections from the emulator into sandbox sshd (via the 127.0.0.1-published port)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncssh

log = logging.getLogger(__name__)


class Upstream:
    """Opens SSH connections to sandboxes with the emulator's own key.

    A shared connection per sandbox serves port forwards (preview proxy, direct-tcpip);
    the gateway opens one connection per interactive session so agent forwarding can be
    bound to the client that asked for it.
    """

    def __init__(self) -> None:
        self.key = asyncssh.generate_private_key("ssh-ed25519", comment="daytona-emulator")
        self.public_key = self.key.export_public_key().decode()
        self._shared: dict[str, asyncssh.SSHClientConnection] = {}
        self._forwards: dict[tuple[str, int], asyncssh.SSHListener] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def connect(
        self, port: int, user: str, *, agent_path: str | None = None, **kwargs: Any
    ) -> asyncssh.SSHClientConnection:
        return await asyncssh.connect(
            "127.0.0.1",
            port,
            username=user,
            client_keys=[self.key],
            known_hosts=None,
            agent_path=agent_path,
            agent_forwarding=agent_path is not None,
            config=None,
            connect_timeout=10,
            **kwargs,
        )

    async def wait_ready(self, port: int, user: str, timeout: float = 20.0) -> None:
        """Wait until the sandbox sshd accepts the emulator's key."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                conn = await self.connect(port, user)
            except (OSError, asyncssh.Error) as exc:
                if loop.time() > deadline:
                    raise TimeoutError(f"sandbox sshd not ready: {exc}") from exc
                await asyncio.sleep(0.1)
                continue
            conn.close()
            return

    async def shared(self, sandbox_id: str, port: int, user: str) -> asyncssh.SSHClientConnection:
        lock = self._locks.setdefault(sandbox_id, asyncio.Lock())
        async with lock:
            conn = self._shared.get(sandbox_id)
            if conn is not None and not conn.is_closed():
                return conn
            conn = await self.connect(port, user, keepalive_interval=30)
            self._shared[sandbox_id] = conn
            return conn

    async def local_forward(self, sandbox_id: str, ssh_port: int, user: str, port: int) -> int:
        """A 127.0.0.1 listener that reaches ``localhost:port`` inside the sandbox."""
        key = (sandbox_id, port)
        listener = self._forwards.get(key)
        conn = self._shared.get(sandbox_id)
        if listener is not None and conn is not None and not conn.is_closed():
            return listener.get_port()
        conn = await self.shared(sandbox_id, ssh_port, user)
        listener = await conn.forward_local_port("127.0.0.1", 0, "localhost", port)
        self._forwards[key] = listener
        return listener.get_port()

    def forget(self, sandbox_id: str) -> None:
        """Drop connections and forwards of a sandbox that stopped or was deleted."""
        for key in [k for k in self._forwards if k[0] == sandbox_id]:
            self._forwards.pop(key).close()
        conn = self._shared.pop(sandbox_id, None)
        if conn is not None:
            conn.close()

    async def close(self) -> None:
        for sandbox_id in list(self._shared):
            self.forget(sandbox_id)
        with contextlib.suppress(Exception):
            await asyncio.sleep(0)
