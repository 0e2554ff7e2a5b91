"""The in-process broker: the default for a single labdeck server."""

from __future__ import annotations

import time
from collections import deque

from labdeck.broker.base import Broker, Message, Replay

__all__ = ["ChannelLog", "MemoryBroker"]


class ChannelLog:
    """One channel's seq counter, retained last message and bounded history.

    History is bounded twice: at most ``history`` messages and at most ``max_bytes`` of
    encoded data, the oldest going first. The last message is always retained, however
    large, so a new subscriber still sees the current value.
    """

    __slots__ = ("bytes", "history", "limit", "max_bytes", "name", "seq")

    def __init__(self, name: str, history: int, max_bytes: int = 64 << 20) -> None:
        self.name = name
        self.seq = 0
        self.limit = max(1, history)
        self.max_bytes = max_bytes
        self.bytes = 0
        self.history: deque[Message] = deque()

    def append(self, data: bytes, t: float) -> Message:
        self.seq += 1
        msg = Message(self.name, self.seq, t, data)
        hist = self.history
        hist.append(msg)
        self.bytes += len(data)
        while len(hist) > self.limit or (self.bytes > self.max_bytes and len(hist) > 1):
            self.bytes -= len(hist.popleft().data)
        return msg

    def since(self, since: int | None) -> Replay:
        """Messages with ``seq > since``, or the gap when history starts later."""
        hist = self.history
        if since is None:
            return Replay(list(hist)[-1:], None, self.seq)
        since = max(0, since)
        if not hist or since >= self.seq:
            # A client ahead of the channel (the server restarted, counters began
            # again) gets nothing replayed; it resynchronises on the next message.
            return Replay([], None, self.seq)
        first = hist[0].seq
        gap = (since + 1, first - 1) if since + 1 < first else None
        skip = max(0, since + 1 - first)
        return Replay(list(hist)[skip:], gap, self.seq)


class MemoryBroker(Broker):
    """Channels kept in this process; fan-out is a direct call to the hub.

    Args:
        history: how many messages each channel keeps for replay.
        history_bytes: how many bytes of message data each channel keeps at most.
    """

    def __init__(self, history: int = 10_000, history_bytes: int = 64 << 20) -> None:
        super().__init__()
        self._history = history
        self._history_bytes = history_bytes
        self._logs: dict[str, ChannelLog] = {}

    def _log(self, ch: str) -> ChannelLog:
        log = self._logs.get(ch)
        if log is None:
            log = self._logs[ch] = ChannelLog(ch, self._history, self._history_bytes)
        return log

    def publish_nowait(self, ch: str, data: bytes) -> None:
        self._deliver(self._log(ch).append(data, time.time()))

    async def publish(self, ch: str, data: bytes) -> Message:
        msg = self._log(ch).append(data, time.time())
        self._deliver(msg)
        return msg

    async def replay(self, ch: str, since: int | None) -> Replay:
        log = self._logs.get(ch)
        return log.since(since) if log else Replay()

    async def channels(self) -> dict[str, int]:
        return {name: log.seq for name, log in self._logs.items()}

    async def last(self, ch: str) -> Message | None:
        log = self._logs.get(ch)
        return log.history[-1] if log and log.history else None
