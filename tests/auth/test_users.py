"""Users on a real SQLite file: add, list, delete, change, and log in."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from labdeck.auth.identity import Identity
from labdeck.auth.passwords import Passwords
from labdeck.auth.sessions import Sessions
from labdeck.auth.users import Users
from labdeck.exceptions import AlreadyExists, InvalidArguments, NotFound
from labdeck.store import Store
from tests.auth.conftest import T0, Clock, cheap_passwords, stored_bytes

PASSWORD = "correct horse battery"


@pytest.fixture
def users(store: Store, passwords: Passwords, clock: Clock) -> Users:
    return Users(store, passwords, clock)


async def test_added_users_are_listed_with_role_and_times(users: Users, clock: Clock) -> None:
    await users.add("ana", "admin", PASSWORD)
    clock.advance(5)
    await users.add("bo", "viewer", PASSWORD)
    listed = await users.list()
    assert [(u.name, u.role, u.created, u.last_login) for u in listed] == [
        ("ana", "admin", T0, None), ("bo", "viewer", T0 + 5, None)]
    clock.advance(5)
    assert await users.authenticate("bo", PASSWORD) == Identity(user="bo", role="viewer", via="session")
    assert (await users.list())[1].last_login == T0 + 10


async def test_the_password_is_stored_only_as_a_hash(users: Users, db_path: Path) -> None:
    await users.add("ana", "admin", PASSWORD)
    stored = users.store.query_sync("SELECT password FROM users")[0][0]
    assert stored != PASSWORD and stored.startswith("$argon2id$")
    assert PASSWORD.encode() not in stored_bytes(db_path)


async def test_a_wrong_password_or_unknown_user_is_none(users: Users) -> None:
    await users.add("ana", "admin", PASSWORD)
    assert await users.authenticate("ana", PASSWORD + "!") is None
    assert await users.authenticate("nobody", PASSWORD) is None
    assert await users.authenticate("ana", "x" * 5000) is None


async def test_an_unknown_user_costs_as_much_time_as_a_wrong_password(store: Store) -> None:
    # Parameters heavy enough that a verification dwarfs a query (about 10 ms or more here):
    # without the dummy verification an unknown name answers some twenty times faster. The
    # fastest of several interleaved tries is compared: load on the machine only adds time.
    users = Users(store, cheap_passwords(16 * 1024))
    await users.add("ana", "admin", PASSWORD)
    await users.authenticate("nobody", "wrong password")  # the dummy hash is made on first use
    times: dict[str, list[float]] = {"ana": [], "nobody": []}
    for _ in range(5):
        for name, spent in times.items():
            start = time.perf_counter()
            assert await users.authenticate(name, "wrong password") is None
            spent.append(time.perf_counter() - start)
    assert min(times["nobody"]) > min(times["ana"]) / 4, times


async def test_names_roles_and_passwords_are_checked(users: Users) -> None:
    for name in ("Ana", "1ana", "ana smith", "", "a" * 65, "ana/..", "ána"):
        with pytest.raises(InvalidArguments, match="user name"):
            await users.add(name, "viewer", PASSWORD)
    with pytest.raises(InvalidArguments, match="unknown role"):
        await users.add("ana", "root", PASSWORD)
    with pytest.raises(InvalidArguments, match="password too short"):
        await users.add("ana", "viewer", "short")
    assert await users.list() == []


async def test_a_name_is_taken_once(users: Users) -> None:
    await users.add("ana", "viewer", PASSWORD)
    with pytest.raises(AlreadyExists, match="'ana' already exists"):
        await users.add("ana", "admin", PASSWORD)


async def test_changes_to_a_missing_user_say_so(users: Users) -> None:
    with pytest.raises(NotFound, match="no user 'ghost'"):
        await users.delete("ghost")
    with pytest.raises(NotFound):
        await users.set_role("ghost", "admin")
    with pytest.raises(NotFound):
        await users.set_password("ghost", PASSWORD)


async def test_a_new_password_replaces_the_old_and_ends_sessions(users: Users, store: Store, clock: Clock) -> None:
    sessions = Sessions(store, lifetime=3600, idle_timeout=600, clock=clock)
    await users.add("ana", "operator", PASSWORD)
    sid = await sessions.create(Identity("ana", "operator", "session"))
    await users.set_password("ana", "another good password")
    assert await users.authenticate("ana", PASSWORD) is None
    assert await users.authenticate("ana", "another good password") is not None
    assert await sessions.lookup(sid) is None


async def test_a_new_role_applies_to_open_sessions(users: Users, store: Store, clock: Clock) -> None:
    sessions = Sessions(store, lifetime=3600, idle_timeout=600, clock=clock)
    await users.add("ana", "viewer", PASSWORD)
    sid = await sessions.create(Identity("ana", "viewer", "session"))
    await users.set_role("ana", "Admin")
    assert await sessions.lookup(sid) == Identity("ana", "admin", "session")
    assert (await users.authenticate("ana", PASSWORD)) == Identity("ana", "admin", "session")


async def test_a_deleted_user_cannot_log_in_and_loses_sessions(users: Users, store: Store, clock: Clock) -> None:
    sessions = Sessions(store, lifetime=3600, idle_timeout=600, clock=clock)
    await users.add("ana", "viewer", PASSWORD)
    sid = await sessions.create(Identity("ana", "viewer", "session"))
    await users.delete("ana")
    assert await users.authenticate("ana", PASSWORD) is None
    assert await sessions.lookup(sid) is None
    assert await sessions.list() == []


async def test_a_login_upgrades_a_hash_made_with_older_parameters(store: Store) -> None:
    await Users(store, cheap_passwords(8 * 1024)).add("ana", "viewer", PASSWORD)
    before = store.query_sync("SELECT password FROM users")[0][0]
    assert "m=8192" in before
    assert await Users(store, cheap_passwords(16 * 1024)).authenticate("ana", PASSWORD) is not None
    after = store.query_sync("SELECT password FROM users")[0][0]
    assert "m=16384" in after
    assert await Users(store, cheap_passwords(16 * 1024)).authenticate("ana", PASSWORD) is not None


async def test_users_survive_reopening_the_store(users: Users, db_path: Path) -> None:
    await users.add("ana", "admin", PASSWORD)
    users.store.close()
    again = Store(db_path)
    try:
        assert await Users(again, cheap_passwords()).authenticate("ana", PASSWORD) is not None
    finally:
        again.close()
