"""``Deck.publish``: from any thread, before start, and refusing what JSON cannot carry."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict
from collections.abc import Callable

import pytest

from labdeck import BadRequest, Deck, NotSerializable
from tests.conftest import ws_url
from tests.helpers import WireClient, scaled

THREADS = 8
PER_THREAD = 250


def check_per_thread_order(pushes: list[dict[str, object]], threads: int, per_thread: int) -> None:
    by_thread: dict[int, list[int]] = defaultdict(list)
    for push in pushes:
        data = push["data"]
        assert isinstance(data, dict)
        by_thread[data["thread"]].append(data["i"])
    assert sorted(by_thread) == list(range(threads))
    for k, seen in by_thread.items():
        assert seen == list(range(per_thread)), f"thread {k}: lost, duplicated or reordered"
    assert [p["seq"] for p in pushes] == list(range(1, threads * per_thread + 1))


async def test_many_threads_publishing_at_once_lose_nothing_and_keep_their_order(
    deck: Deck, client: WireClient
) -> None:
    await client.request("sub", ch="lab/threads")
    start = threading.Barrier(THREADS)

    def worker(k: int) -> None:
        start.wait(scaled(10))
        for i in range(PER_THREAD):
            deck.publish("lab/threads", {"thread": k, "i": i})

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        await asyncio.to_thread(t.join, scaled(30))
    pushes = await client.wait_for("lab/threads", THREADS * PER_THREAD, timeout=20)
    check_per_thread_order(pushes, THREADS, PER_THREAD)


async def test_publishing_on_the_loop_thread_is_immediate(deck: Deck) -> None:
    deck.publish("lab/here", 1)
    assert await deck.broker.channels() == {**await deck.broker.channels(), "lab/here": 1}


async def test_messages_published_before_start_are_delivered_at_start(make_deck: Callable[..., Deck]) -> None:
    deck = make_deck()
    deck.publish("lab/early", {"n": 1})
    deck.publish("lab/early", {"n": 2})
    await asyncio.to_thread(deck.publish, "lab/early", {"n": 3})  # from another thread, too
    await deck.start()
    try:
        async with WireClient(ws_url(deck)) as client:
            await client.request("sub", ch="lab/early", since=0)
            pushes = await client.wait_for("lab/early", 3)
            assert [(p["seq"], p["data"]["n"]) for p in pushes] == [(1, 1), (2, 2), (3, 3)]
    finally:
        await deck.stop()


async def test_a_thread_publishing_across_start_keeps_its_order(make_deck: Callable[..., Deck]) -> None:
    deck = make_deck(server_history=50_000)
    published = 0
    started = threading.Event()
    running = threading.Event()

    def worker() -> None:
        nonlocal published
        # Publish before, during and after start, until the deck has been serving a while.
        while published < 20_000 and (not running.is_set() or published < after + 200):
            deck.publish("lab/across", {"thread": 0, "i": published})
            published += 1
            if published == 100:
                started.set()
            time.sleep(0.0001)  # a steady stream rather than a burst that ends before start

    after = 20_000
    thread = threading.Thread(target=worker)
    thread.start()
    try:
        await asyncio.to_thread(started.wait, scaled(10))
        await deck.start()
        after = published
        running.set()
    finally:
        await asyncio.to_thread(thread.join, scaled(30))
    try:
        async with WireClient(ws_url(deck)) as client:
            await client.request("sub", ch="lab/across", since=0)
            pushes = await client.wait_for("lab/across", published, timeout=20)
            check_per_thread_order(pushes, 1, published)
    finally:
        await deck.stop()


@pytest.mark.parametrize("value", [object(), {"when": threading.Event()}, [1, {2, object()}]])
async def test_a_value_json_cannot_carry_raises_in_the_caller(deck: Deck, value: object) -> None:
    with pytest.raises(NotSerializable):
        deck.publish("lab/bad", value)
    with pytest.raises(NotSerializable):
        await asyncio.to_thread(deck.publish, "lab/bad", value)
    assert "lab/bad" not in await deck.broker.channels()


def test_not_serializable_is_raised_before_start_too(make_deck: Callable[..., Deck]) -> None:
    deck = make_deck()
    with pytest.raises(NotSerializable, match="object"):
        deck.publish("lab/bad", object())


@pytest.mark.parametrize("ch", ["", "a//b", "x" * 201])
def test_a_bad_channel_name_raises_in_the_caller(make_deck: Callable[..., Deck], ch: str) -> None:
    with pytest.raises(BadRequest):
        make_deck().publish(ch, 1)
