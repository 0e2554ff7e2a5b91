"""Putting live messages back in seq order and finding holes: pure logic, no I/O.

A broker shared between processes receives the live messages of its subscribed
channels over a connection that may break. The :class:`Sequencer` is what it feeds
them to, in whatever order and with whatever duplicates they arrive; what comes out
is each channel's messages exactly once, in seq order, and the *holes*: ranges of
seqs known to exist (a later seq arrived, or the shared store says the channel has
reached a seq) that were never received. The broker fetches a hole from history and
feeds what it finds back in; whatever history no longer holds it declares lost with
:meth:`Sequencer.skip`, which yields the gap to report. Nothing is dropped silently.

A channel starts *unanchored*: messages are buffered until :meth:`Sequencer.anchor`
says which seq the subscriber has already covered (by a replay of history).
"""

from __future__ import annotations

from labdeck.broker.base import Message

__all__ = ["Sequencer"]


class _Track:
    __slots__ = ("ahead", "known", "last")

    def __init__(self) -> None:
        self.last: int | None = None  # last seq handed on; None until anchored
        self.known = 0  # highest seq known to exist
        self.ahead: dict[int, Message] = {}  # received but not yet deliverable


class Sequencer:
    """Per channel: the last seq delivered, messages received ahead of it, holes."""

    def __init__(self) -> None:
        self._tracks: dict[str, _Track] = {}

    def __contains__(self, ch: str) -> bool:
        return ch in self._tracks

    def channels(self) -> list[str]:
        """Every channel tracked."""
        return list(self._tracks)

    def track(self, ch: str) -> None:
        """Start tracking ``ch``, unanchored (its messages wait for :meth:`anchor`)."""
        self._tracks.setdefault(ch, _Track())

    def forget(self, ch: str) -> None:
        """Stop tracking ``ch``; what it buffered is dropped (nobody wants it)."""
        self._tracks.pop(ch, None)

    def last(self, ch: str) -> int | None:
        """The last seq of ``ch`` handed on, ``None`` if unanchored or untracked."""
        track = self._tracks.get(ch)
        return None if track is None else track.last

    def anchor(self, ch: str, last: int) -> list[Message]:
        """Say that seqs up to ``last`` are covered; returns what is deliverable now."""
        track = self._tracks.get(ch)
        if track is None or track.last is not None:
            return []
        track.last = last
        track.known = max(track.known, last)
        for seq in [s for s in track.ahead if s <= last]:
            del track.ahead[seq]
        return self._drain(track)

    def accept(self, msg: Message) -> list[Message]:
        """Take a received message; returns the messages deliverable now, in seq order."""
        track = self._tracks.get(msg.ch)
        if track is None or (track.last is not None and msg.seq <= track.last):
            return []  # not wanted, or a duplicate
        track.known = max(track.known, msg.seq)
        track.ahead.setdefault(msg.seq, msg)
        return [] if track.last is None else self._drain(track)

    def known(self, ch: str, seq: int) -> None:
        """Say that ``ch`` has reached ``seq`` (read from the shared store)."""
        track = self._tracks.get(ch)
        if track is not None:
            track.known = max(track.known, seq)

    def hole(self, ch: str) -> tuple[int, int] | None:
        """The first range of seqs of ``ch`` known to exist and never received."""
        track = self._tracks.get(ch)
        if track is None or track.last is None:
            return None
        end = min(track.ahead) - 1 if track.ahead else track.known
        return (track.last + 1, end) if end > track.last else None

    def skip(self, ch: str, upto: int) -> tuple[tuple[int, int] | None, list[Message]]:
        """Declare the seqs of ``ch`` after the last delivered, up to ``upto``, lost for
        good: history was asked for them and holds none of them.

        Returns:
            the lost range (``None`` if there was none) and the messages deliverable
            after it.
        """
        track = self._tracks.get(ch)
        if track is None or track.last is None or upto <= track.last:
            return None, []
        lost = (track.last + 1, upto)
        for seq in [s for s in track.ahead if s <= upto]:
            del track.ahead[seq]
        track.last = upto
        return lost, self._drain(track)

    def _drain(self, track: _Track) -> list[Message]:
        out: list[Message] = []
        ahead = track.ahead
        assert track.last is not None
        nxt = track.last + 1
        while nxt in ahead:
            out.append(ahead.pop(nxt))
            nxt += 1
        track.last = nxt - 1
        return out
