"""The labdeck server under test, as it runs in its own process.

A :class:`~labdeck.Deck` on an ephemeral loopback port with its defaults, plus what the
benchmarks need to drive it:

* ``POST /bench/burst`` with ``{"ch": ..., "count": ..., "size": ...}`` publishes
  ``count`` messages of ``size`` characters on ``ch`` with :meth:`Deck.publish` from the
  server's own event loop, as fast as it can (yielding every
  :data:`~labdeck.bench.baselines.YIELD_EVERY` messages, as the baselines do), and
  answers once all are published;
* an exposed object ``bench`` with a trivial method ``ping(n)`` (run in the thread
  pool, as any plain method is) and ``ping_inline(n)`` (``@inline``: on the event loop),
  when this labdeck can expose objects.

The per-connection send queue is raised to 64 MiB: a burst is published without any
pause for slow readers, and the figure measures delivery, not the slow-client policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

import labdeck
from labdeck.bench.baselines import YIELD_EVERY
from labdeck.config import load_config

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
        for i in range(1, count + 1):
            deck.publish(ch, pad)
            if i % YIELD_EVERY == 0:
                await asyncio.sleep(0)
        return web.json_response({"published": count})

    def add(app: web.Application) -> None:
        app.router.add_post("/bench/burst", burst)

    return add


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
