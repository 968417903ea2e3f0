"""The Daytona backend's language server for ``nexus lsp``: the editor's LSP answered through
Daytona's LSP API, whose toolbox daemon runs the language server inside the sandbox.

That API knows a handful of calls (start/stop, did-open/did-close, completions, document and
workspace symbols), so the link is a small language server of its own, speaking the workspace's
paths, that turns the editor's messages into those calls. It advertises only what it can answer;
any other request gets an empty result, never an error that would upset an editor.

The daemon reads a document from the sandbox's disk when it is opened: edits reach it once they
are saved and synced (on ``didSave`` the link opens the document again, so the server reads the
saved text); unsaved changes (``didChange``) are not seen.

Messages are handled one at a time in arrival order (an open before the completion that needs
it); a ``$/cancelRequest`` for a request still waiting is answered at once with RequestCancelled.
A sandbox that stops (seen when a call fails, or by a periodic look at its state) ends the link;
``failure`` then holds the error, which the proxy shows the editor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol, TypeVar
from urllib.parse import unquote, urlsplit

from ...asyncutil import run_blocking
from ...domain.errors import ErrorCode, NexusError
from ...domain.models import Workspace
from . import errors
from .ops.lsp import LANGUAGES, RUNNING, _probe, _start

log = logging.getLogger(__name__)

T = TypeVar("T")

# JSON-RPC / LSP error codes
INVALID_REQUEST = -32600
INTERNAL_ERROR = -32603
SERVER_NOT_INITIALIZED = -32002
REQUEST_CANCELLED = -32800

WATCH_INTERVAL = 30.0  # seconds between looks at the sandbox's state
STOP_TIMEOUT = 15.0  # the best-effort stop when the link closes
MESSAGE_WARNING, MESSAGE_LOG = 2, 4  # window/logMessage types

# requests whose result the spec says is an array, never null
ARRAY_RESULTS = frozenset({"textDocument/documentColor", "textDocument/colorPresentation"})


class SandboxAccess(Protocol):
    """What the link needs of the backend (blocking calls, run in a worker thread)."""

    def find_sandbox(self, workspace: Workspace) -> Any | None: ...

    def require_sandbox(self, workspace: Workspace) -> Any: ...


def supported(language: str) -> bool:
    """Whether Daytona's LSP API runs a server for ``language``."""
    return language in LANGUAGES


def _state(sandbox: Any) -> str:
    return str(getattr(sandbox.state, "value", sandbox.state) or "unknown")


def _path(uri: Any) -> str | None:
    """The workspace path of a ``file://`` URI; None for any other document (``untitled:``)."""
    if not isinstance(uri, str):
        return None
    parts = urlsplit(uri)
    if parts.scheme != "file" or not parts.path:
        return None
    return unquote(parts.path)


def _document(params: dict[str, Any]) -> tuple[str, str] | None:
    document = params.get("textDocument")
    uri = document.get("uri") if isinstance(document, dict) else None
    path = _path(uri)
    return (str(uri), path) if path is not None else None


def _completion_item(item: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"label": item.label}
    for key, attr in (
        ("kind", "kind"),
        ("detail", "detail"),
        ("documentation", "documentation"),
        ("sortText", "sort_text"),
        ("filterText", "filter_text"),
        ("insertText", "insert_text"),
    ):
        value = getattr(item, attr, None)
        if value is not None:
            out[key] = value
    return out


def _position(position: Any) -> dict[str, int]:
    return {"line": int(position.line), "character": int(position.character)}


def _symbol(symbol: Any, fallback_uri: str | None = None) -> dict[str, Any]:
    """An SDK ``LspSymbol`` as an LSP ``SymbolInformation``."""
    location = symbol.location
    return {
        "name": symbol.name,
        "kind": symbol.kind,
        "location": {
            "uri": location.uri or fallback_uri or "",
            "range": {
                "start": _position(location.range.start),
                "end": _position(location.range.end),
            },
        },
    }


class _Ended(Exception):
    """The link has ended (exit, or the sandbox is gone)."""


class DaytonaLanguageServer:
    """A ``LanguageServerLink`` answering through the Daytona SDK's ``LspServer``."""

    def __init__(
        self,
        access: SandboxAccess,
        workspace: Workspace,
        language: str,
        root: str,
        *,
        watch_interval: float = WATCH_INTERVAL,
    ) -> None:
        self._access = access
        self._workspace = workspace
        self._language = language
        self._root = root
        self._watch_interval = watch_interval
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._out: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._waiting: set[Any] = set()  # ids of requests queued and not yet handled
        self._cancelled: set[Any] = set()
        self._worker: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._server: Any = None  # the SDK's LspServer, once initialize started it
        self._started_here = False  # this link started the daemon's server (and stops it)
        self._shut_down = False
        self._ended = False
        self._drained = False
        self.failure: NexusError | None = None  # what ended the link, when not the editor

    # ---- LanguageServerLink ------------------------------------------------------------------
    async def send(self, message: dict[str, Any]) -> None:
        if self._ended:
            return
        method = message.get("method")
        if not isinstance(method, str):
            return  # an answer to a request: the link never asks the editor anything
        if method == "$/cancelRequest":
            params = message.get("params")
            self._cancel(params.get("id") if isinstance(params, dict) else None)
            return
        if isinstance(message.get("id"), int | str):  # JSON-RPC ids (anything else is not kept)
            self._waiting.add(message["id"])
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work())
        self._inbox.put_nowait(message)

    async def receive(self) -> dict[str, Any] | None:
        if self._drained:
            return None
        message = await self._out.get()
        if message is None:
            self._drained = True
        return message

    async def close(self) -> None:
        if not self._ended:
            self._end()
        current = asyncio.current_task()
        for task in (self._worker, self._watcher):
            if task is not None and task is not current:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        await self._stop_started(quiet=True)

    # ---- plumbing ----------------------------------------------------------------------------
    def _cancel(self, request_id: Any) -> None:
        if not isinstance(request_id, int | str) or request_id not in self._waiting:
            return  # already answered or running: its answer comes as usual
        self._waiting.discard(request_id)
        self._cancelled.add(request_id)
        self._error(request_id, REQUEST_CANCELLED, "the request was cancelled")

    def _answer(self, request_id: Any, result: Any) -> None:
        self._out.put_nowait({"jsonrpc": "2.0", "id": request_id, "result": result})

    def _error(
        self, request_id: Any, code: int, message: str, data: dict[str, Any] | None = None
    ) -> None:
        error: dict[str, Any] = {"code": code, "message": message}
        if data is not None:
            error["data"] = data
        self._out.put_nowait({"jsonrpc": "2.0", "id": request_id, "error": error})

    def _notify(self, method: str, params: dict[str, Any]) -> None:
        self._out.put_nowait({"jsonrpc": "2.0", "method": method, "params": params})

    def _end(self, failure: NexusError | None = None) -> None:
        """Stop taking messages; ``failure`` says why (the proxy tells the editor, once)."""
        if self._ended:
            return
        self._ended = True
        if failure is not None:
            self.failure = failure
        self._out.put_nowait(None)

    async def _call(self, fn: Callable[[], T], action: str) -> T:
        """One blocking SDK call in a worker thread, its failures as Nexus errors."""
        import daytona

        def run() -> T:
            try:
                return fn()
            except daytona.DaytonaError as exc:
                raise errors.translate(exc, action) from None
            except ValueError as exc:  # an answer the SDK's models refuse
                raise NexusError(
                    ErrorCode.DAYTONA_ERROR,
                    f"Daytona answered oddly while trying to {action}: {exc}",
                    "Retry; if it persists, restart the language server.",
                ) from None

        return await run_blocking(run)

    def _gone(self) -> NexusError | None:
        """Why the sandbox can no longer serve the link (blocking); None while it runs or
        when its state cannot be read (an API hiccup is not a stopped workspace)."""
        import daytona

        name = self._workspace.name
        try:
            sandbox = self._access.find_sandbox(self._workspace)
        except (NexusError, daytona.DaytonaError) as exc:
            log.debug("cannot read the sandbox state of %s: %s", name, exc)
            return None
        if sandbox is None:
            return NexusError(
                ErrorCode.WORKSPACE_MISSING,
                f"the sandbox of workspace '{name}' no longer exists: its language server ended",
                f"Delete the workspace (`nexus workspace delete {name}`) and create it again.",
            )
        state = _state(sandbox)
        if state == "started":
            return None
        return NexusError(
            ErrorCode.DAYTONA_SANDBOX_STOPPED,
            f"workspace '{name}' stopped (its sandbox is {state}): its language server ended",
            f"Run `nexus workspace start {name}`, then restart the language server.",
        )

    async def _check_gone(self) -> None:
        gone = await run_blocking(self._gone)
        if gone is not None:
            self._end(gone)
            raise _Ended

    async def _watch(self) -> None:
        while not self._ended:
            await asyncio.sleep(self._watch_interval)
            if self._ended:
                return
            gone = await run_blocking(self._gone)
            if gone is not None:
                self._end(gone)
                if self._worker is not None:
                    self._worker.cancel()
                return

    async def _work(self) -> None:
        while not self._ended:
            message = await self._inbox.get()
            request_id = message.get("id")
            is_request = "id" in message
            if isinstance(request_id, int | str):
                if request_id in self._cancelled:
                    self._cancelled.discard(request_id)
                    continue
                self._waiting.discard(request_id)
            try:
                if is_request:
                    await self._request(request_id, str(message["method"]), message)
                else:
                    await self._notification(str(message["method"]), message)
            except _Ended:
                return
            except Exception as exc:  # a bug must not leave the editor waiting
                log.debug("the link failed on %s", message["method"], exc_info=True)
                if is_request:
                    self._error(request_id, INTERNAL_ERROR, f"Nexus failed: {exc}")

    # ---- requests ----------------------------------------------------------------------------
    async def _request(self, request_id: Any, method: str, message: dict[str, Any]) -> None:
        params = message.get("params")
        params = params if isinstance(params, dict) else {}
        if self._shut_down:
            self._error(request_id, INVALID_REQUEST, f"{method}: the server was shut down")
            return
        if self._server is None and method != "initialize":
            self._error(request_id, SERVER_NOT_INITIALIZED, f"{method}: not initialized yet")
            return
        handler = self._handlers().get(method)
        try:
            result = await handler(params) if handler else self._empty(method)
        except NexusError as exc:
            await self._check_gone()
            data = {"code": exc.code, "resolution": exc.resolution}
            self._error(request_id, INTERNAL_ERROR, exc.message, data)
            return
        self._answer(request_id, result)

    def _handlers(self) -> dict[str, Callable[[dict[str, Any]], Any]]:
        return {
            "initialize": self._initialize,
            "shutdown": self._shutdown,
            "textDocument/completion": self._completion,
            "textDocument/documentSymbol": self._document_symbols,
            "workspace/symbol": self._workspace_symbols,
        }

    @staticmethod
    def _empty(method: str) -> list[Any] | None:
        return [] if method in ARRAY_RESULTS else None

    async def _initialize(self, params: dict[str, Any]) -> dict[str, Any]:
        if self._server is None:
            self._server = await self._call(self._start_server, "start the language server")
            if self._watch_interval > 0:
                self._watcher = asyncio.get_running_loop().create_task(self._watch())
        return {
            "capabilities": {
                "textDocumentSync": {
                    "openClose": True,
                    "change": 0,
                    "save": {"includeText": False},
                },
                "completionProvider": {"triggerCharacters": ["."]},
                "documentSymbolProvider": True,
                "workspaceSymbolProvider": True,
            },
            "serverInfo": {"name": f"nexus-daytona-{self._language}"},
        }

    def _start_server(self) -> Any:
        """The daemon's server for (language, root), started unless it runs (blocking)."""
        sandbox = self._access.require_sandbox(self._workspace)
        state = _state(sandbox)
        if state != "started":
            name = self._workspace.name
            raise NexusError(
                ErrorCode.DAYTONA_SANDBOX_STOPPED,
                f"workspace '{name}' is not running (its sandbox is {state})",
                f"Run `nexus workspace start {name}`.",
            )
        server = sandbox.create_lsp_server(self._language, self._root)
        if _probe(server) != RUNNING:
            _start(server, self._language)
            self._started_here = True
        return server

    async def _shutdown(self, params: dict[str, Any]) -> None:
        self._shut_down = True
        await self._stop_started(quiet=False)

    async def _stop_started(self, *, quiet: bool) -> None:
        """Stop the daemon's server if this link started it (another client may use one that
        was already running). ``quiet``: the link is closing, nobody hears of a failure."""
        if not self._started_here or self._server is None:
            return
        self._started_here = False
        server = self._server
        try:
            await self._call(
                lambda: server.stop(request_timeout=STOP_TIMEOUT), "stop the language server"
            )
        except NexusError as exc:
            if quiet:
                log.debug("could not stop the language server: %s", exc.message)
                return
            await self._check_gone()
            self._notify("window/logMessage", {"type": MESSAGE_WARNING, "message": exc.message})

    async def _completion(self, params: dict[str, Any]) -> dict[str, Any]:
        from daytona import LspCompletionPosition

        document = _document(params)
        position = params.get("position")
        if document is None or not isinstance(position, dict):
            return {"isIncomplete": False, "items": []}
        at = LspCompletionPosition(
            line=int(position.get("line") or 0), character=int(position.get("character") or 0)
        )
        server, path = self._server, document[1]
        found = await self._call(lambda: server.completions(path, at), "get completions")
        items = getattr(found, "items", None) or []
        return {
            "isIncomplete": bool(getattr(found, "is_incomplete", False)),
            "items": [_completion_item(item) for item in items],
        }

    async def _document_symbols(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        document = _document(params)
        if document is None:
            return []
        uri, path = document
        server = self._server
        found = await self._call(lambda: server.document_symbols(path), "get document symbols")
        return [_symbol(symbol, uri) for symbol in found or []]

    async def _workspace_symbols(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        query = params.get("query")
        if not isinstance(query, str) or not query:
            return []  # the daemon refuses an empty query
        server = self._server
        try:
            found = await self._call(
                lambda: server.sandbox_symbols(query), "search the workspace symbols"
            )
        except NexusError as exc:
            if "method not found" in exc.message.lower():
                return []  # a language server without workspace symbols
            raise
        return [_symbol(symbol) for symbol in found or []]

    # ---- notifications -----------------------------------------------------------------------
    async def _notification(self, method: str, message: dict[str, Any]) -> None:
        if method == "exit":
            self._end()
            raise _Ended
        if self._server is None or self._shut_down:
            return
        params = message.get("params")
        document = _document(params) if isinstance(params, dict) else None
        if document is None:
            return
        server, path = self._server, document[1]
        if method in ("textDocument/didOpen", "textDocument/didSave"):
            # a save opens the document again: the server reads the saved text from disk
            call, action = partial(server.did_open, path), f"open {path}"
        elif method == "textDocument/didClose":
            call, action = partial(server.did_close, path), f"close {path}"
        else:
            return
        try:
            await self._call(call, action)
        except NexusError as exc:
            await self._check_gone()
            self._notify("window/logMessage", {"type": MESSAGE_LOG, "message": exc.message})
