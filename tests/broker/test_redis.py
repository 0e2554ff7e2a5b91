"""What only the Redis broker does: processes sharing channels over a real Redis,
and the live path losing messages without anyone losing them silently."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest
import redis.asyncio as aioredis

from labdeck.broker.redis import RedisBroker
from labdeck.exceptions import BrokerUnavailable
from tests.broker.conftest import REDIS_URL, Sink
from tests.helpers import until


async def started(prefix: str, history: int = 10_000) -> RedisBroker:
    broker = RedisBroker(REDIS_URL, history, prefix=prefix)
    await broker.start()
    return broker


async def publish_unseen(broker: RedisBroker, ch: str, data: bytes) -> None:
    """Publish as the broker does, but with the live copy sent where nobody listens:
    the message is in the stream and counted, as one lost between processes would be."""
    r = aioredis.from_url(REDIS_URL)
    try:
        await r.evalsha(
            broker._publish_sha, 5, f"{broker.prefix}:seq", f"{broker.prefix}:live", f"{broker.prefix}:bytes",
            f"{broker.prefix}:s:{ch}", f"{broker.prefix}:epoch",
            ch, data, "1.0", broker._history, 1 << 20, f"{broker.prefix}:nowhere", "x",
        )
    finally:
        await r.aclose()


async def kill_pubsub(admin: aioredis.Redis, broker: RedisBroker) -> None:
    """Close ``broker``'s pub/sub connection from the Redis side, once it has one."""
    for _ in range(500):
        clients = await admin.client_list(_type="pubsub")
        ids = [c["id"] for c in clients if c.get("name") == broker.client_name]
        if ids:
            await admin.client_kill_filter(_id=ids[0])
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the broker never reconnected its pub/sub connection")


async def test_processes_on_one_prefix_share_the_epoch_and_others_do_not(redis_prefix: str) -> None:
    a, b, c = await started(redis_prefix), await started(redis_prefix), await started(redis_prefix + "-other")
    try:
        assert a.epoch == b.epoch != c.epoch
    finally:
        for broker in (a, b, c):
            await broker.close()
    from tests.broker.conftest import wipe

    await wipe(redis_prefix + "-other")


async def test_a_message_the_live_path_lost_is_fetched_from_history(redis_prefix: str) -> None:
    pub, sub = await started(redis_prefix), await started(redis_prefix)
    try:
        sink = Sink(sub)
        await sub.subscribe("lab/x")
        await pub.publish("lab/x", b"1")
        await publish_unseen(pub, "lab/x", b"2")
        await publish_unseen(pub, "lab/x", b"3")
        await pub.publish("lab/x", b"4")
        await until(lambda: len(sink.messages) == 4, 5, "four messages")
        assert [(m.seq, m.data) for m in sink.messages] == [(1, b"1"), (2, b"2"), (3, b"3"), (4, b"4")]
        assert sink.gaps == [] and sub.gaps == 0
    finally:
        await pub.close()
        await sub.close()


async def test_a_lost_message_history_no_longer_holds_is_reported_as_a_gap(redis_prefix: str) -> None:
    pub, sub = await started(redis_prefix, history=3), await started(redis_prefix, history=3)
    try:
        sink = Sink(sub)
        await sub.subscribe("lab/x")
        await pub.publish("lab/x", b"1")
        for i in range(2, 8):
            await publish_unseen(pub, "lab/x", b"%d" % i)  # history keeps 5..7
        await pub.publish("lab/x", b"8")  # history keeps 6..8
        await until(lambda: sink.seqs("lab/x")[-1:] == [8], 5, "the last message")
        assert sink.gaps == [("lab/x", 2, 5)]
        assert sink.seqs("lab/x") == [1, 6, 7, 8]
    finally:
        await pub.close()
        await sub.close()


async def test_a_broken_subscriber_connection_loses_nothing(redis_prefix: str) -> None:
    pub, sub = await started(redis_prefix), await started(redis_prefix)
    admin = aioredis.from_url(REDIS_URL)
    try:
        sink = Sink(sub)
        await sub.subscribe("lab/x")
        total = 600
        for i in range(1, total + 1):
            pub.publish_nowait("lab/x", json.dumps(i).encode())
            if i % 100 == 0:
                await asyncio.sleep(0.01)
            if i in (200, 400):  # the subscriber's pub/sub connection dies mid-stream
                await kill_pubsub(admin, sub)
        await until(lambda: len(sink.messages) >= total, 10, f"{total} messages")
        await asyncio.sleep(0.05)
        assert sink.seqs("lab/x") == list(range(1, total + 1))
        assert sink.gaps == []
        assert sub.fetched > 0  # the broken connection did miss live messages; history supplied them
    finally:
        await admin.aclose()
        await pub.close()
        await sub.close()


async def test_a_wiped_redis_starts_a_new_epoch_and_resets_the_hub(redis_prefix: str) -> None:
    broker = await started(redis_prefix)
    resets: list[str] = []
    broker.bind(lambda msg: None, reset=lambda: resets.append(broker.epoch))
    try:
        old = broker.epoch
        await broker.publish("lab/x", b"1")
        from tests.broker.conftest import wipe

        await wipe(redis_prefix)
        msg = await broker.publish("lab/x", b"2")
        assert msg.seq == 1  # numbering started again ...
        assert broker.epoch != old and resets == [broker.epoch]  # ... in a new epoch
        await wipe(redis_prefix)  # and again: another new epoch
        await broker.publish("lab/x", b"3")
        assert len(set(resets)) == 2 and old not in resets
    finally:
        await broker.close()


async def test_an_unreachable_redis_is_a_clear_error_without_the_password() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    broker = RedisBroker(f"redis://:hunter2@127.0.0.1:{port}/0", prefix="labdeck-test-none")
    with pytest.raises(BrokerUnavailable, match=rf"127\.0\.0\.1:{port}.*does not answer") as caught:
        await broker.start()
    assert "hunter2" not in str(caught.value)
    await broker.close()


async def test_publishes_before_the_connection_wait_for_it(redis_prefix: str) -> None:
    broker = RedisBroker(REDIS_URL, prefix=redis_prefix)
    broker.publish_nowait("lab/x", b"1")
    early = asyncio.ensure_future(broker.publish("lab/x", b"2"))
    await asyncio.sleep(0.1)
    assert not early.done()
    await broker.start()
    try:
        assert (await asyncio.wait_for(early, 10)).seq == 2
        await broker.publish("lab/x", b"3")  # after the early ones, in call order
        assert [m.data for m in (await broker.replay("lab/x", 0)).messages] == [b"1", b"2", b"3"]
    finally:
        await broker.close()
