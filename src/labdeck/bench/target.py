"""The labdeck server under test, as it runs in its own process.

A :class:`~labdeck.Deck` on an ephemeral loopback port with its defaults, plus what the
benchmarks need to drive it:

* ``POST /bench/burst`` with ``{"ch": ..., "count": ..., "size": ..., "every": ...}``
  publishes ``count`` messages of ``size`` characters on ``ch`` with :meth:`Deck.publish`
  from a task on the server's own event loop, as fast as it can (yielding every ``every`` messages,
  by default :data:`~labdeck.bench.baselines.YIELD_EVERY`, as the baselines do), and
  answers once all are published;
* ``POST /bench/thread`` with ``{"ch": ..., "count": ..., "size": ..., "how": ...}``
  publishes ``count`` messages from a thread of its own and answers, once the broker
  holds the last of them, how long that took and the CPU it cost the process:
  ``{"seconds": ..., "cpu_ns": ...}``. ``how`` is ``"publish"`` (:meth:`Deck.publish`)
  or ``"call_soon"``, the baseline: one ``loop.call_soon_threadsafe`` per message;
* an exposed object ``bench`` with a trivial method ``ping(n)`` (run in the thread
  pool, as any plain method is) and ``ping_inline(n)`` (``@inline``: on the event loop),
  when this labdeck can expose objects.

The per-connection send queue is raised to 64 MiB: a burst is published without any
pause for slow readers, and the figure measures delivery, not the slow-client policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

import labdeck
from labdeck.bench.baselines import YIELD_EVERY
from labdeck.bench.cpu import cpu_ns
from labdeck.config import load_config
from labdeck.hub import check_channel_name
from labdeck.protocol.wire import encode_data

__all__ = ["BenchObject", "serve_labdeck"]

SEND_QUEUE_BYTES = 64 << 20


class BenchObject:
    """The object the ``rpc-call`` benchmark calls."""

    def ping(self, n: int) -> int:
        """Return ``n``: a call that does nothing but travel."""
        return n

    def ping_inline(self, n: int) -> int:
        """Return ``n``, on the event loop."""
        return n


def _mark_inline() -> None:
    inline = getattr(labdeck, "inline", None)
    if inline is not None:
        BenchObject.ping_inline = inline(BenchObject.ping_inline)  # type: ignore[method-assign]


_mark_inline()


def _burst_route(deck: labdeck.Deck) -> Any:
    async def burst(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        ch, count, pad = str(body["ch"]), int(body["count"]), "x" * int(body["size"])
        every = max(1, int(body.get("every", YIELD_EVERY)))
        # A task of its own, as a script's relay or an instrument's loop is: each of its
        # yields resumes the publisher alone, not the middlewares around this route.
        await asyncio.get_running_loop().create_task(_publish(deck, ch, count, pad, every))
        return web.json_response({"published": count})

    async def thread(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        ch, count, pad = str(body["ch"]), int(body["count"]), "x" * int(body["size"])
        last = await deck.broker.last(ch)
        goal = (last.seq if last else 0) + count
        cpu_before, started = cpu_ns(os.getpid()), time.perf_counter()
        worker = threading.Thread(target=_publisher(deck, str(body["how"])), args=(ch, count, pad))
        worker.start()
        while (last := await deck.broker.last(ch)) is None or last.seq < goal:
            await asyncio.sleep(0.0005)  # not a busy loop: the loop is half of what is measured
        seconds = time.perf_counter() - started
        cpu_after = cpu_ns(os.getpid())
        worker.join()
        cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
        return web.json_response({"seconds": seconds, "cpu_ns": cpu})

    def add(app: web.Application) -> None:
        app.router.add_post("/bench/burst", burst)
        app.router.add_post("/bench/thread", thread)

    return add


async def _publish(deck: labdeck.Deck, ch: str, count: int, pad: str, every: int) -> None:
    """Publish ``count`` messages on ``ch``, yielding to the loop after every ``every``."""
    for i in range(1, count + 1):
        deck.publish(ch, pad)
        if i % every == 0:
            await asyncio.sleep(0)


def _publisher(deck: labdeck.Deck, how: str) -> Callable[[str, int, str], None]:
    """What the publishing thread runs: ``Deck.publish``, or the baseline hand-over."""
    if how == "publish":
        def publish(ch: str, count: int, pad: str) -> None:
            for _ in range(count):
                deck.publish(ch, pad)

        return publish
    loop = asyncio.get_running_loop()

    def call_soon(ch: str, count: int, pad: str) -> None:
        nowait = deck.broker.publish_nowait
        for _ in range(count):
            loop.call_soon_threadsafe(nowait, check_channel_name(ch), encode_data(pad))

    return call_soon


@contextlib.asynccontextmanager
async def serve_labdeck() -> AsyncIterator[tuple[int, frozenset[str]]]:
    """Start the deck in a temporary data folder; yields ``(port, features)``.

    ``features`` holds ``"call"`` when the ``bench`` object is exposed.
    """
    with tempfile.TemporaryDirectory(prefix="labdeck-bench-") as data:
        config = load_config(None, env={}, overrides={
            "server.host": "127.0.0.1",
            "server.port": 0,
            "server.data": data,
            "server.send_queue_bytes": SEND_QUEUE_BYTES,
        })
        deck = labdeck.Deck(config)
        features = set()
        if hasattr(labdeck.Deck, "expose"):
            deck.expose("bench", BenchObject())
            features.add("call")
        deck.routes.append(_burst_route(deck))
        await deck.start()
        try:
            assert deck.port is not None
            yield deck.port, frozenset(features)
        finally:
            await deck.stop()
