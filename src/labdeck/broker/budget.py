"""The global budget of channels and retained bytes, as policy any broker can apply.

Every channel keeps its last message and some history. Without a bound across all of
them, any client could grow the server's memory without limit by publishing on ever
new channel names. The budget bounds two totals: the number of channels, and the bytes
of message data they retain.

Policy
------
* A message on an existing channel is always accepted: each channel's own history
  bound already limits what it adds.
* A client's message that would create a channel past either bound first makes room by
  evicting idle channels, oldest publish first. A channel is idle when nobody here is
  subscribed to it, it was last published on more than ``idle`` seconds ago, and the
  owner does not keep it (the hub keeps the channels the server publishes on, such as
  ``run/*`` and ``obj/*``). If evicting every idle channel would not make room, nothing
  is evicted and the message is refused with :class:`OverBudget`.
* Messages the server publishes itself are never refused. When they (or a channel's
  growing history) push retained bytes past the bound, idle channels are evicted, and
  if that is not enough the channel just published on gives up its oldest history
  (never its last message).

The budget is pure bookkeeping: a broker tells it what it stored and does the
evictions and trims it answers with.
"""

from __future__ import annotations

from collections.abc import Callable

from labdeck.exceptions import OverBudget

__all__ = ["Budget"]


class Budget:
    """Channel and byte accounting across every channel of one broker.

    Args:
        max_channels: how many channels may exist at once.
        max_bytes: how many bytes of message data all channels may retain together.
        idle: seconds without a publish before an unsubscribed channel may be evicted.
    """

    def __init__(self, max_channels: int = 10_000, max_bytes: int = 256 << 20, *, idle: float = 60.0) -> None:
        self.max_channels = max_channels
        self.max_bytes = max_bytes
        self.idle = idle
        self.total = 0
        self.evictions = 0
        self._bytes: dict[str, int] = {}
        self._last: dict[str, float] = {}  # oldest publish first
        self.keep: Callable[[str], bool] = lambda ch: False
        """Channels never evicted whatever their age; the hub sets this."""

    @property
    def channels(self) -> int:
        """How many channels are counted."""
        return len(self._bytes)

    def admit(self, ch: str, size: int, now: float) -> list[str]:
        """Make room for a client's message of ``size`` bytes on ``ch``.

        Returns:
            the channels the broker must drop now (already forgotten here).

        Raises:
            OverBudget: ``ch`` is new and no eviction of idle channels makes room.
        """
        if ch in self._bytes:
            return []
        channels = len(self._bytes) + 1 - self.max_channels
        spare = self.total + size - self.max_bytes
        if channels <= 0 and spare <= 0:
            return []
        victims = self._idle_victims(channels, spare, now)
        if victims is None:
            raise OverBudget(self._refusal(channels, spare))
        return self._forget_all(victims)

    def stored(self, ch: str, retained: int, now: float) -> tuple[list[str], int]:
        """Record that ``ch`` now retains ``retained`` bytes after a publish at ``now``.

        Returns:
            the channels the broker must drop now, and how many bytes of ``ch``'s own
            oldest history it must trim to stay within the byte bound (0 when none).
        """
        self.total += retained - self._bytes.get(ch, 0)
        self._bytes[ch] = retained
        last = self._last
        last.pop(ch, None)  # re-inserted last: the dict stays in order of last publish
        last[ch] = now
        if self.total <= self.max_bytes and len(self._bytes) <= self.max_channels:
            return [], 0
        channels = len(self._bytes) - self.max_channels
        spare = self.total - self.max_bytes
        victims = self._idle_victims(channels, spare, now, partial=True) or []
        victims = [v for v in victims if v != ch]
        dropped = self._forget_all(victims)
        return dropped, max(0, self.total - self.max_bytes)

    def trimmed(self, ch: str, retained: int) -> None:
        """Record that ``ch`` gave up history and now retains ``retained`` bytes."""
        self.total += retained - self._bytes.get(ch, 0)
        self._bytes[ch] = retained

    def forget(self, ch: str) -> None:
        """Stop counting ``ch`` (the broker dropped it)."""
        self.total -= self._bytes.pop(ch, 0)
        self._last.pop(ch, None)

    def _idle_victims(self, channels: int, spare: int, now: float, *, partial: bool = False) -> list[str] | None:
        """The oldest idle channels whose removal frees ``channels`` slots and ``spare``
        bytes; ``None`` when all of them would not be enough (unless ``partial``)."""
        cutoff = now - self.idle
        keep = self.keep
        victims: list[str] = []
        for ch, t in self._last.items():
            if (channels <= 0 and spare <= 0) or t > cutoff:
                break  # enough, or every channel from here on was published on recently
            if keep(ch):
                continue
            victims.append(ch)
            channels -= 1
            spare -= self._bytes[ch]
        if (channels > 0 or spare > 0) and not partial:
            return None
        return victims

    def _forget_all(self, victims: list[str]) -> list[str]:
        for ch in victims:
            self.forget(ch)
        self.evictions += len(victims)
        return victims

    def _refusal(self, channels: int, spare: int) -> str:
        if channels > 0:
            return (
                f"too many channels: the server keeps at most {self.max_channels} "
                f"(server.max_channels) and none is idle long enough to drop; try again later"
            )
        return (
            f"channels retain too much: at most {self.max_bytes} bytes in all "
            f"(server.max_retained_bytes) and no idle channel frees enough; try again later"
        )
