"""The browser ⇄ hub wire protocol: message types, one decode path, one encode path.

Pure: this module does no I/O and imports no event loop, socket or web framework.
An adapter hands it the payload of each websocket text frame (``bytes`` or ``str``)
and sends what it returns.

One JSON object per text frame:

* requests carry a client-chosen ``id`` (integer or string) and an ``op``;
* replies echo the ``id``: ``{"id": 1, "ok": true, "result": ...}`` or
  ``{"id": 1, "ok": false, "error": {"type": "...", "message": "..."}}``;
* pushes carry ``ch``, ``seq``, ``t`` and ``data``; a replay that cannot reach back far
  enough is preceded by ``{"ch": ..., "gap": {"from": a, "to": b}}``.

The full description, message by message, is ``docs/topics/protocol.md``.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from labdeck.exceptions import BadRequest, LabdeckError, NotSerializable, UnknownOp

__all__ = [
    "OPS",
    "Call",
    "Channels",
    "Del",
    "Dir",
    "ErrorBody",
    "Get",
    "Pub",
    "Request",
    "RequestId",
    "Set",
    "Sub",
    "Unsub",
    "decode_request",
    "encode_data",
    "encode_error",
    "encode_gap",
    "encode_push",
    "encode_reply",
]

RequestId = int | str
"""A request id as the client chose it; replies echo it unchanged."""


class _Request(msgspec.Struct, tag_field="op", forbid_unknown_fields=True):
    id: RequestId


class Sub(_Request, tag="sub"):
    """Subscribe to ``ch``; with ``since``, first replay every message after that seq.

    ``epoch`` is the one the client saw in an earlier ``sub`` reply. When the server's
    epoch differs (its in-memory history was restarted), seqs began again at 1, so the
    replay starts from the beginning of the current history instead of ``since``.
    """

    ch: str
    since: int | None = None
    epoch: str | None = None


class Unsub(_Request, tag="unsub"):
    """Stop receiving pushes from ``ch``."""

    ch: str


class Pub(_Request, tag="pub"):
    """Publish ``data`` on ``ch``; the reply's result is the new message's seq."""

    ch: str
    data: msgspec.Raw = msgspec.Raw(b"null")


class Channels(_Request, tag="channels"):
    """List every channel with its last seq."""


class Call(_Request, tag="call"):
    """Call the exposed callable at ``path`` with ``args`` and ``kwargs``."""

    path: list[str]
    args: list[Any] = msgspec.field(default_factory=list)
    kwargs: dict[str, Any] = msgspec.field(default_factory=dict)


class Get(_Request, tag="get"):
    """Read the exposed value at ``path``."""

    path: list[str]


class Set(_Request, tag="set"):
    """Assign ``value`` to the exposed attribute at ``path``."""

    path: list[str]
    value: Any = None


class Del(_Request, tag="del"):
    """Delete the exposed attribute at ``path``."""

    path: list[str]


class Dir(_Request, tag="dir"):
    """Describe what ``path`` exposes: names, kinds and, where allowed, signatures."""

    path: list[str] = msgspec.field(default_factory=list)


Request = Sub | Unsub | Pub | Channels | Call | Get | Set | Del | Dir
OPS: tuple[str, ...] = ("sub", "unsub", "pub", "channels", "call", "get", "set", "del", "dir")


class ErrorBody(msgspec.Struct):
    type: str
    message: str


class _Reply(msgspec.Struct):
    id: RequestId | None
    ok: Literal[True]
    result: Any


class _ErrorReply(msgspec.Struct):
    id: RequestId | None
    ok: Literal[False]
    error: ErrorBody


class _Push(msgspec.Struct):
    ch: str
    seq: int
    t: float
    data: msgspec.Raw


class _GapRange(msgspec.Struct):
    from_: int = msgspec.field(name="from")
    to: int


class _Gap(msgspec.Struct):
    ch: str
    gap: _GapRange


_request_decoder = msgspec.json.Decoder(Request)
# Only for reading the id of a rejected frame: parsing floats as Python floats lets a
# number too large for a double (``1e400``) through, so its request still gets an id.
_any_decoder = msgspec.json.Decoder(float_hook=float)


def _enc_hook(obj: Any) -> Any:
    """Convert the few non-JSON types that labdeck itself produces; reject the rest."""
    tolist = getattr(obj, "tolist", None)  # numpy scalars and arrays, without importing numpy
    if callable(tolist):
        return tolist()
    raise NotSerializable(f"values of type {type(obj).__module__}.{type(obj).__qualname__} cannot be sent")


_encoder = msgspec.json.Encoder(enc_hook=_enc_hook)


def decode_request(frame: bytes | str) -> Request:
    """Decode one text frame into a request.

    Raises:
        BadRequest: the frame is not JSON, not an object, lacks a valid ``id`` or has a
            field of the wrong type. ``exc.request_id`` holds the id when one was readable,
            so the reply can echo it.
        UnknownOp: the object's ``op`` is missing or not one of :data:`OPS`.
    """
    try:
        request: Request = _request_decoder.decode(frame)
        return request
    # msgspec reports invalid UTF-8 inside a string (or a lone surrogate in a str frame)
    # as a UnicodeError, not a DecodeError.
    except (msgspec.DecodeError, UnicodeError) as exc:
        raise _classify(frame, exc) from None


def _classify(frame: bytes | str, exc: Exception) -> LabdeckError:
    """Turn msgspec's error for a rejected frame into the protocol's error type."""
    try:
        obj = _any_decoder.decode(frame)
    except UnicodeError:
        return BadRequest("frame is not valid UTF-8")
    except msgspec.DecodeError:
        return BadRequest("frame is not valid JSON")
    if not isinstance(obj, dict):
        return BadRequest(f"frame must be a JSON object, got {type(obj).__name__}")
    rid = obj.get("id")
    if not isinstance(rid, (int, str)) or isinstance(rid, bool):
        return BadRequest("request needs an `id` (integer or string)")
    op = obj.get("op")
    if op not in OPS:
        err: LabdeckError = UnknownOp(f"unknown op {op!r}; expected one of {', '.join(OPS)}")
    else:
        err = BadRequest(f"bad {op!r} request: {exc}")
    err.request_id = rid
    return err


def encode_data(data: Any) -> bytes:
    """Encode a Python value as the JSON of a message's ``data``.

    Raises:
        NotSerializable: ``data`` holds a value JSON cannot carry.
    """
    try:
        return _encoder.encode(data)
    except (TypeError, OverflowError) as exc:
        raise NotSerializable(str(exc)) from None


def encode_reply(rid: RequestId | None, result: Any) -> bytes:
    """``{"id": rid, "ok": true, "result": result}``."""
    return encode_data(_Reply(rid, True, result))


def encode_error(rid: RequestId | None, type_: str, message: str) -> bytes:
    """``{"id": rid, "ok": false, "error": {"type": type_, "message": message}}``."""
    return _encoder.encode(_ErrorReply(rid, False, ErrorBody(type_, message)))


def encode_push(ch: str, seq: int, t: float, data: bytes) -> bytes:
    """A push frame; ``data`` is already-encoded JSON (see :func:`encode_data`)."""
    return _encoder.encode(_Push(ch, seq, t, msgspec.Raw(data)))


def encode_gap(ch: str, first: int, last: int) -> bytes:
    """The notice that seqs ``first`` to ``last`` of ``ch`` can no longer be replayed."""
    return _encoder.encode(_Gap(ch, _GapRange(first, last)))
