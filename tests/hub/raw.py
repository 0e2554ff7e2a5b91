"""A websocket client written by hand on a bare socket, for clients that misbehave on purpose."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
from collections.abc import Callable

from labdeck.conformance.raw import text_frame
from tests.helpers import scaled


async def open_raw(host: str, port: int, path: str, *, rcvbuf: int = 4096) -> socket.socket:
    """Connect and complete the upgrade; returns the socket with nothing past the 101 read.

    ``rcvbuf`` is set before connecting, so a client that stops reading makes the
    server's writes back up quickly.
    """
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await asyncio.wait_for(loop.sock_connect(sock, (host, port)), scaled(5))
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await loop.sock_sendall(sock, request.encode())
    head = b""
    while b"\r\n\r\n" not in head:  # byte by byte, so nothing after the headers is consumed
        chunk = await asyncio.wait_for(loop.sock_recv(sock, 1), scaled(5))
        if not chunk:
            raise ConnectionError(f"server closed during the upgrade: {head!r}")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(f"upgrade refused: {head.splitlines()[0]!r}")
    return sock


async def send_text(sock: socket.socket, payload: bytes) -> None:
    await asyncio.get_running_loop().sock_sendall(sock, text_frame(payload))


async def read_until_close(sock: socket.socket) -> tuple[int, list[bytes]]:
    """Read server frames until a CLOSE frame; returns its code and the TEXT payloads before it.

    Raises:
        ConnectionError: the connection ended without a close frame (what a client sees as 1006).
    """
    texts: list[bytes] = []
    code = await read_frames(sock, texts)
    assert code is not None
    return code, texts


async def read_frames(sock: socket.socket, texts: list[bytes], enough: Callable[[list[bytes]], bool] | None = None,
                      ) -> int | None:
    """Read server frames into ``texts`` (the TEXT payloads) until a CLOSE frame, whose code
    is returned, or until ``enough(texts)`` holds (``None``)."""
    loop = asyncio.get_running_loop()
    buf = b""

    async def more() -> None:
        nonlocal buf
        chunk = await asyncio.wait_for(loop.sock_recv(sock, 1 << 16), scaled(5))
        if not chunk:
            raise ConnectionError(f"connection ended without a close frame after {len(texts)} frames")
        buf += chunk

    while True:
        while len(buf) < 2:
            await more()
        opcode, n = buf[0] & 0x0F, buf[1] & 0x7F
        head = 2 + {126: 2, 127: 8}.get(n, 0)
        while len(buf) < head:
            await more()
        if n == 126:
            n = struct.unpack("!H", buf[2:4])[0]
        elif n == 127:
            n = struct.unpack("!Q", buf[2:10])[0]
        while len(buf) < head + n:
            await more()
        payload, buf = buf[head : head + n], buf[head + n :]
        if opcode == 0x8:
            return int(struct.unpack("!H", payload[:2])[0])
        if opcode == 0x1:
            texts.append(payload)
            if enough is not None and enough(texts):
                return None
