"""labdeck.client against a real server: replies matched by id, errors, timeouts,
tokens, reconnecting after a drop, a slow-client close and a server restart, and the
blocking wrapper."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable

import aiohttp
import pytest

from labdeck import Deck
from labdeck.client import Client, DeckError, Push, SyncClient, aio
from labdeck.protocol import wire
from tests.conftest import ws_url
from tests.helpers import TcpRelay, scaled, until


class Lab:
    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.level = 3

    async def slow(self) -> str:
        await asyncio.wait_for(self.release.wait(), scaled(5))
        return "slow"

    def fast(self, a: int, b: int) -> int:
        return a + b


async def test_replies_are_matched_by_id_whatever_their_order(deck: Deck) -> None:
    lab = Lab()
    deck.expose("lab", lab)
    async with Client(ws_url(deck)) as client:
        slow = asyncio.ensure_future(client.call(["lab", "slow"]))
        assert await client.call(["lab", "fast"], 4, b=5) == 9  # answered while slow waits
        assert await client.get(["lab", "level"]) == 3
        assert not slow.done()
        lab.release.set()
        assert await slow == "slow"
        assert not client.unmatched
        lab.release.clear()
        held = asyncio.ensure_future(client.send(wire.Call(99, ["lab", "slow"])))
        await until(lambda: 99 in client._pending, what="the call sent")
        with pytest.raises(ValueError, match="id 99 is already in use"):
            await client.send(wire.Get(99, ["lab", "level"]))
        lab.release.set()
        assert await held == "slow"


async def test_a_server_error_carries_its_type_and_message(deck: Deck) -> None:
    async with Client(ws_url(deck)) as client:
        with pytest.raises(DeckError) as info:
            await client.get(["nothing", "here"])
        assert info.value.type == "NotFound" and "nothing" in info.value.message
        with pytest.raises(DeckError) as info:
            await client.pub("run/log", "forged")
        assert info.value.type == "AccessDenied"


async def test_no_reply_in_time_is_timeout_and_a_drop_is_disconnected(deck: Deck) -> None:
    lab = Lab()
    deck.expose("lab", lab)
    async with Client(ws_url(deck)) as client:
        with pytest.raises(DeckError) as info:
            await client.send(wire.Call(client.next_id(), ["lab", "slow"]), timeout=0.05)
        assert info.value.type == "Timeout"
        pending = asyncio.ensure_future(client.call(["lab", "slow"]))
        await until(lambda: client.in_flight == 1, what="the call sent")
        assert client.connection_number == 1
        await client.drop()
        with pytest.raises(DeckError) as info:
            await pending
        assert info.value.type == "Disconnected"
        assert client.in_flight == 0
        await until(lambda: client.state == "open", what="the reconnect")
        assert client.connection_number == 2  # what an agent compares to say hello again
        assert await client.call(["lab", "fast"], 1, 2) == 3


async def test_a_server_that_never_answers_the_upgrade_is_a_timeout() -> None:
    async def accept_and_wait(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # reads the upgrade request, answers nothing
        writer.close()

    server = await asyncio.start_server(accept_and_wait, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(TimeoutError):
            await Client(f"ws://127.0.0.1:{port}/ws").connect()
    finally:
        server.close()
        await server.wait_closed()


async def test_a_slow_client_closed_with_1013_resumes_where_it_stopped(deck: Deck) -> None:
    async with Client(ws_url(deck)) as writer, Client(ws_url(deck)) as reader:
        sub = await reader.subscribe("lab/feed", since=0)
        for i in range(3):
            await writer.pub("lab/feed", i)
        first = [await sub.get(scaled(5)) for _ in range(3)]
        (conn,) = [c for c in deck.hub.connections if "lab/feed" in c.subs]
        conn._drop_slow()  # what the send-queue bound does to a client that falls behind
        for i in range(3, 6):
            await writer.pub("lab/feed", i)
        rest = [await sub.get(scaled(5)) for _ in range(3)]
        assert reader.close_codes == [1013]
        assert [(m.seq, m.data) for m in first + rest if isinstance(m, Push)] == [(i + 1, i) for i in range(6)]


async def test_after_a_server_restart_a_new_epoch_starts_over_at_seq_1(make_deck: Callable[..., Deck]) -> None:
    first = make_deck()
    await first.start()
    port = first.port
    async with Client(ws_url(first)) as client:
        sub = await client.subscribe("lab/restart", since=0)
        for i in range(3):
            await first.hub.publish("lab/restart", f"old {i}")
        assert [(await sub.get(scaled(5))).seq for _ in range(3)] == [1, 2, 3]  # type: ignore[union-attr]
        old_epoch = sub.epoch
        await first.stop()
        second = make_deck(server_port=port)
        await second.start()
        try:
            await second.hub.publish("lab/restart", "new 0")
            item = await sub.get(scaled(10))
            assert isinstance(item, Push) and (item.seq, item.data) == (1, "new 0")
            assert sub.epoch != old_epoch
            assert client.close_codes == [1001]  # "going away": the server shut down
        finally:
            await second.stop()


async def test_a_token_opens_a_login_server_and_none_is_refused(make_deck: Callable[..., Deck]) -> None:
    deck = make_deck(auth_mode="login")
    await deck.start()
    try:
        assert deck.gate is not None
        token = await deck.gate.tokens.add("agent", "operator")
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await Client(ws_url(deck)).connect()
        async with Client(ws_url(deck), token=token) as client:
            assert await client.pub("lab/agent", 1) == 1
    finally:
        await deck.stop()


async def test_the_blocking_client(deck: Deck) -> None:
    deck.expose("lab", Lab())
    url = ws_url(deck)

    def use() -> tuple[int, int, list[int]]:
        with SyncClient(url) as client:
            seq = client.pub("lab/sync", "a")
            total = client.call(["lab", "fast"], 2, 3)
            with client.subscribe("lab/sync", since=0) as sub:
                client.pub("lab/sync", "b")
                seqs = [sub.get(scaled(5)).seq for _ in range(2)]  # type: ignore[union-attr]
            return seq, total, seqs

    assert await asyncio.to_thread(use) == (1, 5, [1, 2])


def test_a_blocking_client_that_cannot_connect_raises_and_leaves_no_thread() -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    before = threading.active_count()
    with pytest.raises((aiohttp.ClientError, OSError)):
        SyncClient(f"ws://127.0.0.1:{port}/ws", timeout=scaled(2))
    assert threading.active_count() == before


@pytest.mark.parametrize("drop", ["reset", "silent"])
async def test_after_the_network_drops_mid_stream_the_client_resumes_every_seq_once(
        deck: Deck, drop: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reset between client and server, or a silent drop (the packets just stop: only the
    client's pings notice it), mid-stream: it comes back by itself and misses nothing."""
    monkeypatch.setattr(aio, "HEARTBEAT", 0.5)  # 30 s in use
    proxy = TcpRelay(deck.port or 0)
    port = await proxy.start()
    try:
        async with Client(f"ws://127.0.0.1:{port}/ws") as reader:
            sub = await reader.subscribe("lab/feed", since=0)
            for i in range(50):
                deck.publish("lab/feed", i)
            got = [await sub.get(scaled(5)) for _ in range(20)]
            if drop == "reset":
                proxy.cut()
            else:
                proxy.freeze()
            for i in range(50, 100):
                deck.publish("lab/feed", i)
            while len([m for m in got if isinstance(m, Push)]) < 100:
                got.append(await sub.get(scaled(10)))
            assert [m.seq for m in got if isinstance(m, Push)] == list(range(1, 101))
            assert [m.data for m in got if isinstance(m, Push)] == list(range(100))
            assert proxy.accepted == 2  # it came back by itself, once
    finally:
        await proxy.close()
