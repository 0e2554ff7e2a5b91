"""Publishes from other threads: handed to the loop in batches, none lost, each thread's
order kept, and far fewer loop wake-ups than messages."""

from __future__ import annotations

import asyncio
import threading

from labdeck import Deck
from labdeck.hub.inbox import ThreadInbox
from tests.helpers import scaled, until

THREADS, PER_THREAD = 4, 20_000


async def test_a_flood_from_threads_arrives_whole_in_order_in_few_wake_ups() -> None:
    got: list[tuple[str, bytes]] = []
    inbox = ThreadInbox(asyncio.get_running_loop(), lambda ch, data: got.append((ch, data)))
    start = threading.Barrier(THREADS)

    def flood(k: int) -> None:
        start.wait(scaled(10))
        for i in range(PER_THREAD):
            inbox.put(f"lab/{k}", str(i).encode())

    threads = [threading.Thread(target=flood, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        await asyncio.to_thread(t.join, scaled(30))
    await until(lambda: len(got) == THREADS * PER_THREAD, 10, "every message published")
    for k in range(THREADS):
        assert [int(d) for ch, d in got if ch == f"lab/{k}"] == list(range(PER_THREAD)), f"thread {k}"
    assert inbox.batches * 20 < THREADS * PER_THREAD, f"{inbox.batches} wake-ups for {len(got)} messages"


async def test_one_message_that_fails_to_publish_does_not_lose_the_rest_of_its_batch() -> None:
    got: list[bytes] = []

    def publish(ch: str, data: bytes) -> None:
        if data == b"bad":
            raise ValueError("refused")
        got.append(data)

    inbox = ThreadInbox(asyncio.get_running_loop(), publish)

    def send() -> None:
        for data in (b"1", b"bad", b"2", b"3"):
            inbox.put("lab/x", data)

    await asyncio.to_thread(send)
    await until(lambda: len(got) == 3, 5, "the batch published")
    assert got == [b"1", b"2", b"3"]


async def test_deck_publish_from_a_thread_goes_through_the_batches(deck: Deck) -> None:
    def burst() -> None:
        for i in range(5000):
            deck.publish("lab/burst", i)

    await asyncio.to_thread(burst)
    await until(lambda: _last(deck, "lab/burst") == 5000, 10, "the burst arrived")
    inbox = deck._inbox
    assert inbox is not None and inbox.batches < 500


def _last(deck: Deck, ch: str) -> int:
    log = deck.broker._logs.get(ch)  # type: ignore[attr-defined]
    return 0 if log is None else int(log.seq)
