"""API tokens for agents and scripts: ``Authorization: Bearer ldk_...``.

A token is ``ldk_`` and 32 random bytes (URL-safe base64). It is shown once, when made,
and stored only as its SHA-256 digest: the secret has 256 bits of entropy, so a fast hash
cannot be reversed by guessing, and verifying costs one index lookup per request.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from labdeck.auth.identity import Identity
from labdeck.auth.names import check_name
from labdeck.auth.roles import parse_role
from labdeck.exceptions import AlreadyExists, InvalidArguments, NotFound
from labdeck.store import Store

__all__ = ["PREFIX", "TokenInfo", "Tokens"]

PREFIX = "ldk_"
"""How every labdeck token starts, so a leaked one is easy to recognise (and to scan for)."""
_DAY = 86400.0
_TOUCH_EVERY = 60.0  # seconds: last_used is for people, not worth a write per request


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


@dataclass(frozen=True)
class TokenInfo:
    """One row of :meth:`Tokens.list`; times are Unix seconds (``expires`` ``None``: never)."""

    name: str
    role: str
    created: float
    expires: float | None
    last_used: float | None


class Tokens:
    """The API tokens of one store.

    Args:
        store: an open :class:`~labdeck.store.Store` (schema 4 or later).
        clock: Unix time now; tests pass their own.
    """

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    async def add(self, name: str, role: str, expires_days: float | None = None) -> str:
        """Make a token and return it. This is the only time it is seen: the caller shows it
        to the person who asked and keeps no copy.

        Raises:
            InvalidArguments: a bad name, an unknown role, or ``expires_days`` not positive.
            AlreadyExists: a token of that name exists (revoke it first).
        """
        check_name("token", name)
        role = parse_role(role)
        if expires_days is not None and not expires_days > 0:
            raise InvalidArguments(f"token expiry {expires_days!r}: must be a positive number of days")
        token = PREFIX + secrets.token_urlsafe(32)
        now = self.clock()
        expires = None if expires_days is None else now + expires_days * _DAY

        def insert(db: sqlite3.Connection) -> None:
            try:
                db.execute("INSERT INTO tokens (name, role, digest, created, expires) VALUES (?, ?, ?, ?, ?)",
                           (name, role, _digest(token), now, expires))
            except sqlite3.IntegrityError:
                raise AlreadyExists(f"token {name!r} already exists") from None

        await self.store.run(insert)
        return token

    async def verify(self, token: str) -> Identity | None:
        """The identity a token stands for, or ``None`` when it is unknown, revoked or expired.

        The digest is looked up by index, so no comparison of secrets happens in Python and
        timing tells nothing about how close a guess was. Records the use (at most once a
        minute per token).
        """
        if not token.startswith(PREFIX) or len(token) > 100:
            return None
        now = self.clock()
        rows = await self.store.query("SELECT name, role, expires, last_used FROM tokens WHERE digest = ?",
                                      (_digest(token),))
        if not rows or (rows[0]["expires"] is not None and now >= rows[0]["expires"]):
            return None
        row = rows[0]
        if row["last_used"] is None or now - row["last_used"] >= _TOUCH_EVERY:
            await self.store.execute("UPDATE tokens SET last_used = ? WHERE name = ?", (now, row["name"]))
        return Identity(user=row["name"], role=row["role"], via="token")

    async def list(self) -> list[TokenInfo]:
        """Every token (never its secret), by name."""
        rows = await self.store.query("SELECT name, role, created, expires, last_used FROM tokens ORDER BY name")
        return [TokenInfo(r["name"], r["role"], r["created"], r["expires"], r["last_used"]) for r in rows]

    async def active(self, names: Iterable[str]) -> set[str]:
        """Those of ``names`` that are tokens still usable now (not revoked, not expired)."""
        wanted = sorted(set(names))
        if not wanted:
            return set()
        marks = ",".join("?" * len(wanted))
        rows = await self.store.query(f"SELECT name FROM tokens WHERE name IN ({marks}) "
                                      f"AND (expires IS NULL OR expires > ?)", (*wanted, self.clock()))
        return {r["name"] for r in rows}

    async def revoke(self, name: str) -> None:
        """Make a token unusable at once.

        Raises:
            NotFound: no token of that name.
        """

        def delete(db: sqlite3.Connection) -> int:
            return db.execute("DELETE FROM tokens WHERE name = ?", (name,)).rowcount

        if await self.store.run(delete) == 0:
            raise NotFound(f"no token {name!r}")
