"""Helpers for the sidecar tests: a test client, a plain JSON-RPC client, a Docker gate."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cattrs
from lsprotocol import types
from pygls.protocol import (
    JsonRPCNotification,
    JsonRPCRequestMessage,
    JsonRPCResponseMessage,
    default_converter,
)
from pytest_lsp import LanguageClient
from pytest_lsp.client import register_lsp_features

SERVER_COMMAND = [sys.executable, "-m", "nexus.sidecar.main", "--stdio"]
DID_CHANGE_STATE = "nexus/workspace/didChangeState"
DID_OUTPUT = "nexus/workspace/didOutput"
AUTO_STOP_WARNING = "nexus/workspace/autoStopWarning"
AUTO_STOPPED = "nexus/workspace/autoStopped"


def _converter() -> cattrs.Converter:
    """Like the sidecar's: our methods' params and results stay plain dicts."""
    converter = default_converter()

    def keep(obj: dict[str, Any], cls: type[Any]) -> Any:
        return cls(**obj)

    for message_type in (JsonRPCRequestMessage, JsonRPCNotification, JsonRPCResponseMessage):
        converter.register_structure_hook(message_type, keep)
    return converter


class SidecarClient(LanguageClient):
    """A pytest-lsp client that records the sidecar's own notifications."""

    def __init__(self) -> None:
        super().__init__(converter_factory=_converter)
        register_lsp_features(self)
        self.state_events: list[dict[str, Any]] = []
        self.outputs: list[dict[str, Any]] = []
        self.auto_stop_events: list[tuple[str, dict[str, Any]]] = []
        # called with (method, params) as each auto-stop notification arrives
        self.on_auto_stop: Callable[[str, dict[str, Any]], None] | None = None

        @self.feature(DID_CHANGE_STATE)
        def _state(params: dict[str, Any]) -> None:
            self.state_events.append(params)

        @self.feature(DID_OUTPUT)
        def _output(params: dict[str, Any]) -> None:
            self.outputs.append(params)

        def auto_stop(method: str) -> Callable[[dict[str, Any]], None]:
            def record(params: dict[str, Any]) -> None:
                if self.on_auto_stop is not None:
                    self.on_auto_stop(method, params)
                self.auto_stop_events.append((method, params))

            return record

        self.feature(AUTO_STOP_WARNING)(auto_stop(AUTO_STOP_WARNING))
        self.feature(AUTO_STOPPED)(auto_stop(AUTO_STOPPED))

    async def request(self, method: str, params: Any = None, msg_id: str | None = None) -> Any:
        return await self.protocol.send_request_async(method, params or {}, msg_id=msg_id)

    def start_request(self, method: str, params: Any, msg_id: str) -> asyncio.Future[Any]:
        """Send now (the pytest-lsp wrapper only sends when awaited); answer arrives later."""
        return asyncio.ensure_future(self.request(method, params, msg_id))

    def cancel(self, msg_id: str) -> None:
        self.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))

    def events_for(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.state_events if e["name"] == name]

    def progress_kinds(self, token: str) -> list[str]:
        return [value.kind for value in self.progress_reports.get(token, [])]


async def start_client(
    env: dict[str, str], cwd: Path, client: SidecarClient | None = None
) -> SidecarClient:
    client = client or SidecarClient()
    await client.start_io(*SERVER_COMMAND, env=env, cwd=str(cwd))
    await client.initialize_session(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(
                window=types.WindowClientCapabilities(work_done_progress=True)
            ),
            initialization_options={"apiVersion": 1, "editor": "pytest", "logLevel": "debug"},
        )
    )
    return client


async def eventually(check: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    """Wait until ``check()`` is truthy; returns its value (a generous timeout, never asserted)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = check()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.05)


# ---- a plain JSON-RPC client over a subprocess's stdio --------------------------------------
class RawClient:
    """Speaks Content-Length framed JSON-RPC to a process; fails on any non-protocol stdout."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.notifications: list[dict[str, Any]] = []
        self._next_id = 0

    @classmethod
    async def start(cls, command: list[str], env: dict[str, str], cwd: Path) -> RawClient:
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=env,
            cwd=str(cwd),
        )
        return cls(process)

    async def write(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data)
        await self.process.stdin.drain()

    async def send(self, message: Any) -> None:
        body = json.dumps(message).encode()
        await self.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    async def read_message(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        header = await asyncio.wait_for(self.process.stdout.readuntil(b"\r\n\r\n"), 30)
        match = re.fullmatch(rb"Content-Length: (\d+)\r\n(?:[^\r\n]+\r\n)*\r\n", header)
        assert match, f"stdout carried something that is not protocol: {header!r}"
        body = await self.process.stdout.readexactly(int(match.group(1)))
        return dict(json.loads(body))

    async def call(self, method: str, params: Any = None) -> dict[str, Any]:
        self._next_id += 1
        message_id = self._next_id
        request: dict[str, Any] = {"jsonrpc": "2.0", "id": message_id, "method": method}
        if params is not None:
            request["params"] = params
        await self.send(request)
        while True:
            message = await self.read_message()
            if message.get("id") == message_id and "method" not in message:
                return message
            self.notifications.append(message)

    async def close(self) -> int:
        with contextlib.suppress(Exception):
            await self.call("shutdown")
            await self.send({"jsonrpc": "2.0", "method": "exit"})
        try:
            return await asyncio.wait_for(self.process.wait(), 15)
        except TimeoutError:
            self.process.kill()
            return await self.process.wait()


# ---- a Docker engine proxy that can hold requests -------------------------------------------
def docker_socket() -> str | None:
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    return host.removeprefix("unix://") if host.startswith("unix://") else None


class DockerGate:
    """A unix-socket proxy in front of the engine that holds requests matching ``pattern``.

    Holding e.g. ``POST /containers/<id>/start`` freezes a create at a known point, so tests
    can act while it is in flight without relying on timing.
    """

    def __init__(self, upstream: str, socket_path: Path, pattern: str) -> None:
        self.upstream = upstream
        self.socket_path = socket_path
        self.pattern = re.compile(pattern.encode())
        self.hit = asyncio.Event()
        self.released = asyncio.Event()
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def docker_host(self) -> str:
        return f"unix://{self.socket_path}"

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.socket_path))

    def release(self) -> None:
        self.released.set()

    async def close(self) -> None:
        self.release()
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_unix_connection(self.upstream)
        self._spawn(self._pipe(up_r, client_w))
        try:
            while True:
                head = await client_r.readuntil(b"\r\n\r\n")
                request_line = head.split(b"\r\n", 1)[0]
                if self.pattern.search(request_line) and not self.released.is_set():
                    self.hit.set()
                    await self.released.wait()
                up_w.write(head)
                headers = head.lower()
                length = re.search(rb"\r\ncontent-length: *(\d+)", headers)
                if length:
                    up_w.write(await client_r.readexactly(int(length.group(1))))
                elif b"transfer-encoding: chunked" in headers:
                    while True:
                        size_line = await client_r.readuntil(b"\r\n")
                        size = int(size_line.split(b";")[0], 16)
                        up_w.write(size_line + await client_r.readexactly(size + 2))
                        if size == 0:
                            break
                await up_w.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            up_w.close()
            client_w.close()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
