"""The language-server side of ``nexus lsp``: what a backend hands the proxy."""

from __future__ import annotations

from typing import Any, Protocol


class LanguageServerLink(Protocol):
    """A language server speaking LSP messages (already decoded JSON-RPC objects) about the
    workspace's own paths; the proxy rewrites URIs between those and the editor's local ones.

    A link that ends by itself (``receive`` gives None before the editor's ``exit``) may set an
    attribute ``failure`` (a ``NexusError``) saying why; the proxy tells the editor, once."""

    async def send(self, message: dict[str, Any]) -> None:
        """Deliver one request, response or notification to the server."""
        ...

    async def receive(self) -> dict[str, Any] | None:
        """The server's next message; None once it has ended."""
        ...

    async def close(self) -> None:
        """End the server (idempotent)."""
        ...
