"""Websocket frames as a server writes them (RFC 6455, section 5.2): pure, no I/O.

The hub builds each outgoing message's complete frame once, header and payload in one
``bytes``, and hands the same object to every subscriber's transport: a broadcast to a
hundred browsers then costs one header and one copy, not a hundred.

A server's frames are never masked ("A server MUST NOT mask any frames that it sends to
the client", section 5.1) and labdeck sends every message in one final frame. Per-message
compression is not negotiated on labdeck's websocket (``compress=False``): these frames
carry RSV1 = 0, which is only valid on a connection without permessage-deflate.
"""

from __future__ import annotations

import struct

__all__ = ["MAX_SHORT", "header_size", "text_frame"]

MAX_SHORT = 125
"""The longest payload whose length fits in the second header byte."""

_FIN_TEXT = 0x81  # FIN set, RSV1-3 clear, opcode 0x1 (text)
_LEN16 = struct.Struct("!BBH").pack
_LEN64 = struct.Struct("!BBQ").pack
_SHORT = tuple(bytes((_FIN_TEXT, n)) for n in range(MAX_SHORT + 1))  # a lookup, not a bytes() per frame


def header_size(payload_length: int) -> int:
    """Bytes of header before a payload of ``payload_length`` bytes: 2, 4 or 10."""
    if payload_length <= MAX_SHORT:
        return 2
    return 4 if payload_length < 1 << 16 else 10


def text_frame(payload: bytes) -> bytes:
    """One complete, final, unmasked TEXT frame carrying ``payload``.

    "The length of the Payload data, in bytes: if 0-125, that is the payload length.
    If 126, the following 2 bytes interpreted as a 16-bit unsigned integer are the
    payload length. If 127, the following 8 bytes interpreted as a 64-bit unsigned
    integer [...] are the payload length" (section 5.2), in network byte order.

    Args:
        payload: UTF-8 text, already encoded; the caller guarantees it is valid UTF-8.
    """
    n = len(payload)
    if n <= MAX_SHORT:
        return _SHORT[n] + payload
    if n < 1 << 16:
        return _LEN16(_FIN_TEXT, 126, n) + payload
    return _LEN64(_FIN_TEXT, 127, n) + payload
