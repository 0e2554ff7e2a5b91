"""API tokens: shown once, stored only as a digest, refused once expired or revoked."""

from __future__ import annotations

from pathlib import Path

import pytest

from labdeck.auth.identity import Identity
from labdeck.auth.tokens import Tokens
from labdeck.exceptions import AlreadyExists, InvalidArguments, NotFound
from labdeck.store import Store
from tests.auth.conftest import T0, Clock, stored_bytes

DAY = 86400


@pytest.fixture
def tokens(store: Store, clock: Clock) -> Tokens:
    return Tokens(store, clock)


async def test_a_token_verifies_as_its_name_and_role(tokens: Tokens) -> None:
    token = await tokens.add("scanner-agent", "operator")
    assert token.startswith("ldk_") and len(token) == 4 + 43
    assert await tokens.verify(token) == Identity(user="scanner-agent", role="operator", via="token")


async def test_the_token_is_never_stored_in_clear(tokens: Tokens, db_path: Path) -> None:
    token = await tokens.add("agent", "viewer")
    await tokens.verify(token)
    on_disk = stored_bytes(db_path)
    assert token.encode() not in on_disk
    assert token[4:].encode() not in on_disk
    assert token not in repr(await tokens.list())


async def test_two_tokens_differ_and_a_guess_fails(tokens: Tokens) -> None:
    one, two = await tokens.add("one", "viewer"), await tokens.add("two", "viewer")
    assert one != two
    for guess in ("", "ldk_", one[:-1], one + "x", one.upper(), "Bearer " + one, "ldk_" + "A" * 500):
        assert await tokens.verify(guess) is None, guess


async def test_an_expired_token_is_refused(tokens: Tokens, clock: Clock) -> None:
    token = await tokens.add("temp", "operator", expires_days=2)
    clock.advance(2 * DAY - 1)
    assert await tokens.verify(token) is not None
    clock.advance(1)
    assert await tokens.verify(token) is None
    assert [(t.name, t.expires) for t in await tokens.list()] == [("temp", T0 + 2 * DAY)]


async def test_a_revoked_token_is_refused_at_once(tokens: Tokens) -> None:
    token = await tokens.add("agent", "admin")
    assert await tokens.verify(token) is not None
    await tokens.revoke("agent")
    assert await tokens.verify(token) is None
    assert await tokens.list() == []
    with pytest.raises(NotFound, match="no token 'agent'"):
        await tokens.revoke("agent")


async def test_the_name_can_be_reused_after_revoking_with_a_new_secret(tokens: Tokens) -> None:
    old = await tokens.add("agent", "viewer")
    with pytest.raises(AlreadyExists):
        await tokens.add("agent", "viewer")
    await tokens.revoke("agent")
    new = await tokens.add("agent", "viewer")
    assert await tokens.verify(old) is None and await tokens.verify(new) is not None


async def test_last_use_is_recorded_at_most_once_a_minute(tokens: Tokens, clock: Clock) -> None:
    token = await tokens.add("agent", "viewer")
    assert (await tokens.list())[0].last_used is None
    await tokens.verify(token)
    clock.advance(30)
    await tokens.verify(token)
    assert (await tokens.list())[0].last_used == T0
    clock.advance(30)
    await tokens.verify(token)
    assert (await tokens.list())[0].last_used == T0 + 60


async def test_bad_arguments_are_refused(tokens: Tokens) -> None:
    with pytest.raises(InvalidArguments, match="token name"):
        await tokens.add("My Agent", "viewer")
    with pytest.raises(InvalidArguments, match="unknown role"):
        await tokens.add("agent", "god")
    for days in (0, -1, float("nan")):
        with pytest.raises(InvalidArguments, match="positive"):
            await tokens.add("agent", "viewer", expires_days=days)
    assert await tokens.list() == []
