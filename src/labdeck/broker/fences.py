"""Fences checked where the work lands: in the store, in the same transaction as the write.

A lease (:mod:`labdeck.broker.locks`) says who may act; its fence says, afterwards,
whose work a write is. The store keeps the largest fence it has seen for each lease
name (the ``meta`` row ``fence:<name>``); a write made under a lease first raises that
row to its own fence, and is refused if the row is already larger: a holder that
stalled past its expiry (a paused VM, a SIGSTOP, a long GC) and came back cannot
overwrite what the process that took over recorded meanwhile.

The check and the write are one transaction (``BEGIN IMMEDIATE`` on SQLite, a row lock
on PostgreSQL), so no interleaving lets an older fence in after a newer one.

Fences from the lease store can go backwards: the in-process leases count from 1 at
every start and a Redis that lost its data starts again too. A new holder therefore
compares its fence with the store's (:func:`stored`) before its first write and, when
the store is ahead, raises the lease store's counter past it and takes the lease again
(:meth:`~labdeck.broker.locks.Leases.raise_fence`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TypeVar

from labdeck.exceptions import Fenced

__all__ = ["claim", "fenced", "stored"]

T = TypeVar("T")


def _key(name: str) -> str:
    return f"fence:{name}"


def stored(db: sqlite3.Connection, name: str) -> int:
    """The largest fence a write under lease ``name`` has carried; 0 before the first."""
    row = db.execute("SELECT value FROM meta WHERE key = ?", (_key(name),)).fetchone()
    return int(row[0]) if row is not None else 0


def claim(db: sqlite3.Connection, name: str, fence: int) -> None:
    """Raise the store's fence for ``name`` to ``fence``; call it inside the write's transaction.

    Raises:
        Fenced: the store has seen a larger fence: the lease is someone else's now.
    """
    db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, '0')", (_key(name),))
    cur = db.execute("UPDATE meta SET value = ? WHERE key = ? AND CAST(value AS INTEGER) <= ?",
                     (str(fence), _key(name), fence))
    if cur.rowcount != 1:
        raise Fenced(f"the {name!r} lease has passed to a newer holder than fence {fence}")


def fenced(db: sqlite3.Connection, name: str, fence: int, write: Callable[[sqlite3.Connection], T]) -> T:
    """``write(db)`` in one transaction with :func:`claim`: both happen, or neither.

    Raises:
        Fenced: as :func:`claim`; nothing was written.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        claim(db, name, fence)
        result = write(db)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return result
