"""Rules of the protocol page that a client written from it found broken or unstated,
each kept as a regression test over the real websocket."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass

import pytest

import labdeck
from labdeck import Deck
from labdeck.protocol import wire
from tests.conftest import ws_url
from tests.helpers import RequestFailed, WireClient, scaled, until


class Slow:
    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.thread_release = threading.Event()

    async def wait(self) -> str:
        await asyncio.wait_for(self.release.wait(), scaled(5))
        return "released"

    def wait_in_thread(self) -> str:  # a plain method: the thread pool
        self.thread_release.wait(scaled(5))
        return "released"

    def quick(self) -> int:
        return 1


@labdeck.observable("pattern")
@dataclass
class Stimulus:
    pattern: str = "grating"


@pytest.mark.parametrize("method", ["wait", "wait_in_thread"])
async def test_a_second_request_with_an_id_in_flight_is_refused_naming_it(
    deck: Deck, client: WireClient, method: str
) -> None:
    slow = Slow()
    deck.expose("slow", slow)
    frame = json.dumps({"id": 7, "op": "call", "path": ["slow", method]})
    first = asyncio.ensure_future(client.reply_to_raw(frame, 7))
    await until(lambda: 7 in next(iter(deck.hub.connections)).in_flight, what="the first call in flight")
    await client.send_raw('{"id": 7, "op": "call", "path": ["slow", "quick"]}')
    await until(lambda: any(f.get("id") is None for f in client.frames), what="the refusal")
    refusals = [f for f in client.frames if f.get("id") is None and "error" in f]
    assert refusals == [
        {
            "id": None,
            "ok": False,
            "error": {
                "type": "DuplicateId",
                "message": "id 7 is already in use by a request in flight; choose another",
            },
        }
    ]
    assert not first.done()  # the first request is still waiting for its own reply
    slow.release.set()
    slow.thread_release.set()
    assert (await first)["result"] == "released"  # answered once, by its own result
    again = await client.reply_to_raw('{"id": 7, "op": "call", "path": ["slow", "quick"]}', 7)
    assert again["result"] == 1  # answered ids are free again
    assert sum(1 for f in client.frames if f.get("id") == 7) == 2


async def test_an_id_past_2_to_the_53_is_refused_not_echoed_as_a_number_no_client_can_match(client: WireClient) -> None:
    await client.send_raw('{"id": 123456789012345678901234567890, "op": "channels"}')
    await until(lambda: client.frames, what="the reply")
    (reply,) = client.frames
    assert reply["id"] is None and reply["error"]["type"] == "BadRequest"
    assert str(wire.MAX_ID) in reply["error"]["message"]


async def test_a_delete_publishes_the_value_a_get_then_returns(deck: Deck, client: WireClient) -> None:
    deck.expose("stimulus", Stimulus())
    await client.request("sub", ch="obj/stimulus/pattern")
    await client.request("set", path=["stimulus", "pattern"], value="plaid")
    await client.request("del", path=["stimulus", "pattern"])
    pushes = await client.wait_for("obj/stimulus/pattern", 3)
    assert [p["data"] for p in pushes] == ["grating", "plaid", "grating"]  # was null after the delete
    assert await client.request("get", path=["stimulus", "pattern"]) == "grating"


async def test_sub_with_since_on_a_subscribed_channel_sends_nothing_twice(deck: Deck, client: WireClient) -> None:
    for i in range(5):
        await deck.hub.publish("lab/again", i)
    await client.request("sub", ch="lab/again", since=0)
    await client.wait_for("lab/again", 5)
    reply = await client.request("sub", ch="lab/again", since=2)
    assert reply["seq"] == 5
    await deck.hub.publish("lab/again", 5)
    pushes = await client.wait_for("lab/again", 6)
    assert [p["seq"] for p in pushes] == [1, 2, 3, 4, 5, 6]


async def test_unsub_then_sub_with_since_replays_what_since_asks_for(deck: Deck, client: WireClient) -> None:
    # The rule as decided: a new subscription replays what its since asks for, even
    # messages the connection had under an earlier one; deck.js relies on it to rewind.
    for i in range(4):
        await deck.hub.publish("lab/rewind", i)
    await client.request("sub", ch="lab/rewind", since=0)
    await client.wait_for("lab/rewind", 4)
    await client.request("unsub", ch="lab/rewind")
    await client.request("sub", ch="lab/rewind", since=2)
    pushes = await client.wait_for("lab/rewind", 6)
    assert [p["seq"] for p in pushes] == [1, 2, 3, 4, 3, 4]


async def test_set_without_a_value_is_refused_rather_than_assigning_none(deck: Deck, client: WireClient) -> None:
    stimulus = Stimulus()
    deck.expose("stimulus", stimulus)
    try:
        await client.request("set", path=["stimulus", "pattern"])
    except RequestFailed as exc:
        assert exc.type == "BadRequest" and "value" in exc.message
    else:
        raise AssertionError("set without value was accepted")
    assert stimulus.pattern == "grating"


async def test_since_minus_one_is_refused_and_null_means_absent(deck: Deck, client: WireClient) -> None:
    for i in range(3):
        await deck.hub.publish("lab/since", i)
    reply = await client.reply_to_raw(json.dumps({"id": 1, "op": "sub", "ch": "lab/since", "since": -1}), 1)
    assert reply["error"]["type"] == "BadRequest" and "since" in reply["error"]["message"]
    await client.request("sub", ch="lab/since", since=None, epoch=None)
    pushes = await client.wait_for("lab/since", 1)
    assert [p["seq"] for p in pushes] == [3]  # as without since: the retained last message only


async def test_a_request_past_the_in_flight_cap_is_refused_with_its_id_and_the_connection_keeps_serving(
    make_deck: Callable[..., Deck],
) -> None:
    deck = make_deck(server_max_in_flight=3)
    slow = Slow()
    deck.expose("slow", slow)
    await deck.start()
    try:
        async with WireClient(ws_url(deck)) as client:
            frames = [json.dumps({"id": f"slow-{i}", "op": "call", "path": ["slow", "wait"]}) for i in range(3)]
            waiting = [asyncio.ensure_future(client.reply_to_raw(f, f"slow-{i}")) for i, f in enumerate(frames)]
            conn = next(iter(deck.hub.connections))
            await until(lambda: len(conn.in_flight) == 3, what="three calls in flight")
            refused = await client.reply_to_raw('{"id": "one-more", "op": "call", "path": ["slow", "quick"]}',
                                                "one-more")
            assert refused["error"]["type"] == "TooManyInFlight" and "3 requests" in refused["error"]["message"]
            assert (await client.request("channels", limit=1)) is not None  # answered at once: never in flight
            slow.release.set()
            assert [(await w)["result"] for w in waiting] == ["released"] * 3  # each its own reply
            again = await client.reply_to_raw('{"id": "one-more", "op": "call", "path": ["slow", "quick"]}',
                                              "one-more")
            assert again["result"] == 1  # the cap counts what is unanswered now, nothing more
    finally:
        await deck.stop()
