"""Behind a reverse proxy: ``X-Forwarded-For`` names the client only when a trusted proxy sent it."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
import pytest

from labdeck import Deck
from labdeck.auth.throttle import LoginThrottle
from labdeck.config import load_config
from labdeck.exceptions import ConfigError
from labdeck.web.proxies import client_address, networks
from tests.web.test_login import PASSWORD, browser, log_in, origin

TRUSTED = networks(["127.0.0.1", "10.1.0.0/16", "::1"])


@pytest.mark.parametrize(("peer", "header", "client"), [
    ("127.0.0.1", ["203.0.113.7"], "203.0.113.7"),
    ("127.0.0.1", ["198.51.100.1, 203.0.113.7"], "203.0.113.7"),  # the left one is the client's claim
    ("127.0.0.1", ["203.0.113.7, 10.1.2.3"], "203.0.113.7"),  # a chain of trusted proxies
    ("127.0.0.1", ["203.0.113.7", "10.1.2.3"], "203.0.113.7"),  # the header twice: one list
    ("127.0.0.1", ["10.1.0.9, 10.1.2.3"], "10.1.0.9"),  # only proxies: the farthest
    ("127.0.0.1", ["not-an-address, 10.1.2.3"], "10.1.2.3"),
    ("127.0.0.1", ["203.0.113.7, junk"], "127.0.0.1"),
    ("127.0.0.1", ["[2001:db8::5]:443"], "2001:db8::5"),
    ("::1", ["2001:DB8::5"], "2001:db8::5"),
    ("192.0.2.44", ["203.0.113.7"], "192.0.2.44"),  # an untrusted peer's header is ignored
    ("127.0.0.1", [], "127.0.0.1"),
])
def test_the_client_is_the_right_most_hop_that_is_not_a_trusted_proxy(peer: str, header: list[str],
                                                                       client: str) -> None:
    assert client_address(peer, header, TRUSTED) == client


def test_a_trusted_proxy_must_be_an_address_or_a_network() -> None:
    with pytest.raises(ConfigError, match=r"`server.trusted_proxies`: 'nginx' is not an address or a network"):
        load_config(None, env={}, overrides={"server.trusted_proxies": ["nginx"]})


async def _login_posts(deck: Deck, forwarded_for: str, count: int) -> list[int]:
    """Statuses of ``count`` failed logins sent with ``X-Forwarded-For: forwarded_for``."""
    headers = {**origin(deck), "X-Forwarded-For": forwarded_for}
    statuses = []
    async with aiohttp.ClientSession() as http:
        for i in range(count):
            async with http.post(deck.url + "login", data={"username": f"nobody{i}", "password": "x"},
                                 headers=headers, allow_redirects=False) as resp:
                statuses.append(resp.status)
    return statuses


async def test_behind_a_trusted_proxy_each_client_has_its_own_rate_limit_and_is_named_in_the_audit_log(
        make_deck: Callable[..., Deck]) -> None:
    deck = make_deck(auth_mode="login", server_rate_limit=3, server_trusted_proxies=["127.0.0.1"])
    await deck.start()
    try:
        assert deck.gate is not None
        await deck.gate.users.add("ada", "admin", PASSWORD)
        await deck.gate.users.add("otto", "operator", PASSWORD)
        first = await _login_posts(deck, "203.0.113.1", 4)
        assert 429 not in first[:3] and first[3] == 429
        assert 429 not in await _login_posts(deck, "203.0.113.2", 3)  # another client behind the same proxy

        async with browser(headers={"X-Forwarded-For": "198.51.100.9, 203.0.113.5"}) as ada, \
                browser(headers={"X-Forwarded-For": "203.0.113.6"}) as otto:
            assert (await log_in(ada, deck, "ada")).status == 303
            assert (await log_in(otto, deck, "otto")).status == 303
            async with ada.get(deck.url + "api/sessions") as resp:
                peers = {s["user"]: s["peer"] for s in (await resp.json())["sessions"]}
            assert peers == {"ada": "203.0.113.5", "otto": "203.0.113.6"}
            async with ada.patch(deck.url + "api/admin/switches", json={"timing": True}, headers=origin(deck)):
                pass
            async with ada.get(deck.url + "api/admin/audit") as resp:
                assert [e["peer"] for e in (await resp.json())["entries"]] == ["203.0.113.5"]
    finally:
        await deck.stop()


async def test_a_spoofed_forwarded_for_from_an_untrusted_peer_changes_nothing(make_deck: Callable[..., Deck]) -> None:
    deck = make_deck(auth_mode="login", server_rate_limit=3, server_trusted_proxies=["10.9.9.9"])
    await deck.start()
    try:
        assert deck.gate is not None
        await deck.gate.users.add("ada", "admin", PASSWORD)
        statuses = [(await _login_posts(deck, f"203.0.113.{i}", 1))[0] for i in range(4)]
        assert 429 not in statuses[:3] and statuses[3] == 429  # one bucket: the peer's
    finally:
        await deck.stop()
    deck = make_deck(auth_mode="login")  # no trusted proxies at all; the same data folder
    await deck.start()
    try:
        async with browser(headers={"X-Forwarded-For": "203.0.113.5"}) as ada:
            assert (await log_in(ada, deck, "ada")).status == 303
            async with ada.get(deck.url + "api/sessions") as resp:
                assert [s["peer"] for s in (await resp.json())["sessions"]] == ["127.0.0.1"]
    finally:
        await deck.stop()


async def test_behind_a_trusted_proxy_the_login_throttle_counts_each_client(make_deck: Callable[..., Deck]) -> None:
    deck = make_deck(auth_mode="login", server_rate_limit=0, server_trusted_proxies=["127.0.0.1"])
    await deck.start()
    try:
        free = LoginThrottle().free_per_address
        async with browser(headers={"X-Forwarded-For": "203.0.113.1"}) as guesser, \
                browser(headers={"X-Forwarded-For": "203.0.113.2"}) as neighbour:
            for i in range(free + 1):  # a name each: only the address's count grows
                assert (await log_in(guesser, deck, f"x{i}", "wrong password")).status == 401
            assert (await log_in(guesser, deck, "another", "wrong password")).status == 429  # that address waits
            assert (await log_in(neighbour, deck, "another", "wrong password")).status == 401  # its neighbour not
    finally:
        await deck.stop()
