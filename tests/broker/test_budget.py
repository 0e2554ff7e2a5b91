"""The global budget of channels and retained bytes, applied by the in-process broker."""

from __future__ import annotations

import pytest

from labdeck.broker import Budget, MemoryBroker
from labdeck.exceptions import OverBudget


async def client_pub(broker: MemoryBroker, ch: str, data: bytes = b"1") -> int:
    """Publish as the hub does for a client: admitted first."""
    broker.admit(ch, len(data))
    return (await broker.publish(ch, data)).seq


async def test_a_new_channel_past_the_bound_evicts_the_oldest_idle_one() -> None:
    broker = MemoryBroker(budget=Budget(max_channels=3, idle=0))
    for ch in ("lab/a", "lab/b", "lab/c"):
        await client_pub(broker, ch)
    await client_pub(broker, "lab/a")  # now the most recent
    await client_pub(broker, "lab/d")
    assert sorted(await broker.channels()) == ["lab/a", "lab/c", "lab/d"]
    assert broker.budget.evictions == 1


async def test_kept_and_recently_published_channels_are_never_evicted() -> None:
    broker = MemoryBroker(budget=Budget(max_channels=2, idle=3600))
    await client_pub(broker, "lab/a")
    await client_pub(broker, "lab/b")
    with pytest.raises(OverBudget, match=r"server\.max_channels"):
        await client_pub(broker, "lab/c")
    broker.budget.idle = 0
    broker.budget.keep = lambda ch: True
    with pytest.raises(OverBudget):
        await client_pub(broker, "lab/c")
    assert sorted(await broker.channels()) == ["lab/a", "lab/b"]  # a refusal evicts nothing
    await client_pub(broker, "lab/a")  # an existing channel is always accepted


async def test_retained_bytes_stay_within_the_bound() -> None:
    broker = MemoryBroker(history=100, budget=Budget(max_bytes=10_000, idle=0))
    for i in range(150):
        await client_pub(broker, f"lab/{i}", b'"' + b"x" * 998 + b'"')
    assert broker.budget.total <= 10_000
    retained = [m for ch in await broker.channels() for m in (await broker.replay(ch, 0)).messages]
    assert sum(len(m.data) for m in retained) == broker.budget.total
    assert len(await broker.channels()) == 10


async def test_a_message_bigger_than_what_idle_channels_free_is_refused() -> None:
    broker = MemoryBroker(budget=Budget(max_bytes=1000, idle=3600))
    await client_pub(broker, "lab/a", b"1" * 600)
    with pytest.raises(OverBudget, match=r"server\.max_retained_bytes"):
        await client_pub(broker, "lab/b", b"2" * 600)


async def test_the_server_is_never_refused_and_its_channel_keeps_its_last_value() -> None:
    broker = MemoryBroker(history=100, budget=Budget(max_bytes=1000, idle=3600))
    for i in range(10):
        await broker.publish("run/log", b"%d" % i + b"x" * 299)
    assert broker.budget.total <= 1000
    last = await broker.last("run/log")
    assert last is not None and last.seq == 10


async def test_a_dropped_channel_continues_its_seqs_and_replays_a_gap() -> None:
    broker = MemoryBroker(budget=Budget(max_channels=1, idle=0))
    for _ in range(3):
        await client_pub(broker, "lab/a")
    await client_pub(broker, "lab/b")  # drops lab/a at seq 3
    assert "lab/a" not in await broker.channels()
    replay = await broker.replay("lab/a", 1)
    assert replay.messages == [] and replay.gap == (2, 3) and replay.last_seq == 3
    assert await client_pub(broker, "lab/a") == 4
    replay = await broker.replay("lab/a", 1)
    assert replay.gap == (2, 3) and [m.seq for m in replay.messages] == [4]
