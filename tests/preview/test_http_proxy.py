"""The HTTP/1.1 reverse proxy in-process, against the real test app on this machine (no
workspace): headers, keep-alive, streamed bodies both ways, WebSockets, a dead upstream."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from nexus.preview.http_proxy import HttpProxy, UrlUpstream
from nexus.preview.server import LocalServer
from tests.preview import helpers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def app_port() -> Iterator[int]:
    port = free_port()
    process = subprocess.Popen([sys.executable, str(helpers.APP), str(port)])
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                import time

                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(10)


async def start_proxy(upstream: UrlUpstream) -> LocalServer:
    proxy = HttpProxy(upstream, 1234, "the test")
    server = LocalServer(proxy.serve_connection)
    await server.start(0)
    proxy.local_origin = server.url.rstrip("/")
    return server


@pytest.fixture
async def proxy_url(app_port: int) -> AsyncIterator[str]:
    upstream = UrlUpstream.parse(f"http://127.0.0.1:{app_port}/", {"X-Preview-Token": "s3cret"})
    server = await start_proxy(upstream)
    try:
        yield server.url
    finally:
        await server.close()


async def in_thread(fn, *args):  # type: ignore[no-untyped-def]
    return await asyncio.to_thread(fn, *args)


async def test_headers_are_the_upstreams(proxy_url: str, app_port: int) -> None:
    async with httpx.AsyncClient(trust_env=False) as client:
        seen = (await client.get(f"{proxy_url}headers")).json()
    assert seen["host"] == f"127.0.0.1:{app_port}"
    assert seen["x-preview-token"] == "s3cret"


async def test_a_token_sent_by_the_browser_is_replaced(proxy_url: str) -> None:
    async with httpx.AsyncClient(trust_env=False) as client:
        seen = (await client.get(f"{proxy_url}headers", headers={"X-Preview-Token": "x"})).json()
    assert seen["x-preview-token"] == "s3cret"


async def test_keep_alive_reuses_one_upstream_connection(proxy_url: str) -> None:
    await in_thread(helpers.check_keep_alive, proxy_url)


async def test_large_bodies_stream_both_ways(proxy_url: str) -> None:
    await in_thread(helpers.check_streamed_upload, proxy_url)


async def test_websocket_upgrade_is_relayed(proxy_url: str) -> None:
    await helpers.check_websocket(proxy_url)


async def test_a_dead_upstream_gives_a_502_page() -> None:
    server = await start_proxy(UrlUpstream.parse(f"http://127.0.0.1:{free_port()}/"))
    try:
        async with httpx.AsyncClient(trust_env=False) as client:
            page = await client.get(f"{server.url}anything")
        assert page.status_code == 502
        assert "Nothing answers on port 1234" in page.text
    finally:
        await server.close()


def test_redirects_to_the_upstream_come_back_to_the_local_url() -> None:
    upstream = UrlUpstream.parse("https://3000-abc.proxy.example/")
    proxy = HttpProxy(upstream, 3000, "the test")
    proxy.local_origin = "http://127.0.0.1:3000"
    assert proxy._location(b"https://3000-abc.proxy.example/login?x=1") == (
        b"http://127.0.0.1:3000/login?x=1"
    )
    assert proxy._location(b"/relative") == b"/relative"
    assert proxy._location(b"https://elsewhere.example/") == b"https://elsewhere.example/"
    prefixed = HttpProxy(UrlUpstream.parse("http://127.0.0.1:9/preview/3000-abc"), 3000, "t")
    assert prefixed._location(b"/preview/3000-abc/dir/") == b"/dir/"
