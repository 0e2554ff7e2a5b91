"""Leases: one holder at a time across processes, fences that grow, expiry of a dead holder."""

from __future__ import annotations

import asyncio
import time

from tests.broker.conftest import MakeBroker, kind_of


async def test_one_holder_at_a_time_and_a_release_frees_it(make_broker: MakeBroker) -> None:
    a = await make_broker()
    b = await make_broker() if kind_of(a) == "redis" else a
    first = await a.leases.acquire("runner", "run 1 on host-a")
    assert first is not None
    assert await b.leases.acquire("runner", "run 2 on host-b") is None
    assert await b.leases.holder("runner") == "run 1 on host-a"
    assert await b.leases.acquire("other", "x") is not None  # names are independent
    await first.release()
    assert await b.leases.holder("runner") is None
    second = await b.leases.acquire("runner", "run 2 on host-b")
    assert second is not None and second.fence > first.fence
    await second.release()
    await second.release()  # twice is harmless


async def test_a_holder_that_stops_renewing_loses_the_lease_after_its_ttl(make_broker: MakeBroker) -> None:
    a = await make_broker()
    b = await make_broker() if kind_of(a) == "redis" else a
    stalled = await a.leases.acquire("runner", "stalled", ttl=0.3)
    assert stalled is not None
    assert stalled._renewer is not None
    stalled._renewer.cancel()  # as a process SIGKILLed or frozen: nobody renews
    kept = await b.leases.acquire("kept", "alive", ttl=0.3)
    assert kept is not None
    await asyncio.sleep(0.6)
    assert await b.leases.holder("kept") == "alive"  # renewed in the background
    taken = await b.leases.acquire("runner", "successor", ttl=5)
    assert taken is not None and taken.fence > stalled.fence
    assert not (await a.leases._renew(stalled))[0]  # the stalled holder finds it lost
    await stalled.release()  # and its release does not free the successor's
    assert await b.leases.holder("runner") == "successor"
    await taken.release()
    await kept.release()


async def test_a_signal_reaches_the_holder_and_nobody_else(make_broker: MakeBroker) -> None:
    a = await make_broker()
    b = await make_broker() if kind_of(a) == "redis" else a
    assert not await b.leases.signal("runner", "stop")  # nobody holds it: nobody to tell
    lease = await a.leases.acquire("runner", "run 1", ttl=1.5)
    assert lease is not None
    heard: list[str] = []
    lease.on_signal = heard.append
    assert await b.leases.signal("runner", "stop")
    for _ in range(100):
        if heard:
            break
        await asyncio.sleep(0.02)
    assert heard == ["stop"]  # within its renewal, once
    await asyncio.sleep(0.6)
    assert heard == ["stop"]
    await lease.release()


async def test_a_holder_that_stalled_past_its_ttl_is_told_it_lost_the_lease(make_broker: MakeBroker) -> None:
    a = await make_broker()
    b = await make_broker() if kind_of(a) == "redis" else a
    stalled = await a.leases.acquire("runner", "stalled", ttl=0.3)
    assert stalled is not None
    told: list[str] = []
    stalled.on_lost = lambda: told.append("lost")
    time.sleep(0.5)  # the whole event loop stalls, as a process under SIGSTOP: nobody renews
    taken = await b.leases.acquire("runner", "successor", ttl=5)
    assert taken is not None and taken.fence > stalled.fence
    for _ in range(100):
        if told:
            break
        await asyncio.sleep(0.02)
    assert told == ["lost"] and stalled.lost
    assert await b.leases.holder("runner") == "successor"
    await taken.release()


async def test_a_raised_fence_makes_the_next_grant_larger(make_broker: MakeBroker) -> None:
    a = await make_broker()
    first = await a.leases.acquire("runner", "one")
    assert first is not None
    await first.release()
    await a.leases.raise_fence("runner", first.fence + 40)  # the store had seen fences this counter forgot
    second = await a.leases.acquire("runner", "two")
    assert second is not None and second.fence == first.fence + 41
    await second.release()
    await a.leases.raise_fence("runner", 1)  # never lowers it
    third = await a.leases.acquire("runner", "three")
    assert third is not None and third.fence == second.fence + 1
    await third.release()
