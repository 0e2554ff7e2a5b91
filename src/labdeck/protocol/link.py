"""The script link: what a running script's ``labdeck.script`` sends to the runner.

Pure: this module does no I/O and imports no event loop, socket, thread or process
module. The runner's adapter (:mod:`labdeck.runner.link`) feeds a :class:`LinkReader`
the bytes it reads and acts on the messages it returns; the script's adapter
(:mod:`labdeck.runner.script`) writes what :func:`encode_messages` returns.

Framing: a stream of UTF-8 JSON objects, each followed by ``\\n`` and at most
:data:`MAX_MESSAGE` bytes long without it. Every object carries an ``op``:

* ``{"op": "hello", "token": "..."}`` first, with the run's token
  (``LABDECK_RUN_TOKEN``); a first line ``{"token": "..."}`` without ``op`` (the hello
  of labdeck 0.1.0 scripts) is read as the same hello;
* ``{"op": "plot", "series": "motion", "x": [1.0, 2.0], "y": [0.5, null]}``: points;
  ``series`` is 1 to :data:`MAX_SERIES` characters, ``x`` and ``y`` are lists of the
  same length of finite numbers or ``null`` (a gap); optional ``unit`` (of y),
  ``xlabel`` and ``chart`` (series of the same chart are drawn together), each at most
  :data:`MAX_LABEL` characters, ``""`` when absent;
* ``{"op": "progress", "fraction": 0.5, "message": "half way"}``: ``fraction`` a number
  (the runner clamps it to 0..1), ``message`` optional;
* ``{"op": "result", "key": "accuracy", "value": 0.91}``: ``key`` a non-empty string,
  ``value`` any JSON value (``null`` when absent);
* ``{"op": "rig", "rig": "camera", "event": "init", "outcome": "ok", "rtt_ms": 0.4,
  "data": {...}}``: a request the script sent a rig itself (``labdeck.script.rigs()``)
  and how it ended, so that the server's Rigs panel shows it: ``rig`` 1 to
  :data:`MAX_SERIES` characters, ``event`` a labdeck rig event (``init``, ``start``,
  ``stop``, ``interrupt``, ``cleanup``, ``status``, ``info``, ``token``), ``outcome``
  ``ok``, ``error`` or ``timeout``, ``rtt_ms`` a number from 0 or ``null``, ``data``
  the answer (``ok``), ``error`` what went wrong (otherwise);
* ``{"op": "clear", "series": "run 1"}``: the points of ``series`` so far are to be
  dropped from the plots (``series`` ``null``: every series of the run);
* ``{"op": "notice", "kind": "user", "text": "..."}``: a line (at most
  :data:`MAX_NOTICE` characters) for the people running the
  session, of ``kind`` ``user``, ``session``, ``debug``, ``error`` (a problem the
  operator must see), ``status`` (the run's status in words) or ``subject`` (the message
  the participant's display shows);
* ``{"op": "feedback", "values": {"runId": 1, "trId": 3, "value": 0.2}, "delay_ms": 0,
  "name": null}``: a result for the participant's feedback display, shown ``delay_ms``
  (a number from 0) after it arrives; ``name`` optional.

Fields a message does not define are ignored, so a newer script can talk to an older
runner. The link is one way: the runner never writes to it.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable
from typing import Annotated, Any, Literal

import msgspec

from labdeck.exceptions import AccessDenied, BadRequest, FrameTooLarge, LabdeckError, NotSerializable, UnknownOp
from labdeck.protocol.rig import Event

__all__ = [
    "MAX_HELLO",
    "MAX_LABEL",
    "MAX_MESSAGE",
    "MAX_NOTICE",
    "MAX_SERIES",
    "OPS",
    "Clear",
    "Feedback",
    "Hello",
    "LinkReader",
    "Message",
    "Notice",
    "Plot",
    "Progress",
    "Result",
    "RigReport",
    "ScriptMessage",
    "decode_message",
    "encode_message",
    "encode_messages",
]

MAX_MESSAGE = 16 << 20
"""Longest message a script may send, in bytes, without its newline."""
MAX_HELLO = 4096
"""Longest first message, in bytes: a hello is short, and who sent it is not known yet."""
MAX_SERIES = 100
"""Longest series name, in characters."""
MAX_NOTICE = 10_000
"""Longest notice text, in characters: a line for people to read, not a data channel."""

MAX_LABEL = 100
"""Longest unit, axis label or chart name of a series, in characters."""

_NOT_SAME_LENGTH = "x and y are not lists of the same length"


class Hello(msgspec.Struct, tag_field="op", tag="hello"):
    """The first message: the run's token proves the script is the run's own."""

    token: str = ""


class Plot(msgspec.Struct, tag_field="op", tag="plot", omit_defaults=True):
    """Points ``zip(x, y)`` of ``series``; ``None`` is a gap in the line. With ``replace``, a
    point at an ``x`` the series already has takes the place of the point there (rt-cloud's
    ``plotDataPoint`` of a TR plotted before) instead of adding one."""

    series: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SERIES)]
    x: list[float | None]
    y: list[float | None]
    unit: Annotated[str, msgspec.Meta(max_length=MAX_LABEL)] = ""
    xlabel: Annotated[str, msgspec.Meta(max_length=MAX_LABEL)] = ""
    chart: Annotated[str, msgspec.Meta(max_length=MAX_LABEL)] = ""
    replace: bool = False

    def __post_init__(self) -> None:
        # Checked here so that decoding refuses it; msgspec already refuses non-finite
        # numbers (JSON has no NaN, and 1e400 is "out of range").
        if len(self.x) != len(self.y):
            raise ValueError(_NOT_SAME_LENGTH)


class Progress(msgspec.Struct, tag_field="op", tag="progress"):
    """How far the run is; the runner clamps ``fraction`` to 0..1."""

    fraction: float
    message: str = ""


class Result(msgspec.Struct, tag_field="op", tag="result"):
    """A result of the run under ``key``; a later one with the same key replaces it."""

    key: Annotated[str, msgspec.Meta(min_length=1)]
    value: Any = None


class RigReport(msgspec.Struct, tag_field="op", tag="rig"):
    """A request the script sent rig ``rig`` itself, and how it ended."""

    rig: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SERIES)]
    event: Event
    outcome: Literal["ok", "error", "timeout"]
    rtt_ms: Annotated[float, msgspec.Meta(ge=0)] | None = None
    data: Any = None
    error: str | None = None


class Clear(msgspec.Struct, tag_field="op", tag="clear"):
    """Drop the points of ``series`` so far (``None``: of every series of the run)."""

    series: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SERIES)] | None = None


NoticeKind = Literal["user", "session", "debug", "error", "status", "subject"]


class Notice(msgspec.Struct, tag_field="op", tag="notice"):
    """A line for the operator (``user`` ... ``status``) or the participant (``subject``)."""

    kind: NoticeKind
    text: Annotated[str, msgspec.Meta(max_length=MAX_NOTICE)]


class Feedback(msgspec.Struct, tag_field="op", tag="feedback"):
    """A result for the participant's feedback display, shown ``delay_ms`` after it arrives."""

    values: dict[str, Any]
    delay_ms: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    name: str | None = None


Message = Hello | Plot | Progress | Result | RigReport | Clear | Notice | Feedback
ScriptMessage = Plot | Progress | Result | RigReport | Clear | Notice | Feedback
"""What follows the hello."""
OPS: tuple[str, ...] = ("hello", "plot", "progress", "result", "rig", "clear", "notice", "feedback")

# What the runner logs for a refused field, by (op, field); "x[]" is an element of x.
_PROBLEMS: dict[tuple[str, str | None], str] = {
    ("plot", "series"): f"plot: series is not a name of 1 to {MAX_SERIES} characters",
    ("plot", "x"): f"plot: {_NOT_SAME_LENGTH}",
    ("plot", "y"): f"plot: {_NOT_SAME_LENGTH}",
    ("plot", "x[]"): "plot: x and y hold something that is not a number",
    ("plot", "y[]"): "plot: x and y hold something that is not a number",
    ("progress", "fraction"): "progress: fraction is not a number",
    ("progress", "message"): "progress: message is not a string",
    ("result", "key"): "result: key is not a non-empty string",
    ("hello", "token"): "hello: token is not a string",
    ("rig", "rig"): f"rig: rig is not a name of 1 to {MAX_SERIES} characters",
    ("rig", "event"): f"rig: event is not one of {', '.join(e.value for e in Event)}",
    ("rig", "outcome"): "rig: outcome is not one of ok, error, timeout",
    ("rig", "rtt_ms"): "rig: rtt_ms is not a number from 0",
    ("rig", "error"): "rig: error is not a string",
    ("clear", "series"): f"clear: series is not a name of 1 to {MAX_SERIES} characters",
    ("notice", "kind"): "notice: kind is not one of user, session, debug, error, status, subject",
    ("notice", "text"): f"notice: text is not a string of at most {MAX_NOTICE} characters",
    ("feedback", "values"): "feedback: values is not an object",
    ("feedback", "delay_ms"): "feedback: delay_ms is not a number from 0",
    ("feedback", "name"): "feedback: name is not a string",
}
_FIELD = re.compile(r"at `\$\.(\w+)(\[)?|required field `(\w+)`")

_decoder = msgspec.json.Decoder(Message)
# Only for explaining a refused message: floats as Python floats let 1e400 through.
_any_decoder = msgspec.json.Decoder(float_hook=float)
_encoder = msgspec.json.Encoder()


def decode_message(line: bytes | bytearray | memoryview) -> Message:
    """Decode one message (without or with its newline).

    An object with a ``token`` and no ``op`` decodes as the :class:`Hello` it was in
    labdeck 0.1.0.

    Raises:
        BadRequest: not UTF-8 JSON, not an object, or a field missing or of the wrong
            type or value; the message says which, in the words the runner logs.
        UnknownOp: ``op`` is missing or not one of :data:`OPS`.
    """
    try:
        message: Message = _decoder.decode(line)
        return message
    except (msgspec.DecodeError, UnicodeError) as exc:
        error = _explain(bytes(line), exc)
    if isinstance(error, Hello):
        return error
    raise error


def _explain(line: bytes, exc: Exception) -> LabdeckError | Hello:
    """The protocol's error for a refused line (or the legacy hello it really was)."""
    try:
        obj = _any_decoder.decode(line)
    except (msgspec.DecodeError, UnicodeError):
        return BadRequest(f"a message from the script is not JSON: {line[:80]!r}")
    if not isinstance(obj, dict):
        return BadRequest("a message from the script is not a JSON object")
    op = obj.get("op")
    if op is None and "token" in obj:
        token = obj["token"]
        return Hello(token) if isinstance(token, str) else BadRequest(_PROBLEMS["hello", "token"])
    if not isinstance(op, str) or op not in OPS:
        return UnknownOp(f"unknown message op {op!r} from the script")
    return BadRequest(_PROBLEMS.get((op, _field(str(exc))), f"{op}: {_reason(str(exc))}"))


def _field(reason: str) -> str | None:
    """The field msgspec's error names: ``x`` for ``$.x``, ``x[]`` for ``$.x[3]``."""
    match = _FIELD.search(reason)
    if match is None:
        return None
    if match[3]:
        return match[3]
    return match[1] + ("[]" if match[2] else "")


def _reason(reason: str) -> str:
    return reason.split(" - at `", 1)[0]


def encode_message(message: Message) -> bytes:
    """One message as the bytes to write, newline included.

    Raises:
        NotSerializable: a result's value holds something JSON cannot carry.
    """
    return encode_messages((message,))


def encode_messages(messages: Iterable[Message]) -> bytes:
    """Messages as the bytes to write, one line each, in order.

    Non-finite numbers become ``null``, as JSON has no NaN.

    Raises:
        NotSerializable: a result's value holds something JSON cannot carry.
    """
    try:
        return _encoder.encode_lines(messages)
    except (TypeError, OverflowError, ValueError) as exc:
        raise NotSerializable(str(exc)) from None


class LinkReader:
    """The runner's end of one connection: bytes in, messages out.

    Feed it with :meth:`receive_data` (and :meth:`receive_eof` at the end), then call
    :meth:`next_message` until it returns ``None``. The first message must be a
    :class:`Hello` with the run's token; it is checked here and never returned.

    Args:
        token: the run's token.
        max_message: the longest message accepted, in bytes without the newline.
    """

    def __init__(self, token: str, max_message: int = MAX_MESSAGE) -> None:
        self._token = token.encode("utf-8", "surrogatepass")
        self._max = max_message
        self._buffer = bytearray()
        self._scanned = 0  # bytes of the buffer known to hold no newline
        self._eof = False
        self._fatal: AccessDenied | FrameTooLarge | None = None
        self.authenticated = False

    def receive_data(self, data: bytes) -> None:
        """Append bytes read from the connection."""
        self._buffer += data

    def receive_eof(self) -> None:
        """The connection ended: a last line without a newline is still a message."""
        self._eof = True

    def next_message(self) -> ScriptMessage | None:
        """The next whole message, or ``None`` until more data (or the end) arrives.

        Raises:
            AccessDenied: the first message is not a hello with the run's token (or the
                connection ended before one); the caller must close the connection.
            FrameTooLarge: a message is over ``max_message`` bytes; the rest of the
                stream cannot be trusted, the caller must close the connection.
                Both are raised again by every later call.
            BadRequest, UnknownOp: that message is refused (see :func:`decode_message`);
                call again for the next.
        """
        if self._fatal is not None:
            raise self._fatal
        try:
            if not self.authenticated and not self._read_hello():
                return None
            line = self._next_line(self._max)
        except (AccessDenied, FrameTooLarge) as exc:
            self._fatal = exc
            raise
        if line is None:
            return None
        message = decode_message(line)
        if isinstance(message, Hello):
            raise BadRequest("a second hello from the script")
        return message

    def _next_line(self, limit: int) -> bytes | None:
        end = self._buffer.find(b"\n", self._scanned)
        if end < 0:
            if len(self._buffer) > limit:
                raise FrameTooLarge(f"a message from the script was over {limit} bytes")
            self._scanned = len(self._buffer)
            if not self._eof or not self._buffer:
                return None
            end = len(self._buffer)
        elif end > limit:
            raise FrameTooLarge(f"a message from the script was over {limit} bytes")
        line = bytes(self._buffer[:end])
        del self._buffer[:end + 1]
        self._scanned = 0
        return line

    def _read_hello(self) -> bool:
        """Check the first line, once it is whole; ``False`` while it is not."""
        try:
            line = self._next_line(MAX_HELLO)
            if line is None and not self._eof:
                return False
            hello = None if line is None else decode_message(line)
        except (BadRequest, UnknownOp, FrameTooLarge):
            hello = None
        token = hello.token.encode("utf-8", "surrogatepass") if isinstance(hello, Hello) else None
        if token is None or not hmac.compare_digest(token, self._token):
            raise AccessDenied("a connection to the script socket without the run's token was refused")
        self.authenticated = True
        return True
