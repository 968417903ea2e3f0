"""A small HTTP/1.1 server with only the standard library, run with python3 in a workspace.

  GET  /conn       {"conn": n, "request": m}: which connection, which request on it (keep-alive)
  GET  /headers    the request's headers as JSON
  POST /sha256     the SHA-256 of the request body (Content-Length or chunked)
  GET  /ws         a WebSocket echo (text and binary; ping, close)

Usage: python3 app.py PORT
"""

import asyncio
import base64
import hashlib
import itertools
import json
import struct
import sys

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
connections = itertools.count(1)


def respond(writer, method, status, body, kind=b"application/json"):
    writer.write(
        b"HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
        % (status, kind, len(body))
        + (b"" if method == "HEAD" else body)
    )


async def read_body(reader, headers):
    digest = hashlib.sha256()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b""):
                    pass
                return digest
            digest.update(await reader.readexactly(size))
            await reader.readexactly(2)
    left = int(headers.get("content-length", "0"))
    while left:
        chunk = await reader.read(min(left, 65536))
        if not chunk:
            raise ConnectionError("body cut short")
        digest.update(chunk)
        left -= len(chunk)
    return digest


async def websocket(reader, writer, headers):
    accept = base64.b64encode(hashlib.sha1(headers["sec-websocket-key"].encode() + GUID).digest())
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )
    while True:
        first, second = await reader.readexactly(2)
        opcode, length = first & 0x0F, second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await reader.readexactly(8))
        mask = await reader.readexactly(4) if second & 0x80 else b"\0\0\0\0"
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(await reader.readexactly(length)))
        reply = 0xA if opcode == 0x9 else opcode
        if length < 126:
            head = struct.pack("!BB", 0x80 | reply, length)
        elif length < 65536:
            head = struct.pack("!BBH", 0x80 | reply, 126, length)
        else:
            head = struct.pack("!BBQ", 0x80 | reply, 127, length)
        writer.write(head + data)
        await writer.drain()
        if opcode == 0x8:
            return


async def handle(reader, writer):
    conn = next(connections)
    try:
        for number in itertools.count(1):
            line = await reader.readline()
            if not line:
                return
            method, target, _ = line.decode().split(" ", 2)
            headers = {}
            while (header := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = header.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            if target == "/ws" and headers.get("upgrade", "").lower() == "websocket":
                await websocket(reader, writer, headers)
                return
            digest = await read_body(reader, headers)
            if method == "POST" and target == "/sha256":
                respond(writer, method, 200, digest.hexdigest().encode(), b"text/plain")
            elif target == "/conn":
                respond(writer, method, 200, json.dumps({"conn": conn, "request": number}).encode())
            elif target == "/headers":
                respond(writer, method, 200, json.dumps(headers).encode())
            else:
                respond(writer, method, 404, b"{}")
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        return
    finally:
        writer.close()


async def main(port):
    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
