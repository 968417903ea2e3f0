"""LSP base protocol framing: ``Content-Length: N\\r\\n\\r\\n`` then N bytes of UTF-8 JSON."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

HEADER_END = b"\r\n\r\n"
MAX_HEADER = 8192  # bytes of header before a frame is called malformed


class FramingError(Exception):
    """The peer sent bytes that are not an LSP frame."""


def encode(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def _content_length(header: bytes) -> int:
    length: int | None = None
    for line in header.split(b"\r\n"):
        name, sep, value = line.partition(b":")
        if not sep:
            raise FramingError(f"malformed header line {line[:80]!r}")
        if name.strip().lower() == b"content-length":
            try:
                length = int(value.strip())
            except ValueError:
                raise FramingError(f"bad Content-Length {value[:40]!r}") from None
    if length is None or length < 0:
        raise FramingError("a frame without Content-Length")
    return length


def _decode_body(body: bytes) -> dict[str, Any]:
    try:
        message = json.loads(body)
    except ValueError as exc:
        raise FramingError(f"a frame that is not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise FramingError("a frame that is not a JSON-RPC object")
    return message


class FrameDecoder:
    """Bytes in (any split), whole messages out; no I/O of its own."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._length: int | None = None  # the body length once its header is read

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        self._buffer += data
        messages: list[dict[str, Any]] = []
        while True:
            if self._length is None:
                end = self._buffer.find(HEADER_END)
                if end < 0:
                    if len(self._buffer) > MAX_HEADER:
                        raise FramingError("a header longer than 8 KiB")
                    return messages
                self._length = _content_length(bytes(self._buffer[:end]))
                del self._buffer[: end + len(HEADER_END)]
            if len(self._buffer) < self._length:
                return messages
            body = bytes(self._buffer[: self._length])
            del self._buffer[: self._length]
            self._length = None
            messages.append(_decode_body(body))

    @property
    def partial(self) -> bool:
        """Whether a frame was started and not finished (an end there is a truncated frame)."""
        return bool(self._buffer) or self._length is not None


class MessageReader:
    """Whole messages from a byte source whose ``read`` returns b"" at its end."""

    def __init__(self, read: Callable[[int], Awaitable[bytes]]) -> None:
        self._read = read
        self._decoder = FrameDecoder()
        self._ready: deque[dict[str, Any]] = deque()

    async def read(self) -> dict[str, Any] | None:
        """The next message; None at a clean end of the stream."""
        while not self._ready:
            chunk = await self._read(65536)
            if not chunk:
                if self._decoder.partial:
                    raise FramingError("the stream ended inside a frame")
                return None
            self._ready.extend(self._decoder.feed(chunk))
        return self._ready.popleft()
