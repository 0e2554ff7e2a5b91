"""Hostile clients over a real websocket: frames that once broke dashboards, exhausted
memory or dropped the connection are refused with a structured reply, never stored or
forwarded, and every other client keeps being served."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from labdeck import Deck
from tests.conftest import ws_url
from tests.helpers import RequestFailed, WireClient, scaled


async def raw_reply(client: WireClient, payload: bytes | str, rid: Any, *, binary: bool = False) -> dict[str, Any]:
    """Send ``payload`` as one TEXT (or BINARY) frame, bytes as they are, and wait for the reply to ``rid``."""
    assert client.ws is not None
    fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    client.replies[rid] = fut
    data = payload.encode() if isinstance(payload, str) else payload
    await client.ws.send_frame(data, aiohttp.WSMsgType.BINARY if binary else aiohttp.WSMsgType.TEXT)
    return await asyncio.wait_for(fut, scaled(5))


async def test_a_pub_with_invalid_utf8_is_refused_and_never_reaches_a_subscriber(deck: Deck) -> None:
    url = ws_url(deck)
    async with WireClient(url) as watcher, WireClient(url) as hostile:
        await watcher.request("sub", ch="lab/a")
        reply = await raw_reply(hostile, b'{"id":7,"op":"pub","ch":"lab/a","data":{"v":"\xff\xfe"}}', 7)
        assert reply == {"id": 7, "ok": False, "error": {"type": "BadRequest", "message": "frame is not valid UTF-8"}}
        assert "lab/a" not in await hostile.request("channels")  # never stored
        assert await hostile.request("pub", ch="lab/a", data="fine") == 1
        (push,) = await watcher.wait_for("lab/a", 1)
        assert push["data"] == "fine"
        async with WireClient(url) as late:  # a later subscriber gets the retained value, not a 1007
            await late.request("sub", ch="lab/a")
            assert (await late.wait_for("lab/a", 1))[0]["data"] == "fine"
            assert late.ws is not None and not late.ws.closed


async def test_deep_nesting_is_a_bad_request_and_the_connection_stays_open(deck: Deck) -> None:
    async with WireClient(ws_url(deck)) as client:
        deep = "[" * 1000 + "]" * 1000  # about 2 KB
        reply = await raw_reply(client, '{"id":1,"op":"pub","ch":"lab/a","data":' + deep + "}", None)
        assert reply["error"] == {"type": "BadRequest", "message": "frame nests deeper than 64 levels"}
        call = '{"id":2,"op":"call","path":["runner","status"],"args":[' + "[" * 80 + "]" * 80 + "]}"
        reply = await raw_reply(client, call, 2)
        assert reply["error"]["type"] == "BadRequest"
        assert await client.request("pub", ch="lab/a", data=[[[1]]]) == 1


async def test_the_nesting_limit_is_configurable(make_deck: Callable[..., Deck]) -> None:
    deck = make_deck(server_max_depth=3)
    await deck.start()
    try:
        async with WireClient(ws_url(deck)) as client:
            assert await client.request("pub", ch="lab/a", data=[[1]]) == 1  # the request is level 1
            with pytest.raises(RequestFailed, match="deeper than 3 levels"):
                await client.request("pub", ch="lab/a", data=[[[1]]])
    finally:
        await deck.stop()


HOSTILE: list[tuple[str, bytes, bool]] = [
    ("binary", b'{"id":1,"op":"channels"}', True),
    ("not JSON", b"{{{{", False),
    ("not an object", b"[1,2,3]", False),
    ("a string", b'"sub"', False),
    ("wrong types", b'{"id":1,"op":"sub","ch":5,"since":"x"}', False),
    ("unknown op", b'{"id":1,"op":"explode"}', False),
    ("no id", b'{"op":"channels"}', False),
    ("invalid UTF-8", b'{"id":1,"op":"pub","ch":"lab/x","data":"\xc3("}', False),
    ("invalid UTF-8 key", b'{"id":1,"op":"pub","ch":"lab/x","data":{"\xff":1}}', False),
    ("deep", b'{"id":1,"op":"pub","ch":"lab/x","data":' + b"[" * 5000 + b"]" * 5000 + b"}", False),
    ("bad channel", b'{"id":1,"op":"pub","ch":"lab//x","data":1}', False),
    ("huge float", b'{"id":1,"op":"sub","ch":"lab/x","since":1e999}', False),
    ("bad limit", b'{"id":1,"op":"channels","limit":0}', False),
]


async def test_after_every_hostile_frame_the_server_still_serves_everyone(deck: Deck) -> None:
    url = ws_url(deck)
    async with WireClient(url) as bystander, WireClient(url) as hostile:
        await bystander.request("sub", ch="lab/live")
        for n, (what, payload, binary) in enumerate(HOSTILE, start=1):
            before = len(hostile.frames)
            assert hostile.ws is not None
            await hostile.ws.send_frame(payload, aiohttp.WSMsgType.BINARY if binary else aiohttp.WSMsgType.TEXT)
            assert await hostile.request("pub", ch="lab/live", data=n) == n, what
            error = hostile.frames[before]
            assert error["ok"] is False and set(error["error"]) == {"type", "message"}, what
            assert error["error"]["type"] in ("BadRequest", "UnknownOp"), what
            assert (await bystander.wait_for("lab/live", n))[-1]["data"] == n, what
        assert "lab/x" not in await bystander.request("channels")
    # an over-long frame closes only its sender (1009), the others go on
    async with WireClient(url) as bystander, aiohttp.ClientSession() as session:
        await bystander.request("sub", ch="lab/live")
        async with session.ws_connect(url) as ws:
            await ws.send_str(json.dumps({"id": 1, "op": "pub", "ch": "lab/live", "data": "x" * (2 << 20)}))
            await ws.receive(timeout=scaled(5))
            assert ws.close_code == 1009
        await bystander.request("pub", ch="lab/live", data="after")
        assert (await bystander.wait_for("lab/live", 2))[-1]["data"] == "after"


# -- the budget of channels and retained bytes ------------------------------------------


async def test_channels_past_the_budget_are_refused_while_the_others_are_in_use(make_deck: Callable[..., Deck]) -> None:
    deck = make_deck(server_max_channels=20, server_channel_idle=3600)
    await deck.start()
    try:
        async with WireClient(ws_url(deck)) as hostile, WireClient(ws_url(deck)) as bystander:
            await bystander.request("sub", ch="lab/mine")
            await bystander.request("pub", ch="lab/mine", data="first")
            count = len(await hostile.request("channels"))
            with pytest.raises(RequestFailed) as info:
                for i in range(40):
                    await hostile.request("pub", ch=f"spam/{i}", data=i)
            assert info.value.type == "OverBudget" and "server.max_channels" in info.value.message
            assert len(await hostile.request("channels")) == 20 > count
            await deck.hub.publish("run/status", {"state": "idle"})  # the server is never refused
            await bystander.request("pub", ch="lab/mine", data="still here")  # nor an existing channel
            assert (await bystander.wait_for("lab/mine", 2))[-1]["data"] == "still here"
    finally:
        await deck.stop()


async def test_idle_channels_are_evicted_to_make_room_and_subscribed_ones_kept(make_deck: Callable[..., Deck]) -> None:
    deck = make_deck(server_max_channels=30, server_channel_idle=0, server_max_retained_bytes=200_000)
    await deck.start()
    try:
        async with WireClient(ws_url(deck)) as client, WireClient(ws_url(deck)) as bystander:
            await bystander.request("sub", ch="lab/watched")
            await client.request("pub", ch="lab/watched", data="keep me")
            for i in range(150):  # 150 channels of ~10 KB: 1.5 MB asked, 200 KB allowed
                await client.request("pub", ch=f"spam/{i}", data="x" * 10_000)
            assert deck.broker.budget.total <= 200_000
            listed = await client.request("channels")
            assert "lab/watched" in listed and "spam/149" in listed and "spam/0" not in listed
            await deck.hub.publish("lab/watched", "live")
            pushes = await bystander.wait_for("lab/watched", 2)
            assert [p["data"] for p in pushes] == ["keep me", "live"]
    finally:
        await deck.stop()


async def test_the_channels_reply_is_bounded_and_says_when_it_is_cut(deck: Deck) -> None:
    for i in range(30):
        await deck.hub.publish(f"lab/{i:02}", i)
    async with WireClient(ws_url(deck)) as client:
        reply = await raw_reply(client, '{"id":1,"op":"channels","prefix":"lab/","limit":10}', 1)
        assert reply["truncated"] is True and list(reply["result"]) == [f"lab/{i:02}" for i in range(10)]
        reply = await raw_reply(client, '{"id":2,"op":"channels","prefix":"lab/","after":"lab/19","limit":10}', 2)
        assert "truncated" not in reply and list(reply["result"]) == [f"lab/{i:02}" for i in range(20, 30)]
        assert list(await client.request("channels", prefix="lab/2")) == [f"lab/{i}" for i in range(20, 30)]
