"""The rig protocol, labdeck mode: message types, signing, TCP framing. Pure: no I/O.

Between labdeck peers every message is one JSON object (one UDP datagram, or one
length-prefixed TCP frame)::

    {"t": "req", "id": 7, "ev": "init", "at": 1763742000.1, "data": {...}}
    {"t": "ack", "id": 7}
    {"t": "rep", "id": 7, "ok": true, "data": ...}
    {"t": "rep", "id": 7, "ok": false, "error": "the camera is not plugged in"}

The controller picks each request's ``id`` (unique per link), the rig acknowledges it at
once and answers it when its handler returns. A request whose answer does not come is
sent again with the same id (see :mod:`labdeck.protocol.rigflow`); the rig answers a
repeated id from its cache, never by running the handler again.

With a shared key the message is prefixed by 64 hex digits, the HMAC-SHA256 of the JSON
that follows; a request's ``at`` (sender's clock, seconds since the epoch) must then lie
within ``window`` seconds of the receiver's clock, so a recorded message cannot be played
back later. The full description is ``docs/topics/rig-protocol.md``.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import struct
from typing import Any

import msgspec

from labdeck.exceptions import BadRequest, NotSerializable

__all__ = [
    "MAX_MESSAGE",
    "Ack",
    "Event",
    "FrameReader",
    "Message",
    "Reply",
    "Request",
    "decode",
    "encode",
    "frame",
]

MAX_MESSAGE = 1 << 20
"""Largest message accepted, in bytes (TCP frames and datagrams alike)."""


class Event(enum.StrEnum):
    """What a request asks of a rig; the values are labdeck mode's ``ev`` names."""

    INIT = "init"
    START = "start"
    STOP = "stop"
    INTERRUPT = "interrupt"
    """Stop immediately."""
    CLEANUP = "cleanup"
    STATUS = "status"
    INFO = "info"
    TOKEN = "token"
    """The token exchange (iblutil's ALYX)."""


class _Message(msgspec.Struct, tag_field="t", forbid_unknown_fields=True, omit_defaults=True):
    id: int


class Request(_Message, tag="req"):
    """Ask the rig for ``ev`` with ``data``; ``at`` is the sender's clock."""

    ev: Event
    at: float
    data: Any = None


class Ack(_Message, tag="ack"):
    """The request ``id`` arrived; its answer follows."""


class Reply(_Message, tag="rep"):
    """The answer to request ``id``: ``data`` when ``ok``, else ``error``."""

    ok: bool
    data: Any = None
    error: str | None = None


Message = Request | Ack | Reply

_decoder = msgspec.json.Decoder(Message)
_encoder = msgspec.json.Encoder()
_MAC_LEN = 64
_WINDOW = 30.0


def encode(msg: Message, key: bytes | None = None) -> bytes:
    """The bytes of ``msg``, signed with ``key`` when given.

    Raises:
        NotSerializable: the message's data holds a value JSON cannot carry.
    """
    try:
        body = _encoder.encode(msg)
    except (TypeError, OverflowError) as exc:
        raise NotSerializable(str(exc)) from None
    if key is None:
        return body
    return hmac.new(key, body, hashlib.sha256).hexdigest().encode("ascii") + body


def decode(data: bytes, key: bytes | None = None, *, now: float | None = None, window: float = _WINDOW) -> Message:
    """Decode one message; with ``key``, check its signature and (for a request) its age.

    Args:
        data: one datagram or one frame's payload.
        key: the shared key, or ``None`` when the link is not signed.
        now: the receiver's clock; needed with ``key``.
        window: how far, in seconds, a signed request's ``at`` may lie from ``now``.

    Raises:
        BadRequest: not a message of this protocol, too large, unsigned or wrongly
            signed where a key is set, or a signed request outside the time window.
    """
    if len(data) > MAX_MESSAGE:
        raise BadRequest(f"rig message of {len(data)} bytes is over the limit of {MAX_MESSAGE}")
    if key is not None:
        data = _verified(data, key)
    try:
        msg: Message = _decoder.decode(data)
    except (msgspec.DecodeError, UnicodeError) as exc:
        raise BadRequest(f"not a labdeck rig message: {exc}") from None
    if key is not None and isinstance(msg, Request):
        if now is None:
            raise ValueError("decode: a signed link needs the receiver's clock (now=)")
        if abs(now - msg.at) > window:
            raise BadRequest(f"rig request {msg.id} is {now - msg.at:+.1f} s old, outside the {window:g} s window")
    return msg


def _verified(data: bytes, key: bytes) -> bytes:
    mac, body = data[:_MAC_LEN], data[_MAC_LEN:]
    expected = hmac.new(key, body, hashlib.sha256).hexdigest().encode("ascii")
    if not hmac.compare_digest(mac, expected):
        raise BadRequest("rig message is not signed with the shared key")
    return body


_LENGTH = struct.Struct(">I")


def frame(payload: bytes) -> bytes:
    """One TCP frame: the payload's length as 4 bytes, big-endian, then the payload."""
    return _LENGTH.pack(len(payload)) + payload


class FrameReader:
    """Splits a TCP byte stream into frames, whatever the reads' boundaries.

    Feed it every chunk read, in order; it returns the payloads completed so far and
    keeps the remainder for the next chunk.
    """

    def __init__(self, limit: int = MAX_MESSAGE) -> None:
        self.limit = limit
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """The frames ``data`` completes, in order.

        Raises:
            BadRequest: a frame announces more than ``limit`` bytes; the stream is then
                unusable and the caller must close the connection.
        """
        if not self._buffer and len(data) >= _LENGTH.size:
            (size,) = _LENGTH.unpack_from(data)
            if len(data) == _LENGTH.size + size and size <= self.limit:
                return [data[_LENGTH.size :]]  # the usual read: one whole frame, nothing to keep
        self._buffer += data
        frames: list[bytes] = []
        while len(self._buffer) >= _LENGTH.size:
            (size,) = _LENGTH.unpack_from(self._buffer)
            if size > self.limit:
                raise BadRequest(f"rig frame of {size} bytes is over the limit of {self.limit}")
            end = _LENGTH.size + size
            if len(self._buffer) < end:
                break
            frames.append(bytes(self._buffer[_LENGTH.size : end]))
            del self._buffer[:end]
        return frames

    @property
    def pending(self) -> int:
        """Bytes held for a frame not complete yet."""
        return len(self._buffer)
