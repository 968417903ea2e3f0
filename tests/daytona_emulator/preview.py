"""Preview proxy: `/preview/{port}-{sandboxId or signed token}/...` reaches a port in the sandbox.

The request travels through an SSH local forward into the sandbox (its sshd is published on
127.0.0.1), so nothing ever connects to a container's bridge address.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web

from .state import Sandbox, Store
from .upstream import Upstream

log = logging.getLogger(__name__)

PREVIEW_TOKEN_HEADER = "x-daytona-preview-token"
AUTH_QUERY = "DAYTONA_SANDBOX_AUTH_KEY"
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


def _same(a: str | None, b: str) -> bool:
    return a is not None and hmac.compare_digest(a.encode(), b.encode())


class PreviewProxy:
    def __init__(self, store: Store, upstream: Upstream, api_key: Callable[[], str]) -> None:
        self.store = store
        self.upstream = upstream
        self.api_key = api_key
        self._client: aiohttp.ClientSession | None = None

    def register(self, app: web.Application) -> None:
        app.router.add_route("*", "/preview/{label}", self.handle)
        app.router.add_route("*", "/preview/{label}/{tail:.*}", self.handle)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()

    def _client_session(self) -> aiohttp.ClientSession:
        if self._client is None:
            self._client = aiohttp.ClientSession(
                trust_env=False,
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            )
        return self._client

    def _authorize(self, request: web.Request, ident: str, port: int) -> Sandbox | None:
        """Return the sandbox if the request may reach it, raise 401/404 otherwise."""
        with self.store.lock:
            signed = self.store.signed_previews.get(ident)
        if signed is not None:
            if not signed.valid() or signed.port != port:
                raise web.HTTPUnauthorized(text="Signed preview URL expired or invalid")
            return self.store.find(signed.sandbox_id)
        sandbox = self.store.sandboxes.get(ident)
        if sandbox is None:
            return None
        bearer = request.headers.get("Authorization", "")
        if (
            sandbox.public
            or _same(request.headers.get(PREVIEW_TOKEN_HEADER), sandbox.preview_token)
            or _same(request.query.get(AUTH_QUERY), sandbox.preview_token)
            or (bearer.startswith("Bearer ") and _same(bearer[7:], self.api_key()))
        ):
            return sandbox
        raise web.HTTPUnauthorized(text="Missing or invalid preview token")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        port_text, _, ident = request.match_info["label"].partition("-")
        if not port_text.isdigit() or not ident or not 1 <= int(port_text) <= 65535:
            raise web.HTTPNotFound(text="Invalid preview URL")
        port = int(port_text)
        sandbox = self._authorize(request, ident, port)
        if sandbox is None:
            raise web.HTTPNotFound(text="Sandbox not found")
        if sandbox.state != "started" or sandbox.ssh_port is None:
            raise web.HTTPBadGateway(text=f"Sandbox is not started (state: {sandbox.state})")
        sandbox.touch()
        try:
            local_port = await self.upstream.local_forward(
                sandbox.id, sandbox.ssh_port, sandbox.user, port
            )
        except OSError as exc:
            raise web.HTTPBadGateway(text=f"Sandbox unreachable: {exc}") from exc

        tail = request.match_info.get("tail", "").lstrip("/")
        query = {k: v for k, v in request.query.items() if k != AUTH_QUERY}
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() not in HOP_BY_HOP and k.lower() != PREVIEW_TOKEN_HEADER
        }
        headers["Host"] = f"localhost:{port}"
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request, f"http://127.0.0.1:{local_port}/{tail}", query)
        body = request.content if request.body_exists else None
        try:
            async with self._client_session().request(
                request.method,
                f"http://127.0.0.1:{local_port}/{tail}",
                params=query,
                headers=headers,
                data=body,
                allow_redirects=False,
            ) as upstream:
                response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
                for key, value in upstream.headers.items():
                    if key.lower() not in HOP_BY_HOP:
                        response.headers.add(key, value)
                await response.prepare(request)
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
                await response.write_eof()
                return response
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            log.info("preview: port %s of sandbox %s unreachable: %s", port, sandbox.id, exc)
            raise web.HTTPBadGateway(text=f"No service listening on port {port}") from exc

    async def _websocket(
        self, request: web.Request, url: str, query: dict[str, str]
    ) -> web.StreamResponse:
        """A WebSocket upgrade, as Daytona's proxy passes them on: the sandbox's server
        answers the handshake first, then messages travel both ways until either side closes."""
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() not in HOP_BY_HOP
            and k.lower() != PREVIEW_TOKEN_HEADER
            and not k.lower().startswith("sec-websocket-")
        }
        protocols = [
            p.strip()
            for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
            if p.strip()
        ]
        try:
            upstream = await self._client_session().ws_connect(
                url, params=query, headers=headers, protocols=protocols, autoping=False
            )
        except (aiohttp.ClientError, aiohttp.WSServerHandshakeError) as exc:
            raise web.HTTPBadGateway(text=f"WebSocket upgrade refused: {exc}") from exc
        downstream = web.WebSocketResponse(protocols=protocols, autoping=False)
        await downstream.prepare(request)

        async def copy(source: Any, sink: Any) -> None:
            async for message in source:
                if message.type == aiohttp.WSMsgType.TEXT:
                    await sink.send_str(message.data)
                elif message.type == aiohttp.WSMsgType.BINARY:
                    await sink.send_bytes(message.data)
                elif message.type == aiohttp.WSMsgType.PING:
                    await sink.ping(message.data)
                elif message.type == aiohttp.WSMsgType.PONG:
                    await sink.pong(message.data)
            await sink.close()

        tasks = [
            asyncio.create_task(copy(downstream, upstream)),
            asyncio.create_task(copy(upstream, downstream)),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await upstream.close()
            await downstream.close()
        return downstream
