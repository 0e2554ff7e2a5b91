"""One client connection to the hub: its subscriptions and its bounded send queue.

Delivery
--------
A connection hands complete websocket frames to its :class:`Outlet` (the transport).
While nothing waits in its queue and the transport's write buffer is under its bound,
the outlet takes a frame at once, from the code that published or answered: no task
wakes up and nothing is copied per subscriber (a push's frame is built once and shared,
see :attr:`labdeck.broker.base.Message.ws_frame`). The outlet may gather the pushes of
one loop turn and write them together at its end, one system call for a burst; a reply
goes out at once, after whatever was gathered before it. Only under back-pressure do
frames wait in the connection's queue; a sender task, started for the occasion, waits
for the transport to drain and hands it what waits in one ``writelines`` (up to
:data:`WRITE_CHUNK` bytes at a time), then ends when the queue is empty.

Slow-client policy
------------------
Every connection has its own send queue, so a client that reads slowly never delays
delivery to anyone else. The queue is bounded by ``max_bytes`` (default 4 MiB of
frames). A client that falls that far behind is disconnected with close code 1013
("try again later") and its queue is dropped:

* memory stays bounded whatever a stalled browser does;
* nothing is lost silently: the JavaScript client reconnects and re-subscribes with
  ``since`` = the last seq it saw, and the channel history replays what it missed, or
  sends an explicit ``gap`` notice when history no longer reaches back.

Replays are paced, not dumped: what a re-subscribing client missed waits in a backlog
that only references messages the broker's history already holds, and is moved into
the queue whenever the queue is below half its bound. So a client that missed
more than the bound can still catch up instead of being dropped on every reconnect.
Live messages of a channel still replaying are held back until its replay is queued;
if those held messages alone exceed the bound, the client cannot keep up with the live
rate and is dropped as slow.

Delivery order per channel is seq order, with no duplicates: the connection remembers
the last seq it queued per channel and drops anything not newer, which also makes
replay-then-live hand-over safe whatever the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from labdeck.broker.base import Message
from labdeck.protocol.frames import text_frame
from labdeck.types import Client, current_client

__all__ = ["SLOW_CLIENT_CLOSE_CODE", "WRITE_CHUNK", "Client", "Connection", "Outlet", "current_client"]

log = logging.getLogger(__name__)

SLOW_CLIENT_CLOSE_CODE = 1013
WRITE_CHUNK = 256 << 10
"""Most bytes of queued frames handed to the transport in one ``writelines``."""
_ids = itertools.count(1)


class Outlet(Protocol):
    """Where a connection's complete websocket frames go: the transport, thinly wrapped.

    Every method raises :class:`ConnectionError` once the websocket is closing or gone;
    the connection then stops sending.
    """

    def offer(self, frame: bytes, now: bool = False) -> bool:
        """Take ``frame`` if the write buffer is under its bound; ``False``: it was not
        taken, and the caller queues it. Taken frames may wait until the end of the
        loop turn, to leave together; ``now`` writes it, and any before it, at once."""
        ...

    def write_all(self, frames: list[bytes]) -> None:
        """Write ``frames`` in order, whatever the buffer holds."""
        ...

    async def drain(self) -> None:
        """Return once the write buffer has room again."""
        ...


Close = Callable[[int, str], Coroutine[Any, Any, None]]


class Connection:
    """A client's subscriptions and outgoing frames.

    Args:
        outlet: takes complete websocket frames (see :class:`Outlet`).
        close: closes the transport with a code and reason.
        client: who the peer is.
        max_bytes: the send-queue bound of the slow-client policy.
        max_in_flight: how many requests may wait for their reply at once (see
            :meth:`Hub.handle <labdeck.hub.Hub.handle>`).
    """

    def __init__(
        self,
        outlet: Outlet,
        close: Close,
        client: Client | None = None,
        *,
        max_bytes: int = 4 << 20,
        max_in_flight: int = 256,
    ) -> None:
        self.id = next(_ids)
        self.client = client or Client()
        self.max_bytes = max_bytes
        self.max_in_flight = max_in_flight
        self.subs: dict[str, int] = {}  # channel -> last seq queued
        self.pending: dict[str, list[Message]] = {}  # channels mid-replay -> live messages held back
        self.held_bytes = 0
        self.in_flight: set[int | str] = set()  # ids of requests not answered yet (see Hub.handle)
        self.closed = False
        self.dropped_slow = False
        self.queued_bytes = 0
        self.peak_bytes = 0
        self._outlet = outlet
        self._close = close
        # Both made when first needed: an idle connection keeps neither (a deque is ~600 bytes).
        self._queue: deque[bytes] | None = None  # complete frames waiting for the transport to drain
        self._backlog: deque[Message | str] | None = None  # replay messages; a str releases that channel
        self._sender: asyncio.Task[None] | None = None  # only while frames wait

    def __repr__(self) -> str:
        return f"<Connection {self.id} {self.client.peer} subs={len(self.subs)}>"

    # -- outgoing -------------------------------------------------------------------

    def send(self, frame: bytes) -> None:
        """Send one text frame (a reply or a notice; see :meth:`deliver` for pushes).

        Written at once when nothing waits before it and the transport has room, else
        queued; a queue over its bound disconnects the client (see module doc).
        """
        self._push(text_frame(frame), True)

    def _push(self, framed: bytes, now: bool = False) -> None:
        if self.closed:
            return
        queue = self._queue
        if not queue:
            try:
                if self._outlet.offer(framed, now):
                    return
            except ConnectionError:
                self.closed = True
                return
            if queue is None:
                queue = self._queue = deque()
        queue.append(framed)
        self.queued_bytes += len(framed)
        if self.queued_bytes > self.peak_bytes:
            self.peak_bytes = self.queued_bytes
            if self.queued_bytes > self.max_bytes:
                self._drop_slow()
                return
        if self._sender is None:
            self._sender = asyncio.get_running_loop().create_task(self._drain())

    def deliver(self, msg: Message) -> None:
        """Queue a live channel message unless this connection already has it."""
        held = self.pending.get(msg.ch)
        if held is not None:
            held.append(msg)
            self.held_bytes += len(msg.data)
            if self.held_bytes > self.max_bytes and not self.closed:
                self._drop_slow()
            return
        self._queue_message(msg)

    def _queue_message(self, msg: Message) -> None:
        last = self.subs.get(msg.ch)
        if last is None or msg.seq <= last:  # unsubscribed meanwhile, or already queued
            return
        self.subs[msg.ch] = msg.seq
        self._push(msg.ws_frame)

    def hold(self, ch: str) -> None:
        """Hold back live messages of ``ch`` until its replay has been queued."""
        self.pending.setdefault(ch, [])

    def release(self, ch: str) -> list[Message]:
        """Stop holding ``ch``; returns the live messages held meanwhile, oldest first."""
        held = self.pending.pop(ch, [])
        self.held_bytes -= sum(len(msg.data) for msg in held)
        return held

    def forget(self, ch: str) -> None:
        """End the subscription to ``ch`` here: what of it waits unqueued (the rest of its
        replay, live messages held back behind it) is dropped, so that a later ``sub``
        replays from its own ``since`` rather than after the old replay's remains."""
        self.subs.pop(ch, None)
        self.release(ch)
        backlog = self._backlog
        if backlog:
            kept = [item for item in backlog if (item if isinstance(item, str) else item.ch) != ch]
            backlog.clear()
            backlog.extend(kept)

    def replay(self, ch: str, messages: list[Message]) -> None:
        """Queue ``messages`` of ``ch`` at the sender's pace, then its held live messages."""
        if self._backlog is None:
            self._backlog = deque()
        self._backlog.extend(messages)
        self._backlog.append(ch)
        self._refill()

    def _refill(self) -> None:
        backlog, low_water = self._backlog, self.max_bytes // 2
        if backlog is None:
            return
        while backlog and self.queued_bytes < low_water and not self.closed:
            item = backlog.popleft()
            if isinstance(item, str):
                for msg in self.release(item):
                    self._queue_message(msg)
            else:
                self._queue_message(item)
        if not backlog and self._backlog is backlog:
            self._backlog = None  # an idle connection keeps no deque

    async def _drain(self) -> None:
        """Hand the queue to the transport as it drains; ends when the queue is empty."""
        queue, outlet = self._queue, self._outlet
        assert queue is not None  # the sender starts once a frame is queued
        try:
            while queue:
                await outlet.drain()
                if self.closed:
                    break
                frames, size = [], 0
                while queue and size < WRITE_CHUNK:
                    frame = queue.popleft()
                    frames.append(frame)
                    size += len(frame)
                self.queued_bytes -= size
                outlet.write_all(frames)
                if self._backlog and self.queued_bytes < self.max_bytes // 2:
                    self._refill()
        except (ConnectionError, RuntimeError):
            self.closed = True
        except Exception:  # the transport's own failure: this client is gone
            log.exception("connection %s: sending failed", self.id)
            self.closed = True
        finally:
            if self._sender is asyncio.current_task():
                self._sender = None
                if not queue and self._queue is queue:
                    self._queue = None  # nor after a burst

    def _drop_slow(self) -> None:
        log.warning(
            "connection %s (%s) is too slow: %d bytes queued, over %d; disconnecting",
            self.id, self.client.peer, self.queued_bytes, self.max_bytes,
        )
        self.dropped_slow = True
        self.closed = True
        if self._queue is not None:
            self._queue.clear()  # the sender may hold it
        self._queue = self._backlog = None
        self.pending.clear()
        self.queued_bytes = self.held_bytes = 0
        if self._sender is not None:
            self._sender.cancel()
        asyncio.get_running_loop().create_task(
            self._close(SLOW_CLIENT_CLOSE_CODE, "slow consumer: reconnect with since to resume")
        )

    async def close(self, code: int = 1001, reason: str = "server shutting down") -> None:
        """Stop sending and close the transport with ``code``."""
        await self.shutdown()
        await self._close(code, reason)

    async def shutdown(self) -> None:
        """Stop sending; queued frames are discarded."""
        self.closed = True
        sender = self._sender
        if sender is not None:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
