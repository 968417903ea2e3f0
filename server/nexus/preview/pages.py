"""The proxy's own answers (502 and 400 pages), as complete HTTP/1.1 responses."""

from __future__ import annotations

import html

REASONS = {400: "Bad Request", 502: "Bad Gateway"}


def page(status: int, title: str, detail: str) -> bytes:
    """A small HTML page; the connection closes after it."""
    body = (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(detail)}</p>"
        "<p><small>nexus workspace preview</small></p></body></html>\n"
    ).encode()
    head = (
        f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\n"
        "Content-Type: text/html; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    return head + body


def unreachable(port: int, where: str, reason: str) -> bytes:
    return page(
        502,
        f"Nothing answers on port {port}",
        f"The preview could not reach port {port} of {where}: {reason}. "
        "Start the server there, then reload.",
    )
