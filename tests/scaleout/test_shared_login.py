"""Failed logins count across the server processes of a deployment: guesses a proxy
spreads over several processes are slowed as if there were one."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from labdeck import Deck, load_config
from tests.broker.conftest import REDIS_URL, wipe
from tests.web.test_login import PASSWORD, browser, log_in


@pytest.fixture
async def two_decks(tmp_path: Path) -> AsyncIterator[tuple[Deck, Deck]]:
    prefix = f"labdeck-test-{secrets.token_hex(6)}"
    decks = []
    for name in ("a", "b"):
        overrides = {"server.port": 0, "server.data": str(tmp_path / name), "auth.mode": "login",
                     "broker.url": REDIS_URL, "broker.prefix": prefix}
        deck = Deck(load_config(None, env={}, overrides=overrides))
        await deck.start()
        assert deck.gate is not None
        await deck.gate.users.add("otto", "operator", PASSWORD)  # each host's own user table
        decks.append(deck)
    try:
        yield decks[0], decks[1]
    finally:
        for deck in decks:
            await deck.stop()
        await wipe(prefix)


async def test_failures_on_one_process_slow_logins_on_the_other(two_decks: tuple[Deck, Deck]) -> None:
    a, b = two_decks
    async with browser() as http:
        for _ in range(3):  # the free failures, all on a
            assert (await log_in(http, a, "otto", "wrong password!")).status == 401
        before = time.time()
        assert (await log_in(http, a, "otto", "wrong password!")).status == 401  # the fourth: now each waits
    assert b.gate is not None
    verdict = await b.gate.throttle_check("otto", "127.0.0.1", before)  # b counts a's failures
    assert not verdict.allowed and verdict.wait >= 1
    assert (await b.gate.throttle_check("nobody-else", "127.0.0.2", before)).allowed


async def test_a_success_forgives_the_user_everywhere(two_decks: tuple[Deck, Deck]) -> None:
    a, b = two_decks
    async with browser() as http:
        for _ in range(2):
            assert (await log_in(http, a, "otto", "wrong password!")).status == 401
        assert (await log_in(http, b, "otto")).status == 303
        for _ in range(3):  # three are free again: the count started over
            assert (await log_in(http, a, "otto", "wrong password!")).status == 401
    assert b.gate is not None
    assert (await b.gate.throttle_check("otto", "127.0.0.1", time.time())).allowed  # 5 would wait 2 s
