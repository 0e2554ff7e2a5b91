"""Several server processes over one Redis: every guarantee of one process holds across them.

Publisher on one process, subscribers on the others, every seq exactly once; a client
that reconnects to another process replays what it missed; a process SIGKILLed
mid-stream loses nobody anything; Redis stopped and restarted mid-stream loses no
acknowledged message; ``--workers`` serves one port from several processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import Any

import aiohttp
import pytest

from tests.helpers import RequestFailed, WireClient, scaled, until
from tests.scaleout.conftest import RedisServer, Servers

CH = "lab/stream"


def seqs(client: WireClient, ch: str = CH) -> list[int]:
    return [p["seq"] for p in client.pushes[ch]]


async def publish(client: WireClient, count: int, start: int = 1) -> list[int]:
    """Publish ``count`` messages, each acknowledged; returns their seqs."""
    return [await client.request("pub", ch=CH, data={"i": i}) for i in range(start, start + count)]


async def test_a_publisher_on_one_process_reaches_subscribers_on_the_others_exactly_once(servers: Servers) -> None:
    a, b, c = await servers.start(3)
    async with WireClient(b.ws) as on_b, WireClient(c.ws) as on_c, WireClient(a.ws) as publisher:
        for client in (on_b, on_c):
            await client.request("sub", ch=CH)
        acked = await publish(publisher, 200)
        assert acked == list(range(1, 201))
        for client in (on_b, on_c):
            await client.wait_for(CH, 200)
            assert seqs(client) == acked
            assert [p["data"]["i"] for p in client.pushes[CH]] == list(range(1, 201))
        await asyncio.sleep(0.1)
        assert len(on_b.pushes[CH]) == len(on_c.pushes[CH]) == 200  # nothing twice
    assert {(await s.health())["checks"]["broker"]["ok"] for s in (a, b, c)} == {True}


async def test_a_client_reconnecting_to_another_process_replays_what_it_missed(servers: Servers) -> None:
    a, b, c = await servers.start(3)
    async with WireClient(a.ws) as publisher:
        async with WireClient(b.ws) as first:
            reply = await first.request("sub", ch=CH)
            await publish(publisher, 50)
            await first.wait_for(CH, 50)
            epoch = reply["epoch"]
        await publish(publisher, 30, start=51)  # while the client is away
        async with WireClient(c.ws) as second:
            again = await second.request("sub", ch=CH, since=50, epoch=epoch)
            assert again == {"seq": 80, "epoch": epoch}  # one epoch across processes
            await second.wait_for(CH, 30)
            await publish(publisher, 5, start=81)
            await second.wait_for(CH, 35)
            assert seqs(first) + seqs(second) == list(range(1, 86))


async def test_a_process_killed_mid_stream_loses_its_clients_nothing(servers: Servers) -> None:
    a, b, c = await servers.start(3)
    async with WireClient(a.ws) as publisher, WireClient(b.ws) as doomed:
        reply = await doomed.request("sub", ch=CH)
        sender = asyncio.create_task(publish(publisher, 300))
        await until(lambda: len(doomed.pushes[CH]) >= 50, 10, "the stream under way")
        b.kill()
        await until(lambda: doomed.ws is not None and doomed.ws.closed, 10, "the connection to break")
        last = seqs(doomed)[-1]
        async with WireClient(c.ws) as rescued:  # as the dashboard reconnects elsewhere
            await rescued.request("sub", ch=CH, since=last, epoch=reply["epoch"])
            acked = await sender
            await rescued.wait_for(CH, 300 - last)
            assert seqs(doomed) == list(range(1, last + 1))
            assert seqs(rescued) == list(range(last + 1, 301))
            assert acked == list(range(1, 301))
    assert (await a.health())["status"] == "ok"


async def test_redis_restarted_mid_stream_loses_no_acknowledged_message(
    servers: Servers, redis_server: RedisServer
) -> None:
    servers.redis_url = redis_server.url
    a, b = await servers.start(2)
    async with WireClient(a.ws) as publisher, WireClient(b.ws) as subscriber:
        await subscriber.request("sub", ch=CH)
        acked = await publish(publisher, 100)
        await subscriber.wait_for(CH, 100)
        redis_server.stop()
        await until_unhealthy(a)
        sender = asyncio.create_task(publish(publisher, 50, start=101))  # waits, acknowledged later
        async with WireClient(a.ws) as local:  # the process still serves its clients
            status = await local.request("call", path=["runner", "status"], args=[], kwargs={})
            assert isinstance(status, dict)
            with pytest.raises(RequestFailed, match="BrokerUnavailable"):
                await local.request("channels")
        redis_server.start()
        acked += await asyncio.wait_for(sender, 30)
        assert acked == list(range(1, 151))
        await subscriber.wait_for(CH, 150, timeout=20)
        assert seqs(subscriber) == acked  # exactly once, in order, nothing lost
        health: Any = await a.health()
        assert health["checks"]["broker"]["ok"] is True


async def until_unhealthy(server: Any) -> None:
    for _ in range(200):
        health = await server.health()
        if health["checks"]["broker"]["ok"] is False:
            assert health["status"] == "degraded"
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the outage never showed on /healthz")


async def test_workers_share_one_port_and_their_channels(servers: Servers) -> None:
    (front,) = await servers.start(1, workers=2)
    pids: set[int] = set()

    async def answered_by_both() -> bool:
        pids.add(int((await front.health())["pid"]))  # a new connection each time
        return len(pids) == 2

    for _ in range(400):  # the second worker may still be starting
        if await answered_by_both():
            break
        await asyncio.sleep(0.02)
    assert len(pids) == 2, "both workers answer on the one port"
    clients = [WireClient(front.ws) for _ in range(6)]
    for client in clients:
        await client.connect()
        await client.request("sub", ch=CH)
    try:
        acked = await publish(clients[0], 40)
        for client in clients:
            await client.wait_for(CH, 40)
            assert seqs(client) == acked
    finally:
        for client in clients:
            await client.close()
    os.kill(min(pids), signal.SIGKILL)
    deadline = asyncio.get_running_loop().time() + scaled(30)
    while len(pids) < 3 and asyncio.get_running_loop().time() < deadline:  # the supervisor starts another
        with contextlib.suppress(aiohttp.ClientError):  # the killed one's connections
            pids.add(int((await front.health())["pid"]))
        await asyncio.sleep(0.02)
    assert len(pids) == 3, "a worker killed with SIGKILL is replaced"


async def test_during_an_outage_a_subscription_fails_clearly_and_works_after(
    servers: Servers, redis_server: RedisServer
) -> None:
    servers.redis_url = redis_server.url
    (a,) = await servers.start(1)
    redis_server.stop()
    await until_unhealthy(a)
    async with WireClient(a.ws) as client:
        with pytest.raises(RequestFailed, match="BrokerUnavailable"):
            await client.request("sub", ch="lab/new", since=0)
        redis_server.start()
        for _ in range(100):
            try:
                assert await client.request("sub", ch="lab/new", since=0) is not None
                break
            except RequestFailed:
                await asyncio.sleep(0.1)
        assert await client.request("pub", ch="lab/new", data=1) == 1
        await client.wait_for("lab/new", 1)
