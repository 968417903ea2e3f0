"""The relay between an editor and a language server, with URIs moved between their roots.

Requests, responses and notifications go through both ways. The server's own requests to the
editor (``workspace/configuration``, ``window/workDoneProgress/create``,
``client/registerCapability``) get ids of the proxy's own (``nexus:N``), so they never meet
the editor's ids, and their answers get the server's ids back; ``$/cancelRequest`` follows the
same ids. ``exit`` ends the relay: 0 after ``shutdown``, 1 without. A server that ends (or a
connection that drops) before that is a failure: pending requests get an error, the editor a
``window/showMessage``, and the caller the NexusError.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..domain.errors import ErrorCode, NexusError
from ..domain.lsp import LanguageServerLink
from .framing import FramingError, MessageReader, encode
from .uris import UriMapper

log = logging.getLogger(__name__)

INTERNAL_ERROR = -32603  # JSON-RPC
REQUEST_FAILED = -32803  # LSP
MESSAGE_ERROR = 1  # window/showMessage type Error
# seconds a failed session waits for the editor's first request (initialize), to answer it with
# the error rather than leave the editor waiting on a process that is gone
FIRST_REQUEST_WAIT = 5.0
EXIT_GRACE = 2.0  # seconds the server gets to end by itself after exit
ID_PREFIX = "nexus:"


class ByteWriter(Protocol):
    """Where the editor's messages go (an ``asyncio.StreamWriter`` fits)."""

    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...


# why the server ended, asked once it has: a NexusError to report (e.g. the workspace stopped),
# or None to report the link's own error
Diagnose = Callable[[NexusError | None], Awaitable[NexusError | None]]


@dataclass
class Outcome:
    """How the relay ended: the process's exit status and, for a failure, its error."""

    exit_code: int
    error: NexusError | None = None


def _is_request(message: dict[str, Any]) -> bool:
    return "method" in message and "id" in message


def _is_response(message: dict[str, Any]) -> bool:
    return "method" not in message and "id" in message


class LspProxy:
    def __init__(
        self,
        link: LanguageServerLink,
        mapper: UriMapper,
        reader: asyncio.StreamReader,
        writer: ByteWriter,
        diagnose: Diagnose | None = None,
    ) -> None:
        self._link = link
        self._mapper = mapper
        self._editor = MessageReader(reader.read)
        self._writer = writer
        self._diagnose = diagnose
        self._write_lock = asyncio.Lock()
        self._pending: dict[Any, str] = {}  # the editor's requests the server has not answered
        self._server_ids: dict[str, Any] = {}  # proxy id -> the server's id of its request
        self._proxy_ids: dict[Any, str] = {}  # the server's id -> proxy id
        self._counter = itertools.count(1)
        self._shutdown = False
        self._exit = False  # the editor said exit (else it left)
        self._asked = asyncio.Event()  # the editor sent a request

    # ---- editor side ------------------------------------------------------------------------
    async def _to_editor(self, message: dict[str, Any]) -> None:
        async with self._write_lock:
            self._writer.write(encode(message))
            await self._writer.drain()

    async def show_error(self, text: str) -> None:
        """A ``window/showMessage`` of type Error (best effort: the editor may be gone)."""
        with contextlib.suppress(Exception):
            await self._to_editor(
                {
                    "jsonrpc": "2.0",
                    "method": "window/showMessage",
                    "params": {"type": MESSAGE_ERROR, "message": text},
                }
            )

    async def _editor_loop(self) -> int:
        """Relay the editor's messages until ``exit`` (its exit status) or the editor's end."""
        while True:
            try:
                message = await self._editor.read()
            except FramingError as exc:
                log.warning("the editor sent a malformed message: %s", exc)
                return 1
            if message is None:  # the editor went away without `exit`
                return 0 if self._shutdown else 1
            method = message.get("method")
            if _is_response(message):
                server_id = self._server_ids.pop(str(message["id"]), None)
                if server_id is None:
                    log.debug("an answer to no request of the server: %s", message.get("id"))
                    continue
                self._proxy_ids.pop(server_id, None)
                message = {**message, "id": server_id}
            elif method == "$/cancelRequest":
                pass  # the editor's ids are the server's view of them: passes through as is
            elif _is_request(message):
                self._pending[message["id"]] = str(method)
                self._asked.set()
                if method == "shutdown":
                    self._shutdown = True
            await self._link.send(self._mapper.to_remote(message))
            if method == "exit":
                self._exit = True
                return 0 if self._shutdown else 1

    # ---- server side ------------------------------------------------------------------------
    async def _server_loop(self) -> None:
        """Relay the server's messages; returns when the server has ended (raises why)."""
        while True:
            message = await self._link.receive()
            if message is None:
                return
            message = self._mapper.to_local(message)
            foreign = self._mapper.foreign_edits(message.get("params", message.get("result")))
            if foreign:
                message = await self._refuse_edit(message, foreign)
                if message is None:
                    continue
            if _is_response(message):
                self._pending.pop(message["id"], None)
            elif _is_request(message):
                proxy_id = f"{ID_PREFIX}{next(self._counter)}"
                self._server_ids[proxy_id] = message["id"]
                self._proxy_ids[message["id"]] = proxy_id
                message = {**message, "id": proxy_id}
            elif message.get("method") == "$/cancelRequest":
                params = message.get("params") or {}
                cancelled = self._proxy_ids.get(params.get("id"))
                if cancelled is None:
                    continue
                message = {**message, "params": {**params, "id": cancelled}}
            await self._to_editor(message)

    async def _refuse_edit(
        self, message: dict[str, Any], foreign: list[str]
    ) -> dict[str, Any] | None:
        """A server message that would have the editor change files outside the workspace's
        folder: an ``applyEdit`` is answered "not applied" to the server (nothing reaches the
        editor); an answer carrying such an edit reaches the editor as an error instead."""
        targets = ", ".join(sorted(set(foreign))[:3])
        reason = f"Nexus refused an edit of files outside the workspace folder: {targets}"
        log.warning("%s", reason)
        if _is_request(message):
            await self._link.send(
                {
                    "jsonrpc": "2.0",
                    "id": message["id"],  # the server's own id: not relayed, answered here
                    "result": {"applied": False, "failureReason": reason},
                }
            )
            return None
        if _is_response(message):
            return {
                "jsonrpc": "2.0",
                "id": message["id"],
                "error": {"code": REQUEST_FAILED, "message": reason},
            }
        return None  # a notification carries no edit the editor applies: dropped all the same

    async def _fail_pending(self, text: str) -> None:
        for request_id in list(self._pending):
            with contextlib.suppress(Exception):
                await self._to_editor(
                    {
                        "jsonrpc": "2.0",
                        "id": request_id,
                        "error": {"code": INTERNAL_ERROR, "message": text},
                    }
                )
        self._pending.clear()

    async def _server_ended(self, error: NexusError | None) -> NexusError:
        """The error to report for a server that ended before ``exit``."""
        if error is None:  # a link that ended by itself may say why (``failure``)
            failure = getattr(self._link, "failure", None)
            error = failure if isinstance(failure, NexusError) else None
        diagnosed = None
        if self._diagnose is not None:
            with contextlib.suppress(Exception):
                diagnosed = await self._diagnose(error)
        return (
            diagnosed
            or error
            or NexusError(
                ErrorCode.LSP_SERVER_FAILED,
                "the language server ended before the editor asked it to",
                "Restart the language server in your editor; `NEXUS_DEBUG=1` logs what it said.",
            )
        )

    # ---- the relay --------------------------------------------------------------------------
    async def run(self) -> Outcome:
        editor = asyncio.create_task(self._editor_loop())
        server = asyncio.create_task(self._server_loop())
        try:
            await asyncio.wait({editor, server}, return_when=asyncio.FIRST_COMPLETED)
            if editor.done():
                try:
                    code = editor.result()
                except Exception as exc:  # the editor's pipe broke
                    log.debug("the editor side failed: %s", exc)
                    code = 1
                if self._exit:  # the server got exit too: its last words, then its end
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(asyncio.shield(server), EXIT_GRACE)
                return Outcome(code)
            error: NexusError | None = None
            try:
                server.result()
            except NexusError as exc:
                error = exc
            except Exception as exc:  # the editor's pipe broke under a write, or a bad message
                log.debug("the relay from the server failed: %r", exc)
                error = NexusError(
                    ErrorCode.LSP_SERVER_FAILED,
                    f"the relay from the language server failed: {type(exc).__name__}: {exc}",
                    "Restart the language server in your editor; `NEXUS_DEBUG=1` logs more.",
                )
            if error is None and self._shutdown and not self._pending:
                # the server ended after answering shutdown: wait for the editor's exit
                code = await editor
                return Outcome(code)
            reported = await self._server_ended(error)
            text = f"Nexus: {reported.message}." + (
                f" {reported.resolution}" if reported.resolution else ""
            )
            await self.show_error(text)
            if not self._asked.is_set() and not editor.done():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._asked.wait(), FIRST_REQUEST_WAIT)
            await self._fail_pending(text)
            return Outcome(int(reported.exit_code) or 1, reported)
        finally:
            for task in (editor, server):
                task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.gather(editor, server, return_exceptions=True)
            await self._link.close()
