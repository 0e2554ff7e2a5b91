"""The audit log: every change an admin makes, who made it, from where, and when.

Entries are written before the change is reported done, and never changed afterwards;
the retention job deletes those older than ``[admin] audit_days``.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from labdeck.store import Store
from labdeck.types import Client

__all__ = ["Audit"]

_DAY = 86400.0


class Audit:
    """The audit log of one store.

    Args:
        store: the open store (schema 6 or later).
        clock: Unix time now; tests pass their own.
    """

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    async def record(self, client: Client, action: str, **detail: Any) -> int:
        """Write one entry: ``client`` did ``action`` (``"switch.debug"``); returns its id."""
        return await self.store.execute(
            "INSERT INTO audit_log (t, user, via, peer, action, detail) VALUES (?, ?, ?, ?, ?, ?)",
            (self.clock(), client.user, client.via, client.peer, action, json.dumps(detail, default=str)))

    async def entries(self, limit: int = 100, before: int | None = None) -> list[dict[str, Any]]:
        """The newest ``limit`` entries (older than id ``before`` when given), newest first."""
        rows = await self.store.query(
            "SELECT id, t, user, via, peer, action, detail FROM audit_log WHERE id < ? ORDER BY id DESC LIMIT ?",
            (before if before is not None else 1 << 62, limit))
        return [{**dict(r), "detail": json.loads(r["detail"])} for r in rows]

    async def prune(self, keep_days: int) -> int:
        """Delete entries (and recorded errors) older than ``keep_days``; returns how many."""
        oldest = self.clock() - keep_days * _DAY

        def delete(db: sqlite3.Connection) -> int:
            gone = db.execute("DELETE FROM audit_log WHERE t < ?", (oldest,)).rowcount
            return gone + db.execute("DELETE FROM error_log WHERE t < ?", (oldest,)).rowcount

        return await self.store.run(delete)
