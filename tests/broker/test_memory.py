"""The in-process broker: per-channel seqs, the retained last value, bounded history and gaps."""

from __future__ import annotations

import json

import pytest

from labdeck.broker import MemoryBroker, Message, open_broker
from labdeck.exceptions import ConfigError


async def fill(broker: MemoryBroker, ch: str, count: int) -> None:
    for i in range(1, count + 1):
        await broker.publish(ch, json.dumps(i).encode())


def seqs(messages: list[Message]) -> list[int]:
    return [m.seq for m in messages]


async def test_each_channel_counts_its_own_seqs_from_one() -> None:
    broker = MemoryBroker()
    delivered: list[Message] = []
    broker.bind(delivered.append)
    assert (await broker.publish("a", b"1")).seq == 1
    assert (await broker.publish("b", b"1")).seq == 1
    assert (await broker.publish("a", b"2")).seq == 2
    broker.publish_nowait("a", b"3")
    assert [(m.ch, m.seq) for m in delivered] == [("a", 1), ("b", 1), ("a", 2), ("a", 3)]
    assert await broker.channels() == {"a": 3, "b": 1}


async def test_the_push_frame_is_the_documented_bytes() -> None:
    broker = MemoryBroker()
    msg = await broker.publish("lab/temp", b'{"c":21.5}')
    assert msg.frame == b'{"ch":"lab/temp","seq":1,"t":%s,"data":{"c":21.5}}' % repr(msg.t).encode()


async def test_without_since_only_the_retained_last_message_is_replayed() -> None:
    broker = MemoryBroker()
    await fill(broker, "a", 3)
    replay = await broker.replay("a", None)
    assert seqs(replay.messages) == [3] and replay.gap is None and replay.last_seq == 3
    assert (last := await broker.last("a")) is not None and last.data == b"3"


async def test_a_new_channel_replays_nothing() -> None:
    broker = MemoryBroker()
    for since in (None, 0, 5):
        replay = await broker.replay("new", since)
        assert (replay.messages, replay.gap, replay.last_seq) == ([], None, 0)
    assert await broker.last("new") is None


@pytest.mark.parametrize(("since", "expected"), [(0, [1, 2, 3, 4]), (2, [3, 4]), (3, [4]), (-7, [1, 2, 3, 4])])
async def test_since_replays_exactly_the_messages_after_it(since: int, expected: list[int]) -> None:
    broker = MemoryBroker()
    await fill(broker, "a", 4)
    replay = await broker.replay("a", since)
    assert seqs(replay.messages) == expected and replay.gap is None


@pytest.mark.parametrize("since", [4, 5, 1000])
async def test_since_at_or_beyond_the_current_seq_replays_nothing(since: int) -> None:
    broker = MemoryBroker()
    await fill(broker, "a", 4)
    replay = await broker.replay("a", since)
    assert (replay.messages, replay.gap, replay.last_seq) == ([], None, 4)


async def test_history_that_no_longer_reaches_back_reports_the_exact_gap() -> None:
    broker = MemoryBroker(history=5)
    await fill(broker, "a", 12)  # history holds 8..12
    replay = await broker.replay("a", 2)
    assert replay.gap == (3, 7)
    assert seqs(replay.messages) == [8, 9, 10, 11, 12]
    replay = await broker.replay("a", 0)
    assert replay.gap == (1, 7)
    replay = await broker.replay("a", 6)
    assert replay.gap == (7, 7) and seqs(replay.messages) == [8, 9, 10, 11, 12]
    replay = await broker.replay("a", 7)
    assert replay.gap is None and seqs(replay.messages) == [8, 9, 10, 11, 12]


async def test_history_is_bounded_by_bytes_too_and_keeps_the_last_value() -> None:
    broker = MemoryBroker(history=1000, history_bytes=1000)
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


def test_open_broker_knows_memory_and_refuses_unknown_schemes() -> None:
    assert isinstance(open_broker(None, 10), MemoryBroker)
    assert isinstance(open_broker("memory://", 10), MemoryBroker)
    with pytest.raises(ConfigError, match="unknown broker scheme"):
        open_broker("kafka://host", 10)


def test_each_broker_has_its_own_epoch() -> None:
    assert MemoryBroker().epoch != MemoryBroker().epoch
