"""A websocket written by hand on a bare socket, for what a well-behaved client never
does: send a Host or Origin of its choice, stop reading, and see the exact close frame
(RFC 6455 section 5) or its absence."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import ssl
import struct
from urllib.parse import urlsplit

__all__ = ["MAX_FRAME", "RawSocket", "Upgrade", "text_frame"]

MAX_FRAME = 64 << 20
"""The largest frame read from a server; a larger one ends the check."""


def text_frame(payload: bytes) -> bytes:
    """One masked, final TEXT frame (section 5.2: a client masks every frame)."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x81, 0x80 | n)
    elif n < 1 << 16:
        header = struct.pack("!BBH", 0x81, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
    key = (mask * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big") if n else b""
    return header + mask + masked


class Upgrade:
    """The server's answer to an upgrade request: its status and, on 101, the socket."""

    def __init__(self, status: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.status = status
        self.socket = RawSocket(reader, writer)


class RawSocket:
    """Frames in and out of an upgraded connection, nothing done behind the caller's back."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @staticmethod
    async def open(
        url: str,
        *,
        headers: dict[str, str] | None = None,
        host: str | None = None,
        rcvbuf: int | None = None,
        timeout: float = 10.0,
        context: ssl.SSLContext | None = None,
    ) -> Upgrade:
        """Send an upgrade request to ``url`` (``Host`` = ``host`` or the URL's) and read
        the status line and headers, nothing after them."""
        parts = urlsplit(url)
        secure = parts.scheme == "wss"
        port = parts.port or (443 if secure else 80)
        name = parts.hostname or "127.0.0.1"
        family = socket.AF_INET6 if ":" in name else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        if rcvbuf is not None:  # before connecting, so the window starts small
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        if secure and context is None:
            context = ssl.create_default_context()
        try:
            await asyncio.wait_for(loop.sock_connect(sock, (name, port)), timeout)
            reader, writer = await asyncio.wait_for(asyncio.open_connection(
                sock=sock, ssl=context if secure else None, server_hostname=name if secure else None
            ), timeout)
        except BaseException:
            sock.close()
            raise
        lines = [
            f"GET {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1",
            f"Host: {host or parts.netloc}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}",
            "Sec-WebSocket-Version: 13",
            *(f"{k}: {v}" for k, v in (headers or {}).items()),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        status = int(head.split(b" ", 2)[1])
        return Upgrade(status, reader, writer)

    async def send_text(self, payload: bytes) -> None:
        self.writer.write(text_frame(payload))
        await self.writer.drain()

    async def send_header(self, length: int, start: bytes) -> None:
        """Send the start of a masked TEXT frame that announces ``length`` payload bytes."""
        mask = os.urandom(4)
        self.writer.write(
            struct.pack("!BBQ", 0x81, 0x80 | 127, length) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(start))
        )
        await self.writer.drain()

    async def read_frame(self, timeout: float) -> tuple[int, bytes]:
        """The next frame's opcode and payload.

        Raises:
            ConnectionError: the connection ended without a close frame (a client's 1006).
        """
        try:
            head = await asyncio.wait_for(self.reader.readexactly(2), timeout)
            n = head[1] & 0x7F
            if n == 126:
                n = struct.unpack("!H", await self.reader.readexactly(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", await self.reader.readexactly(8))[0]
            if n > MAX_FRAME:
                raise ConnectionError(f"the server sent a frame of {n} bytes")
            payload = await asyncio.wait_for(self.reader.readexactly(n), timeout)
        except asyncio.IncompleteReadError:
            raise ConnectionError("the connection ended without a close frame") from None
        return head[0] & 0x0F, payload

    async def read_until_close(self, timeout: float) -> tuple[int, int]:
        """Read to the close frame; returns its code and how many text frames came first."""
        texts = 0
        while True:
            opcode, payload = await self.read_frame(timeout)
            if opcode == 0x8:
                return (struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005), texts
            texts += opcode == 0x1

    def close(self) -> None:
        self.writer.transport.abort()
