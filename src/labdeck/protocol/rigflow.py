"""Delivery on a rig link: each request's state, retransmission, de-duplication. Pure.

The sender keeps an :class:`Outbox`, the receiver an :class:`Inbox`; the I/O adapter
feeds them the clock and what arrives, and sends what they return. Neither reads a clock
nor sets a timer itself: :meth:`Outbox.next_wakeup` tells the adapter when to call back.

A request moves through this table (both wire modes; in iblutil mode the exact echo is
the acknowledgement and the peer's own message of the same event is the answer)::

    sent ──ack──► acknowledged ──answer──► answered
      │  └────────────answer──────────────►┘
      └──deadline──► timed out ◄──deadline── acknowledged

A repeated ack, and a resend, leave the state as it is. An ack or answer for a request
no longer pending (a duplicate, or one that came after the deadline) is dropped by the
outbox, never passed on: that is what keeps a duplicated echo from starting a loop.

The rig's state as the group shows it is a second, smaller table (:data:`RIG_STATES`).
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Hashable

import msgspec

from labdeck.exceptions import IllegalTransition
from labdeck.protocol.rig import Event

__all__ = [
    "RIG_STATES",
    "TRANSITIONS",
    "Inbox",
    "Outbox",
    "Pending",
    "RecentMessages",
    "RigState",
    "Seen",
    "SendEvent",
    "SendState",
    "next_send_state",
    "rig_state_after",
]


class SendState(enum.StrEnum):
    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    ANSWERED = "answered"
    TIMED_OUT = "timed out"


class SendEvent(enum.StrEnum):
    ACK = "ack"
    ANSWER = "answer"
    RESEND = "resend"
    DEADLINE = "deadline"


_S, _E = SendState, SendEvent
# Members as module constants: on Python 3.11 reading ``SendEvent.ANSWER`` goes through the
# enum metaclass's attribute hook, which costs as much as a dict operation, on every message.
_SENT, _ACK, _ANSWER = _S.SENT, _E.ACK, _E.ANSWER

# An answer straight from "sent" is normal on a lossy link: the ack was lost, the answer
# was not. "answered" and "timed out" are final; the outbox forgets the request there.
TRANSITIONS: dict[tuple[SendState, SendEvent], SendState] = {
    (_S.SENT, _E.ACK): _S.ACKNOWLEDGED,
    (_S.SENT, _E.ANSWER): _S.ANSWERED,
    (_S.SENT, _E.RESEND): _S.SENT,
    (_S.SENT, _E.DEADLINE): _S.TIMED_OUT,
    (_S.ACKNOWLEDGED, _E.ACK): _S.ACKNOWLEDGED,
    (_S.ACKNOWLEDGED, _E.ANSWER): _S.ANSWERED,
    (_S.ACKNOWLEDGED, _E.RESEND): _S.ACKNOWLEDGED,
    (_S.ACKNOWLEDGED, _E.DEADLINE): _S.TIMED_OUT,
}


def next_send_state(state: SendState, event: SendEvent) -> SendState:
    """The state of a request after ``event``.

    Raises:
        IllegalTransition: the table has no such step; the message names both.
    """
    try:
        return TRANSITIONS[state, event]
    except KeyError:
        raise IllegalTransition(f"rig request state {state.value!r}: event {event.value!r} is not allowed") from None


class Pending(msgspec.Struct, gc=False):
    """One request in flight: what to resend, and when it gives up.

    A struct (built in C, one per request; it holds no references back, so the garbage
    collector need not track it).
    """

    id: int
    payload: bytes
    sent_at: float
    deadline: float
    next_send: float
    state: SendState = SendState.SENT
    attempts: int = 1


class Outbox:
    """The sender's side: requests in flight, by id; several at once.

    Args:
        first_retry: seconds before the first resend of a request not acknowledged.
        max_retry: the longest wait between resends; the wait doubles up to it.
        answer_poll: while acknowledged but unanswered, resend this often, so that an
            answer lost on the way back is sent again from the rig's cache.
        retransmit: ``False`` for iblutil mode, whose peers would act on a resend twice.
    """

    def __init__(self, *, first_retry: float = 0.02, max_retry: float = 0.5, answer_poll: float = 1.0,
                 retransmit: bool = True) -> None:
        self.first_retry, self.max_retry, self.answer_poll = first_retry, max_retry, answer_poll
        self.retransmit = retransmit
        self._pending: dict[int, Pending] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def __contains__(self, rid: int) -> bool:
        return rid in self._pending

    def add(self, rid: int, payload: bytes, now: float, timeout: float) -> Pending:
        """Track request ``rid``, just sent; it times out ``timeout`` seconds from ``now``."""
        if rid in self._pending:
            raise ValueError(f"rig request {rid} is already in flight")
        deadline = now + timeout
        entry = Pending(rid, payload, now, deadline, now + self.first_retry if self.retransmit else deadline + 1.0)
        self._pending[rid] = entry
        return entry

    def ack(self, rid: int) -> bool:
        """Record an acknowledgement; ``False``: not pending (a duplicate or stray one, drop it)."""
        entry = self._pending.get(rid)
        if entry is None:
            return False
        if entry.state is _SENT and self.retransmit:
            entry.next_send = entry.sent_at + self.answer_poll
        entry.state = next_send_state(entry.state, _ACK)
        return True

    def answer(self, rid: int) -> Pending | None:
        """Record the answer and forget the request; ``None``: not pending, drop the answer."""
        entry = self._pending.pop(rid, None)
        if entry is not None:
            entry.state = next_send_state(entry.state, _ANSWER)
        return entry

    def due(self, now: float) -> list[Pending]:
        """The requests to send again now; their next resend is scheduled."""
        found = []
        for entry in self._pending.values():
            if entry.next_send <= now < entry.deadline:
                entry.state = next_send_state(entry.state, SendEvent.RESEND)
                entry.attempts += 1
                if entry.state is SendState.SENT:
                    wait = min(self.first_retry * 2 ** (entry.attempts - 1), self.max_retry)
                else:
                    wait = self.answer_poll
                entry.next_send = now + wait
                found.append(entry)
        return found

    def expired(self, now: float) -> list[Pending]:
        """The requests whose deadline has passed, now forgotten."""
        gone = [entry for entry in self._pending.values() if entry.deadline <= now]
        for entry in gone:
            entry.state = next_send_state(entry.state, SendEvent.DEADLINE)
            del self._pending[entry.id]
        return gone

    def next_wakeup(self) -> float | None:
        """When the adapter must next call :meth:`due` and :meth:`expired`; ``None``: idle."""
        times = [min(e.next_send, e.deadline) for e in self._pending.values()]
        return min(times, default=None)

    def cancel(self, rid: int) -> None:
        """Forget request ``rid`` (its caller gave up)."""
        self._pending.pop(rid, None)


class Seen(enum.StrEnum):
    """What a receiver knows of a request id."""

    NEW = "new"
    """Never seen: run the handler, then call :meth:`Inbox.answered`."""
    RUNNING = "running"
    """Its handler is still running: acknowledge again, nothing more."""
    ANSWERED = "answered"
    """Answered already: send the cached answer again, never run the handler twice."""


_NEW, _RUNNING, _ANSWERED = Seen.NEW, Seen.RUNNING, Seen.ANSWERED


class Inbox:
    """The receiver's side: request ids seen per peer, with their answers.

    Args:
        keep: seconds an answer stays cached; longer than any sender's deadline.
        limit: most ids remembered; the oldest go first.
    """

    def __init__(self, keep: float = 120.0, limit: int = 10_000) -> None:
        self.keep, self.limit = keep, limit
        self._seen: OrderedDict[tuple[Hashable, int], tuple[float, bytes | None]] = OrderedDict()
        self._next_sweep = float("-inf")

    def receive(self, peer: Hashable, rid: int, now: float) -> tuple[Seen, bytes | None]:
        """Classify request ``rid`` from ``peer`` (:meth:`check`); a new one is recorded as
        running (:meth:`running`)."""
        seen = self.check(peer, rid, now)
        if seen[0] is _NEW:
            self.running(peer, rid, now)
        return seen

    def check(self, peer: Hashable, rid: int, now: float) -> tuple[Seen, bytes | None]:
        """Classify request ``rid`` from ``peer`` without recording it; with
        :attr:`Seen.ANSWERED`, its cached answer.

        With :attr:`Seen.NEW` the caller must record the request before anything else can
        arrive: :meth:`running` before its handler starts, or :meth:`answered` when the
        handler has answered without yielding (the cheaper way: one entry written, after
        the reply has left).
        """
        if now >= self._next_sweep:
            self._forget(now)
        known = self._seen.get((peer, rid))
        if known is None:
            return _NEW, None
        if known[1] is None:
            return _RUNNING, None
        return _ANSWERED, known[1]

    def running(self, peer: Hashable, rid: int, now: float) -> None:
        """Record ``rid`` from ``peer`` as being handled: a repeat is :attr:`Seen.RUNNING`."""
        self._add((peer, rid), (now, None))

    def is_answered(self, peer: Hashable, rid: int) -> bool:
        """Whether ``rid`` from ``peer`` has its answer cached (an ack for it would be redundant)."""
        known = self._seen.get((peer, rid))
        return known is not None and known[1] is not None

    def answered(self, peer: Hashable, rid: int, payload: bytes, now: float) -> None:
        """Cache the answer to ``rid`` for repeats of the request."""
        key = peer, rid
        seen = self._seen
        if key in seen:
            seen[key] = (now, payload)
            seen.move_to_end(key)
        else:
            self._add(key, (now, payload))

    def _add(self, key: tuple[Hashable, int], entry: tuple[float, bytes | None]) -> None:
        if len(self._seen) >= self.limit:
            self._seen.popitem(last=False)  # the oldest: at the limit, one in, one out
        self._seen[key] = entry

    def _forget(self, now: float) -> None:
        # A sweep a second at most: an id is remembered at least ``keep`` seconds, a
        # little longer is harmless, and a sweep on every datagram is not free.
        self._next_sweep = now + min(1.0, self.keep / 10)
        while self._seen:
            key, (at, _) = next(iter(self._seen.items()))
            if at > now - self.keep and len(self._seen) <= self.limit:
                break
            del self._seen[key]


class RecentMessages:
    """iblutil mode's de-duplication: the same bytes from the same peer within ``window``.

    iblutil messages carry no id, so a datagram the network duplicated is told apart
    from a new message only by arriving again, byte for byte, within a short window.
    """

    def __init__(self, window: float = 0.5) -> None:
        self.window = window
        self._seen: OrderedDict[tuple[Hashable, bytes], float] = OrderedDict()

    def repeated(self, peer: Hashable, data: bytes, now: float) -> bool:
        """``True`` if ``data`` came from ``peer`` within the window (drop it); records it."""
        while self._seen:
            key, at = next(iter(self._seen.items()))
            if at > now - self.window:
                break
            del self._seen[key]
        if (peer, data) in self._seen:
            return True
        self._seen[peer, data] = now
        return False


class RigState(enum.StrEnum):
    """A rig as the group shows it on ``rigs/<name>``."""

    UNKNOWN = "unknown"
    CONNECTED = "connected"
    INITIALISED = "initialised"
    RUNNING = "running"
    STOPPED = "stopped"
    LOST = "lost"


# What a rig is after answering each request successfully. Status, info and the token
# exchange change nothing but prove the rig is there, so an unknown or lost rig becomes
# connected. A timeout makes any rig lost; an error answer leaves the state as it was
# (the rig is there, it refused).
RIG_STATES: dict[Event, RigState | None] = {
    Event.INIT: RigState.INITIALISED,
    Event.START: RigState.RUNNING,
    Event.STOP: RigState.STOPPED,
    Event.INTERRUPT: RigState.STOPPED,
    Event.CLEANUP: RigState.CONNECTED,
    Event.STATUS: None,
    Event.INFO: None,
    Event.TOKEN: None,
}


def rig_state_after(state: RigState, event: Event, outcome: str) -> RigState:
    """The rig's state after a request for ``event`` ended in ``outcome``.

    Args:
        outcome: ``"ok"``, ``"error"`` (the rig answered with an error) or ``"timeout"``.
    """
    if outcome == "timeout":
        return RigState.LOST
    if outcome == "error":
        return RigState.CONNECTED if state in (RigState.UNKNOWN, RigState.LOST) else state
    after = RIG_STATES[event]
    if after is None:
        return RigState.CONNECTED if state in (RigState.UNKNOWN, RigState.LOST) else state
    return after
