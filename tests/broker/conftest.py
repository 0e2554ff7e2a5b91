"""Brokers for the contract suite: the in-process one and one on the real Redis.

Every Redis broker of one test shares a key prefix of its own, as processes of one
deployment do; the keys are deleted after the test. Without a Redis on
127.0.0.1:6379 (``LABDECK_TEST_REDIS`` names another) the Redis cases fail: the
test command starts one.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from labdeck.broker import Broker, Budget, MemoryBroker, Message
from labdeck.broker.redis import RedisBroker

REDIS_URL = os.environ.get("LABDECK_TEST_REDIS", "redis://127.0.0.1:6379/0")

MakeBroker = Callable[..., Awaitable[Broker]]


class Sink:
    """What a broker handed to its hub: messages and lost ranges, in order."""

    def __init__(self, broker: Broker) -> None:
        self.messages: list[Message] = []
        self.gaps: list[tuple[str, int, int]] = []
        broker.bind(self.messages.append, lambda ch, first, last: self.gaps.append((ch, first, last)))

    def seqs(self, ch: str) -> list[int]:
        return [m.seq for m in self.messages if m.ch == ch]


async def wipe(prefix: str) -> None:
    r = aioredis.from_url(REDIS_URL)
    try:
        keys = [k async for k in r.scan_iter(f"{prefix}:*", count=1000)]
        if keys:
            await r.delete(*keys)
    finally:
        await r.aclose()


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix no other test uses, wiped afterwards."""
    prefix = f"labdeck-test-{secrets.token_hex(6)}"
    yield prefix
    await wipe(prefix)


@pytest.fixture(params=["memory", "redis"])
async def make_broker(request: pytest.FixtureRequest, redis_prefix: str) -> AsyncIterator[MakeBroker]:
    """``make_broker(history=..., history_bytes=..., budget=...)``: a started broker of
    the kind under test; with Redis, all brokers of one test share their channels."""
    made: list[Broker] = []
    kind: str = request.param

    async def make(history: int = 10_000, history_bytes: int = 64 << 20, budget: Budget | None = None) -> Broker:
        broker: Broker
        if kind == "memory":
            broker = MemoryBroker(history, history_bytes, budget)
        else:
            broker = RedisBroker(REDIS_URL, history, history_bytes, budget, prefix=redis_prefix)
        await broker.start()
        made.append(broker)
        return broker

    yield make
    for broker in made:
        await broker.close()


def kind_of(broker: Any) -> str:
    return "redis" if isinstance(broker, RedisBroker) else "memory"
