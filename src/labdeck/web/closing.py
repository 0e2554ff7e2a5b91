"""Closing a websocket whose client has stopped reading.

aiohttp's own close waits behind every frame already given to the transport, and
after the connection's sender was cancelled mid-write it cannot send at all, so a
stalled client used to see only a dropped connection (1006). Here the close frame is
written straight to the transport, after the bytes already there (a TCP stream cannot
put it before them) but never behind the connection's send queue, which was dropped.
The transport then closes once it has flushed, and is aborted if the client has not
read that far within ``timeout``.
"""

from __future__ import annotations

import asyncio
import struct

__all__ = ["close_frame", "close_stalled"]


def close_frame(code: int, reason: str) -> bytes:
    """An unmasked (server-to-client) CLOSE frame, RFC 6455 section 5.5.1.

    The reason is cut to fit a control frame's 125-byte payload, at a character boundary.
    """
    text = reason.encode("utf-8")[:123].decode("utf-8", "ignore").encode("utf-8")
    payload = struct.pack("!H", code) + text
    return struct.pack("!BB", 0x88, len(payload)) + payload


def close_stalled(transport: asyncio.Transport, code: int, reason: str, timeout: float) -> None:
    """Write the close frame directly, close after flushing, abort after ``timeout`` seconds."""
    if transport.is_closing():
        return
    transport.write(close_frame(code, reason))
    transport.close()
    asyncio.get_running_loop().call_later(timeout, transport.abort)
