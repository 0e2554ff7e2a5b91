"""What a broker is: the channel log and fan-out that the hub stands on.

The hub never counts sequence numbers or keeps history itself: a broker does, so
that several labdeck servers sharing one broker agree on every channel's seqs. A
broker implementation only has to honour this interface; the hub does not change.
"""

from __future__ import annotations

import abc
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from labdeck.broker.budget import Budget
from labdeck.protocol.frames import text_frame
from labdeck.protocol.wire import encode_push

__all__ = ["Broker", "Message", "Replay"]


class Message:
    """One published message: channel, per-channel seq, server time, JSON-encoded data.

    The push frame is encoded once, on first use, and shared by every subscriber; so is
    the complete websocket frame that carries it (:attr:`ws_frame`).
    """

    __slots__ = ("_frame", "_ws_frame", "ch", "data", "seq", "t")

    def __init__(self, ch: str, seq: int, t: float, data: bytes) -> None:
        self.ch = ch
        self.seq = seq
        self.t = t
        self.data = data
        self._frame: bytes | None = None
        self._ws_frame: bytes | None = None

    @property
    def frame(self) -> bytes:
        """The push frame ``{"ch", "seq", "t", "data"}`` as sent to subscribers."""
        if self._frame is None:
            self._frame = encode_push(self.ch, self.seq, self.t, self.data)
        return self._frame

    @property
    def ws_frame(self) -> bytes:
        """:attr:`frame` as one complete websocket text frame, header included."""
        if self._ws_frame is None:
            self._ws_frame = text_frame(self.frame)
        return self._ws_frame

    def __repr__(self) -> str:
        return f"Message({self.ch!r}, seq={self.seq}, {len(self.data)} bytes)"


@dataclass
class Replay:
    """What a subscriber missed: messages after ``since``, and the seqs that are gone.

    ``gap`` is ``(first, last)``, the inclusive range of seqs that history no longer
    holds, or ``None`` when the replay is complete. ``last_seq`` is the channel's seq
    when the replay was taken.
    """

    messages: list[Message] = field(default_factory=list)
    gap: tuple[int, int] | None = None
    last_seq: int = 0


Deliver = Callable[[Message], None]


class Broker(abc.ABC):
    """Assigns seqs, keeps each channel's last value and bounded history, fans out.

    Contract for implementations:

    * ``publish_nowait`` may be called only on the event loop's thread; messages
      published by one process on one channel get increasing seqs in call order.
    * every published message, from this process or another sharing the broker, is
      handed to the ``deliver`` callback exactly once, in seq order per channel.
    * ``replay(ch, since)`` returns every retained message with ``seq > since``.
    * every channel counts against :attr:`budget` (see :mod:`labdeck.broker.budget`):
      after storing a message the broker reports it with ``budget.stored`` and drops
      or trims what the answer names; :meth:`admit` drops with :meth:`drop`.
    """

    epoch: str
    """Names this broker's numbering: seqs of one channel are comparable only within one epoch."""

    def __init__(self, budget: Budget | None = None) -> None:
        self._deliver: Deliver = lambda msg: None
        self.epoch = secrets.token_hex(6)
        self.budget = budget if budget is not None else Budget()

    def admit(self, ch: str, size: int) -> None:
        """Make room for a client's message of ``size`` bytes on ``ch``, dropping idle
        channels if needed; call it just before publishing that message.

        Raises:
            OverBudget: ``ch`` is new and the budget has no room for it.
        """
        for victim in self.budget.admit(ch, size, time.time()):
            self.drop(victim)

    def drop(self, ch: str) -> None:  # noqa: B027 - a broker that keeps nothing drops nothing
        """Forget channel ``ch`` and everything it retains (the budget evicted it).

        A channel published on again later continues its seqs where they stopped
        when the broker can, so a client that saw them gets a ``gap``, never a repeat.
        """
    def bind(self, deliver: Deliver) -> None:
        """Set the callback that receives every message; the hub calls this once."""
        self._deliver = deliver

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect; called once before the first publish."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; pending messages are flushed first."""

    @abc.abstractmethod
    def publish_nowait(self, ch: str, data: bytes) -> None:
        """Publish without waiting; order per channel is call order."""

    @abc.abstractmethod
    async def publish(self, ch: str, data: bytes) -> Message:
        """Publish and return the message once it has a seq."""

    @abc.abstractmethod
    async def replay(self, ch: str, since: int | None) -> Replay:
        """Messages after ``since``; ``since=None`` means only the retained last one."""

    @abc.abstractmethod
    async def channels(self) -> dict[str, int]:
        """Every known channel with its last seq."""

    @abc.abstractmethod
    async def last(self, ch: str) -> Message | None:
        """The channel's retained last message."""
