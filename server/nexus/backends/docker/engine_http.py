"""Reading the Docker engine's container list straight from its unix socket.

One GET over HTTP/1.0 (the engine closes the connection after the answer, so the body is
everything up to EOF), with no third-party import: `workspace list` asks the engine this one
question, and the docker SDK (with requests and urllib3) costs far more to import than the
question takes. Engines reached any other way (tcp://, ssh://, TLS) are left to the SDK.
"""

from __future__ import annotations

# The C module: ``socket`` builds its enums at import, a cost `workspace list` cannot afford.
import _socket
import json
import os
from typing import Any

from .engine import docker_error, docker_unavailable

DEFAULT_SOCKET = "/var/run/docker.sock"
# the API version the docker SDK speaks here too: the same answers whichever path asks
API_PREFIX = "/v1.41"
TIMEOUT_SECONDS = 60.0
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def socket_path(host: str | None) -> str | None:
    """The unix socket a Docker host (``DOCKER_HOST`` form; empty: the default socket) names;
    None for any other kind of address."""
    if not host:
        return DEFAULT_SOCKET
    if host.startswith("unix://") and len(host) > len("unix://"):
        return host[len("unix://") :]
    return None


def quote(text: str, safe: bytes = b"") -> str:
    """Percent-encoding for a query value (``urllib.parse.quote`` with ``safe=""``), or a path
    segment (the SDK's ``safe="/:"``: an image reference keeps its slashes and tag)."""
    keep = _UNRESERVED | frozenset(safe)
    return "".join(chr(b) if b in keep else f"%{b:02X}" for b in text.encode())


def _request(
    path: str,
    method: str,
    target: str,
    timeout: float,
    body: bytes | None = None,
    content_type: str = "application/json",
) -> tuple[int, bytes]:
    """The status code and body of one request to the engine at socket ``path``."""
    request = f"{method} {API_PREFIX}{target} HTTP/1.0\r\nHost: docker\r\n"
    if body is not None:
        request += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall((request + "\r\n").encode() + (body or b""))
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    finally:
        sock.close()
    head, separator, answer = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *headers = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if not separator or len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise ValueError(f"not an HTTP answer: {status_line[:80]!r}")
    for header in headers:
        name, _, value = header.partition(":")
        if name.strip().lower() == "content-length" and len(answer) < int(value):
            raise ValueError("the answer ended early")
    return int(parts[1]), answer


def list_containers(
    path: str,
    filters: dict[str, list[str]],
    *,
    host: str | None = None,
    timeout: float = TIMEOUT_SECONDS,
) -> list[dict[str, Any]]:
    """Every container matching ``filters`` (stopped ones too), as the engine summarises them.

    DOCKER_UNAVAILABLE when the engine cannot be reached (``host`` names it in the message),
    DOCKER_ERROR when it answers with an error.
    """
    target = "/containers/json?all=1&filters=" + quote(json.dumps(filters))
    data = Engine(path, host, timeout).call("list containers", "GET", target)
    if not isinstance(data, list):
        raise docker_unavailable("unreadable answer (not a container list)", host)
    return [item for item in data if isinstance(item, dict)]


def engine_socket(host: str | None) -> str | None:
    """The unix socket of the engine at ``host`` (None: ``DOCKER_HOST``, else the default), or
    None when the engine is reached some other way."""
    return socket_path(host or os.environ.get("DOCKER_HOST"))


class Engine:
    """The few engine calls a Docker create makes, straight over the unix socket: with them a
    create never imports the docker SDK (and requests, urllib3), which costs more than the
    calls. Failures are the errors the SDK path gives (``engine.translate``)."""

    def __init__(self, path: str, host: str | None, timeout: float = TIMEOUT_SECONDS) -> None:
        self.path = path
        self.host = host
        self.timeout = timeout

    def call(
        self,
        action: str,
        method: str,
        target: str,
        payload: Any = None,
        *,
        body: bytes | None = None,
        content_type: str = "application/json",
        missing_ok: bool = False,
    ) -> Any:
        """The decoded JSON answer (None for an empty one, or a 404 with ``missing_ok``)."""
        if payload is not None:
            body = json.dumps(payload).encode()
        try:
            status, raw = _request(self.path, method, target, self.timeout, body, content_type)
        except TimeoutError:
            raise docker_unavailable(f"no answer within {self.timeout:g}s", self.host) from None
        except OSError as exc:
            raise docker_unavailable(str(exc) or type(exc).__name__, self.host) from None
        except ValueError as exc:
            raise docker_unavailable(f"unreadable answer ({exc})", self.host) from None
        try:
            data: Any = json.loads(raw) if raw.strip() else None
        except ValueError:
            data = None
        if status == 404 and missing_ok:
            return None
        if not 200 <= status < 300:
            message = data.get("message") if isinstance(data, dict) else None
            detail = str(message or raw.decode("utf-8", "replace").strip() or f"HTTP {status}")
            raise docker_error(action, detail)
        return data

    def ping(self) -> None:
        self.call("reach the engine", "GET", "/_ping")

    def image_id(self, reference: str) -> str | None:
        found = self.call(
            "inspect an image", "GET", f"/images/{quote(reference, b'/:')}/json", missing_ok=True
        )
        return str(found["Id"]) if isinstance(found, dict) and found.get("Id") else None

    def container(self, container_id: str) -> dict[str, Any] | None:
        found = self.call(
            "inspect a container",
            "GET",
            f"/containers/{quote(container_id, b'/:')}/json",
            missing_ok=True,
        )
        return found if isinstance(found, dict) else None
