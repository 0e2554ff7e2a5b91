"""Server-side login sessions, and the signed cookie that carries a session's id.

A session lives in the store (only the SHA-256 digest of its id, so a copy of the database
logs nobody in) and ends at whichever comes first: its lifetime since login, or its idle
timeout since the last request. The browser holds ``id.signature``; a cookie whose HMAC does
not match the server's secret is refused before the store is asked.

Login must call :meth:`Sessions.create`, which always makes a new id: an id that existed
before login (set by someone else, say) is never promoted to a logged-in session.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from labdeck.auth.identity import Identity
from labdeck.exceptions import ConfigError, InvalidArguments, NotFound
from labdeck.store import Store

__all__ = ["SECRET_FILE", "CookieSigner", "SessionInfo", "Sessions", "load_secret"]

SECRET_FILE = "secret.key"
"""The server secret's file name in the data folder: 32 random bytes, mode 0600."""
TOUCH_EVERY = 60.0
"""Seconds between two writes of a session's last-seen time: a busy page must not write per request."""
_SECRET_BYTES = 32


def _digest(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode("utf-8")).digest()


@dataclass(frozen=True)
class SessionInfo:
    """One row of :meth:`Sessions.list`: what an admin page shows. ``handle`` names the
    session for :meth:`Sessions.end_handle` without revealing its id."""

    handle: int
    user: str
    created: float
    last_seen: float
    peer: str
    user_agent: str


class Sessions:
    """The login sessions of one store.

    Args:
        store: an open :class:`~labdeck.store.Store` (schema 4 or later).
        lifetime: seconds a session lasts after login, however active.
        idle_timeout: seconds a session lasts without a request.
        clock: Unix time now; tests pass their own.
    """

    def __init__(self, store: Store, *, lifetime: float, idle_timeout: float,
                 clock: Callable[[], float] = time.time) -> None:
        if lifetime <= 0 or idle_timeout <= 0:
            raise InvalidArguments("session lifetime and idle timeout must be positive")
        self.store = store
        self.lifetime = lifetime
        self.idle_timeout = idle_timeout
        self.clock = clock

    async def create(self, identity: Identity, *, peer: str = "", user_agent: str = "",
                     replaces: str | None = None) -> str:
        """Start a session for a user who just logged in; returns its new, random id.

        Args:
            replaces: the session id the browser sent with the login, if any; it is ended,
                so the old and the new id never both work.

        Raises:
            InvalidArguments: ``identity`` has no user (open mode needs no session).
            NotFound: the user no longer exists.
        """
        if identity.user is None:
            raise InvalidArguments("a session needs a user")
        session_id = secrets.token_urlsafe(32)
        now = self.clock()
        if replaces is not None:
            await self.end(replaces)
        row = (_digest(session_id), identity.user, now, now, peer[:200], user_agent[:500])

        def insert(db: sqlite3.Connection) -> None:
            try:
                db.execute("INSERT INTO sessions (digest, user, created, last_seen, peer, user_agent)"
                           " VALUES (?, ?, ?, ?, ?, ?)", row)
            except sqlite3.IntegrityError:  # the user was deleted since they logged in
                raise NotFound(f"no user {identity.user!r}") from None

        await self.store.run(insert)
        return session_id

    async def lookup(self, session_id: str, *, touch: bool = True) -> Identity | None:
        """The identity of a live session, with the user's current role; ``None`` when the id
        is unknown, ended, past its lifetime or idle too long (such a session is deleted).

        Args:
            touch: record this request as activity (written at most every :data:`TOUCH_EVERY`
                seconds per session).
        """
        now = self.clock()
        rows = await self.store.query(
            "SELECT s.handle, s.user, s.created, s.last_seen, u.role FROM sessions s"
            " JOIN users u ON u.name = s.user WHERE s.digest = ?", (_digest(session_id),))
        if not rows:
            return None
        row = rows[0]
        if now >= row["created"] + self.lifetime or now >= row["last_seen"] + self.idle_timeout:
            await self.store.execute("DELETE FROM sessions WHERE handle = ?", (row["handle"],))
            return None
        if touch and now - row["last_seen"] >= TOUCH_EVERY:
            await self.store.execute("UPDATE sessions SET last_seen = ? WHERE handle = ?", (now, row["handle"]))
        return Identity(user=row["user"], role=row["role"], via="session")

    async def end(self, session_id: str) -> None:
        """Log a session out (nothing happens for an unknown id)."""
        await self.store.execute("DELETE FROM sessions WHERE digest = ?", (_digest(session_id),))

    async def end_handle(self, handle: int) -> None:
        """End the session an admin picked from :meth:`list`."""
        await self.store.execute("DELETE FROM sessions WHERE handle = ?", (handle,))

    async def end_user(self, user: str) -> int:
        """End every session of ``user``; returns how many there were."""
        return await self._delete("DELETE FROM sessions WHERE user = ?", (user,))

    async def list(self) -> list[SessionInfo]:
        """Every session not yet cleaned up, most recently seen first."""
        rows = await self.store.query(
            "SELECT handle, user, created, last_seen, peer, user_agent FROM sessions ORDER BY last_seen DESC")
        return [SessionInfo(r["handle"], r["user"], r["created"], r["last_seen"], r["peer"], r["user_agent"])
                for r in rows]

    async def cleanup(self) -> int:
        """Delete every session past its lifetime or idle timeout; returns how many.

        The server calls this periodically; lookups refuse expired sessions without it.
        """
        now = self.clock()
        return await self._delete("DELETE FROM sessions WHERE created <= ? OR last_seen <= ?",
                                  (now - self.lifetime, now - self.idle_timeout))

    async def _delete(self, sql: str, params: tuple[object, ...]) -> int:
        def delete(db: sqlite3.Connection) -> int:
            return db.execute(sql, params).rowcount

        return await self.store.run(delete)


class CookieSigner:
    """Signs session ids for the cookie with HMAC-SHA256 under the server's secret.

    Args:
        secret: at least 32 bytes, from :func:`load_secret`.
    """

    def __init__(self, secret: bytes) -> None:
        if len(secret) < _SECRET_BYTES:
            raise InvalidArguments(f"cookie secret must be at least {_SECRET_BYTES} bytes")
        self._secret = secret

    def _mac(self, session_id: str) -> str:
        mac = hmac.new(self._secret, b"labdeck-session:" + session_id.encode("utf-8"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")

    def sign(self, session_id: str) -> str:
        """The cookie value for ``session_id``: ``id.signature``."""
        return f"{session_id}.{self._mac(session_id)}"

    def unsign(self, value: str) -> str | None:
        """The session id in a cookie value, or ``None`` if it was not signed by this server
        (forged, tampered with, truncated, or signed under another secret)."""
        if len(value) > 200:
            return None
        session_id, _, mac = value.rpartition(".")
        if not session_id or not hmac.compare_digest(mac.encode("ascii", "replace"),
                                                     self._mac(session_id).encode("ascii")):
            return None
        return session_id


def load_secret(data_dir: str | os.PathLike[str]) -> bytes:
    """The server secret in ``data_dir/secret.key``, made (mode 0600, 32 random bytes) on first use.

    Made in a temporary file and linked into place, so two servers starting together agree on
    one secret and neither ever reads a half-written file.

    Raises:
        ConfigError: the file exists but is shorter than 32 bytes, or cannot be read or made.
    """
    path = Path(data_dir) / SECRET_FILE
    try:
        if not path.exists():
            _create_secret(path)
        secret = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read or create the server secret: {exc.strerror or exc}") from None
    if len(secret) < _SECRET_BYTES:
        raise ConfigError(f"{path}: the server secret is shorter than {_SECRET_BYTES} bytes; "
                          "delete it to make a new one")
    return secret


def _create_secret(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{SECRET_FILE}.{secrets.token_hex(8)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(_SECRET_BYTES))
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
