"""The browser ⇄ hub wire protocol: message types, one decode path, one encode path.

Pure: this module does no I/O and imports no event loop, socket or web framework.
An adapter hands it the payload of each websocket text frame (``bytes`` or ``str``)
and sends what it returns.

One JSON object per text frame:

* requests carry a client-chosen ``id`` (see :data:`RequestId` for its range) and an
  ``op``; a field the request type does not define is refused;
* replies echo the ``id``: ``{"id": 1, "ok": true, "result": ...}`` or
  ``{"id": 1, "ok": false, "error": {"type": "...", "message": "..."}}``;
* pushes carry ``ch``, ``seq``, ``t`` and ``data``; a replay that cannot reach back far
  enough is preceded by ``{"ch": ..., "gap": {"from": a, "to": b}}``.

The full description, message by message, is ``docs/topics/protocol.md``.
"""

from __future__ import annotations

import array
import itertools
from typing import Annotated, Any, Literal

import msgspec

from labdeck.exceptions import BadRequest, LabdeckError, NotSerializable, UnknownOp

__all__ = [
    "MAX_CHANNELS_LIMIT",
    "MAX_CHANNEL_LEN",
    "MAX_DEPTH",
    "MAX_ID",
    "MAX_ID_LENGTH",
    "OPS",
    "Call",
    "Channel",
    "Channels",
    "Del",
    "Dir",
    "ErrorBody",
    "Gap",
    "Get",
    "Pub",
    "Push",
    "Reply",
    "ReplyId",
    "Request",
    "RequestId",
    "Seq",
    "ServerMessage",
    "Set",
    "Sub",
    "Unsub",
    "decode_request",
    "decode_server_message",
    "encode_data",
    "encode_error",
    "encode_gap",
    "encode_push",
    "encode_reply",
    "encode_request",
    "encode_truncated_reply",
    "nests_deeper_than",
    "usable_id",
]

MAX_ID = 2**53 - 1
"""The largest integer ``id`` (and ``-MAX_ID`` the smallest): every integer in the range
is exact in a JavaScript number (``Number.MAX_SAFE_INTEGER``), so any client can match
the echo. A larger one would come back as a rounded float no client can match."""

MAX_ID_LENGTH = 128
"""The longest string ``id``, in characters."""

RequestId = (
    Annotated[int, msgspec.Meta(ge=-MAX_ID, le=MAX_ID)] | Annotated[str, msgspec.Meta(max_length=MAX_ID_LENGTH)]
)
"""A request id as the client chose it, an integer within ±:data:`MAX_ID` or a string of
at most :data:`MAX_ID_LENGTH` characters; replies echo it unchanged."""

ReplyId = int | str
"""The ``id`` a reply echoes: a valid :data:`RequestId`, or ``None`` (JSON ``null``)."""

Seq = Annotated[int, msgspec.Meta(ge=0)]

MAX_CHANNEL_LEN = 200
"""The longest channel name, in characters (the hub checks the rest of the name rules)."""

Channel = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CHANNEL_LEN)]


class _Request(msgspec.Struct, tag_field="op", forbid_unknown_fields=True, omit_defaults=True):
    id: RequestId


class Sub(_Request, tag="sub"):
    """Subscribe to ``ch``; with ``since``, first replay every message after that seq.

    ``epoch`` is the one the client saw in an earlier ``sub`` reply. When the server's
    epoch differs (its in-memory history was restarted), seqs began again at 1, so the
    replay starts from the beginning of the current history instead of ``since``.
    """

    ch: Channel
    since: Seq | None = None
    epoch: str | None = None


class Unsub(_Request, tag="unsub"):
    """Stop receiving pushes from ``ch``."""

    ch: Channel


class Pub(_Request, tag="pub"):
    """Publish ``data`` on ``ch``; the reply's result is the new message's seq."""

    ch: Channel
    data: msgspec.Raw = msgspec.Raw(b"null")


MAX_CHANNELS_LIMIT = 10_000
"""The most channels one ``channels`` reply lists."""


class Channels(_Request, tag="channels"):
    """List channels with their last seq: those whose name starts with ``prefix`` and
    sorts after ``after``, in name order, at most ``limit`` of them.

    A reply that stops at ``limit`` says so (see :func:`encode_truncated_reply`); the
    client asks again with ``after`` = the last name it got for the next page.
    """

    prefix: str = ""
    after: str | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_CHANNELS_LIMIT)] = 1000


class Call(_Request, tag="call"):
    """Call the exposed callable at ``path`` with ``args`` and ``kwargs``."""

    path: list[str]
    args: list[Any] = msgspec.field(default_factory=list)
    kwargs: dict[str, Any] = msgspec.field(default_factory=dict)


class Get(_Request, tag="get"):
    """Read the exposed value at ``path``."""

    path: list[str]


class Set(_Request, tag="set"):
    """Assign ``value`` to the exposed attribute at ``path``; ``value`` is required
    (``null`` assigns None), so that a client dropping an undefined value is told."""

    path: list[str]
    value: Any


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
    id: ReplyId | None
    ok: Literal[True]
    result: Any


class _TruncatedReply(msgspec.Struct):
    id: ReplyId | None
    ok: Literal[True]
    result: Any
    truncated: Literal[True]


class _ErrorReply(msgspec.Struct):
    id: ReplyId | None
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


# -- what a client reads: the server's frames, decoded into types -------------------


class Reply(msgspec.Struct, frozen=True):
    """A reply as a client reads it: ``result`` when ``ok``, else ``error``."""

    id: ReplyId | None
    ok: bool
    result: Any = None
    error: ErrorBody | None = None
    truncated: bool = False


class Push(msgspec.Struct, frozen=True):
    """A message of a subscribed channel."""

    ch: str
    seq: int
    t: float
    data: Any = None


class Gap(msgspec.Struct, frozen=True):
    """Seqs ``first`` to ``last`` (inclusive) of ``ch`` are gone from the server's history."""

    ch: str
    first: int
    last: int


ServerMessage = Reply | Push | Gap


class _Incoming(msgspec.Struct):
    # Every field of every server frame, all optional; unknown fields are ignored, so
    # a client keeps working with a server that adds some.
    id: ReplyId | None = None
    ok: bool | None = None
    result: Any = None
    error: ErrorBody | None = None
    truncated: bool = False
    ch: str | None = None
    seq: int | None = None
    t: float | None = None
    data: Any = None
    gap: _GapRange | None = None


_incoming_decoder = msgspec.json.Decoder(_Incoming)


def decode_server_message(frame: bytes | str) -> ServerMessage:
    """Decode one text frame from a server, as a client does.

    A frame with ``ok`` is a :class:`Reply`, one with ``gap`` a :class:`Gap`, one with
    ``seq`` a :class:`Push` (the page's rule for telling them apart).

    Raises:
        BadRequest: the frame is not one of the three, or a field has the wrong type.
    """
    try:
        m = _incoming_decoder.decode(frame)
    except (msgspec.DecodeError, UnicodeError) as exc:
        raise BadRequest(f"server frame not understood: {exc}") from None
    if m.ok is not None:
        if not m.ok and m.error is None:
            raise BadRequest("server frame not understood: an error reply without `error`")
        return Reply(m.id, m.ok, m.result, m.error, m.truncated)
    if m.ch is not None and m.gap is not None:
        return Gap(m.ch, m.gap.from_, m.gap.to)
    if m.ch is not None and m.seq is not None and m.t is not None:
        return Push(m.ch, m.seq, m.t, m.data)
    raise BadRequest("server frame not understood: neither a reply, a push nor a gap notice")


def encode_request(req: Request) -> bytes:
    """The text frame of a request, as a client sends it."""
    return _encoder.encode(req)


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


MAX_DEPTH = 64
"""How deeply a frame's arrays and objects may nest by default (``[server] max_depth``)."""

# Structure is what lies outside strings. To find it without a parser: drop the escapes
# that could end a string early or late (backslash pairs first, as JSON reads them left
# to right, then backslash-quote), keep only quotes and brackets, then every other piece
# between quotes is outside a string. Openers all become "[" and closers "]": nesting
# depth does not depend on the kind of bracket, and one kind lets one replace peel a level.
_BRACKETS = bytes.maketrans(b"{}", b"[]")
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
_STEPS = bytes.maketrans(b"[]", b"\x01\xff")  # +1 and -1 as signed bytes
_PEELS = 4


def nests_deeper_than(frame: bytes, limit: int) -> bool:
    """Whether the arrays and objects of the JSON text ``frame`` nest more than ``limit`` deep.

    Cheap for the usual frame: one with no more than ``limit`` brackets cannot nest
    deeper, and that is two counts in C. Otherwise strings are cut out, a few passes
    of ``bytes.replace`` peel the innermost levels (all of them, in most real data),
    and what is left is measured by a running sum: linear time, never recursion.
    The answer is exact for valid JSON; for text that is not, it is only a hint.
    """
    if frame.count(b"[") + frame.count(b"{") <= limit:
        return False
    kept = frame.replace(b"\\\\", b"").replace(b'\\"', b"").translate(_BRACKETS, _NOT_STRUCTURE)
    brackets = b"".join(kept.split(b'"')[::2])
    for peeled in range(_PEELS):
        if not brackets:
            return False
        if peeled == limit:
            return True
        brackets = brackets.replace(b"[]", b"")
    if not brackets:
        return False
    steps = array.array("b", brackets.translate(_STEPS))
    return max(itertools.accumulate(steps)) > limit - _PEELS


def decode_request(frame: bytes | str, *, max_depth: int = MAX_DEPTH) -> Request:
    """Decode one text frame into a request.

    Every string of the frame is valid UTF-8 once decoded, ``pub`` data included (it is
    forwarded as the bytes sent, so it is checked here: a browser closes a connection
    that pushes it invalid UTF-8). No array or object nests deeper than ``max_depth``.

    Raises:
        BadRequest: the frame is not UTF-8, not JSON, not an object, nests too deep,
            lacks a valid ``id`` or has a field of the wrong type. ``exc.request_id``
            holds the id when one was readable, so the reply can echo it.
        UnknownOp: the object's ``op`` is missing or not one of :data:`OPS`.
    """
    raw = frame if isinstance(frame, bytes) else frame.encode("utf-8", "surrogatepass")
    # Each level takes an opener and a closer: a frame this short cannot nest too deep,
    # which spares the usual small request even the two counts.
    if len(raw) > 2 * max_depth and nests_deeper_than(raw, max_depth):
        raise _with_id(BadRequest(f"frame nests deeper than {max_depth} levels"), raw)
    try:
        request: Request = _request_decoder.decode(frame)
    # msgspec reports invalid UTF-8 inside a string (or a lone surrogate in a str frame)
    # as a UnicodeError, not a DecodeError; RecursionError is the safety net should
    # max_depth be set above what the interpreter's stack allows.
    except (msgspec.DecodeError, UnicodeError, RecursionError) as exc:
        raise _classify(frame, exc) from None
    # msgspec.Raw is kept as sent, unchecked. A frame all ASCII, the usual case, is valid UTF-8.
    if type(request) is Pub and not raw.isascii() and not _is_utf8(request.data):
        raise _with_id(BadRequest("frame is not valid UTF-8"), raw)
    return request


def _is_utf8(data: msgspec.Raw) -> bool:
    try:
        bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _with_id(err: LabdeckError, frame: bytes) -> LabdeckError:
    """Give ``err`` the frame's id when one is readable, for the reply to echo."""
    try:
        # A frame nested deeper than the interpreter's stack allows has no readable id.
        obj = _any_decoder.decode(frame.decode("utf-8", "replace"))
    except (msgspec.DecodeError, RecursionError):
        return err
    rid = obj.get("id") if isinstance(obj, dict) else None
    if usable_id(rid):
        err.request_id = rid
    return err


def usable_id(rid: object) -> bool:
    """Whether ``rid``, as decoded from JSON, is a :data:`RequestId` a reply may echo."""
    if isinstance(rid, str):
        return len(rid) <= MAX_ID_LENGTH
    return isinstance(rid, int) and not isinstance(rid, bool) and -MAX_ID <= rid <= MAX_ID


ID_RULE = f"an integer from -{MAX_ID} to {MAX_ID} or a string of at most {MAX_ID_LENGTH} characters"


def _classify(frame: bytes | str, exc: Exception) -> LabdeckError:
    """Turn msgspec's error for a rejected frame into the protocol's error type."""
    try:
        text = frame.decode("utf-8") if isinstance(frame, bytes) else frame.encode("utf-8").decode("utf-8")
    except UnicodeError:
        raw = frame if isinstance(frame, bytes) else frame.encode("utf-8", "surrogatepass")
        return _with_id(BadRequest("frame is not valid UTF-8"), raw)
    try:
        obj = _any_decoder.decode(text)
    except msgspec.DecodeError:
        return BadRequest("frame is not valid JSON")
    except RecursionError:
        return BadRequest("frame nests too deep")
    if not isinstance(obj, dict):
        return BadRequest(f"frame must be a JSON object, got {type(obj).__name__}")
    rid = obj.get("id")
    if "id" not in obj:
        return BadRequest(f"request needs an `id`: {ID_RULE}")
    if not usable_id(rid):
        return BadRequest(f"`id` must be {ID_RULE}, got {_shown(rid)}")
    op = obj.get("op")
    if op not in OPS:
        err: LabdeckError = UnknownOp(f"unknown op {op!r}; expected one of {', '.join(OPS)}")
    else:
        err = BadRequest(f"bad {op!r} request: {exc}")
    err.request_id = rid
    return err


def _shown(value: object) -> str:
    """A rejected value for an error message, cut short: the message must stay small."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def encode_data(data: Any) -> bytes:
    """Encode a Python value as the JSON of a message's ``data``.

    Raises:
        NotSerializable: ``data`` holds a value JSON cannot carry.
    """
    try:
        return _encoder.encode(data)
    except (TypeError, OverflowError) as exc:
        raise NotSerializable(str(exc)) from None


def encode_reply(rid: ReplyId | None, result: Any) -> bytes:
    """``{"id": rid, "ok": true, "result": result}``."""
    return encode_data(_Reply(rid, True, result))


def encode_truncated_reply(rid: ReplyId | None, result: Any) -> bytes:
    """``{"id": rid, "ok": true, "result": result, "truncated": true}``: a list reply
    that stopped at the request's ``limit``."""
    return encode_data(_TruncatedReply(rid, True, result, True))


def encode_error(rid: ReplyId | None, type_: str, message: str) -> bytes:
    """``{"id": rid, "ok": false, "error": {"type": type_, "message": message}}``."""
    return _encoder.encode(_ErrorReply(rid, False, ErrorBody(type_, message)))


def encode_push(ch: str, seq: int, t: float, data: bytes) -> bytes:
    """A push frame; ``data`` is already-encoded JSON (see :func:`encode_data`)."""
    return _encoder.encode(_Push(ch, seq, t, msgspec.Raw(data)))


def encode_gap(ch: str, first: int, last: int) -> bytes:
    """The notice that seqs ``first`` to ``last`` of ``ch`` can no longer be replayed."""
    return _encoder.encode(_Gap(ch, _GapRange(first, last)))
