"""The in-process broker: the default for a single labdeck server."""

from __future__ import annotations

import time
from collections import deque

from labdeck.broker.base import Broker, Message, Replay
from labdeck.broker.budget import Budget

__all__ = ["ChannelLog", "MemoryBroker"]


class ChannelLog:
    """One channel's seq counter, retained last message and bounded history.

    History is bounded twice: at most ``history`` messages and at most ``max_bytes`` of
    encoded data, the oldest going first. The last message is always retained, however
    large, so a new subscriber still sees the current value.
    """

    __slots__ = ("bytes", "history", "limit", "max_bytes", "name", "seq")

    def __init__(self, name: str, history: int, max_bytes: int = 64 << 20, seq: int = 0) -> None:
        self.name = name
        self.seq = seq
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

    def trim(self, excess: int) -> None:
        """Give up at least ``excess`` bytes of the oldest history, keeping the last message."""
        hist, goal = self.history, self.bytes - excess
        while self.bytes > goal and len(hist) > 1:
            self.bytes -= len(hist.popleft().data)

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

    Nothing travels between processes, so the live path cannot lose a message and
    the epoch is this broker's own.

    Args:
        history: how many messages each channel keeps for replay.
        history_bytes: how many bytes of message data each channel keeps at most.
        budget: the bounds across all channels; by default :class:`Budget`'s.
    """

    def __init__(self, history: int = 10_000, history_bytes: int = 64 << 20, budget: Budget | None = None) -> None:
        super().__init__(budget)
        self._history = history
        self._history_bytes = history_bytes
        self._logs: dict[str, ChannelLog] = {}
        # The last seq of each dropped channel, so that seqs continue if it comes back
        # (bounded like the channels themselves, the oldest forgotten first).
        self._dropped: dict[str, int] = {}
        self._subscribed: set[str] = set()

    def _log(self, ch: str) -> ChannelLog:
        log = self._logs.get(ch)
        if log is None:
            log = self._logs[ch] = ChannelLog(ch, self._history, self._history_bytes, self._dropped.pop(ch, 0))
        return log

    def _append(self, ch: str, data: bytes) -> Message:
        log = self._log(ch)
        msg = log.append(data, time.time())
        victims, excess = self.budget.stored(ch, log.bytes, msg.t)
        for victim in victims:
            self.drop(victim)
        if excess:
            log.trim(excess)
            self.budget.trimmed(ch, log.bytes)
        if ch in self._subscribed:
            self._deliver(msg)
        if msg.seq == 1:
            self._assigned(msg)
        return msg

    def publish_nowait(self, ch: str, data: bytes) -> None:
        self._append(ch, data)

    async def publish(self, ch: str, data: bytes) -> Message:
        return self._append(ch, data)

    async def subscribe(self, ch: str) -> None:
        self._subscribed.add(ch)

    def unsubscribe(self, ch: str) -> None:
        self._subscribed.discard(ch)

    def drop(self, ch: str) -> None:
        log = self._logs.pop(ch, None)
        self.budget.forget(ch)
        if log is None:
            return
        dropped = self._dropped
        dropped[ch] = log.seq
        while len(dropped) > max(self.budget.max_channels, 1024):
            del dropped[next(iter(dropped))]

    async def replay(self, ch: str, since: int | None) -> Replay:
        log = self._logs.get(ch)
        if log is not None:
            return log.since(since)
        last = self._dropped.get(ch, 0)
        if since is not None and 0 <= since < last:
            return Replay([], (since + 1, last), last)  # dropped: what it held is gone
        return Replay(last_seq=last)

    async def channels(self) -> dict[str, int]:
        return {name: log.seq for name, log in self._logs.items()}

    async def last(self, ch: str) -> Message | None:
        log = self._logs.get(ch)
        return log.history[-1] if log and log.history else None
