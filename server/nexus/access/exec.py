"""The one exec path for every backend: asyncssh to the workspace's SSH endpoint.

Streams stdout/stderr as they arrive, passes the exit code through, retries (bounded) while
sshd comes up, keeps the connection alive, and forwards the local ssh-agent when there is one.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..domain.errors import ErrorCode, NexusError
from .remote_command import build_remote_command

if TYPE_CHECKING:
    from ..domain.models import SSHConnection

if TYPE_CHECKING:
    import asyncssh

OutputSink = Callable[[bytes], Awaitable[None] | None]

KEEPALIVE_SECONDS = 30
ATTEMPT_TIMEOUT = 10.0


def _client_keys(conn: SSHConnection) -> list[Any] | None:
    import asyncssh

    if not conn.key_auth:
        return []
    if conn.private_key:
        return [asyncssh.import_private_key(conn.private_key)]
    if conn.private_key_path:
        return [asyncssh.read_private_key(str(conn.private_key_path))]
    return None


def _known_hosts(conn: SSHConnection) -> Any:
    """The one host key to accept; never None (asyncssh would then accept any key)."""
    import asyncssh

    if not conn.host_key:
        raise NexusError(
            ErrorCode.HOST_KEY_UNKNOWN,
            f"Nexus has no pinned host key for {conn.host}:{conn.port}, "
            "so it cannot tell the workspace from anything else on that port",
            "Delete the workspace and create it again (its host key is pinned at create).",
        )
    try:
        key = asyncssh.import_public_key(conn.host_key)
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise NexusError(
            ErrorCode.HOST_KEY_UNKNOWN,
            f"the host key Nexus pinned for {conn.host}:{conn.port} is unreadable: {exc}",
            "Delete the workspace and create it again (its host key is pinned at create).",
        ) from None
    return ([key], [], [])


def _closed_after_login(conn: SSHConnection) -> NexusError:
    """What a token gateway does with an invalid, expired or revoked token: it accepts the login
    (any user name) and closes the connection right after, with no "permission denied"
    (Daytona's apps/ssh-gateway). Reported like a refusal, so callers check the token, renew it
    and retry once."""
    return NexusError(
        ErrorCode.SSH_AUTH_REJECTED,
        f"{conn.host}:{conn.port} closed the connection right after login: the access token "
        "was not accepted (revoked or expired), or the sandbox is not running",
        "Check that the workspace is running; Nexus renews the token and retries once by "
        "itself, so recreate the workspace if this persists.",
    )


class _ClientWatch:
    """Knows, for one connection attempt, whether login completed and whether it was lost since."""

    def __init__(self) -> None:
        self.logged_in = False
        self.lost = False

    def factory(self) -> Any:
        import asyncssh

        watch = self

        class _Client(asyncssh.SSHClient):
            def auth_completed(self) -> None:
                watch.logged_in = True

            def connection_lost(self, exc: Exception | None) -> None:
                watch.lost = True

        return _Client()


class NotReached(NexusError):
    """Nothing answered (refused, timed out, no banner): no command ran, so trying again after
    finding out why is safe."""


def _connection_failed(conn: SSHConnection, reason: str, *, reached: bool = True) -> NexusError:
    return (NexusError if reached else NotReached)(
        ErrorCode.SSH_CONNECTION_FAILED,
        f"SSH connection to {conn.host}:{conn.port} failed: {reason}",
        "Check the workspace status with `nexus workspace info`, then retry.",
    )


async def connect(
    conn: SSHConnection,
    *,
    timeout: float = 60.0,
    forward_agent: bool = False,
    watch: _ClientWatch | None = None,
) -> asyncssh.SSHClientConnection:
    """Connect, retrying refused/dropped connections until ``timeout`` (sshd may still be starting).

    A token gateway that drops the connection after a completed login is not retried here: that
    is how it refuses a token (SSH_AUTH_REJECTED)."""
    import asyncssh

    agent_path = os.environ.get("SSH_AUTH_SOCK") if forward_agent else None
    known_hosts = _known_hosts(conn)  # before any connection: no pinned key, no connection
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = 0.1
    last_error = "timed out"
    while True:
        attempt = watch if watch is not None else _ClientWatch()
        attempt.logged_in = attempt.lost = False
        try:
            return await asyncssh.connect(
                conn.host,
                conn.port,
                client_factory=attempt.factory,
                username=conn.username,
                client_keys=_client_keys(conn),
                known_hosts=known_hosts,
                agent_path=agent_path if agent_path else None,
                agent_forwarding=bool(agent_path),
                keepalive_interval=KEEPALIVE_SECONDS,
                keepalive_count_max=4,
                connect_timeout=min(ATTEMPT_TIMEOUT, max(1.0, deadline - loop.time())),
                password=None,
                kbdint_auth=False,
                # never the user's ~/.ssh/config (any encoding, any Host *): only what Nexus knows
                config=[],
                # key_auth=False (a token gateway): no keys offered, the server accepts "none"
                **({"preferred_auth": ("publickey",)} if conn.key_auth else {}),
            )
        except asyncssh.HostKeyNotVerifiable as exc:
            raise NexusError(
                ErrorCode.HOST_KEY_MISMATCH,
                f"the host key of {conn.host}:{conn.port} does not match the key Nexus pinned: {exc}",
                "Something else answers on this port, or the workspace was replaced; "
                "recreate the workspace if you trust it.",
            ) from exc
        except asyncssh.PermissionDenied as exc:
            raise NexusError(
                ErrorCode.SSH_AUTH_REJECTED,
                f"{conn.host}:{conn.port} refused Nexus's credentials: {exc.reason}",
                "The key or token was not accepted; recreate the workspace if this persists.",
            ) from exc
        except (TimeoutError, OSError, asyncssh.Error) as exc:
            if attempt.logged_in and not conn.key_auth:
                raise _closed_after_login(conn) from exc
            last_error = str(exc) or type(exc).__name__
        if loop.time() + delay >= deadline:
            raise _connection_failed(conn, last_error, reached=attempt.logged_in)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)


async def _pump(reader: Any, sink: OutputSink) -> None:
    while True:
        chunk = await reader.read(65536)
        if not chunk:
            return
        result = sink(chunk)
        if asyncio.iscoroutine(result):
            await result


async def _feed_stdin(process: Any, stdin: asyncio.StreamReader | None) -> None:
    try:
        if stdin is not None:
            while chunk := await stdin.read(65536):
                process.stdin.write(chunk)
                await process.stdin.drain()
        process.stdin.write_eof()
    except (OSError, Exception):  # the remote side may close stdin first
        return


def exit_code_of(process: Any) -> int:
    if process.exit_signal:
        name = process.exit_signal[0]
        number = getattr(signal, f"SIG{name}", None)
        return 128 + int(number) if number is not None else 255
    if process.exit_status is None:
        return 255
    return int(process.exit_status)


async def run(
    conn: SSHConnection,
    argv: Sequence[str],
    *,
    stdout: OutputSink,
    stderr: OutputSink,
    stdin: asyncio.StreamReader | None = None,
    workdir: str | None = None,
    env: dict[str, str] | None = None,
    forward_agent: bool = False,
    connect_timeout: float = 60.0,
) -> int:
    """Run ``argv`` in the workspace, streaming output to the sinks; returns the exit code."""
    import asyncssh

    if not argv:
        raise NexusError(
            ErrorCode.INVALID_ARGUMENT, "no command given", "Pass a command after `--`."
        )
    watch = _ClientWatch()
    client = await connect(conn, timeout=connect_timeout, forward_agent=forward_agent, watch=watch)
    try:
        process = await _open_session(
            client, conn, watch, build_remote_command(argv, workdir), env=env or {}
        )
        tasks = [
            asyncio.create_task(_pump(process.stdout, stdout)),
            asyncio.create_task(_pump(process.stderr, stderr)),
            asyncio.create_task(_feed_stdin(process, stdin)),
        ]
        closed = asyncio.create_task(process.wait_closed())
        pumps = tasks[:2]
        try:
            # a sink that fails (a full disk, output refused) ends the command: no waiting for
            # a remote side that may never stop sending
            await asyncio.wait({closed, *pumps}, return_when=asyncio.FIRST_EXCEPTION)
            for pump in pumps:
                if pump.done() and not pump.cancelled() and pump.exception() is not None:
                    process.close()
                    await pump  # raises the sink's error
            await closed
            await asyncio.gather(*pumps)
        finally:
            for task in (*tasks, closed):
                if not task.done():
                    task.cancel()
        if process.exit_status is None and not process.exit_signal:
            raise _connection_failed(conn, "the connection closed before the command finished")
        return exit_code_of(process)
    except asyncssh.Error as exc:
        raise _connection_failed(conn, str(exc)) from exc
    finally:
        client.close()


async def _open_session(
    client: asyncssh.SSHClientConnection,
    conn: SSHConnection,
    watch: _ClientWatch,
    command: str | None,
    **kwargs: Any,
) -> Any:
    """Open the session channel; a token gateway closing the connection instead (the real
    Daytona gateway checks the token after login) is a refused token, not a network failure."""
    import asyncssh

    try:
        return await client.create_process(command, encoding=None, **kwargs)
    except asyncssh.Error as exc:
        if not conn.key_auth:
            await asyncio.sleep(0)  # let connection_lost run if the close caused this
            if watch.lost or client.is_closed():
                raise _closed_after_login(conn) from exc
        raise


async def fetch_host_key(host: str, port: int, timeout: float = 30.0) -> str:
    """The server's host key (``ssh-ed25519 AAAA...``), to pin on first contact with a gateway."""
    import asyncssh

    try:
        key = await asyncio.wait_for(
            # never the user's ~/.ssh/config: its bytes may not be UTF-8, and a Host * or
            # ProxyCommand there must not choose the server whose key gets pinned
            asyncssh.get_server_host_key(host, port, config=[]),
            timeout,
        )
    except (TimeoutError, OSError, asyncssh.Error) as exc:
        raise NexusError(
            ErrorCode.SSH_CONNECTION_FAILED,
            f"cannot read the host key of {host}:{port}: {exc}",
            "Check your network, then retry.",
        ) from exc
    if key is None:
        raise NexusError(
            ErrorCode.SSH_CONNECTION_FAILED,
            f"{host}:{port} sent no host key",
            "Check the SSH endpoint, then retry.",
        )
    return str(key.export_public_key("openssh").decode().strip())


async def wait_banner(conn: SSHConnection, timeout: float, poll: float = 0.05) -> None:
    """Block until an SSH server greets on the endpoint (its ``SSH-`` banner).

    Enough where the server is Nexus's own sshd, started last, once the host key and the
    authorized key are in place (the Docker image's entrypoint): no login is needed to know
    that one will work."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last_error = "no SSH banner"
    while True:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(conn.host, conn.port), max(0.1, deadline - loop.time())
            )
            try:
                line = await asyncio.wait_for(reader.readline(), max(0.1, deadline - loop.time()))
            finally:
                writer.close()
            if line.startswith(b"SSH-"):
                return
            last_error = "the connection closed before the SSH banner"
        except (TimeoutError, OSError) as exc:
            last_error = str(exc) or type(exc).__name__
        if loop.time() + poll >= deadline:
            raise _connection_failed(conn, last_error, reached=False)
        await asyncio.sleep(poll)


async def wait_ready(conn: SSHConnection, timeout: float) -> None:
    """Block until sshd accepts our key and runs a command."""
    import asyncssh

    watch = _ClientWatch()
    client = await connect(conn, timeout=timeout, forward_agent=False, watch=watch)
    try:
        process = await _open_session(client, conn, watch, "true")
        process.stdin.write_eof()
        await process.wait_closed()
        if process.exit_status != 0:
            raise _connection_failed(conn, f"probe command exited {process.exit_status}")
    except asyncssh.Error as exc:
        raise _connection_failed(conn, str(exc) or type(exc).__name__) from exc
    finally:
        client.close()
