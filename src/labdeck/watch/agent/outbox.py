"""The agent's queue on disk: what happened, kept until the server has taken it.

Each entry gets the next number of the queue (``seq``, never reused). Queuing a file
records its version (path, size, mtime) in the same transaction, so a file found again
by the rescan after a restart is never queued twice; the server remembers the newest
``seq`` it took, so an entry sent twice (a reply lost with the connection) is taken once.
Functions take the store's connection: call them through ``Store.run``.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from typing import Any

__all__ = ["drop_through", "identity", "put", "seen", "take", "waiting"]


def identity(db: sqlite3.Connection) -> str:
    """This queue's name, made once: the server tells a wiped queue from an old one by it."""
    row = db.execute("SELECT value FROM agent_meta WHERE key = 'outbox'").fetchone()
    if row is not None:
        return str(row[0])
    name = uuid.uuid4().hex
    db.execute("INSERT INTO agent_meta (key, value) VALUES ('outbox', ?)", (name,))
    return name


def seen(db: sqlite3.Connection, watch: str, path: str, size: int, mtime_ns: int) -> bool:
    """Whether this version of the file is already queued (or was sent)."""
    return (
        db.execute(
            "SELECT 1 FROM agent_seen WHERE watch = ? AND path = ? AND size = ? AND mtime_ns = ?",
            (watch, path, size, mtime_ns),
        ).fetchone()
        is not None
    )


def put(db: sqlite3.Connection, watch: str, body: dict[str, Any], mtime_ns: int) -> int | None:
    """Queue one landed file (``body`` has its ``path`` and ``size``); ``None`` if already queued."""
    with db:
        db.execute("BEGIN")
        new = db.execute(
            "INSERT OR IGNORE INTO agent_seen (watch, path, size, mtime_ns) VALUES (?, ?, ?, ?)",
            (watch, body["path"], body["size"], mtime_ns),
        ).rowcount
        if not new:
            return None
        cur = db.execute(
            "INSERT INTO agent_outbox (watch, body, t) VALUES (?, ?, ?)", (watch, json.dumps(body), time.time())
        )
        return int(cur.lastrowid or 0)


def take(db: sqlite3.Connection, after: int, limit: int) -> list[dict[str, Any]]:
    """The oldest ``limit`` entries after ``after``: ``{"seq", "watch", "body"}``."""
    rows = db.execute(
        "SELECT seq, watch, body FROM agent_outbox WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)
    ).fetchall()
    return [{"seq": r[0], "watch": r[1], "body": json.loads(r[2])} for r in rows]


def waiting(db: sqlite3.Connection, after: int) -> int:
    """How many entries come after ``after``: the backlog once those up to it are sent."""
    return int(db.execute("SELECT COUNT(*) FROM agent_outbox WHERE seq > ?", (after,)).fetchone()[0])


def drop_through(db: sqlite3.Connection, seq: int) -> int:
    """Forget the entries the server has taken (up to ``seq``); returns how many are left."""
    db.execute("DELETE FROM agent_outbox WHERE seq <= ?", (seq,))
    return int(db.execute("SELECT COUNT(*) FROM agent_outbox").fetchone()[0])
