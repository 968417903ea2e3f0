"""The one exec path for every backend: asyncssh to the workspace's SSH endpoint.

Streams stdout/stderr as they arrive, passes the exit code through, retries (bounded) while
sshd comes up, keeps the connection alive, and forwards the local ssh-agent when there is one.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..domain.errors import ErrorCode, NexusError
from ..domain.models import SSHConnection

if TYPE_CHECKING:
    import asyncssh

OutputSink = Callable[[bytes], Awaitable[None] | None]

KEEPALIVE_SECONDS = 30
ATTEMPT_TIMEOUT = 10.0


def build_remote_command(argv: Sequence[str], workdir: str | None) -> str:
    """One argument is a shell snippet (like ssh); several are quoted exactly as given."""
    command = argv[0] if len(argv) == 1 else shlex.join(argv)
    if workdir:
        return f"cd {shlex.quote(workdir)} || exit 1; {command}"
    return command


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
    import asyncssh

    if conn.host_key is None:
        return None
    return ([asyncssh.import_public_key(conn.host_key)], [], [])


def _connection_failed(conn: SSHConnection, reason: str) -> NexusError:
    return NexusError(
        ErrorCode.SSH_CONNECTION_FAILED,
        f"SSH connection to {conn.host}:{conn.port} failed: {reason}",
        "Check the workspace status with `nexus workspace info`, then retry.",
    )


async def connect(
    conn: SSHConnection, *, timeout: float = 60.0, forward_agent: bool = True
) -> asyncssh.SSHClientConnection:
    """Connect, retrying refused/dropped connections until ``timeout`` (sshd may still be starting)."""
    import asyncssh

    agent_path = os.environ.get("SSH_AUTH_SOCK") if forward_agent else None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = 0.1
    last_error = "timed out"
    while True:
        try:
            return await asyncssh.connect(
                conn.host,
                conn.port,
                username=conn.username,
                client_keys=_client_keys(conn),
                known_hosts=_known_hosts(conn),
                agent_path=agent_path if agent_path else None,
                agent_forwarding=bool(agent_path),
                keepalive_interval=KEEPALIVE_SECONDS,
                keepalive_count_max=4,
                connect_timeout=min(ATTEMPT_TIMEOUT, max(1.0, deadline - loop.time())),
                password=None,
                kbdint_auth=False,
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
            last_error = str(exc) or type(exc).__name__
        if loop.time() + delay >= deadline:
            raise _connection_failed(conn, last_error)
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
    forward_agent: bool = True,
    connect_timeout: float = 60.0,
) -> int:
    """Run ``argv`` in the workspace, streaming output to the sinks; returns the exit code."""
    import asyncssh

    if not argv:
        raise NexusError(
            ErrorCode.INVALID_ARGUMENT, "no command given", "Pass a command after `--`."
        )
    client = await connect(conn, timeout=connect_timeout, forward_agent=forward_agent)
    try:
        process = await client.create_process(
            build_remote_command(argv, workdir), encoding=None, env=env or {}
        )
        tasks = [
            asyncio.create_task(_pump(process.stdout, stdout)),
            asyncio.create_task(_pump(process.stderr, stderr)),
            asyncio.create_task(_feed_stdin(process, stdin)),
        ]
        try:
            await process.wait_closed()
            await asyncio.gather(*tasks[:2])
        finally:
            for task in tasks:
                if not task.done():
                    task.cancel()
        if process.exit_status is None and not process.exit_signal:
            raise _connection_failed(conn, "the connection closed before the command finished")
        return exit_code_of(process)
    except asyncssh.Error as exc:
        raise _connection_failed(conn, str(exc)) from exc
    finally:
        client.close()


async def fetch_host_key(host: str, port: int, timeout: float = 30.0) -> str:
    """The server's host key (``ssh-ed25519 AAAA...``), to pin on first contact with a gateway."""
    import asyncssh

    try:
        key = await asyncio.wait_for(asyncssh.get_server_host_key(host, port), timeout)
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


async def wait_ready(conn: SSHConnection, timeout: float) -> None:
    """Block until sshd accepts our key and runs a command."""
    client = await connect(conn, timeout=timeout, forward_agent=False)
    try:
        result = await client.run("true", check=False)
        if result.exit_status != 0:
            raise _connection_failed(conn, f"probe command exited {result.exit_status}")
    finally:
        client.close()
