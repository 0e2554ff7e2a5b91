"""Dashboard preferences: kept per user in login mode (from any browser), per browser in
open mode, and refused when hostile: bad keys, oversized or broken bodies, a foreign Origin."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from labdeck import Deck
from labdeck.web import prefs
from labdeck.web.prefs import BROWSER_COOKIE, MAX_BYTES, MAX_KEYS, MAX_VALUE
from tests.web.test_login import PASSWORD, browser, log_in, origin


@pytest.fixture
async def login_deck(make_deck: Callable[..., Deck]) -> AsyncIterator[Deck]:
    d = make_deck(auth_mode="login")
    await d.start()
    assert d.gate is not None
    await d.gate.users.add("vera", "viewer", PASSWORD)
    await d.gate.users.add("otto", "operator", PASSWORD)
    try:
        yield d
    finally:
        await d.stop()


async def get_prefs(http: aiohttp.ClientSession, deck: Deck) -> dict[str, Any]:
    async with http.get(f"{deck.url}api/prefs") as reply:
        assert reply.status == 200
        body: dict[str, Any] = await reply.json()
        return body


async def put(http: aiohttp.ClientSession, deck: Deck, key: str, body: bytes | str,
              **headers: str) -> aiohttp.ClientResponse:
    data = body.encode() if isinstance(body, str) else body
    async with http.put(f"{deck.url}api/prefs/{key}", data=data,
                        headers={**origin(deck), "Content-Type": "application/json", **headers}) as reply:
        await reply.read()
        return reply


async def test_a_users_preferences_follow_them_to_another_browser(login_deck: Deck) -> None:
    async with browser() as first, browser() as second, browser() as other:
        for http, user in ((first, "vera"), (second, "vera"), (other, "otto")):
            (await log_in(http, login_deck, user)).release()
        cards = ["run", "plots", "log"]
        reply = await put(first, login_deck, "overview.cards", json.dumps(cards))
        assert reply.status == 200
        assert (await get_prefs(second, login_deck)) == {"owner": "user", "prefs": {"overview.cards": cards}}
        assert (await get_prefs(other, login_deck))["prefs"] == {}  # otto has his own
        async with second.delete(f"{login_deck.url}api/prefs/overview.cards", headers=origin(login_deck)) as gone:
            assert gone.status == 204
        assert (await get_prefs(first, login_deck))["prefs"] == {}


async def test_nobody_logged_out_reads_or_writes_preferences(login_deck: Deck) -> None:
    async with browser() as http:
        async with http.get(f"{login_deck.url}api/prefs") as reply:
            assert reply.status == 401
        assert (await put(http, login_deck, "log.follow", "true")).status == 401


async def test_in_open_mode_each_browser_keeps_its_own(deck: Deck) -> None:
    async with browser() as first, browser() as second:
        body = await get_prefs(first, deck)
        assert body == {"owner": "browser", "prefs": {}}
        assert any(c.key == BROWSER_COOKIE for c in first.cookie_jar)
        assert (await put(first, deck, "log.follow", "false")).status == 200
        assert (await get_prefs(first, deck))["prefs"] == {"log.follow": False}
        assert (await get_prefs(second, deck))["prefs"] == {}
        # A made-up cookie value is no way into another browser's preferences.
        forged = aiohttp.ClientSession(cookies={BROWSER_COOKIE: "../../etc"})
        async with forged:
            assert (await get_prefs(forged, deck))["prefs"] == {}


async def test_hostile_preferences_are_refused_and_the_server_keeps_serving(deck: Deck) -> None:
    async with browser() as http:
        for key in ("Bad", "a" * 65, "1st", "a%2F..%2Fb"):
            reply = await put(http, deck, key, "1")
            assert reply.status in (400, 404), key
        assert (await put(http, deck, "ok", "{not json")).status == 400
        assert (await put(http, deck, "ok", b'"\xff\xfe"')).status == 400
        assert (await put(http, deck, "ok", "[" * 5000 + "]" * 5000)).status == 400  # deep, yet small
        big = json.dumps("x" * MAX_VALUE)
        assert (await put(http, deck, "ok", big)).status == 413
        async with http.put(f"{deck.url}api/prefs/ok", data="1", headers={"Origin": "http://evil.example"}) as reply:
            assert reply.status == 403
        for i in range(MAX_KEYS):
            assert (await put(http, deck, f"k{i}", str(i))).status == 200
        assert (await put(http, deck, "one.more", "1")).status == 409
        assert (await put(http, deck, "k0", '"replaced"')).status == 200  # an existing key may change
        prefs = (await get_prefs(http, deck))["prefs"]
        assert len(prefs) == MAX_KEYS and prefs["k0"] == "replaced"


async def test_one_owners_preferences_are_bounded_in_bytes_altogether(deck: Deck) -> None:
    value = json.dumps("x" * (MAX_VALUE - 100))
    fits = MAX_BYTES // len(value)
    async with browser() as http:
        for i in range(fits):
            assert (await put(http, deck, f"big{i}", value)).status == 200
        reply = await put(http, deck, "one.more", value)
        assert reply.status == 413 and "delete one first" in (await reply.json())["error"]["message"]
        assert (await put(http, deck, "big0", value)).status == 200  # replacing a value frees its own bytes
        async with http.delete(f"{deck.url}api/prefs/big0", headers={"Origin": deck.url.rstrip("/")}) as gone:
            assert gone.status == 204
        assert (await put(http, deck, "one.more", value)).status == 200
        async with browser() as other:  # another owner has room of their own
            assert (await put(other, deck, "big0", value)).status == 200


async def test_open_mode_keeps_a_bounded_number_of_browsers_the_least_recent_going_first(
        deck: Deck, monkeypatch: pytest.MonkeyPatch) -> None:
    """Browser ids cost a client nothing (drop the cookie, get another): they must not fill the disk."""
    monkeypatch.setattr(prefs, "MAX_BROWSERS", 3)
    sessions = [browser() for _ in range(5)]
    try:
        for n, http in enumerate(sessions[:3]):
            assert (await put(http, deck, "log.follow", json.dumps(n))).status == 200
        # The first browser was last seen over a year ago; the second saves again, so it is recent.
        assert deck.store is not None
        await deck.store.execute("UPDATE prefs SET updated = updated - 400 * 86400 WHERE value = '0'")
        assert (await put(sessions[1], deck, "log.search", '"scan"')).status == 200
        assert (await put(sessions[3], deck, "log.follow", "3")).status == 200  # takes the idle one's place
        assert (await get_prefs(sessions[0], deck))["prefs"] == {}
        assert (await get_prefs(sessions[1], deck))["prefs"] == {"log.follow": 1, "log.search": "scan"}
        assert (await put(sessions[4], deck, "log.follow", "4")).status == 200  # the least recently saved goes
        assert (await get_prefs(sessions[2], deck))["prefs"] == {}
        for http, n in ((sessions[1], 1), (sessions[3], 3), (sessions[4], 4)):
            assert (await get_prefs(http, deck))["prefs"]["log.follow"] == n
        owners = await deck.store.query("SELECT count(DISTINCT owner) FROM prefs")
        assert owners[0][0] == 3
    finally:
        for http in sessions:
            await http.close()
