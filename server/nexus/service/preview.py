"""`nexus workspace preview`: a workspace's port at a local URL, in the foreground or as a
background process that outlives the command.

Which way a preview goes is the escape-hatch registry's answer, not a test of the backend's
type: a backend that reports ``supports_web_previews`` and registers the ``preview`` operations
(create, list) gets its own preview URL, reached through ``HttpProxy`` with the URL's token
added by the proxy; every other backend is reached through the workspace's SSH connection
(a ``direct-tcpip`` channel per browser connection, relayed byte for byte).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import selectors
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..asyncutil import run_blocking
from ..domain.errors import ErrorCode, NexusError
from ..domain.names import validate_name
from ..preview import state
from ..preview.server import LocalServer
from ..preview.state import PreviewRecord

if TYPE_CHECKING:
    import asyncssh

    from ..domain.models import Workspace
    from ..domain.provider import OperationSpec
    from ..paths import NexusPaths
    from .context import NexusContext
    from .workspaces import WorkspaceService

VIA_SSH = "ssh"
VIA_URL = "preview-url"
SPAWN_TIMEOUT = 180.0  # a background preview's start: SSH connect and the port check
STOP_GRACE = 5.0  # SIGTERM, then SIGKILL
RECONNECT_TIMEOUT = 10.0  # a browser waits this long at most for a dropped SSH connection


def unreachable(name: str, port: int, reason: str) -> NexusError:
    return NexusError(
        ErrorCode.PREVIEW_UNREACHABLE,
        f"nothing answers on port {port} in workspace '{name}': {reason}",
        f"Start the server in the workspace on port {port} (listening on 127.0.0.1 or "
        "0.0.0.0), then run the preview again.",
    )


def _check_port(port: int) -> None:
    if not 1 <= port <= 65535:
        raise NexusError(
            ErrorCode.INVALID_ARGUMENT,
            f"port {port} is out of range",
            "Give the workspace's port as a number from 1 to 65535.",
        )


@dataclass
class RunningPreview:
    """A preview served by this process, until ``close``."""

    workspace: str
    port: int
    via: str
    server: LocalServer
    close_upstream: Callable[[], None]

    @property
    def local_port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        return self.server.url

    async def wait(self) -> None:
        """Until the preview is closed (or the task is cancelled: Ctrl-C, SIGTERM)."""
        await self.server.wait_closed()

    async def close(self) -> None:
        await self.server.close()
        self.close_upstream()

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "workspace": self.workspace,
            "port": self.port,
            "localPort": self.local_port,
            "url": self.url,
            "via": self.via,
        }


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class PreviewService:
    def __init__(self, service: WorkspaceService) -> None:
        self.service = service

    @property
    def paths(self) -> NexusPaths:
        return self.service.ctx.paths

    # ---- in this process -----------------------------------------------------------------------
    async def serve(self, name: str, port: int, *, local_port: int | None = None) -> RunningPreview:
        """Check the port answers, then listen on 127.0.0.1 (``local_port``; by default the
        workspace's port number when it is free here, else any free port)."""
        _check_port(port)
        handler, via, close_upstream, on_listen = await self._upstream(name, port)
        server = LocalServer(handler)
        try:
            await server.start(local_port, preferred=port)
        except BaseException:
            close_upstream()
            raise
        on_listen(server.url.rstrip("/"))
        return RunningPreview(name, port, via, server, close_upstream)

    async def _upstream(
        self, name: str, port: int
    ) -> tuple[Handler, str, Callable[[], None], Callable[[str], None]]:
        workspace, _ = await self.service.running_connection(name)  # the stopped codes
        operations = self._preview_operations(workspace)
        if operations is not None:
            return await self._via_url(name, port, operations)
        return await self._via_ssh(name, port)

    def _preview_operations(self, workspace: Workspace) -> dict[str, OperationSpec] | None:
        """The backend's own preview operations (by action), when it has and supports them."""
        from .backends import operations

        backend = self.service.ctx.backends.get(workspace.backend)
        if not backend.get_capabilities().supports_web_previews:
            return None
        found = {
            spec.action: spec
            for spec in operations(workspace.backend).values()
            if spec.group == "preview" and spec.capability == "supports_web_previews"
        }
        return found if {"create", "list"} <= found.keys() else None

    async def _via_url(
        self, name: str, port: int, operations: dict[str, OperationSpec]
    ) -> tuple[Handler, str, Callable[[], None], Callable[[str], None]]:
        from ..preview.http_proxy import HttpProxy, UrlUpstream, probe
        from .provider import ProviderService

        provider = ProviderService(self.service)
        listed = await provider.execute(operations["list"].id, name)
        entry = next((p for p in listed.data.get("previews", []) if p.get("port") == port), None)
        if entry is None:  # an open preview is reused as it is (its public flag included)
            entry = (await provider.execute(operations["create"].id, name, {"port": port})).data
        headers: dict[str, str] = {}
        if entry.get("token") and entry.get("tokenHeader"):
            headers[str(entry["tokenHeader"])] = str(entry["token"])
        headers.update({str(k): str(v) for k, v in (entry.get("requestHeaders") or {}).items()})
        upstream = UrlUpstream.parse(str(entry["url"]), headers)
        try:
            status = await probe(upstream)
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            raise unreachable(
                name, port, f"its preview URL did not answer ({exc or type(exc).__name__})"
            ) from None
        if status == 502:
            raise unreachable(name, port, "its preview URL answers 502 (nothing listens)")
        if status in (401, 403):
            raise unreachable(name, port, f"its preview URL refused the token ({status})")
        proxy = HttpProxy(upstream, port, f"workspace '{name}'")

        def on_listen(origin: str) -> None:
            proxy.local_origin = origin

        return proxy.serve_connection, VIA_URL, lambda: None, on_listen

    async def _via_ssh(
        self, name: str, port: int
    ) -> tuple[Handler, str, Callable[[], None], Callable[[str], None]]:
        from ..preview.ssh_tunnel import SshTunnel, Unreachable, serve_connection

        timeouts = iter([self.service.ctx.config.ssh.connect_timeout])

        async def connect() -> asyncssh.SSHClientConnection:
            return await self._ssh_client(name, next(timeouts, RECONNECT_TIMEOUT))

        tunnel = SshTunnel(connect, port)
        try:
            await tunnel.check()
        except Unreachable as exc:
            tunnel.close()
            raise unreachable(name, port, exc.reason) from None
        where = f"workspace '{name}'"

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await serve_connection(tunnel, reader, writer, where)

        return handler, VIA_SSH, tunnel.close, lambda origin: None

    async def _ssh_client(self, name: str, timeout: float) -> asyncssh.SSHClientConnection:
        """A connection of the preview's own; a refused token is renewed once (a gateway)."""
        from ..access import exec as ssh_exec

        workspace = self.service.get(name)
        conn = await self.service.connection(workspace, refresh_files=False)
        try:
            return await ssh_exec.connect(conn, timeout=timeout)
        except NexusError as error:
            if error.code != ErrorCode.SSH_AUTH_REJECTED or conn.key_auth:
                raise
        conn = await self.service.connection(workspace, refresh_files=False, renew=True)
        return await ssh_exec.connect(conn, timeout=timeout)

    # ---- in the background ---------------------------------------------------------------------
    async def start_background(
        self, name: str, port: int, *, local_port: int | None = None
    ) -> tuple[PreviewRecord, bool]:
        """Start a background preview process (or find the one already serving this port);
        returns its record and whether it was started now."""
        _check_port(port)
        self.service.get(validate_name(name))  # WORKSPACE_NOT_FOUND before any process
        for record in state.live(self.paths, name):
            if record.port == port:
                return record, False
        argv = [
            sys.executable,
            "-m",
            "nexus.cli.main",
            "workspace",
            "preview",
            "open",
            name,
            str(port),
            state.MARKER,
            "--json",
        ]
        if local_port is not None:
            argv += ["--local-port", str(local_port)]
        out = await run_blocking(_spawn, argv, state.log_path(self.paths, name, port))
        return _parse_announcement(out, state.log_path(self.paths, name, port)), True

    async def serve_managed(
        self,
        name: str,
        port: int,
        *,
        local_port: int | None,
        announce: Callable[[PreviewRecord], None],
    ) -> None:
        """The background process itself: serve, record, announce, serve until stopped."""
        running = await self.serve(name, port, local_port=local_port)
        try:
            for other in state.live(self.paths, name):
                if other.port == port:  # started meanwhile by another command: that one serves
                    announce(other)
                    return
            record = PreviewRecord(
                workspace=name,
                port=port,
                local_port=running.local_port,
                url=running.url,
                pid=os.getpid(),
                via=running.via,
                started_at=datetime.now(UTC).replace(microsecond=0).isoformat(),
            )
            state.write(self.paths, record)
            try:
                announce(record)
                await running.wait()
            finally:
                state.remove(self.paths, record, only_pid=os.getpid())
        finally:
            await running.close()

    def list(self) -> list[PreviewRecord]:
        """The running background previews; the records of ended ones are dropped."""
        return state.live(self.paths)

    async def stop(self, name: str, port: int) -> PreviewRecord:
        for record in state.live(self.paths, validate_name(name)):
            if record.port == port:
                await _terminate(self.paths, record)
                return record
        raise NexusError(
            ErrorCode.PREVIEW_NOT_FOUND,
            f"workspace '{name}' has no background preview of port {port}",
            "See the running ones with `nexus workspace preview list`.",
        )


async def stop_previews(ctx: NexusContext, workspace_name: str) -> list[PreviewRecord]:
    """End every background preview of a workspace (its stop and its delete call this)."""
    records = state.live(ctx.paths, workspace_name)
    await asyncio.gather(*(_terminate(ctx.paths, record) for record in records))
    return records


async def _terminate(paths: NexusPaths, record: PreviewRecord) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(record.pid, signal.SIGTERM)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STOP_GRACE
    while state.alive(record.pid) and loop.time() < deadline:
        await asyncio.sleep(0.05)
    if state.alive(record.pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(record.pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError, OSError):  # our own child (a sidecar's)
        os.waitpid(record.pid, os.WNOHANG)
    state.remove(paths, record)


def _spawn(argv: list[str], log: Any) -> bytes:
    """Start the detached preview process and read what it announces on stdout (it closes its
    stdout then, and goes on serving)."""
    from ..paths import ensure_dir

    ensure_dir(log.parent)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as err:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            start_new_session=True,  # no SIGHUP/SIGINT from this terminal
            close_fds=True,
        )
    assert process.stdout is not None
    chunks: list[bytes] = []
    deadline = time.monotonic() + SPAWN_TIMEOUT
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    process.kill()
                    process.wait()
                    raise NexusError(
                        ErrorCode.INTERNAL_ERROR,
                        f"the background preview did not start within {SPAWN_TIMEOUT:.0f}s",
                        f"See its log: {log}",
                    )
                if selector.select(left):
                    chunk = os.read(process.stdout.fileno(), 65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
    finally:
        process.stdout.close()
    return b"".join(chunks)


def _parse_announcement(out: bytes, log: Any) -> PreviewRecord:
    import json

    try:
        data = json.loads(out.decode())
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        error = data["error"]
        raise NexusError(
            str(error.get("code", ErrorCode.INTERNAL_ERROR)),
            str(error.get("message", "")),
            str(error.get("resolution", "")),
            tuple(error.get("options", ())),
        )
    if isinstance(data, dict):
        with contextlib.suppress(KeyError, TypeError, ValueError):
            return PreviewRecord.from_json_dict(data)
    raise NexusError(
        ErrorCode.INTERNAL_ERROR,
        "the background preview ended without saying why",
        f"See its log: {log}",
    )
