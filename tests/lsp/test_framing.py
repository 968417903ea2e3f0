"""LSP framing: Content-Length headers, any split of the bytes, malformed input."""

from __future__ import annotations

import asyncio

import pytest

from nexus.lsp.framing import FrameDecoder, FramingError, MessageReader, encode


def test_round_trip_with_unicode_counts_bytes() -> None:
    message = {"jsonrpc": "2.0", "method": "x", "params": {"text": "héllo ✓"}}
    frame = encode(message)
    header, _, body = frame.partition(b"\r\n\r\n")
    assert header == b"Content-Length: %d" % len(body)
    assert FrameDecoder().feed(frame) == [message]


def test_any_split_and_several_messages_per_chunk() -> None:
    messages = [{"jsonrpc": "2.0", "id": i, "result": "x" * i} for i in range(5)]
    stream = b"".join(encode(m) for m in messages)
    for size in (1, 2, 7, 64, len(stream)):
        decoder = FrameDecoder()
        out = []
        for start in range(0, len(stream), size):
            out.extend(decoder.feed(stream[start : start + size]))
        assert out == messages
        assert not decoder.partial


def test_extra_headers_are_allowed() -> None:
    body = b'{"jsonrpc":"2.0","method":"m"}'
    frame = (
        b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n"
        b"content-length: %d\r\n\r\n" % len(body) + body
    )
    assert FrameDecoder().feed(frame) == [{"jsonrpc": "2.0", "method": "m"}]


@pytest.mark.parametrize(
    "data",
    [
        b"Content-Length: x\r\n\r\n{}",
        b"Content-Type: a\r\n\r\n{}",
        b"garbage\r\n\r\n",
        b"Content-Length: 2\r\n\r\n[]",
        b"Content-Length: 3\r\n\r\n{x}",
        b"x" * 9000,
    ],
)
def test_malformed_frames_are_refused(data: bytes) -> None:
    with pytest.raises(FramingError):
        FrameDecoder().feed(data)


async def test_reader_ends_cleanly_or_on_a_truncated_frame() -> None:
    stream = asyncio.StreamReader()
    stream.feed_data(encode({"id": 1}) + b"Content-Length: 10\r\n\r\n{")
    stream.feed_eof()
    reader = MessageReader(stream.read)
    assert await reader.read() == {"id": 1}
    with pytest.raises(FramingError):
        await reader.read()

    clean = asyncio.StreamReader()
    clean.feed_data(encode({"id": 2}))
    clean.feed_eof()
    reader = MessageReader(clean.read)
    assert await reader.read() == {"id": 2}
    assert await reader.read() is None
