"""What the preview tests share: the test app, and clients that speak to a preview's URL."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx

APP = Path(__file__).with_name("app.py")
BIG = 20 << 20  # a 20 MB body


def chunks(total: int, size: int = 1 << 20) -> Iterator[bytes]:
    """``total`` deterministic bytes in pieces (a streamed body)."""
    for index in range(0, total, size):
        yield hashlib.sha256(str(index).encode()).digest() * (min(size, total - index) // 32)


def expected_sha256(total: int) -> str:
    digest = hashlib.sha256()
    for piece in chunks(total):
        digest.update(piece)
    return digest.hexdigest()


def http() -> httpx.Client:
    return httpx.Client(trust_env=False, timeout=60)


def check_keep_alive(url: str) -> None:
    """Two requests on one client connection reach the server on one connection."""
    with http() as client:
        first = client.get(f"{url}conn").json()
        second = client.get(f"{url}conn").json()
    assert first["conn"] == second["conn"]
    assert (first["request"], second["request"]) == (1, 2)


def check_streamed_upload(url: str) -> None:
    """20 MB up, chunked (a generator) and with a Content-Length; the server hashes them."""
    expected = expected_sha256(BIG)
    with http() as client:
        chunked = client.post(f"{url}sha256", content=chunks(BIG))
        sized = client.post(
            f"{url}sha256", content=b"".join(chunks(BIG)), headers={"Content-Type": "x/y"}
        )
    assert (chunked.status_code, chunked.text) == (200, expected)
    assert (sized.status_code, sized.text) == (200, expected)


def check_download(url: str, path: str, sha256: str, size: int) -> None:
    """A large file streamed down, hashed as it arrives."""
    digest = hashlib.sha256()
    received = 0
    with http() as client, client.stream("GET", f"{url}{path}") as response:
        assert response.status_code == 200
        for piece in response.iter_bytes():
            digest.update(piece)
            received += len(piece)
    assert (received, digest.hexdigest()) == (size, sha256)


async def check_websocket(url: str) -> None:
    """A real WebSocket client: text, a large binary message, a ping, then a clean close."""
    ws_url = url.replace("http://", "ws://") + "ws"
    payload = os.urandom(200_000)
    async with (
        aiohttp.ClientSession(trust_env=False) as session,
        session.ws_connect(ws_url, autoping=False) as ws,
    ):
        await ws.send_str("hello through the preview")
        reply = await ws.receive(timeout=30)
        assert (reply.type, reply.data) == (aiohttp.WSMsgType.TEXT, "hello through the preview")
        await ws.send_bytes(payload)
        reply = await ws.receive(timeout=30)
        assert (reply.type, reply.data) == (aiohttp.WSMsgType.BINARY, payload)
        await ws.ping(b"are you there")
        reply = await ws.receive(timeout=30)
        assert (reply.type, reply.data) == (aiohttp.WSMsgType.PONG, b"are you there")
        await ws.close()
        assert ws.closed


def wait_json(process: subprocess.Popen[str], timeout: float = 300) -> dict[str, Any]:
    """The JSON object a foreground preview prints first (indented, over several lines)."""
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.rstrip() == "}":
            parsed: dict[str, Any] = json.loads("".join(lines))
            return parsed
    raise AssertionError(f"no JSON from the preview: {''.join(lines)}")


def stop_background(env: Any) -> None:
    """End the background previews a test left (`preview stop` each one)."""
    listed = env.run("workspace", "preview", "list", "--json")
    if listed.returncode != 0:
        return
    for record in json.loads(listed.stdout)["previews"]:
        env.run("workspace", "preview", "stop", record["workspace"], str(record["port"]))


def two_requests_on_one_socket(url: str, path: str) -> list[bytes]:
    """Two requests written on one TCP connection to the preview, both answered on it."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    bodies = []
    with socket.create_connection((parts.hostname, parts.port), timeout=60) as sock:
        stream = sock.makefile("rb")
        for _ in range(2):
            sock.sendall(f"GET /{path} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode())
            status = stream.readline()
            assert status.startswith(b"HTTP/1.1 200"), status
            headers = {}
            while (line := stream.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            if headers.get("transfer-encoding") == "chunked":
                body = b""
                while size := int(stream.readline().split(b";")[0], 16):
                    body += stream.read(size)
                    stream.readline()
                stream.readline()  # the empty trailer section
            else:
                body = stream.read(int(headers.get("content-length", "0")))
            bodies.append(body)
    return bodies
