"""One client connection to the hub: its subscriptions and its bounded send queue.

Slow-client policy
------------------
Every connection has its own send queue, drained by its own sender task, so a
client that reads slowly never delays delivery to anyone else. The queue is bounded
by ``max_bytes`` (default 4 MiB of frames). A client that falls that far behind is
disconnected with close code 1013 ("try again later") and its queue is dropped:

* memory stays bounded whatever a stalled browser does;
* nothing is lost silently: the JavaScript client reconnects and re-subscribes with
  ``since`` = the last seq it saw, and the channel history replays what it missed, or
  sends an explicit ``gap`` notice when history no longer reaches back.

Replays are paced, not dumped: what a re-subscribing client missed waits in a backlog
that only references messages the broker's history already holds, and the sender moves
it into the queue whenever the queue is below half its bound. So a client that missed
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
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from labdeck.broker.base import Message
from labdeck.types import Client, current_client

__all__ = ["SLOW_CLIENT_CLOSE_CODE", "Client", "Connection", "current_client"]

log = logging.getLogger(__name__)

SLOW_CLIENT_CLOSE_CODE = 1013
_ids = itertools.count(1)


Send = Callable[[bytes], Awaitable[None]]
Close = Callable[[int, str], Coroutine[Any, Any, None]]


class Connection:
    """A client's subscriptions and outgoing frames.

    Args:
        send: writes one text frame; may wait for the transport to drain.
        close: closes the transport with a code and reason.
        client: who the peer is.
        max_bytes: the send-queue bound of the slow-client policy.
    """

    def __init__(self, send: Send, close: Close, client: Client | None = None, *, max_bytes: int = 4 << 20) -> None:
        self.id = next(_ids)
        self.client = client or Client()
        self.max_bytes = max_bytes
        self.subs: dict[str, int] = {}  # channel -> last seq queued
        self.pending: dict[str, list[Message]] = {}  # channels mid-replay -> live messages held back
        self.held_bytes = 0
        self.in_flight: set[int | str] = set()  # ids of requests not answered yet (see Hub.handle)
        self.closed = False
        self.dropped_slow = False
        self.queued_bytes = 0
        self.peak_bytes = 0
        self._send = send
        self._close = close
        self._queue: deque[bytes] = deque()
        self._backlog: deque[Message | str] = deque()  # replay messages; a str releases that channel
        self._waiter: asyncio.Future[None] | None = None
        self.direct = False  # set while the reading task will flush what it queues itself
        self._sender = asyncio.get_running_loop().create_task(self._drain())

    def __repr__(self) -> str:
        return f"<Connection {self.id} {self.client.peer} subs={len(self.subs)}>"

    # -- outgoing -------------------------------------------------------------------

    def send(self, frame: bytes) -> None:
        """Queue a frame; a queue over its bound disconnects the client (see module doc)."""
        if self.closed:
            return
        self._queue.append(frame)
        self.queued_bytes += len(frame)
        if self.queued_bytes > self.peak_bytes:
            self.peak_bytes = self.queued_bytes
            if self.queued_bytes > self.max_bytes:
                self._drop_slow()
                return
        waiter = self._waiter
        if waiter is not None and not waiter.done() and not self.direct:
            waiter.set_result(None)

    async def flush(self) -> None:
        """Write what is queued from the caller's task while the sender task is idle.

        The reading task calls this after handling a request, with :attr:`direct` set
        while it handled it: the reply then leaves from the task that read the request,
        as in a bare echo server, instead of waiting for the sender task to be scheduled.
        Order is kept: frames leave the one queue in order, and ``send`` writes a frame
        to the transport before it can suspend. If the sender is busy, it is left to it.
        """
        self.direct = False
        queue = self._queue
        try:
            while queue and not self.closed:
                waiter = self._waiter
                if waiter is None or waiter.done():
                    return  # the sender is running: it takes the rest
                frame = queue.popleft()
                self.queued_bytes -= len(frame)
                await self._send(frame)
                if self._backlog and self.queued_bytes < self.max_bytes // 2:
                    self._refill()
        except (ConnectionError, RuntimeError):
            self.closed = True

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
        self.send(msg.frame)

    def hold(self, ch: str) -> None:
        """Hold back live messages of ``ch`` until its replay has been queued."""
        self.pending.setdefault(ch, [])

    def release(self, ch: str) -> list[Message]:
        """Stop holding ``ch``; returns the live messages held meanwhile, oldest first."""
        held = self.pending.pop(ch, [])
        self.held_bytes -= sum(len(msg.data) for msg in held)
        return held

    def replay(self, ch: str, messages: list[Message]) -> None:
        """Queue ``messages`` of ``ch`` at the sender's pace, then its held live messages."""
        self._backlog.extend(messages)
        self._backlog.append(ch)
        self._refill()

    def _refill(self) -> None:
        backlog, low_water = self._backlog, self.max_bytes // 2
        while backlog and self.queued_bytes < low_water and not self.closed:
            item = backlog.popleft()
            if isinstance(item, str):
                for msg in self.release(item):
                    self._queue_message(msg)
            else:
                self._queue_message(item)

    async def _drain(self) -> None:
        queue = self._queue
        loop = asyncio.get_running_loop()
        try:
            while not self.closed:
                if not queue:
                    self._waiter = loop.create_future()
                    await self._waiter
                    self._waiter = None
                    continue
                frame = queue.popleft()
                self.queued_bytes -= len(frame)
                await self._send(frame)
                if self._backlog and self.queued_bytes < self.max_bytes // 2:
                    self._refill()
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            pass
        except Exception:  # the transport's own failure: this client is gone
            log.exception("connection %s: sending failed", self.id)
        finally:
            self.closed = True

    def _drop_slow(self) -> None:
        log.warning(
            "connection %s (%s) is too slow: %d bytes queued, over %d; disconnecting",
            self.id, self.client.peer, self.queued_bytes, self.max_bytes,
        )
        self.dropped_slow = True
        self.closed = True
        self._queue.clear()
        self._backlog.clear()
        self.pending.clear()
        self.queued_bytes = self.held_bytes = 0
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
        self._sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._sender
