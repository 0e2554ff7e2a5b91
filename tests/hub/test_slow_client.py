"""The slow-client policy: a client that stops reading is dropped once its send queue passes
the bound, its queue never grows past it, and everyone else keeps receiving everything."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from labdeck import Deck
from labdeck.hub import Connection
from tests.conftest import ws_url
from tests.helpers import WireClient, scaled
from tests.hub.raw import open_raw, read_until_close, send_text

BOUND = 64 * 1024
PAD = "x" * 16 * 1024
# Enough to fill the kernel's socket buffers (a few MB on loopback) and then the bound.
MAX_MESSAGES = 2000


async def until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    try:
        await asyncio.wait_for(poll(), scaled(timeout))
    except TimeoutError:
        raise AssertionError(f"timed out waiting until {what}") from None


async def test_a_stalled_client_is_dropped_without_holding_up_the_others(make_deck: Callable[..., Deck]) -> None:
    deck = make_deck(server_send_queue_bytes=BOUND, server_history=5)
    await deck.start()
    stalled_sock = None
    try:
        stalled_sock = await open_raw("127.0.0.1", deck.port or 0, "/ws")
        await send_text(stalled_sock, b'{"id":1,"op":"sub","ch":"lab/big"}')
        await until(lambda: len(deck.hub.subscribers.get("lab/big", ())) == 1, "the stalled client subscribed")
        (stalled,) = deck.hub.subscribers["lab/big"]
        assert isinstance(stalled, Connection)

        async with WireClient(ws_url(deck)) as normal:
            await normal.request("sub", ch="lab/big")
            sent = 0
            while not stalled.dropped_slow and sent < MAX_MESSAGES:
                sent += 1
                await deck.hub.publish("lab/big", {"i": sent, "pad": PAD})
                await normal.wait_for("lab/big", sent)  # the normal client keeps up
            assert stalled.dropped_slow, f"still connected after {sent} messages"
            last = await deck.broker.last("lab/big")
            assert last is not None
            frame = len(last.frame)
            assert stalled.peak_bytes <= BOUND + frame

            await until(lambda: stalled not in deck.hub.connections, "the stalled connection is gone")
            assert deck.hub.slow_disconnects == 1
            await deck.hub.disconnect(stalled)  # as the server's shutdown may do again
            assert deck.hub.slow_disconnects == 1
            assert len(deck.hub.connections) == 1
            assert deck.hub.subscribers["lab/big"] != {stalled}

            for extra in range(sent + 1, sent + 4):  # the normal client is still served
                await deck.hub.publish("lab/big", {"i": extra, "pad": ""})
            pushes = await normal.wait_for("lab/big", sent + 3)
            assert [p["data"]["i"] for p in pushes] == list(range(1, sent + 4))
            assert [p["seq"] for p in pushes] == list(range(1, sent + 4))
    finally:
        if stalled_sock is not None:
            stalled_sock.close()
        await deck.stop()


async def test_a_stalled_client_that_reads_again_finds_the_1013_close_frame(make_deck: Callable[..., Deck]) -> None:
    deck = make_deck(server_send_queue_bytes=BOUND, server_history=5)
    await deck.start()
    sock = None
    try:
        sock = await open_raw("127.0.0.1", deck.port or 0, "/ws")
        await send_text(sock, b'{"id":1,"op":"sub","ch":"lab/big"}')
        await until(lambda: "lab/big" in deck.hub.subscribers, "subscribed")
        (conn,) = deck.hub.subscribers["lab/big"]
        for i in range(MAX_MESSAGES):
            if conn.dropped_slow:
                break
            await deck.hub.publish("lab/big", {"i": i, "pad": PAD})
            await asyncio.sleep(0)
        assert conn.dropped_slow
        code, texts = await read_until_close(sock)  # the client wakes up and reads what it was sent
        assert code == 1013
        assert texts and texts[0].startswith(b'{"id":1,"ok":true')
        await until(lambda: not deck.hub.connections, "the connection is gone")
    finally:
        if sock is not None:
            sock.close()
        await deck.stop()


async def test_a_dropped_client_still_asleep_for_seconds_finds_the_1013_close_frame(
    make_deck: Callable[..., Deck],
) -> None:
    # Found by the conformance suite against Redis-backed processes: publishing through
    # Redis took longer than the second the server then waited, and the stalled client
    # woke to a cut connection (1006) instead of the close frame the page promises.
    deck = make_deck(server_send_queue_bytes=BOUND, server_history=5)
    await deck.start()
    sock = None
    try:
        sock = await open_raw("127.0.0.1", deck.port or 0, "/ws")
        await send_text(sock, b'{"id":1,"op":"sub","ch":"lab/big"}')
        await until(lambda: "lab/big" in deck.hub.subscribers, "subscribed")
        (conn,) = deck.hub.subscribers["lab/big"]
        for i in range(MAX_MESSAGES):
            if conn.dropped_slow:
                break
            await deck.hub.publish("lab/big", {"i": i, "pad": PAD})
            await asyncio.sleep(0)
        assert conn.dropped_slow
        await asyncio.sleep(2.0)  # a browser tab in the background, still not reading
        code, _ = await read_until_close(sock)
        assert code == 1013
    finally:
        if sock is not None:
            sock.close()
        await deck.stop()


async def test_metrics_count_the_slow_disconnect(make_deck: Callable[..., Deck]) -> None:
    deck = make_deck(server_send_queue_bytes=BOUND, server_history=5)
    await deck.start()
    sock = None
    try:
        sock = await open_raw("127.0.0.1", deck.port or 0, "/ws")
        await send_text(sock, b'{"id":1,"op":"sub","ch":"lab/big"}')
        await until(lambda: "lab/big" in deck.hub.subscribers, "subscribed")
        (conn,) = deck.hub.subscribers["lab/big"]
        for i in range(MAX_MESSAGES):
            if conn.dropped_slow:
                break
            await deck.hub.publish("lab/big", {"i": i, "pad": PAD})
            await asyncio.sleep(0)  # let the sender task write
        await until(lambda: not deck.hub.connections, "the connection is gone")
        from labdeck.web.metrics import RequestStats, render_metrics

        text = render_metrics(deck.hub, RequestStats(), deck.started_at)
        assert "labdeck_websocket_slow_disconnects_total 1\n" in text
        assert "labdeck_websocket_connections 0\n" in text
    finally:
        if sock is not None:
            sock.close()
        await deck.stop()


async def test_the_server_stops_promptly_with_a_stalled_client_connected(make_deck: Callable[..., Deck]) -> None:
    deck = make_deck(server_history=5)  # the default bound: the client is behind but not yet dropped
    await deck.start()
    sock = await open_raw("127.0.0.1", deck.port or 0, "/ws")
    try:
        await send_text(sock, b'{"id":1,"op":"sub","ch":"lab/big"}')
        await until(lambda: "lab/big" in deck.hub.subscribers, "subscribed")
        (conn,) = deck.hub.subscribers["lab/big"]
        for i in range(400):  # more than the socket buffers hold: the sender is stuck mid-write
            await deck.hub.publish("lab/big", {"i": i, "pad": PAD})
            await asyncio.sleep(0)
        await until(lambda: conn.queued_bytes > 0, "frames wait in the queue")
        assert not conn.dropped_slow
        # A graceful close cannot reach this client; stopping must not wait for it.
        await asyncio.wait_for(deck.stop(), scaled(10))
        assert not deck.hub.connections
    finally:
        sock.close()
