"""Publishes from other threads, handed to the event loop in batches.

``loop.call_soon_threadsafe`` per message costs a write to the loop's self-pipe, a
wake-up and a handle for each one; a thread that publishes a stream of data points
would spend more on the hand-over than on the messages. Here a publishing thread only
appends to a deque; the first message of a batch schedules one callback, which
publishes everything that has arrived by the time it runs.

Order: a deque's appends and pops are atomic, so messages from one thread keep their
order, and every message appended is published by a callback that is scheduled after
it (the flag is cleared before the deque is read, see :meth:`ThreadInbox._run`).
A long batch is cut at what had arrived when it started, so a thread that publishes
faster than the loop can take never starves the loop's other work.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

__all__ = ["ThreadInbox"]

log = logging.getLogger(__name__)


class ThreadInbox:
    """Messages for ``publish`` from any thread, published on ``loop``'s thread.

    Args:
        loop: the event loop that owns ``publish``.
        publish: ``(channel, encoded data)``, called on the loop's thread only.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, publish: Callable[[str, bytes], None]) -> None:
        self._loop = loop
        self._publish = publish
        self._items: deque[tuple[str, bytes]] = deque()
        self._scheduled = False
        self.batches = 0
        """How many loop callbacks have run: a figure for the benchmarks."""

    def put(self, ch: str, data: bytes) -> None:
        """Queue one message; safe from any thread.

        Raises:
            RuntimeError: the loop is closed; the message will not be published.
        """
        self._items.append((ch, data))
        if not self._scheduled:
            self._scheduled = True
            try:
                self._loop.call_soon_threadsafe(self._run)
            except RuntimeError:
                self._scheduled = False
                raise

    def _run(self) -> None:
        self.batches += 1
        items, publish = self._items, self._publish
        # Clear the flag before reading: a message appended after this line schedules
        # a callback of its own unless this one still sees it below.
        self._scheduled = False
        for _ in range(len(items)):
            ch, data = items.popleft()
            try:
                publish(ch, data)
            except Exception:  # one bad message must not lose the rest of the batch
                log.exception("publishing on %r from a thread failed", ch)
        if items and not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._run)
