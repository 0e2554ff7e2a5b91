"""The broker contract: every broker passes these, the in-process one and Redis alike.

Seq order, replay, gaps, the retained value, concurrency, delivery only of subscribed
channels, the new-channel announcement, and close. With Redis, two brokers on one
prefix stand for two labdeck processes.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from labdeck.broker import Broker, Message
from tests.broker.conftest import MakeBroker, Sink, kind_of
from tests.helpers import until


async def fill(broker: Broker, ch: str, count: int) -> None:
    for i in range(1, count + 1):
        await broker.publish(ch, json.dumps(i).encode())


def seqs(messages: list[Message]) -> list[int]:
    return [m.seq for m in messages]


async def test_each_channel_counts_its_own_seqs_from_one_in_call_order(make_broker: MakeBroker) -> None:
    broker = await make_broker()
    sink = Sink(broker)
    await broker.subscribe("a")
    await broker.subscribe("b")
    assert (await broker.publish("a", b"1")).seq == 1
    assert (await broker.publish("b", b"1")).seq == 1
    broker.publish_nowait("a", b"2")
    assert (await broker.publish("a", b"3")).seq == 3
    await until(lambda: len(sink.messages) == 4, 5, "four deliveries")
    assert [(m.seq, m.data) for m in sink.messages if m.ch == "a"] == [(1, b"1"), (2, b"2"), (3, b"3")]
    assert sink.seqs("b") == [1]
    assert await broker.channels() == {"a": 3, "b": 1}


async def test_only_subscribed_channels_are_delivered(make_broker: MakeBroker) -> None:
    broker = await make_broker()
    sink = Sink(broker)
    await broker.subscribe("wanted")
    await broker.publish("unwanted", b"1")
    await broker.publish("wanted", b"1")
    await until(lambda: sink.seqs("wanted") == [1], 5, "the subscribed channel")
    broker.unsubscribe("wanted")
    await broker.publish("wanted", b"2")
    await broker.subscribe("other")
    await broker.publish("other", b"1")  # delivered after anything still in flight for "wanted"
    await until(lambda: sink.seqs("other") == [1], 5, "the other channel")
    assert [m.ch for m in sink.messages] == ["wanted", "other"]


async def test_the_push_frame_is_the_documented_bytes(make_broker: MakeBroker) -> None:
    broker = await make_broker()
    msg = await broker.publish("lab/temp", b'{"c":21.5}')
    assert msg.frame == b'{"ch":"lab/temp","seq":1,"t":%s,"data":{"c":21.5}}' % repr(msg.t).encode()
    (replayed,) = (await broker.replay("lab/temp", 0)).messages
    assert replayed.frame == msg.frame  # history keeps the time as published


async def test_without_since_only_the_retained_last_message_is_replayed(make_broker: MakeBroker) -> None:
    broker = await make_broker()
    await fill(broker, "a", 3)
    replay = await broker.replay("a", None)
    assert seqs(replay.messages) == [3] and replay.gap is None and replay.last_seq == 3
    assert (last := await broker.last("a")) is not None and last.data == b"3"


async def test_a_new_channel_replays_nothing(make_broker: MakeBroker) -> None:
    broker = await make_broker()
    for since in (None, 0, 5):
        replay = await broker.replay("new", since)
        assert (replay.messages, replay.gap, replay.last_seq) == ([], None, 0)
    assert await broker.last("new") is None


@pytest.mark.parametrize(("since", "expected"), [(0, [1, 2, 3, 4]), (2, [3, 4]), (3, [4]), (-7, [1, 2, 3, 4])])
async def test_since_replays_exactly_the_messages_after_it(
    make_broker: MakeBroker, since: int, expected: list[int]
) -> None:
    broker = await make_broker()
    await fill(broker, "a", 4)
    replay = await broker.replay("a", since)
    assert seqs(replay.messages) == expected and replay.gap is None
    assert [m.data for m in replay.messages] == [b"%d" % s for s in expected]


@pytest.mark.parametrize("since", [4, 5, 1000])
async def test_since_at_or_beyond_the_current_seq_replays_nothing(make_broker: MakeBroker, since: int) -> None:
    broker = await make_broker()
    await fill(broker, "a", 4)
    replay = await broker.replay("a", since)
    assert (replay.messages, replay.gap, replay.last_seq) == ([], None, 4)


async def test_history_that_no_longer_reaches_back_reports_the_exact_gap(make_broker: MakeBroker) -> None:
    broker = await make_broker(history=5)
    await fill(broker, "a", 12)  # history holds 8..12
    replay = await broker.replay("a", 2)
    assert replay.gap == (3, 7)
    assert seqs(replay.messages) == [8, 9, 10, 11, 12]
    assert (await broker.replay("a", 0)).gap == (1, 7)
    replay = await broker.replay("a", 6)
    assert replay.gap == (7, 7) and seqs(replay.messages) == [8, 9, 10, 11, 12]
    replay = await broker.replay("a", 7)
    assert replay.gap is None and seqs(replay.messages) == [8, 9, 10, 11, 12]


async def test_history_is_bounded_by_bytes_too_and_keeps_the_last_value(make_broker: MakeBroker) -> None:
    broker = await make_broker(history=1000, history_bytes=1000)
    for _ in range(10):
        await broker.publish("cam/frame", b'"' + b"x" * 298 + b'"')  # 300 bytes each
    replay = await broker.replay("cam/frame", 0)
    assert seqs(replay.messages) == [8, 9, 10]  # 900 bytes; a fourth would pass the bound
    assert replay.gap == (1, 7)
    await broker.publish("cam/frame", b'"' + b"y" * 4998 + b'"')  # larger than the bound alone
    replay = await broker.replay("cam/frame", 0)
    assert seqs(replay.messages) == [11] and replay.gap == (1, 10)
    last = await broker.last("cam/frame")
    assert last is not None and last.seq == 11


async def test_concurrent_publishers_get_gap_free_seqs_delivered_once_in_order(make_broker: MakeBroker) -> None:
    publishers = [await make_broker() for _ in range(2)]
    if kind_of(publishers[0]) == "memory":
        publishers = publishers[:1]  # one process: nothing to share
    reader = publishers[-1]
    sink = Sink(reader)
    await reader.subscribe("lab/c")

    async def burst(broker: Broker, writer: int) -> list[int]:
        got = []
        for i in range(50):
            if i % 3:
                broker.publish_nowait("lab/c", json.dumps([writer, i]).encode())
            else:
                got.append((await broker.publish("lab/c", json.dumps([writer, i]).encode())).seq)
        return got

    writers = [(publishers[w % len(publishers)], w) for w in range(8)]
    await asyncio.gather(*(burst(b, w) for b, w in writers))
    total = 8 * 50
    await until(lambda: len(sink.messages) >= total, 10, f"{total} deliveries")
    await asyncio.sleep(0.05)
    assert sink.seqs("lab/c") == list(range(1, total + 1))  # gap-free, once each, in order
    for w in range(8):  # each writer's messages in the order it published them
        mine = [json.loads(m.data)[1] for m in sink.messages if json.loads(m.data)[0] == w]
        assert mine == list(range(50))
    assert sink.gaps == []


async def test_a_new_channel_is_announced_once(make_broker: MakeBroker) -> None:
    brokers = [await make_broker() for _ in range(2)]
    if kind_of(brokers[0]) == "memory":
        brokers = brokers[:1]
    sinks = []
    for broker in brokers:
        broker.announce = "hub/channels"
        sinks.append(Sink(broker))
        await broker.subscribe("hub/channels")
    await brokers[0].publish("lab/new", b"1")
    await brokers[-1].publish("lab/new", b"2")
    await brokers[-1].publish("lab/other", b"1")
    for sink in sinks:
        await until(lambda sink=sink: len(sink.messages) == 2, 5, "two announcements")  # type: ignore[misc]
    await asyncio.sleep(0.05)
    for sink in sinks:
        assert [json.loads(m.data) for m in sink.messages] == [{"ch": "lab/new"}, {"ch": "lab/other"}]
    assert (await brokers[0].channels())["hub/channels"] == 2


async def test_close_sends_what_was_published_without_waiting(make_broker: MakeBroker) -> None:
    broker = await make_broker()
    for i in range(100):
        broker.publish_nowait("lab/late", b"%d" % i)
    await broker.close()
    if kind_of(broker) == "memory":
        assert (await broker.channels())["lab/late"] == 100
        return
    other = await make_broker()
    assert (await other.channels())["lab/late"] == 100
    assert seqs((await other.replay("lab/late", 95)).messages) == [96, 97, 98, 99, 100]
