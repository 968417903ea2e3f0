"""An HTTP/1.1 reverse proxy to a preview URL (h11 parses both sides).

Each browser connection gets one upstream connection, kept alive across requests while both
sides allow it. Bodies stream both ways (Content-Length and chunked); the Host header becomes
the upstream's and the headers the preview needs (its token) are added here, so the browser
never holds them; redirects to the upstream come back to the local URL. A WebSocket upgrade
is passed on, and after the upstream's 101 the bytes are relayed as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import h11

from . import pages, relay

CHUNK = 65536
MAX_HEAD = 64 * 1024  # request or response line plus headers
CONNECT_TIMEOUT = 30.0
# per hop, never forwarded (RFC 9110 §7.6.1); Transfer-Encoding is redone by h11 on each side
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"upgrade",
    }
)
_COOKIE_DOMAIN = re.compile(rb";\s*domain=[^;]*", re.IGNORECASE)


@dataclass(frozen=True)
class UrlUpstream:
    """Where requests go: ``scheme://host:port/prefix`` plus the headers each one carries."""

    scheme: str
    host: str
    port: int
    prefix: str  # "" or a path without a trailing slash ("/preview/3000-abc")
    headers: tuple[tuple[bytes, bytes], ...] = field(default=())

    @classmethod
    def parse(cls, url: str, headers: dict[str, str] | None = None) -> UrlUpstream:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url}")
        return cls(
            scheme=parts.scheme,
            host=parts.hostname,
            port=parts.port or (443 if parts.scheme == "https" else 80),
            prefix=parts.path.rstrip("/"),
            headers=tuple(
                (name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in (headers or {}).items()
            ),
        )

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.prefix}"

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        context = ssl.create_default_context() if self.scheme == "https" else None
        return await asyncio.wait_for(
            asyncio.open_connection(
                self.host,
                self.port,
                ssl=context,
                server_hostname=self.host if context else None,
            ),
            CONNECT_TIMEOUT,
        )


async def _next_event(conn: h11.Connection, reader: Any) -> Any:
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(CHUNK))
            continue
        return event


class _Upstream:
    """One connection to the upstream, and its h11 state."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)

    @classmethod
    async def open(cls, upstream: UrlUpstream) -> _Upstream:
        return cls(*await upstream.connect())

    def reusable(self) -> bool:
        return (
            self.h11.our_state is h11.IDLE
            and self.h11.their_state is h11.IDLE
            and not self.reader.at_eof()
        )

    async def send(self, event: Any) -> None:
        data = self.h11.send(event)
        if data:
            self.writer.write(data)
            await self.writer.drain()

    async def next_event(self) -> Any:
        return await _next_event(self.h11, self.reader)

    def close(self) -> None:
        relay.close_quietly(self.writer)


class _Gone(Exception):
    """The upstream closed or broke before its response was complete."""


def _tokens(headers: Any, name: bytes) -> set[bytes]:
    found: set[bytes] = set()
    for key, value in headers:
        if key == name:
            found.update(t.strip().lower() for t in value.split(b",") if t.strip())
    return found


def _has_body(request: h11.Request) -> bool:
    for name, value in request.headers:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return True
    return False


async def probe(upstream: UrlUpstream) -> int:
    """The status of ``HEAD /`` through the upstream (raises OSError when it cannot be asked)."""
    conn = await _Upstream.open(upstream)
    try:
        headers = [(b"host", upstream.netloc.encode()), (b"user-agent", b"nexus-preview")]
        await conn.send(
            h11.Request(
                method="HEAD",
                target=(upstream.prefix + "/").encode(),
                headers=[*headers, *upstream.headers],
            )
        )
        await conn.send(h11.EndOfMessage())
        while True:
            event = await asyncio.wait_for(conn.next_event(), CONNECT_TIMEOUT)
            if isinstance(event, h11.Response):
                return int(event.status_code)
            if isinstance(event, h11.ConnectionClosed):
                raise OSError("the connection closed before a response")
    except h11.ProtocolError as exc:
        raise OSError(f"not an HTTP/1.1 answer: {exc}") from None
    finally:
        conn.close()


class HttpProxy:
    """Serves browser connections against one ``UrlUpstream``."""

    def __init__(self, upstream: UrlUpstream, port: int, where: str) -> None:
        self.upstream = upstream
        self.port = port  # the workspace's port, for the error page
        self.where = where
        self.local_origin = ""  # http://127.0.0.1:N, set once the server listens
        self._added = {name for name, _ in upstream.headers}

    # ---- headers ---------------------------------------------------------------------------
    def _target(self, target: bytes) -> bytes:
        if not target.startswith(b"/"):
            if target == b"*":
                target = b"/"
            else:  # absolute-form (a client that takes us for a forward proxy)
                parts = urlsplit(target.decode("latin-1"))
                path = parts.path or "/"
                target = (path + (f"?{parts.query}" if parts.query else "")).encode("latin-1")
        return self.upstream.prefix.encode("latin-1") + target

    def _request_headers(self, request: h11.Request) -> list[tuple[bytes, bytes]]:
        listed = _tokens(request.headers, b"connection")
        out = [(b"host", self.upstream.netloc.encode("latin-1"))]
        upgrade = None
        for name, value in request.headers:
            if name == b"upgrade" and b"upgrade" in listed:
                upgrade = value
            if name in HOP_BY_HOP or name in listed or name == b"host" or name in self._added:
                continue
            out.append((name, value))
        if upgrade is not None:
            out += [(b"connection", b"upgrade"), (b"upgrade", upgrade)]
        return out + list(self.upstream.headers)

    def _location(self, value: bytes) -> bytes:
        text = value.decode("latin-1")
        base = self.upstream.base
        if text == base or text.startswith((base + "/", base + "?")):
            return (self.local_origin + (text[len(base) :] or "/")).encode("latin-1")
        prefix = self.upstream.prefix
        if prefix and text.startswith(prefix + "/") and not text.startswith("//"):
            return text[len(prefix) :].encode("latin-1")
        return value

    def _response_headers(self, headers: Any) -> list[tuple[bytes, bytes]]:
        listed = _tokens(headers, b"connection")
        out = []
        for name, value in headers:
            if name in HOP_BY_HOP or name in listed or name == b"transfer-encoding":
                continue
            if name == b"location":
                value = self._location(value)
            elif name == b"set-cookie":  # the cookie belongs to the local URL now
                value = _COOKIE_DOMAIN.sub(b"", value)
            out.append((name, value))
        return out

    # ---- one browser connection ----------------------------------------------------------------
    async def serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        client = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        up: _Upstream | None = None
        try:
            while True:
                try:
                    event = await _next_event(client, reader)
                except h11.RemoteProtocolError as exc:
                    if client.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                        writer.write(pages.page(400, "Bad request", str(exc)))
                        await writer.drain()
                    return
                if not isinstance(event, h11.Request):
                    return  # ConnectionClosed
                up, keep = await self._exchange(event, client, reader, writer, up)
                if not keep or client.our_state is not h11.DONE:
                    return
                if client.their_state is not h11.DONE:
                    return
                client.start_next_cycle()
                if up is not None:
                    if up.h11.our_state is h11.DONE and up.h11.their_state is h11.DONE:
                        up.h11.start_next_cycle()
                    else:
                        up.close()
                        up = None
        except (OSError, h11.ProtocolError, _Gone, asyncio.IncompleteReadError):
            return
        finally:
            if up is not None:
                up.close()
            relay.close_quietly(writer)

    async def _client_send(self, client: h11.Connection, writer: Any, event: Any) -> None:
        data = client.send(event)
        if data:
            writer.write(data)
            await writer.drain()

    async def _bad_gateway(self, writer: Any, reason: str) -> None:
        writer.write(pages.unreachable(self.port, self.where, reason))
        with contextlib.suppress(OSError):
            await writer.drain()

    async def _exchange(
        self,
        request: h11.Request,
        client: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up: _Upstream | None,
    ) -> tuple[_Upstream | None, bool]:
        """One request and its response; returns the upstream connection to keep (or None)
        and whether the browser connection may carry another request."""
        forward = h11.Request(
            method=request.method,
            target=self._target(request.target),
            headers=self._request_headers(request),
        )
        body = _has_body(request)
        if not body:
            await _next_event(client, reader)  # its EndOfMessage, already received
        # a kept connection the upstream closed meanwhile: a request without a body is sent
        # again on a new one (nothing of it can have been acted on twice)
        for attempt in (1, 2):
            reused = up is not None and up.reusable()
            if not reused:
                if up is not None:
                    up.close()
                try:
                    up = await _Upstream.open(self.upstream)
                except (OSError, TimeoutError, ssl.SSLError) as exc:
                    await self._bad_gateway(writer, str(exc) or type(exc).__name__)
                    return None, False
            assert up is not None
            first = None
            try:
                await up.send(forward)
                if not body:
                    await up.send(h11.EndOfMessage())
                    first = await up.next_event()
            except (OSError, h11.ProtocolError) as exc:
                up.close()
                up = None
                if reused and attempt == 1:
                    continue
                await self._bad_gateway(writer, str(exc) or type(exc).__name__)
                return None, False
            if isinstance(first, h11.ConnectionClosed) and reused and attempt == 1:
                up.close()
                up = None
                continue
            return up, await self._respond(client, reader, writer, up, first)
        return None, False

    async def _pump_body(
        self, client: h11.Connection, reader: asyncio.StreamReader, up: _Upstream
    ) -> None:
        while True:
            event = await _next_event(client, reader)
            if isinstance(event, h11.Data):
                await up.send(h11.Data(data=event.data))
            elif isinstance(event, h11.EndOfMessage):
                await up.send(h11.EndOfMessage())
                return
            else:
                raise _Gone("the browser closed the connection mid-request")

    async def _respond(
        self,
        client: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up: _Upstream,
        first: Any = None,
    ) -> bool:
        """Relay the upstream's response (the request body streams meanwhile, if any)."""
        body_task = (
            asyncio.create_task(self._pump_body(client, reader, up))
            if client.their_state is h11.SEND_BODY
            else None
        )
        try:
            event = first if first is not None else await up.next_event()
            while isinstance(event, h11.InformationalResponse):
                if event.status_code == 101:
                    await self._switch(client, reader, writer, up, event)
                    return False
                await self._client_send(
                    client,
                    writer,
                    h11.InformationalResponse(
                        status_code=event.status_code,
                        headers=self._response_headers(event.headers),
                        reason=event.reason,
                    ),
                )
                event = await up.next_event()
            if not isinstance(event, h11.Response):
                if client.our_state is h11.SEND_RESPONSE:
                    await self._bad_gateway(writer, "the preview closed the connection")
                return False
            await self._client_send(
                client,
                writer,
                h11.Response(
                    status_code=event.status_code,
                    headers=self._response_headers(event.headers),
                    reason=event.reason,
                ),
            )
            while True:
                event = await up.next_event()
                if isinstance(event, h11.Data):
                    await self._client_send(client, writer, h11.Data(data=event.data))
                elif isinstance(event, h11.EndOfMessage):
                    await self._client_send(client, writer, h11.EndOfMessage())
                    break
                else:
                    raise _Gone("the preview closed the connection mid-response")
            if body_task is not None:
                if not body_task.done():  # answered before the whole body was sent
                    return False
                body_task.result()
            return True
        finally:
            if body_task is not None and not body_task.done():
                body_task.cancel()
                with contextlib.suppress(BaseException):
                    await body_task

    async def _switch(
        self,
        client: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up: _Upstream,
        accepted: h11.InformationalResponse,
    ) -> None:
        """The upstream switched protocols (a WebSocket): tell the browser, then relay bytes."""
        await self._client_send(
            client,
            writer,
            h11.InformationalResponse(
                status_code=101, headers=list(accepted.headers), reason=accepted.reason
            ),
        )
        from_upstream, _ = up.h11.trailing_data
        from_client, _ = client.trailing_data
        if from_upstream:
            writer.write(from_upstream)
        if from_client:
            up.writer.write(from_client)
        await relay.relay((reader, writer), (up.reader, up.writer))
