"""The toolbox's LSP endpoints, backed by a real language server in the sandbox.

Modelled on the v0.190 daemon (``apps/daemon/pkg/toolbox/lsp``): one server per (languageId,
pathToProject), a JSON-RPC client speaking LSP over the server's stdio, the same initialize
params, and the same answers and failures. The server process runs inside the sandbox container
(``pylsp`` for python, ``typescript-language-server --stdio`` for typescript); its stdio is an SSH
exec channel through the sandbox sshd, so the bytes are the ones the daemon would exchange.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import asyncssh
from aiohttp import web

from .errors import ApiError, daemon_error
from .runtime import HOME

if TYPE_CHECKING:
    from .service import SandboxService
    from .state import Sandbox

log = logging.getLogger(__name__)

# languageId -> the command the daemon starts (python_lsp.go, typescript_lsp.go)
COMMANDS = {
    "python": "pylsp",
    "typescript": "typescript-language-server --stdio",
}
CALL_TIMEOUT = 60.0  # the daemon waits forever; a test must not
SYMBOL_KINDS = list(range(1, 14))


class RpcError(Exception):
    """A JSON-RPC error answer, worded like sourcegraph/jsonrpc2's ``Error.Error()``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"jsonrpc2: code {code} message: {message}")


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(data), content_type="application/json")


class JsonRpcClient:
    """LSP base protocol (Content-Length framing) over a process's stdin/stdout."""

    def __init__(self, process: asyncssh.SSHClientProcess[bytes]) -> None:
        self.process = process
        self._next_id = 0
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._reader = asyncio.get_running_loop().create_task(self._read_loop())

    async def _read_message(self) -> dict[str, Any] | None:
        length = None
        while True:
            line = await self.process.stdout.readline()
            if not line:
                return None
            line = line.strip()
            if not line:
                break
            name, _, value = line.decode("ascii", "replace").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        if length is None:
            return {}
        body = await self.process.stdout.readexactly(length)
        message = json.loads(body)
        return message if isinstance(message, dict) else {}

    async def _read_loop(self) -> None:
        try:
            while True:
                message = await self._read_message()
                if message is None:
                    break
                if "method" in message:
                    # a request from the server: the daemon's handler answers every one with null
                    if "id" in message:
                        self._send({"jsonrpc": "2.0", "id": message["id"], "result": None})
                    continue
                future = self._pending.pop(message.get("id"), None)  # type: ignore[arg-type]
                if future is None or future.done():
                    continue
                error = message.get("error")
                if isinstance(error, dict):
                    future.set_exception(
                        RpcError(int(error.get("code", 0)), str(error.get("message", "")))
                    )
                else:
                    future.set_result(message.get("result"))
        except (asyncio.IncompleteReadError, ValueError, asyncssh.Error, OSError) as exc:
            log.debug("language server stream ended: %s", exc)
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("jsonrpc2: connection is closed"))
            self._pending.clear()

    def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps(message).encode()
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    async def call(self, method: str, params: Any) -> Any:
        self._next_id += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[self._next_id] = future
        self._send({"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params})
        return await asyncio.wait_for(future, CALL_TIMEOUT)

    def notify(self, method: str, params: Any) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(Exception):
            self.process.stdin.write_eof()
        self.process.close()


@dataclass
class LspServer:
    language_id: str  # the language whose server runs (start always builds TypeScript, see below)
    client: JsonRpcClient | None = None
    documents: set[str] = field(default_factory=set)

    @property
    def initialized(self) -> bool:
        return self.client is not None


def _initialize_params(path_to_project: str, language_id: str) -> dict[str, Any]:
    """python_lsp.go / typescript_lsp.go ``InitializeParams``, field for field."""
    name = "datyona-python-lsp-client" if language_id == "python" else "daytona-ts-lsp-client"
    return {
        "processId": 1,  # the daemon's own pid; pylsp does not watch it unless told to
        "clientInfo": {"name": name, "version": "0.0.1"},
        "rootUri": "file://" + path_to_project,
        "capabilities": {
            "textDocument": {
                "completion": {
                    "dynamicRegistration": True,
                    "completionItem": {
                        "snippetSupport": True,
                        "commitCharactersSupport": True,
                        "documentationFormat": ["markdown", "plaintext"],
                        "deprecatedSupport": True,
                        "preselectSupport": True,
                    },
                    "contextSupport": True,
                },
                "documentSymbol": {
                    "dynamicRegistration": True,
                    "symbolKind": {"valueSet": SYMBOL_KINDS},
                },
            },
            "workspace": {"symbol": {"dynamicRegistration": True}},
        },
    }


def _completion_item(item: dict[str, Any]) -> dict[str, Any]:
    """client.go ``parseCompletionItem``: label, kind, detail, sortText, filterText,
    insertText, documentation — nothing else survives."""
    out: dict[str, Any] = {"label": item.get("label")}
    if isinstance(item.get("kind"), int | float) and not isinstance(item.get("kind"), bool):
        out["kind"] = int(item["kind"])
    for key in ("detail", "sortText", "filterText", "insertText"):
        if isinstance(item.get(key), str):
            out[key] = item[key]
    if item.get("documentation") is not None:
        out["documentation"] = item["documentation"]
    return out


def _completion_list(result: Any) -> dict[str, Any]:
    items: list[dict[str, Any]] | None = None
    incomplete = False
    if isinstance(result, dict):
        if isinstance(result.get("items"), list):
            items = [_completion_item(i) for i in result["items"] if isinstance(i, dict)]
            incomplete = bool(result.get("isIncomplete"))
    elif isinstance(result, list):
        items = [_completion_item(i) for i in result if isinstance(i, dict)]
    return {"isIncomplete": incomplete, "items": items}


def _position(value: Any) -> dict[str, int]:
    value = value if isinstance(value, dict) else {}
    return {"character": int(value.get("character") or 0), "line": int(value.get("line") or 0)}


def _symbols(result: Any) -> list[dict[str, Any]] | None:
    """Decoded into the daemon's ``[]LspSymbol``: kind, location{range, uri}, name."""
    if result is None:
        return None
    symbols = []
    for item in result if isinstance(result, list) else []:
        if not isinstance(item, dict):
            continue
        location: dict[str, Any] = item.get("location") or {}
        location = location if isinstance(location, dict) else {}
        rng: dict[str, Any] = location.get("range") or {}
        rng = rng if isinstance(rng, dict) else {}
        symbols.append(
            {
                "kind": int(item.get("kind") or 0),
                "location": {
                    "range": {
                        "end": _position(rng.get("end")),
                        "start": _position(rng.get("start")),
                    },
                    "uri": str(location.get("uri") or ""),
                },
                "name": str(item.get("name") or ""),
            }
        )
    return symbols


class LspRoutes:
    """``/toolbox/{id}/lsp/*``: the daemon's LSPService, one per sandbox."""

    def __init__(self, service: SandboxService) -> None:
        self.service = service
        self.servers: dict[tuple[str, str, str], LspServer] = {}  # (sandbox, language, path)

    def register(self, app: web.Application, prefix: str) -> None:
        r = app.router
        r.add_post(prefix + "/lsp/start", self.start)
        r.add_post(prefix + "/lsp/stop", self.stop)
        r.add_post(prefix + "/lsp/did-open", self.did_open)
        r.add_post(prefix + "/lsp/did-close", self.did_close)
        r.add_post(prefix + "/lsp/completions", self.completions)
        r.add_get(prefix + "/lsp/document-symbols", self.document_symbols)
        r.add_get(prefix + "/lsp/workspacesymbols", self.workspace_symbols)

    def _sandbox(self, request: web.Request) -> Sandbox:
        sandbox = self.service.store.find(request.match_info["id"])
        if sandbox is None:
            raise ApiError(404, "Sandbox not found", source="DAYTONA_PROXY")
        self.service.require_started(sandbox)
        return sandbox

    @staticmethod
    async def _body(request: web.Request, *fields: str) -> dict[str, Any]:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise daemon_error(400, f"invalid request body: {exc}", "BAD_REQUEST") from exc
        if not isinstance(body, dict):
            raise daemon_error(400, "invalid request body", "BAD_REQUEST")
        for name in fields:  # gin binds missing strings as ""
            if not isinstance(body.get(name), str):
                body[name] = ""
        return body

    def _get(self, sandbox: Sandbox, language_id: str, path: str) -> LspServer:
        """service.go ``Get``: an unknown key gets a new, uninitialized server of its language."""
        key = (sandbox.id, language_id, path)
        server = self.servers.get(key)
        if server is not None:
            return server
        if language_id not in COMMANDS:
            raise daemon_error(400, f"unsupported language: {language_id}", "BAD_REQUEST")
        server = LspServer(language_id)
        self.servers[key] = server
        return server

    def _ready(self, sandbox: Sandbox, language_id: str, path: str) -> JsonRpcClient:
        server = self._get(sandbox, language_id, path)
        if server.client is None:
            raise daemon_error(400, "server not initialized", "LSP_SERVER_NOT_INITIALIZED")
        return server.client

    async def _spawn(self, sandbox: Sandbox, server: LspServer, path: str) -> None:
        assert sandbox.ssh_port is not None
        conn = await self.service.upstream.shared(sandbox.id, sandbox.ssh_port, sandbox.user)
        # the daemon execs the server directly: a missing binary fails the start
        command = f"cd {shlex.quote(HOME)} && exec {COMMANDS[server.language_id]}"
        process = await conn.create_process(command, encoding=None)
        client = JsonRpcClient(process)
        try:
            await client.call("initialize", _initialize_params(path, server.language_id))
            client.notify("initialized", None)
        except BaseException:
            client.close()
            raise
        server.client = client

    async def start(self, request: web.Request) -> web.Response:
        sandbox = self._sandbox(request)
        body = await self._body(request, "languageId", "pathToProject")
        language_id, path = body["languageId"], body["pathToProject"]
        key = (sandbox.id, language_id, path)
        server = self.servers.get(key)
        if server is not None and server.initialized:
            return web.Response(status=200)
        if server is None:
            server = LspServer(language_id if language_id in COMMANDS else "typescript")
            self.servers[key] = server
        try:
            await self._spawn(sandbox, server, path)
        except (RpcError, ConnectionError, TimeoutError, asyncssh.Error, OSError) as exc:
            log.info("error starting LSP server: %s", exc)
            raise daemon_error(500, "error starting LSP server", "INTERNAL_SERVER_ERROR") from exc
        return web.Response(status=200)

    async def stop(self, request: web.Request) -> web.Response:
        sandbox = self._sandbox(request)
        body = await self._body(request, "languageId", "pathToProject")
        key = (sandbox.id, body["languageId"], body["pathToProject"])
        server = self.servers.pop(key, None)
        if server is None or server.client is None:
            # no server (or one Get made but never started: the daemon's nil client panics)
            raise daemon_error(500, "error stopping LSP server", "INTERNAL_SERVER_ERROR")
        with contextlib.suppress(Exception):
            server.client.notify("shutdown", None)  # the daemon sends it as a notification
        server.client.close()
        return web.Response(status=200)

    async def _call(self, client: JsonRpcClient, method: str, params: Any) -> Any:
        try:
            return await client.call(method, params)
        except (RpcError, ConnectionError, TimeoutError) as exc:
            raise daemon_error(400, str(exc) or "jsonrpc2: timeout", "BAD_REQUEST") from exc

    async def did_open(self, request: web.Request) -> web.Response:
        sandbox = self._sandbox(request)
        body = await self._body(request, "languageId", "pathToProject", "uri")
        client = self._ready(sandbox, body["languageId"], body["pathToProject"])
        uri = body["uri"]
        path = uri.removeprefix("file://")
        code, output = await self.service.exec(sandbox, ["cat", "--", path or "."], workdir=HOME)
        if code != 0:
            reason = output.decode(errors="replace").strip().rpartition(": ")[2]
            raise daemon_error(
                400, f"failed to read file: open {path}: {reason.lower()}", "BAD_REQUEST"
            )
        server = self.servers[(sandbox.id, body["languageId"], body["pathToProject"])]
        client.notify(
            "textDocument/didOpen",
            {
                "textDocument": {
                    "uri": uri,
                    "languageId": server.language_id,
                    "version": 1,
                    "text": output.decode(errors="replace"),
                }
            },
        )
        server.documents.add(uri)
        return web.Response(status=200)

    async def did_close(self, request: web.Request) -> web.Response:
        sandbox = self._sandbox(request)
        body = await self._body(request, "languageId", "pathToProject", "uri")
        client = self._ready(sandbox, body["languageId"], body["pathToProject"])
        client.notify("textDocument/didClose", {"textDocument": {"uri": body["uri"]}})
        self.servers[(sandbox.id, body["languageId"], body["pathToProject"])].documents.discard(
            body["uri"]
        )
        return web.Response(status=200)

    async def completions(self, request: web.Request) -> web.Response:
        sandbox = self._sandbox(request)
        body = await self._body(request, "languageId", "pathToProject", "uri")
        client = self._ready(sandbox, body["languageId"], body["pathToProject"])
        params: dict[str, Any] = {
            "textDocument": {"uri": body["uri"]},
            "position": _position(body.get("position")),
        }
        if isinstance(body.get("context"), dict):
            params["context"] = body["context"]
        result = await self._call(client, "textDocument/completion", params)
        return _json(_completion_list(result))

    def _query(self, request: web.Request, *names: str) -> dict[str, str]:
        values = {}
        for name in names:
            value = request.query.get(name, "")
            if not value:
                raise daemon_error(400, f"{name} is required", "BAD_REQUEST")
            values[name] = value
        return values

    async def document_symbols(self, request: web.Request) -> web.Response:
        sandbox = self._sandbox(request)
        q = self._query(request, "languageId", "pathToProject", "uri")
        client = self._ready(sandbox, q["languageId"], q["pathToProject"])
        result = await self._call(
            client, "textDocument/documentSymbol", {"textDocument": {"uri": q["uri"]}}
        )
        return _json(_symbols(result))

    async def workspace_symbols(self, request: web.Request) -> web.Response:
        sandbox = self._sandbox(request)
        q = self._query(request, "query", "languageId", "pathToProject")
        client = self._ready(sandbox, q["languageId"], q["pathToProject"])
        result = await self._call(client, "workspace/symbol", {"query": q["query"]})
        return _json(_symbols(result))

    def forget(self, sandbox_id: str) -> None:
        """The sandbox stopped: its daemon, and every server it ran, is gone."""
        for key in [k for k in self.servers if k[0] == sandbox_id]:
            server = self.servers.pop(key)
            if server.client is not None:
                server.client.close()
