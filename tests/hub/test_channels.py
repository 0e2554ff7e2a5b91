"""Channels through the real websocket: retained values, replay, gaps, epochs, the channel
list, announcements, unsubscribe, reserved prefixes and channel names."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from labdeck import Deck
from tests.conftest import ws_url
from tests.helpers import RequestFailed, WireClient, scaled


@pytest.fixture
async def small_history(make_deck: Callable[..., Deck]) -> AsyncIterator[Deck]:
    """A started deck whose channels keep only their last 5 messages."""
    d = make_deck(server_history=5)
    await d.start()
    try:
        yield d
    finally:
        await d.stop()


async def publish(deck: Deck, ch: str, count: int, start: int = 1) -> None:
    for i in range(start, start + count):
        await deck.hub.publish(ch, {"n": i})


async def fence(client: WireClient) -> None:
    """Return once every frame the server queued for ``client`` before now has arrived.

    A connection's frames go out in order, so the reply to a later request comes after them.
    """
    await client.request("channels")


def seqs(client: WireClient, ch: str) -> list[int]:
    return [p["seq"] for p in client.pushes[ch]]


async def test_sub_without_since_gets_the_retained_last_message(deck: Deck, client: WireClient) -> None:
    await publish(deck, "lab/temp", 3)
    reply = await client.request("sub", ch="lab/temp")
    assert reply == {"seq": 3, "epoch": deck.broker.epoch}
    (push,) = await client.wait_for("lab/temp", 1)
    assert push["seq"] == 3 and push["data"] == {"n": 3} and isinstance(push["t"], float)
    await publish(deck, "lab/temp", 1, start=4)
    await client.wait_for("lab/temp", 2)
    assert seqs(client, "lab/temp") == [3, 4]


async def test_sub_to_a_new_channel_gets_nothing_until_a_publish(deck: Deck, client: WireClient) -> None:
    assert await client.request("sub", ch="lab/new") == {"seq": 0, "epoch": deck.broker.epoch}
    await fence(client)
    assert client.pushes["lab/new"] == []
    await publish(deck, "lab/new", 1)
    (push,) = await client.wait_for("lab/new", 1)
    assert push["seq"] == 1


async def test_sub_with_since_replays_exactly_what_came_after(deck: Deck, client: WireClient) -> None:
    await publish(deck, "lab/log", 10)
    assert (await client.request("sub", ch="lab/log", since=6))["seq"] == 10
    await client.wait_for("lab/log", 4)
    await publish(deck, "lab/log", 2, start=11)
    pushes = await client.wait_for("lab/log", 6)
    assert [p["seq"] for p in pushes] == [7, 8, 9, 10, 11, 12]
    assert [p["data"]["n"] for p in pushes] == [7, 8, 9, 10, 11, 12]
    assert client.gaps["lab/log"] == []


async def test_since_zero_replays_the_whole_history(deck: Deck, client: WireClient) -> None:
    await publish(deck, "lab/log", 4)
    await client.request("sub", ch="lab/log", since=0)
    await client.wait_for("lab/log", 4)
    await fence(client)
    assert seqs(client, "lab/log") == [1, 2, 3, 4]


async def test_a_gap_notice_precedes_a_replay_that_cannot_reach_back(small_history: Deck) -> None:
    await publish(small_history, "lab/log", 20)
    async with WireClient(ws_url(small_history)) as client:
        await client.request("sub", ch="lab/log", since=3)
        await client.wait_for("lab/log", 5)
        await fence(client)
        assert client.gaps["lab/log"] == [{"from": 4, "to": 15}]
        assert seqs(client, "lab/log") == [16, 17, 18, 19, 20]
        kinds = ["gap" if "gap" in f else f["seq"] for f in client.frames if f.get("ch") == "lab/log"]
        assert kinds == ["gap", 16, 17, 18, 19, 20]


async def test_since_within_the_history_sends_no_gap(small_history: Deck) -> None:
    await publish(small_history, "lab/log", 20)
    async with WireClient(ws_url(small_history)) as client:
        await client.request("sub", ch="lab/log", since=15)
        await client.wait_for("lab/log", 5)
        await fence(client)
        assert client.gaps["lab/log"] == []
        assert seqs(client, "lab/log") == [16, 17, 18, 19, 20]


async def test_since_beyond_the_current_seq_replays_nothing_then_goes_live(deck: Deck, client: WireClient) -> None:
    await publish(deck, "lab/log", 3)
    assert (await client.request("sub", ch="lab/log", since=50))["seq"] == 3
    await fence(client)
    assert client.pushes["lab/log"] == [] and client.gaps["lab/log"] == []
    await publish(deck, "lab/log", 1, start=4)
    (push,) = await client.wait_for("lab/log", 1)
    assert push["seq"] == 4


async def test_a_stale_epoch_replays_from_the_start(deck: Deck, client: WireClient) -> None:
    await publish(deck, "lab/log", 5)
    reply = await client.request("sub", ch="lab/log", since=3, epoch="an-older-server")
    assert reply == {"seq": 5, "epoch": deck.broker.epoch}
    await client.wait_for("lab/log", 5)
    await fence(client)
    assert seqs(client, "lab/log") == [1, 2, 3, 4, 5]


async def test_the_current_epoch_replays_from_since(deck: Deck, client: WireClient) -> None:
    await publish(deck, "lab/log", 5)
    await client.request("sub", ch="lab/log", since=3, epoch=deck.broker.epoch)
    await client.wait_for("lab/log", 2)
    await fence(client)
    assert seqs(client, "lab/log") == [4, 5]


async def test_channels_lists_every_channel_with_its_last_seq(deck: Deck, client: WireClient) -> None:
    before = await client.request("channels")
    await publish(deck, "lab/a", 3)
    await publish(deck, "lab/b", 1)
    listing = await client.request("channels")
    assert listing == {**before, "lab/a": 3, "lab/b": 1, "hub/channels": before.get("hub/channels", 0) + 2}


async def test_a_new_channel_is_announced_once_on_hub_channels(deck: Deck, client: WireClient) -> None:
    await client.request("sub", ch="hub/channels")
    await fence(client)
    known = len(client.pushes["hub/channels"])  # the retained announcement of an earlier channel
    await publish(deck, "lab/fresh", 3)
    await publish(deck, "lab/other", 1)
    pushes = await client.wait_for("hub/channels", known + 2)
    await fence(client)
    assert [p["data"] for p in pushes[known:]] == [{"ch": "lab/fresh"}, {"ch": "lab/other"}]


async def test_unsub_stops_pushes(deck: Deck, client: WireClient) -> None:
    await client.request("sub", ch="lab/a")
    await publish(deck, "lab/a", 1)
    await client.wait_for("lab/a", 1)
    assert await client.request("unsub", ch="lab/a") is None
    await publish(deck, "lab/a", 3, start=2)
    await fence(client)
    assert seqs(client, "lab/a") == [1]
    assert "lab/a" not in deck.hub.subscribers


async def test_unsub_of_a_channel_never_subscribed_is_harmless(client: WireClient) -> None:
    assert await client.request("unsub", ch="lab/never") is None


async def test_a_client_publish_reaches_every_subscriber_with_its_seq(deck: Deck, client: WireClient) -> None:
    async with WireClient(ws_url(deck)) as other:
        await other.request("sub", ch="lab/chat")
        assert await client.request("pub", ch="lab/chat", data={"text": "hi", "n": [1, 2.5, None]}) == 1
        assert await client.request("pub", ch="lab/chat") == 2
        pushes = await other.wait_for("lab/chat", 2)
        assert [p["data"] for p in pushes] == [{"text": "hi", "n": [1, 2.5, None]}, None]


async def test_resubscribing_does_not_repeat_what_was_delivered(deck: Deck, client: WireClient) -> None:
    await client.request("sub", ch="lab/a")
    await publish(deck, "lab/a", 3)
    await client.wait_for("lab/a", 3)
    await client.request("sub", ch="lab/a", since=0)
    await publish(deck, "lab/a", 1, start=4)
    await client.wait_for("lab/a", 4)
    await fence(client)
    assert seqs(client, "lab/a") == [1, 2, 3, 4]


RESERVED = ["run/log", "run/status", "obj/sample/a", "hub/channels", "files/x", "dicom/a", "rigs/r"]


@pytest.mark.parametrize("ch", RESERVED)
async def test_a_client_cannot_publish_on_a_reserved_prefix(deck: Deck, client: WireClient, ch: str) -> None:
    await client.request("sub", ch=ch)
    await fence(client)
    before = await client.request("channels")
    with pytest.raises(RequestFailed) as info:
        await client.request("pub", ch=ch, data=1)
    assert info.value.type == "AccessDenied"
    assert ch in info.value.message
    assert await client.request("channels") == before


BAD_NAMES = ["", "a//b", "/a", "a/", "x" * 201, "a\nb", "tab\there", "nul\x00"]


@pytest.mark.parametrize("ch", BAD_NAMES)
@pytest.mark.parametrize("op", ["sub", "unsub", "pub"])
async def test_a_bad_channel_name_is_a_bad_request(client: WireClient, op: str, ch: str) -> None:
    with pytest.raises(RequestFailed) as info:
        await client.request(op, ch=ch)
    assert info.value.type == "BadRequest"
    assert ch not in await client.request("channels")  # nothing was created, the connection still works


async def test_a_long_but_legal_channel_name_works(client: WireClient) -> None:
    ch = "lab/" + "x" * 196
    assert await client.request("pub", ch=ch, data=1) == 1


async def test_bad_requests_get_error_replies_and_the_connection_keeps_working(client: WireClient) -> None:
    cases: list[tuple[str, Any, str]] = [
        ('{"op":"sub","id":11}', 11, "BadRequest"),
        ('{"id":12,"op":"frobnicate"}', 12, "UnknownOp"),
        ('{"id":13,"op":"sub","ch":"a","since":"x"}', 13, "BadRequest"),
        ('{"id":"s","op":"sub","ch":"a","since":1e400}', "s", "BadRequest"),
    ]
    for text, rid, kind in cases:
        reply = await client.reply_to_raw(text, rid)
        assert reply["ok"] is False and reply["error"]["type"] == kind, text
        assert "Traceback" not in reply["error"]["message"]
    for text in ("not json", "[1]", '{"op":"channels"}'):
        reply = await client.reply_to_raw(text, None)
        assert reply["error"]["type"] == "BadRequest"
    assert "a" not in await client.request("channels")


async def test_invalid_utf8_in_a_text_frame_is_a_bad_request(deck: Deck) -> None:
    async with WireClient(ws_url(deck)) as client:
        assert client.ws is not None
        # aiohttp's client only sends str; the raw payload goes out as a TEXT frame here.
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        client.replies[1] = fut  # the id is readable, so the reply echoes it
        await client.ws.send_frame(b'{"id":1,"op":"sub","ch":"\xc3"}', aiohttp.WSMsgType.TEXT)
        reply = await asyncio.wait_for(fut, scaled(5))
        assert reply["error"] == {"type": "BadRequest", "message": "frame is not valid UTF-8"}
        assert "a" not in await client.request("channels")
