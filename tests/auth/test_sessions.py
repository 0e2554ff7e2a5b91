"""Server-side sessions (lifetime, idle timeout, rotation, cleanup) and their signed cookie."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from labdeck.auth.identity import Identity
from labdeck.auth.passwords import Passwords
from labdeck.auth.sessions import SECRET_FILE, CookieSigner, Sessions, load_secret
from labdeck.auth.users import Users
from labdeck.exceptions import ConfigError, InvalidArguments, NotFound
from labdeck.store import Store
from tests.auth.conftest import T0, Clock, stored_bytes

ANA = Identity(user="ana", role="operator", via="session")
HOUR = 3600


@pytest.fixture
async def sessions(store: Store, passwords: Passwords, clock: Clock) -> Sessions:
    users = Users(store, passwords, clock)
    await users.add("ana", "operator", "correct horse battery")
    await users.add("bo", "viewer", "correct horse battery")
    return Sessions(store, lifetime=12 * HOUR, idle_timeout=2 * HOUR, clock=clock)


async def test_a_new_session_is_found_with_its_user(sessions: Sessions, db_path: Path) -> None:
    sid = await sessions.create(ANA, peer="127.0.0.1", user_agent="Firefox")
    assert await sessions.lookup(sid) == ANA
    assert sid.encode() not in stored_bytes(db_path)
    [info] = await sessions.list()
    assert (info.user, info.created, info.last_seen, info.peer, info.user_agent) == (
        "ana", T0, T0, "127.0.0.1", "Firefox")


async def test_every_login_gets_a_new_id_and_the_pre_login_one_dies(sessions: Sessions) -> None:
    first = await sessions.create(ANA)
    second = await sessions.create(ANA, replaces=first)
    assert first != second
    assert await sessions.lookup(first) is None
    assert await sessions.lookup(second) == ANA
    # An id the server never issued (say, planted by someone else) is no session either.
    assert await sessions.lookup("attacker-chosen-id") is None


async def test_an_idle_session_is_refused(sessions: Sessions, clock: Clock) -> None:
    sid = await sessions.create(ANA)
    clock.advance(2 * HOUR - 1)
    assert await sessions.lookup(sid) == ANA  # and this counts as activity
    clock.advance(2 * HOUR - 1)
    assert await sessions.lookup(sid) == ANA
    clock.advance(2 * HOUR)
    assert await sessions.lookup(sid) is None
    assert await sessions.list() == []


async def test_an_active_session_still_ends_at_its_lifetime(sessions: Sessions, clock: Clock) -> None:
    sid = await sessions.create(ANA)
    for _ in range(11):
        clock.advance(HOUR)
        assert await sessions.lookup(sid) == ANA
    clock.advance(HOUR)
    assert await sessions.lookup(sid) is None


async def test_activity_is_written_at_most_once_a_minute(sessions: Sessions, clock: Clock) -> None:
    sid = await sessions.create(ANA)
    clock.advance(59)
    await sessions.lookup(sid)
    assert (await sessions.list())[0].last_seen == T0
    clock.advance(1)
    await sessions.lookup(sid)
    assert (await sessions.list())[0].last_seen == T0 + 60
    clock.advance(120)
    await sessions.lookup(sid, touch=False)
    assert (await sessions.list())[0].last_seen == T0 + 60


async def test_logout_and_ending_all_of_a_user(sessions: Sessions) -> None:
    a1, a2 = await sessions.create(ANA), await sessions.create(ANA)
    b = await sessions.create(Identity("bo", "viewer", "session"))
    await sessions.end(a1)
    await sessions.end(a1)  # twice is harmless
    assert await sessions.lookup(a1) is None and await sessions.lookup(a2) == ANA
    assert await sessions.end_user("ana") == 1
    assert await sessions.lookup(a2) is None
    [left] = await sessions.list()
    assert left.user == "bo"
    await sessions.end_handle(left.handle)
    assert await sessions.lookup(b) is None


async def test_cleanup_removes_only_expired_sessions(sessions: Sessions, clock: Clock) -> None:
    await sessions.create(ANA)
    clock.advance(HOUR)
    fresh = await sessions.create(ANA)
    clock.advance(HOUR + 1)  # the first is idle past 2 h, the second not
    assert await sessions.cleanup() == 1
    assert await sessions.cleanup() == 0
    assert await sessions.lookup(fresh) == ANA


async def test_open_mode_identities_get_no_session(sessions: Sessions) -> None:
    with pytest.raises(InvalidArguments):
        await sessions.create(Identity(None, "admin", "open"))
    with pytest.raises(InvalidArguments):
        Sessions(sessions.store, lifetime=0, idle_timeout=1)


async def test_no_session_for_a_user_deleted_meanwhile(sessions: Sessions) -> None:
    with pytest.raises(NotFound, match="no user 'ghost'"):
        await sessions.create(Identity("ghost", "viewer", "session"))
    assert await sessions.list() == []


# -- the cookie -------------------------------------------------------------------------


def test_a_signed_cookie_gives_back_its_session_id(tmp_path: Path) -> None:
    signer = CookieSigner(load_secret(tmp_path))
    value = signer.sign("abc_DEF-123")
    assert value.startswith("abc_DEF-123.")
    assert signer.unsign(value) == "abc_DEF-123"


def test_a_tampered_or_forged_cookie_is_refused(tmp_path: Path) -> None:
    signer = CookieSigner(load_secret(tmp_path))
    value = signer.sign("session-one")
    sid, mac = value.rsplit(".", 1)
    flipped = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    other = CookieSigner(os.urandom(32)).sign("session-one")
    for bad in (f"session-two.{mac}", f"{sid}.{flipped}", sid, f"{sid}.", f".{mac}", "", other,
                value + "x", "é.ü", "x" * 1000 + "." + mac):
        assert signer.unsign(bad) is None, bad


def test_the_secret_is_made_once_with_mode_0600(tmp_path: Path) -> None:
    data = tmp_path / "data"
    secret = load_secret(data)
    path = data / SECRET_FILE
    assert len(secret) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_secret(data) == secret
    assert [p.name for p in data.iterdir()] == [SECRET_FILE]  # no temporary file left behind
    # A cookie signed before a restart still holds after it.
    assert CookieSigner(load_secret(data)).unsign(CookieSigner(secret).sign("s")) == "s"


def test_a_truncated_secret_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / SECRET_FILE).write_bytes(b"short")
    with pytest.raises(ConfigError, match="shorter than 32 bytes"):
        load_secret(tmp_path)
    with pytest.raises(InvalidArguments):
        CookieSigner(b"short")
