"""Toolbox process sessions: one persistent bash per session, reached over the sandbox sshd."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import asyncssh
from aiohttp import web

from .errors import daemon_error

if TYPE_CHECKING:
    from .service import SandboxService
    from .state import Sandbox


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(data), content_type="application/json")


@dataclass
class Command:
    id: str
    command: str
    exit_code: int | None = None
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    output: bytearray = field(default_factory=bytearray)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "command": self.command}
        if self.exit_code is not None:
            data["exitCode"] = self.exit_code
        return data

    def logs(self) -> dict[str, str]:
        return {
            "output": self.output.decode(errors="replace"),
            "stdout": self.stdout.decode(errors="replace"),
            "stderr": self.stderr.decode(errors="replace"),
        }


class Session:
    def __init__(self, session_id: str, process: asyncssh.SSHClientProcess[bytes]) -> None:
        self.id = session_id
        self.process = process
        self.commands: dict[str, Command] = {}
        self.lock = asyncio.Lock()
        self.ended = False

    def to_json(self) -> dict[str, Any]:
        return {"sessionId": self.id, "commands": [c.to_json() for c in self.commands.values()]}

    async def run(self, command: Command) -> None:
        async with self.lock:
            if self.ended:
                command.exit_code = -1
                command.done.set()
                return
            tag = command.id.replace("-", "")
            script = (
                f"{{\n{command.command}\n}} < /dev/null\n"
                f"printf '\\036{tag}:%d\\036' \"$?\"; printf '\\036{tag}\\036' >&2\n"
            )
            self.process.stdin.write(script.encode())
            out_marker = re.compile(rb"\x1e" + tag.encode() + rb":(\d+)\x1e")
            err_marker = b"\x1e" + tag.encode() + b"\x1e"
            exit_code = await asyncio.gather(
                self._pump(self.process.stdout, command, command.stdout, out_marker),
                self._pump(self.process.stderr, command, command.stderr, err_marker),
            )
            command.exit_code = exit_code[0] if exit_code[0] is not None else -1
            command.done.set()

    async def _pump(
        self,
        reader: asyncssh.SSHReader[bytes],
        command: Command,
        sink: bytearray,
        marker: re.Pattern[bytes] | bytes,
    ) -> int | None:
        pending = b""
        keep = 64  # never emit bytes that could be the start of the marker
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                self.ended = True
                sink += pending
                command.output += pending
                status = self.process.exit_status
                return status if status is not None else -1
            pending += chunk
            if isinstance(marker, re.Pattern):
                found = marker.search(pending)
                if found:
                    before = pending[: found.start()]
                    sink += before
                    command.output += before
                    return int(found.group(1))
            else:
                index = pending.find(marker)
                if index >= 0:
                    sink += pending[:index]
                    command.output += pending[:index]
                    return None
            if len(pending) > keep:
                emit, pending = pending[:-keep], pending[-keep:]
                sink += emit
                command.output += emit


class SessionManager:
    def __init__(self, service: SandboxService) -> None:
        self.service = service
        self.sessions: dict[tuple[str, str], Session] = {}

    def register(self, app: web.Application, prefix: str) -> None:
        r = app.router
        base = prefix + "/process/session"
        r.add_post(base, self.create)
        r.add_get(base, self.list)
        r.add_get(base + "/{sid}", self.get)
        r.add_delete(base + "/{sid}", self.delete)
        r.add_post(base + "/{sid}/exec", self.execute)
        r.add_get(base + "/{sid}/command/{cid}", self.get_command)
        r.add_get(base + "/{sid}/command/{cid}/logs", self.logs)

    def _sandbox(self, request: web.Request) -> Sandbox:
        sandbox = self.service.store.find(request.match_info["id"])
        if sandbox is None:
            raise daemon_error(404, "sandbox not found", "NOT_FOUND")
        self.service.require_started(sandbox)
        return sandbox

    def _session(self, request: web.Request) -> Session:
        sandbox = self._sandbox(request)
        session = self.sessions.get((sandbox.id, request.match_info["sid"]))
        if session is None:
            raise daemon_error(404, "session not found", "NOT_FOUND")
        return session

    async def create(self, request: web.Request) -> web.Response:
        sandbox = self._sandbox(request)
        body = await request.json()
        session_id = body.get("sessionId") if isinstance(body, dict) else None
        if not isinstance(session_id, str) or not session_id:
            raise daemon_error(400, "sessionId is required", "INVALID_REQUEST_BODY")
        if (sandbox.id, session_id) in self.sessions:
            raise daemon_error(409, "session already exists", "CONFLICT")
        assert sandbox.ssh_port is not None
        conn = await self.service.upstream.shared(sandbox.id, sandbox.ssh_port, sandbox.user)
        process = await conn.create_process("bash --noprofile --norc", encoding=None)
        self.sessions[(sandbox.id, session_id)] = Session(session_id, process)
        return web.Response(status=201)

    async def list(self, request: web.Request) -> web.Response:
        sandbox = self._sandbox(request)
        found = [s.to_json() for (sid, _), s in self.sessions.items() if sid == sandbox.id]
        return _json(found)

    async def get(self, request: web.Request) -> web.Response:
        return _json(self._session(request).to_json())

    async def delete(self, request: web.Request) -> web.Response:
        session = self._session(request)
        self.sessions.pop((request.match_info["id"], session.id), None)
        for key in [k for k, v in self.sessions.items() if v is session]:
            del self.sessions[key]
        session.process.close()
        return web.Response(status=204)

    async def execute(self, request: web.Request) -> web.Response:
        session = self._session(request)
        if session.ended:
            raise daemon_error(410, "session ended", "SESSION_ENDED")
        body = await request.json()
        text = body.get("command") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text:
            raise daemon_error(400, "command is required", "INVALID_REQUEST_BODY")
        run_async = bool(body.get("runAsync") or body.get("async"))
        command = Command(id=str(uuid.uuid4()), command=text)
        session.commands[command.id] = command
        task = asyncio.get_running_loop().create_task(session.run(command))
        if run_async:
            return _json({"cmdId": command.id}, status=202)
        await task
        logs = command.logs()
        return _json({"cmdId": command.id, "exitCode": command.exit_code, **logs})

    def _command(self, request: web.Request) -> Command:
        command = self._session(request).commands.get(request.match_info["cid"])
        if command is None:
            raise daemon_error(404, "command not found", "NOT_FOUND")
        return command

    async def get_command(self, request: web.Request) -> web.Response:
        return _json(self._command(request).to_json())

    async def logs(self, request: web.Request) -> web.Response:
        command = self._command(request)
        return _json(command.logs())

    def forget(self, sandbox_id: str) -> None:
        for key in [k for k in self.sessions if k[0] == sandbox_id]:
            with contextlib.suppress(Exception):
                self.sessions.pop(key).process.close()
