"""SSH gateway: the SSH access token is the user name; sessions are proxied into the sandbox sshd.

Like the real gateway (daytonaio/daytona apps/ssh-gateway/main.go) it accepts any user name at
authentication ("none" auth) and checks the token afterwards: an invalid, expired or revoked token,
or a sandbox that is not started, gets the connection closed without a message
(``EmulatorConfig.ssh_invalid_token = "close"``). ``"refuse"`` fails authentication instead.

Supported: exec (with exit status/signal), interactive shell with pty and window changes,
subsystems (sftp), direct-tcpip port forwarding, agent forwarding pass-through, signals/breaks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any, cast

import asyncssh
from asyncssh.forward import SSHForwarder
from asyncssh.packet import Boolean, String, UInt32

from .config import EmulatorConfig
from .faults import FaultInjector
from .state import Sandbox, Store
from .upstream import Upstream

log = logging.getLogger(__name__)


class _RedactTokens(logging.Filter):
    """asyncssh logs user names, and here the user name is an access token: mask it."""

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
            isinstance(a, str) and a in self.store.ssh_access for a in record.args
        ):
            record.args = tuple(
                "<token>" if isinstance(a, str) and a in self.store.ssh_access else a
                for a in record.args
            )
        return True


class SshGateway:
    def __init__(
        self,
        store: Store,
        upstream: Upstream,
        config: EmulatorConfig | None = None,
        faults: FaultInjector | None = None,
    ) -> None:
        self.store = store
        self.upstream = upstream
        self.config = config or EmulatorConfig()
        self.faults = faults or FaultInjector()
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.host = "127.0.0.1"
        self.port = 0
        self._server: asyncssh.SSHAcceptor | None = None
        self._connections: set[_GatewayConnection] = set()
        self._redact = _RedactTokens(store)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        logging.getLogger("asyncssh").addFilter(self._redact)
        self._server = await asyncssh.create_server(
            lambda: _GatewayConnection(self),
            host,
            port,
            server_host_keys=[self.host_key],
            encoding=None,
            agent_forwarding=True,
            allow_scp=False,
            x11_forwarding=False,
            login_timeout=30,
            keepalive_interval=30,
        )
        self.host = host
        self.port = self._server.get_port()

    async def stop(self) -> None:
        for connection in list(self._connections):
            connection.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        logging.getLogger("asyncssh").removeFilter(self._redact)

    def drop(self, sandbox_id: str) -> None:
        """Close the client connections of a sandbox that stops or goes away."""
        for connection in list(self._connections):
            if connection.sandbox is not None and connection.sandbox.id == sandbox_id:
                connection.close()

    def has_connections(self, sandbox_id: str) -> bool:
        return any(c.sandbox is not None and c.sandbox.id == sandbox_id for c in self._connections)

    def authorize(self, token: str) -> Sandbox | None:
        access = self.store.ssh_access_for(token)
        if access is None:
            return None
        sandbox = self.store.find(access.sandbox_id)
        if sandbox is None or sandbox.state != "started" or sandbox.ssh_port is None:
            return None
        return sandbox


class _GatewayConnection(asyncssh.SSHServer):
    def __init__(self, gateway: SshGateway) -> None:
        self.gateway = gateway
        self.conn: asyncssh.SSHServerConnection | None = None
        self.sandbox: Sandbox | None = None
        self._shared: asyncssh.SSHClientConnection | None = None
        self._shared_lock = asyncio.Lock()
        self._upstreams: set[asyncssh.SSHClientConnection] = set()

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        self.gateway._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.gateway._connections.discard(self)
        for upstream in list(self._upstreams):
            upstream.close()
        self._upstreams.clear()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()

    def begin_auth(self, username: str) -> bool:
        self.sandbox = self.gateway.authorize(username)
        if self.sandbox is None:
            if self.gateway.config.ssh_invalid_token == "refuse":
                log.info("ssh gateway: refused a login with an invalid or expired token")
                return True  # auth required, and no method can succeed
            return False  # like the real gateway: "none" auth succeeds, then the token is checked
        self.sandbox.touch()
        return False  # token accepted: no further client authentication

    def auth_completed(self) -> None:
        if self.sandbox is None and self.conn is not None:
            # the real gateway validates the token after the handshake and then closes the TCP
            # connection (no disconnect message): the client sees the connection drop
            log.info("ssh gateway: closed a connection with an invalid or expired token")
            asyncio.get_running_loop().call_soon(self.conn.abort)
        elif self.conn is not None and self.gateway.faults.take_ssh_close():
            # a valid token, but the sandbox's sshd does not answer yet: closed the same way
            log.info("ssh gateway: closed a connection, the sandbox sshd is not reachable yet")
            self.sandbox = None
            asyncio.get_running_loop().call_soon(self.conn.abort)

    # upstream connections ---------------------------------------------------
    async def open_upstream(self, agent_path: str | None = None) -> asyncssh.SSHClientConnection:
        assert self.sandbox is not None and self.sandbox.ssh_port is not None
        conn = await self.gateway.upstream.connect(
            self.sandbox.ssh_port, self.sandbox.user, agent_path=agent_path
        )
        self._upstreams.add(conn)
        return conn

    def release_upstream(self, conn: asyncssh.SSHClientConnection) -> None:
        self._upstreams.discard(conn)
        conn.close()

    async def shared_upstream(self) -> asyncssh.SSHClientConnection:
        async with self._shared_lock:
            if self._shared is None or self._shared.is_closed():
                self._shared = await self.open_upstream()
            return self._shared

    # channels ----------------------------------------------------------------
    def session_requested(self) -> asyncssh.SSHServerSession[bytes] | bool:
        if self.sandbox is None:
            return False  # a channel that raced the close
        return _ProxySession(self)

    def connection_requested(
        self, dest_host: str, dest_port: int, orig_host: str, orig_port: int
    ) -> Any:
        if self.sandbox is None:
            return False
        return self._forward_tcp(dest_host, dest_port)

    async def _forward_tcp(self, dest_host: str, dest_port: int) -> SSHForwarder:
        if self.sandbox is not None:
            self.sandbox.touch()
        conn = await self.shared_upstream()
        try:
            factory = cast(Callable[[], asyncssh.SSHTCPSession[bytes]], SSHForwarder)
            _, peer = await conn.create_connection(factory, dest_host, dest_port)
        except asyncssh.ChannelOpenError:
            raise
        except (OSError, asyncssh.Error) as exc:
            raise asyncssh.ChannelOpenError(asyncssh.OPEN_CONNECT_FAILED, str(exc)) from exc
        return SSHForwarder(cast(SSHForwarder, peer))


class _ProxySession(asyncssh.SSHServerSession[bytes]):
    """Downstream half of a proxied session channel."""

    def __init__(self, owner: _GatewayConnection) -> None:
        self.owner = owner
        self.chan: asyncssh.SSHServerChannel[bytes] | None = None
        self.command: str | None = None
        self.subsystem: str | None = None
        self.term: tuple[str, tuple[int, int, int, int], Mapping[int, int]] | None = None
        self.up_chan: asyncssh.SSHClientChannel[bytes] | None = None
        self.up_conn: asyncssh.SSHClientConnection | None = None
        # requests that arrive before the upstream channel is open, replayed in order
        self._pending: list[Callable[[asyncssh.SSHClientChannel[bytes]], None]] = []
        self.exit_status: int | None = None
        self.exit_signal: tuple[str, bool, str, str] | None = None
        self._task: asyncio.Task[None] | None = None
        self._exit_sent = False

    def connection_made(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:  # type: ignore[override]
        self.chan = chan

    def pty_requested(
        self, term_type: str, term_size: tuple[int, int, int, int], term_modes: Mapping[int, int]
    ) -> bool:
        self.term = (term_type, term_size, term_modes)
        return True

    def shell_requested(self) -> bool:
        return True

    def exec_requested(self, command: str) -> bool:
        self.command = command
        return True

    def subsystem_requested(self, subsystem: str) -> bool:
        self.subsystem = subsystem
        return True

    def session_started(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._open())

    async def _open(self) -> None:
        assert self.chan is not None
        try:
            agent_path = self.chan.get_agent_path()
            self.up_conn = await self.owner.open_upstream(agent_path)
            kwargs: dict[str, Any] = {
                "env": dict(self.chan.get_environment()),
                "encoding": None,
            }
            if self.subsystem:
                kwargs["subsystem"] = self.subsystem
            elif self.command is not None:
                kwargs["command"] = self.command
            if self.term is not None:
                term_type, term_size, term_modes = self.term
                kwargs.update(
                    term_type=term_type,
                    term_size=term_size,
                    term_modes=term_modes,
                    request_pty="force",
                )
            else:
                kwargs["request_pty"] = False
            self.up_chan, _ = await self.up_conn.create_session(
                lambda: _UpstreamSession(self), **kwargs
            )
        except (OSError, asyncssh.Error) as exc:
            log.info("ssh gateway: upstream session failed: %s", exc)
            self.chan.write_stderr(f"daytona-emulator: sandbox unreachable: {exc}\r\n".encode())
            self.chan.exit(255)
            return
        for action in self._pending:
            action(self.up_chan)
        self._pending.clear()

    def _forward(self, action: Callable[[asyncssh.SSHClientChannel[bytes]], None]) -> None:
        if self.up_chan is None:
            self._pending.append(action)
        else:
            action(self.up_chan)

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        if self.owner.sandbox is not None:
            self.owner.sandbox.touch()
        self._forward(lambda up: up.write(data))

    def eof_received(self) -> bool:
        self._forward(lambda up: up.write_eof())
        return True

    def break_received(self, msec: int) -> bool:
        self._forward(lambda up: up.send_break(msec))
        return True

    def signal_received(self, signal: str) -> None:
        self._forward(lambda up: up.send_signal(signal))

    def terminal_size_changed(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        self._forward(lambda up: up.change_terminal_size(width, height, pixwidth, pixheight))

    def pause_writing(self) -> None:
        if self.up_chan is not None:
            self.up_chan.pause_reading()

    def resume_writing(self) -> None:
        if self.up_chan is not None:
            self.up_chan.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self.up_chan is not None:
            self.up_chan.close()
        if self.up_conn is not None:
            self.owner.release_upstream(self.up_conn)

    # called by the upstream half
    def send_exit(self) -> None:
        """The exit status (or signal) as a channel request; the channel stays open for output
        still on its way. Sent once."""
        if self.chan is None or self._exit_sent or self.chan.is_closing():
            return
        self._exit_sent = True
        status = 255 if self.exit_status is None else self.exit_status & 0xFF
        # asyncssh's exit() would also close the channel: the request alone, as sshd sends it
        with contextlib.suppress(OSError, asyncssh.Error):
            if self.exit_signal is not None:
                name, core_dumped, msg, lang = self.exit_signal
                self.chan._send_request(
                    b"exit-signal",
                    String(name),
                    Boolean(core_dumped),
                    String(msg),
                    String(lang),
                )
            else:
                self.chan._send_request(b"exit-status", UInt32(status))

    def upstream_closed(self) -> None:
        if self.chan is None:
            return
        self.send_exit()
        with contextlib.suppress(OSError, asyncssh.Error):
            self.chan.close()
        if self.up_conn is not None:
            self.owner.release_upstream(self.up_conn)
            self.up_conn = None


class _UpstreamSession(asyncssh.SSHClientSession[bytes]):
    """Upstream half: everything the sandbox sshd sends goes back to the client."""

    def __init__(self, down: _ProxySession) -> None:
        self.down = down
        self._eof = False

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        if self.down.chan is not None:
            self.down.chan.write(data, datatype)

    def eof_received(self) -> bool:
        # Held until the exit status is known: an OpenSSH client that already sent its own EOF
        # closes the channel as soon as it sees ours, and an exit status still on its way from
        # the sandbox would then be lost (the client reports 255).
        self._eof = True
        if self.down.exit_status is not None or self.down.exit_signal is not None:
            self._send_eof()
        return True

    def _send_eof(self) -> None:
        if self.down.chan is not None:
            with contextlib.suppress(OSError, asyncssh.Error):
                self.down.chan.write_eof()

    def exit_status_received(self, status: int) -> None:
        self.down.exit_status = status
        self._exit_known()

    def exit_signal_received(self, signal: str, core_dumped: bool, msg: str, lang: str) -> None:
        self.down.exit_signal = (signal, core_dumped, msg, lang)
        self._exit_known()

    def _exit_known(self) -> None:
        """Send the exit status now (before EOF and close, the order sshd keeps)."""
        self.down.send_exit()
        if self._eof:
            self._send_eof()

    def pause_writing(self) -> None:
        if self.down.chan is not None:
            self.down.chan.pause_reading()

    def resume_writing(self) -> None:
        if self.down.chan is not None:
            self.down.chan.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.down.upstream_closed()
