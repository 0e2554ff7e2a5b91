"""Users in the SQLite store: a name, a role and an argon2 password hash each.

Every method is a coroutine: queries run on the store's thread and hashing on a worker
thread, so neither blocks the event loop (hashing also keeps off the store's thread, whose
queries must not wait behind it). A command-line caller wraps them in ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

from labdeck.auth.identity import Identity
from labdeck.auth.names import check_name
from labdeck.auth.passwords import Passwords
from labdeck.auth.roles import parse_role
from labdeck.exceptions import AlreadyExists, Busy, NotFound
from labdeck.store import Store

__all__ = ["UserInfo", "Users"]


@dataclass(frozen=True)
class UserInfo:
    """One row of :meth:`Users.list`; times are Unix seconds, ``last_login`` ``None`` if never."""

    name: str
    role: str
    created: float
    last_login: float | None


class Users:
    """The users of one store.

    Args:
        store: an open :class:`~labdeck.store.Store` (schema 4 or later).
        passwords: hashing parameters; the default is argon2's recommended profile.
        clock: Unix time now; tests pass their own.
    """

    def __init__(self, store: Store, passwords: Passwords | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.passwords = passwords or Passwords()
        self.clock = clock

    async def add(self, name: str, role: str, password: str) -> None:
        """Create a user.

        Raises:
            InvalidArguments: a bad name, an unknown role, or a password breaking the length rule.
            AlreadyExists: a user of that name exists.
        """
        check_name("user", name)
        role = parse_role(role)
        hashed = await asyncio.to_thread(self.passwords.hash, password)
        now = self.clock()

        def insert(db: sqlite3.Connection) -> None:
            try:
                db.execute("INSERT INTO users (name, role, password, created) VALUES (?, ?, ?, ?)",
                           (name, role, hashed, now))
            except sqlite3.IntegrityError:
                raise AlreadyExists(f"user {name!r} already exists") from None

        await self.store.run(insert)

    async def delete(self, name: str, *, keep_an_admin: bool = False) -> None:
        """Remove a user and, with them, every session of theirs.

        Args:
            keep_an_admin: refuse to remove the last user with the admin role.

        Raises:
            NotFound: no such user.
            Busy: ``keep_an_admin`` and ``name`` is the last admin.
        """
        await self._change(name, "DELETE FROM users WHERE name = ?", (), keep_an_admin=keep_an_admin)

    async def list(self) -> list[UserInfo]:
        """Every user, by name."""
        rows = await self.store.query("SELECT name, role, created, last_login FROM users ORDER BY name")
        return [UserInfo(r["name"], r["role"], r["created"], r["last_login"]) for r in rows]

    async def set_password(self, name: str, password: str) -> None:
        """Replace a user's password and end every session of theirs (a password is changed
        because it may be known to someone else, who may be logged in with it).

        Raises:
            InvalidArguments: the password breaks the length rule.
            NotFound: no such user.
        """
        hashed = await asyncio.to_thread(self.passwords.hash, password)
        await self._change(name, "UPDATE users SET password = ? WHERE name = ?", (hashed,),
                           also="DELETE FROM sessions WHERE user = ?")

    async def set_role(self, name: str, role: str, *, keep_an_admin: bool = False) -> str:
        """Give a user another role; their open sessions get it on their next request.
        Returns the role they had.

        Args:
            keep_an_admin: refuse to take the admin role from the last user who has it.

        Raises:
            InvalidArguments: an unknown role.
            NotFound: no such user.
            Busy: ``keep_an_admin`` and ``name`` is the last admin.
        """
        return await self._change(name, "UPDATE users SET role = ? WHERE name = ?", (parse_role(role),),
                                  keep_an_admin=keep_an_admin)

    async def get(self, name: str) -> UserInfo:
        """One user.

        Raises:
            NotFound: no such user.
        """
        rows = await self.store.query("SELECT name, role, created, last_login FROM users WHERE name = ?", (name,))
        if not rows:
            raise NotFound(f"no user {name!r}")
        r = rows[0]
        return UserInfo(r["name"], r["role"], r["created"], r["last_login"])

    async def authenticate(self, name: str, password: str) -> Identity | None:
        """The user's identity when the password is theirs, else ``None``.

        An unknown name takes as long as a wrong password (a dummy hash is verified), so a
        caller cannot learn which names exist. On success the login time is recorded and a
        hash made with outdated parameters is replaced. The caller applies the login
        throttle (:mod:`labdeck.auth.throttle`) around this call.
        """
        rows = await self.store.query("SELECT role, password FROM users WHERE name = ?", (name,))
        if not rows:
            await asyncio.to_thread(self.passwords.verify_dummy, password)
            return None
        stored = rows[0]["password"]
        if not await asyncio.to_thread(self.passwords.verify, stored, password):
            return None
        fresh = None
        if self.passwords.needs_rehash(stored):
            fresh = await asyncio.to_thread(self.passwords.hash, password)
        await self.store.execute("UPDATE users SET last_login = ?, password = coalesce(?, password) WHERE name = ?",
                                 (self.clock(), fresh, name))
        return Identity(user=name, role=rows[0]["role"], via="session")

    async def _change(self, name: str, sql: str, params: tuple[object, ...], also: str | None = None,
                      keep_an_admin: bool = False) -> str:
        """Run ``sql`` (whose last parameter is the user name) and ``also`` (by user name) in one
        transaction; returns the user's role before it. :class:`NotFound` when no user of that
        name was there; with ``keep_an_admin``, :class:`Busy` when no admin would be left."""

        def change(db: sqlite3.Connection) -> str:
            db.execute("BEGIN IMMEDIATE")
            try:
                found = db.execute("SELECT role FROM users WHERE name = ?", (name,)).fetchone()
                if found is None or db.execute(sql, (*params, name)).rowcount == 0:
                    raise NotFound(f"no user {name!r}")
                if also:
                    db.execute(also, (name,))
                if keep_an_admin and found[0] == "admin" and not _admins(db):
                    raise Busy(f"{name} is the last admin: give another user the admin role first")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return str(found[0])

        return await self.store.run(change)


def _admins(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT count(*) FROM users WHERE role = 'admin'").fetchone()[0])
