"""A replay larger than the send-queue bound is paced, not a reason to drop the client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from labdeck import Deck
from tests.conftest import ws_url
from tests.helpers import WireClient, scaled
from tests.hub.raw import open_raw, read_frames, send_text


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



async def test_a_resubscription_during_a_paced_replay_replays_from_its_own_since(
        make_deck: Callable[..., Deck]) -> None:
    """The JavaScript client rewinds a channel (unsub, then sub with an older since) when a
    second panel asks for its history while the first one's replay is still going out."""
    deck = make_deck(server_history=2000, server_history_bytes=64 << 20, server_send_queue_bytes=65_536)
    await deck.start()
    sock = await open_raw("127.0.0.1", deck.port or 0, "/ws")
    try:
        for i in range(2000):  # ~8 MB: more than the socket buffers hold, so the replay is paced
            deck.publish("rig/samples", {"i": i, "pad": "x" * 4000})
        await send_text(sock, b'{"id": "a", "op": "sub", "ch": "rig/samples", "since": 0}')
        await send_text(sock, b'{"id": "b", "op": "unsub", "ch": "rig/samples"}')
        await send_text(sock, b'{"id": "c", "op": "sub", "ch": "rig/samples", "since": 0}')
        (conn,) = deck.hub.connections
        deadline = asyncio.get_running_loop().time() + scaled(5)
        while conn.in_flight or "rig/samples" not in conn.subs or deck.hub.subscribers.get("rig/samples") is None:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # the three requests are handled while the first replay waits
        frames: list[dict[str, Any]] = []

        def second_replay_done(texts: list[bytes]) -> bool:
            frames.append(json.loads(texts[-1]))
            at = next((n for n, f in enumerate(frames) if f.get("id") == "c"), None)
            return at is not None and frames[-1].get("seq") == 2000

        await read_frames(sock, [], second_replay_done)
        at = next(n for n, f in enumerate(frames) if f.get("id") == "c")
        after = [f["seq"] for f in frames[at:] if f.get("ch") == "rig/samples"]
        assert after == list(range(1, 2001))  # the second subscription's own replay, whole, once
        assert deck.hub.slow_disconnects == 0
    finally:
        sock.close()
        await deck.stop()
