"""A language server run over an exec channel of the workspace's SSH connection (its stdio)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
from collections import deque
from typing import TYPE_CHECKING, Any

from ..access import exec as ssh_exec
from ..domain.errors import ErrorCode, NexusError
from .framing import FramingError, MessageReader, encode

if TYPE_CHECKING:
    from ..domain.models import SSHConnection

log = logging.getLogger(__name__)

COMMAND_NOT_FOUND = 126, 127  # the shell could not run it / found no such command
CLOSE_GRACE = 3.0  # seconds a server gets to end by itself after its stdin closes
STDERR_TAIL = 20  # lines of the server's stderr kept for an error message


def remote_command(command: str, root: str) -> str:
    """The command line for sshd: in the workspace folder, through a login shell so that what
    the user's profile puts on PATH (``~/.local/bin``) is found, replaced by the server."""
    inner = f"cd {shlex.quote(root)} 2>/dev/null; exec {command}"
    return f'exec "${{SHELL:-/bin/sh}}" -lc {shlex.quote(inner)}'


def server_failed(
    command: str, language: str, status: int, stderr: list[str], workspace: str = "WS"
) -> NexusError:
    """The language server ended by itself: why, and what to do about it."""
    program = shlex.split(command)[0] if command.strip() else command
    if status in COMMAND_NOT_FOUND:
        hint = {
            "pylsp": f"`nexus workspace exec {workspace} -- 'sudo apt-get update && "
            "sudo apt-get install -y python3-pylsp python3-setuptools'` "
            "(or `pip install python-lsp-server` there)",
            "typescript-language-server": f"`nexus workspace exec {workspace} -- npm install -g "
            "typescript-language-server typescript`",
        }.get(program, f"install `{program}` in the workspace")
        return NexusError(
            ErrorCode.LSP_SERVER_FAILED,
            f"the {language} language server `{command}` is not installed in the workspace "
            f"(exit {status})",
            f"Install it: {hint}; or set `lsp.commands.{language}` in the config file to the "
            "command to run.",
        )
    said = f": {stderr[-1]}" if stderr else ""
    return NexusError(
        ErrorCode.LSP_SERVER_FAILED,
        f"the {language} language server `{command}` exited with status {status}{said}",
        f"Run `{command}` in the workspace (`nexus workspace exec`) to see why, or change "
        f"`lsp.commands.{language}` in the config file.",
    )


class SshStdioLink:
    """``LanguageServerLink`` over an SSH exec channel, LSP-framed both ways."""

    def __init__(
        self, client: Any, process: Any, command: str, language: str, workspace: str = "WS"
    ) -> None:
        self._client = client
        self._workspace = workspace
        self._process = process
        self._command = command
        self._language = language
        self._reader = MessageReader(process.stdout.read)
        self._stderr: deque[str] = deque(maxlen=STDERR_TAIL)
        self._stderr_task = asyncio.create_task(self._drain_stderr())
        self._closed = False

    @classmethod
    async def open(
        cls,
        conn: SSHConnection,
        command: str,
        language: str,
        root: str,
        *,
        workspace: str = "WS",
        connect_timeout: float = 60.0,
    ) -> SshStdioLink:
        watch = ssh_exec._ClientWatch()
        client = await ssh_exec.connect(conn, timeout=connect_timeout, watch=watch)
        try:
            process = await ssh_exec._open_session(
                client, conn, watch, remote_command(command, root)
            )
        except BaseException as exc:
            client.close()
            import asyncssh

            if isinstance(exc, asyncssh.Error):
                raise ssh_exec._connection_failed(conn, str(exc)) from exc
            raise
        return cls(client, process, command, language, workspace)

    async def _drain_stderr(self) -> None:
        """The server's log lines, to Nexus's log (never to the editor's stdout)."""
        with contextlib.suppress(Exception):
            while line := await self._process.stderr.readline():
                text = line.decode(errors="replace").rstrip()
                self._stderr.append(text)
                log.debug("language server: %s", text)

    async def send(self, message: dict[str, Any]) -> None:
        try:
            self._process.stdin.write(encode(message))
            await self._process.stdin.drain()
        except Exception as exc:  # the channel is gone; receive() says why
            log.debug("cannot write to the language server: %s", exc)

    async def receive(self) -> dict[str, Any] | None:
        try:
            message = await self._reader.read()
        except FramingError as exc:
            raise NexusError(
                ErrorCode.LSP_SERVER_FAILED,
                f"the {self._language} language server `{self._command}` wrote something "
                f"that is not LSP on its stdout: {exc}",
                "Check that the configured command speaks LSP on stdio "
                f"(`lsp.commands.{self._language}`).",
            ) from None
        except Exception as exc:  # the connection broke under the read
            log.debug("reading the language server failed: %s", exc)
            message = None
        if message is None:
            await self._ended()
        return message

    async def _ended(self) -> None:
        """The server's stdout ended: returns for a clean exit, raises NexusError for a failure."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._process.wait_closed(), CLOSE_GRACE)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self._stderr_task), 1.0)
        if self._closed:
            return
        process = self._process
        if process.exit_status is None and not process.exit_signal:
            raise NexusError(
                ErrorCode.SSH_CONNECTION_FAILED,
                "the SSH connection to the workspace closed under the language server",
                "Check the workspace with `nexus workspace info`, start it if it stopped, "
                "and restart the language server in your editor.",
            )
        status = ssh_exec.exit_code_of(process)
        if status != 0:
            raise server_failed(
                self._command, self._language, status, list(self._stderr), self._workspace
            )

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._process.stdin.write_eof()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._process.wait_closed(), CLOSE_GRACE)
        with contextlib.suppress(Exception):
            self._process.close()
        self._stderr_task.cancel()
        self._client.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._client.wait_closed(), CLOSE_GRACE)
