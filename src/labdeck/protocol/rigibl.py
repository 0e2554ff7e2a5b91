"""The rig protocol, iblutil mode: iblutil 1.20's wire format, byte for byte. Pure: no I/O.

A message is one UTF-8 JSON array, ``[event, *args]``, written the way Python's
``json.dumps`` writes it (``", "`` and ``": "`` separators, non-ASCII escaped), since
that is what iblutil sends and what its peers compare echoes against::

    [1, {"subject": "algernon"}]           INIT with data
    [2, "2026-12-02_1_algernon", null]     START with the experiment reference
    [0, "Err: camera missing", 1]          the handler for INIT failed

Events are powers of two (:class:`IblEvent`); ``0`` marks an error. The receiver echoes a
message's exact bytes (except an error) and the sender compares them byte for byte. UDP
carries one message per datagram; iblutil's ``ws://`` is plain TCP with no framing at
all, so :class:`ArraySplitter` finds where each array ends in the stream.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from labdeck.exceptions import BadRequest, NotSerializable
from labdeck.protocol.rig import MAX_MESSAGE, Event

__all__ = ["ERROR", "ArraySplitter", "IblEvent", "IblMessage", "decode_ibl", "encode_ibl", "encode_ibl_error"]

ERROR = 0
"""The event number of an error message."""


class IblEvent(enum.IntEnum):
    """iblutil's ``ExpMessage`` numbers."""

    INIT = 1
    START = 2
    END = 4
    CLEANUP = 8
    INTERRUPT = 16
    STATUS = 32
    INFO = 64
    ALYX = 128

    @property
    def event(self) -> Event:
        """The same request in labdeck's words."""
        return _TO_EVENT[self]

    @classmethod
    def of(cls, event: Event) -> IblEvent:
        """The iblutil number of a labdeck :class:`Event`."""
        return _FROM_EVENT[event]


_TO_EVENT = {
    IblEvent.INIT: Event.INIT,
    IblEvent.START: Event.START,
    IblEvent.END: Event.STOP,
    IblEvent.CLEANUP: Event.CLEANUP,
    IblEvent.INTERRUPT: Event.INTERRUPT,
    IblEvent.STATUS: Event.STATUS,
    IblEvent.INFO: Event.INFO,
    IblEvent.ALYX: Event.TOKEN,
}
_FROM_EVENT = {v: k for k, v in _TO_EVENT.items()}


@dataclass(frozen=True)
class IblMessage:
    """One decoded message: ``event`` (``0`` for an error) and its arguments.

    For an error, ``args`` is ``[message, failed_event]``.
    """

    event: int
    args: list[Any]

    @property
    def is_error(self) -> bool:
        return self.event == ERROR

    @property
    def error(self) -> tuple[str, int | None]:
        """An error message's text and the event that failed."""
        text = self.args[0] if self.args and isinstance(self.args[0], str) else "error"
        failed = self.args[1] if len(self.args) > 1 and isinstance(self.args[1], int) else None
        return text, failed


def encode_ibl(event: int, args: Sequence[Any] = ()) -> bytes:
    """The bytes of ``[event, *args]`` exactly as iblutil writes them.

    Raises:
        NotSerializable: an argument JSON cannot carry.
    """
    try:
        return json.dumps([int(event), *args]).encode()
    except (TypeError, ValueError) as exc:
        raise NotSerializable(str(exc)) from None


def encode_ibl_error(message: str, event: int) -> bytes:
    """The error message telling the sender its ``event`` failed: ``[0, "Err: ...", event]``."""
    return encode_ibl(ERROR, [f"Err: {message}", int(event)])


def decode_ibl(data: bytes) -> IblMessage:
    """Decode one message.

    Raises:
        BadRequest: not UTF-8 JSON, not an array of at least two items, or its first
            item is neither ``0`` nor one of :class:`IblEvent` (iblutil itself refuses
            one-item arrays and combined events as messages).
    """
    if len(data) > MAX_MESSAGE:
        raise BadRequest(f"iblutil message of {len(data)} bytes is over the limit of {MAX_MESSAGE}")
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise BadRequest("iblutil message is not UTF-8 JSON") from None
    if not isinstance(value, list) or len(value) < 2:
        raise BadRequest("iblutil message must be a JSON array [event, *args]")
    event = value[0]
    if isinstance(event, bool) or not isinstance(event, int) or (event != ERROR and event not in _TO_EVENT):
        raise BadRequest(f"iblutil message has no known event: {event!r}")
    return IblMessage(event, value[1:])


class ArraySplitter:
    """Finds the end of each top-level JSON array in a TCP stream, for iblutil's ``ws://``.

    iblutil writes messages back to back with nothing between them, and hands every
    read to its decoder whole, so two messages in one read, or one split over two reads,
    go wrong there. This counts brackets outside strings instead.
    """

    def __init__(self, limit: int = MAX_MESSAGE) -> None:
        self.limit = limit
        self._buffer = bytearray()
        self._depth = 0
        self._in_string = False
        self._escaped = False
        self._scanned = 0

    def feed(self, data: bytes) -> list[bytes]:
        """The complete arrays ``data`` finishes, in order.

        Raises:
            BadRequest: something other than an array starts a message, or one grows
                past ``limit``; the caller must close the connection.
        """
        self._buffer += data
        found: list[bytes] = []
        i = self._scanned
        while i < len(self._buffer):
            byte = self._buffer[i]
            i += 1
            if self._depth == 0:
                if byte in b" \t\r\n":
                    continue
                if byte != 0x5B:  # "["
                    raise BadRequest("iblutil stream: a message must start with '['")
                del self._buffer[: i - 1]
                i = 1
            if self._step(byte):
                found.append(bytes(self._buffer[:i]))
                del self._buffer[:i]
                i = 0
        if self._depth == 0:
            self._buffer.clear()
            i = 0
        elif len(self._buffer) > self.limit:
            raise BadRequest(f"iblutil message over the limit of {self.limit} bytes")
        self._scanned = i
        return found

    def _step(self, byte: int) -> bool:
        """Advance over one byte; ``True`` when it closed the top-level array."""
        if self._in_string:
            if self._escaped:
                self._escaped = False
            elif byte == 0x5C:  # backslash
                self._escaped = True
            elif byte == 0x22:  # quote
                self._in_string = False
            return False
        if byte == 0x22:
            self._in_string = True
        elif byte in b"[{":
            self._depth += 1
        elif byte in b"]}":
            self._depth -= 1
            return self._depth == 0
        return False
