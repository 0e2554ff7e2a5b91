"""The ``/ws`` endpoint: frame limits, binary frames, the Origin check, many clients, and
clients that vanish."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest

from labdeck import Deck
from tests.conftest import ws_url
from tests.helpers import WireClient, scaled


async def until(condition: Callable[[], bool], what: str) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    try:
        await asyncio.wait_for(poll(), scaled(10))
    except TimeoutError:
        raise AssertionError(f"timed out waiting until {what}") from None


@pytest.fixture
async def small_frames(make_deck: Callable[..., Deck]) -> AsyncIterator[Deck]:
    d = make_deck(server_max_frame=1024)
    await d.start()
    try:
        yield d
    finally:
        await d.stop()


async def test_an_oversized_frame_closes_with_1009_and_the_server_keeps_serving(small_frames: Deck) -> None:
    url = ws_url(small_frames)
    async with WireClient(url) as bystander, aiohttp.ClientSession() as session:
        await bystander.request("sub", ch="lab/a")
        async with session.ws_connect(url) as ws:
            await ws.send_str(json.dumps({"id": 1, "op": "pub", "ch": "lab/a", "data": "x" * 2000}))
            msg = await ws.receive(timeout=scaled(5))
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
            assert ws.close_code == 1009
        assert await bystander.request("pub", ch="lab/a", data="y" * 500) == 1
        (push,) = await bystander.wait_for("lab/a", 1)
        assert push["data"] == "y" * 500
        async with WireClient(url) as newcomer:
            assert (await newcomer.request("channels"))["lab/a"] == 1
    await until(lambda: len(small_frames.hub.connections) == 0, "every connection is gone")


async def test_a_frame_of_exactly_the_limit_is_accepted(small_frames: Deck) -> None:
    async with WireClient(ws_url(small_frames)) as client:
        frame = json.dumps({"id": 1, "op": "pub", "ch": "lab/a", "data": ""})
        data = "x" * (1024 - len(frame))
        text = json.dumps({"id": 1, "op": "pub", "ch": "lab/a", "data": data})
        assert len(text) == 1024
        assert await client.reply_to_raw(text, 1) == {"id": 1, "ok": True, "result": 1}


async def test_a_binary_frame_gets_a_bad_request_reply(deck: Deck, client: WireClient) -> None:
    assert client.ws is not None
    fut: asyncio.Future[dict[str, object]] = asyncio.get_running_loop().create_future()
    client.replies[None] = fut
    await client.ws.send_bytes(b'{"id":1,"op":"channels"}')
    reply = await asyncio.wait_for(fut, scaled(5))
    assert reply == {
        "id": None, "ok": False,
        "error": {"type": "BadRequest", "message": "binary frames are not part of the protocol"},
    }
    assert "lab/a" not in await client.request("channels")  # still served


# -- Origin -----------------------------------------------------------------------------


async def connect_status(deck: Deck, origin: str | None) -> int:
    """The HTTP status of a websocket upgrade sent with ``origin``."""
    headers = {"Origin": origin} if origin is not None else {}
    async with aiohttp.ClientSession() as session:
        try:
            async with session.ws_connect(ws_url(deck), headers=headers) as ws:
                await ws.close()
                return 101
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status


async def test_a_foreign_origin_is_refused_with_403(deck: Deck) -> None:
    for origin in ("http://evil.example", f"http://127.0.0.1:{(deck.port or 0) + 1}", f"http://localhost:{deck.port}0",
                   f"ftp://127.0.0.1:{deck.port}", "null", f"http://evil.example:{deck.port}"):
        assert await connect_status(deck, origin) == 403, origin
    assert not deck.hub.connections


async def test_the_same_host_origin_and_no_origin_are_accepted(deck: Deck) -> None:
    assert await connect_status(deck, f"http://127.0.0.1:{deck.port}") == 101
    assert await connect_status(deck, f"https://127.0.0.1:{deck.port}") == 101
    # a page the same server serves under another loopback name is the same server
    for name in ("localhost", "LOCALHOST", "lab.localhost", "127.0.0.2", "[::1]"):
        assert await connect_status(deck, f"http://{name}:{deck.port}") == 101, name
    assert await connect_status(deck, None) == 101


async def test_allowed_origins_admits_exactly_the_listed_ones(make_deck: Callable[..., Deck]) -> None:
    deck = make_deck(server_allowed_origins=["http://scanner.lab.example:8080"])
    await deck.start()
    try:
        assert await connect_status(deck, "http://scanner.lab.example:8080") == 101
        assert await connect_status(deck, "http://scanner.lab.example") == 403
        assert await connect_status(deck, "http://other.lab.example:8080") == 403
        assert await connect_status(deck, f"http://127.0.0.1:{deck.port}") == 101
    finally:
        await deck.stop()


# -- many clients, vanishing clients ----------------------------------------------------


async def test_many_concurrent_clients_each_receive_every_message(deck: Deck) -> None:
    clients = [WireClient(ws_url(deck)) for _ in range(40)]
    await asyncio.gather(*(c.connect() for c in clients))
    try:
        await asyncio.gather(*(c.request("sub", ch="lab/fan") for c in clients))
        assert len(deck.hub.subscribers["lab/fan"]) == 40
        for i in range(1, 21):
            await deck.hub.publish("lab/fan", i)
        results = await asyncio.gather(*(c.wait_for("lab/fan", 20) for c in clients))
        for pushes in results:
            assert [p["data"] for p in pushes] == list(range(1, 21))
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    await until(lambda: not deck.hub.connections, "every client is gone")
    assert "lab/fan" not in deck.hub.subscribers


async def test_an_abrupt_disconnect_leaves_no_subscription_behind(deck: Deck) -> None:
    client = WireClient(ws_url(deck))
    await client.connect()
    await client.request("sub", ch="lab/a")
    await client.request("sub", ch="lab/b")
    assert client.ws is not None
    sock: socket.socket = client.ws.get_extra_info("socket")
    sock.shutdown(socket.SHUT_RDWR)
    await client.close()
    await until(lambda: not deck.hub.connections, "the connection is gone")
    assert deck.hub.subscribers == {}
    await deck.hub.publish("lab/a", 1)  # delivering to nobody is fine
    async with WireClient(ws_url(deck)) as other:
        assert (await other.request("channels"))["lab/a"] == 1
