"""A replay larger than the send-queue bound is paced, not a reason to drop the client."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from labdeck import Deck
from tests.conftest import ws_url
from tests.helpers import WireClient


async def test_client_catches_up_on_a_backlog_larger_than_its_queue_bound(make_deck: Callable[..., Deck]) -> None:
    deck = make_deck(server_history=2000, server_send_queue_bytes=16_384)
    await deck.start()
    try:
        payload = "x" * 200
        for i in range(2000):  # ~500 KB of history, 30x the bound
            deck.publish("rig/samples", {"i": i, "pad": payload})
        async with WireClient(ws_url(deck)) as client:
            await client.request("sub", ch="rig/samples", since=0)
            deck.publish("rig/samples", {"i": 2000, "pad": payload})  # live, during the replay
            pushes = await client.wait_for("rig/samples", 2001, timeout=20)
            assert [p["seq"] for p in pushes] == list(range(1, 2002))
            assert [p["data"]["i"] for p in pushes] == list(range(2001))
            assert deck.hub.slow_disconnects == 0
            (conn,) = deck.hub.connections
            assert conn.peak_bytes <= 16_384 + 1024
    finally:
        await deck.stop()


async def test_live_messages_published_during_a_replay_follow_it_in_order(make_deck: Callable[..., Deck]) -> None:
    deck = make_deck(server_history=5000, server_send_queue_bytes=8192)
    await deck.start()
    try:
        for i in range(500):
            deck.publish("rig/samples", i)
        async with WireClient(ws_url(deck)) as client:
            await client.request("sub", ch="rig/samples", since=0)
            for i in range(500, 1000):
                deck.publish("rig/samples", i)
                if i % 50 == 0:
                    await asyncio.sleep(0)
            pushes = await client.wait_for("rig/samples", 1000, timeout=20)
            assert [p["data"] for p in pushes] == list(range(1000))
    finally:
        await deck.stop()
