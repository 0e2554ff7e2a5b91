"""What a watch has reported, so that no file is reported twice.

A file is identified by its path relative to the root, its size and its modification
time (ns): a file written again is a new event, the same file found again by a scan is
not. Recent keys are held in memory (bounded), all of them in SQLite; a scan asks the
database in chunks, so a folder of 100,000 files costs one chunk of memory at a time.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from labdeck.store import Store

__all__ = ["FileKey", "Ledger"]


class FileKey(NamedTuple):
    """One version of one file."""

    path: str
    size: int
    mtime_ns: int


class Ledger:
    """The files one watch reported.

    Args:
        store: where every key is kept; ``None`` keeps only the memory (benchmarks).
        watch: the watch's name.
        memory: how many recent keys are answered without the database.
    """

    def __init__(self, store: Store | None, watch: str, memory: int = 1 << 16) -> None:
        self.store, self.watch, self.memory = store, watch, memory
        self._recent: OrderedDict[FileKey, None] = OrderedDict()
        self._pending: list[tuple[str, str, int, int, float]] = []
        self._flushing: asyncio.Task[None] | None = None

    def claim(self, key: FileKey) -> bool:
        """Mark ``key`` reported; ``False`` if it was already (recently) reported."""
        if key in self._recent:
            self._recent.move_to_end(key)
            return False
        self._recent[key] = None
        if len(self._recent) > self.memory:
            self._recent.popitem(last=False)
        if self.store is not None:
            self._pending.append((self.watch, key.path, key.size, key.mtime_ns, time.time()))
            if self._flushing is None or self._flushing.done():
                self._flushing = asyncio.get_running_loop().create_task(self._flush_soon())
        return True

    async def unseen(self, keys: Sequence[FileKey]) -> list[FileKey]:
        """Those of ``keys`` never reported (memory first, then the database)."""
        fresh = [k for k in keys if k not in self._recent]
        if not fresh or self.store is None:
            return fresh
        await self.flush()
        paths = [k.path for k in fresh]
        rows = await self.store.run(lambda db: _known(db, self.watch, paths))
        return [k for k in fresh if (k.size, k.mtime_ns) not in rows.get(k.path, ())]

    async def _flush_soon(self) -> None:
        await asyncio.sleep(0)  # let a burst gather into one transaction
        await self.flush()

    async def flush(self) -> None:
        """Write every pending key; returns once they are in the database."""
        while self._pending and self.store is not None:
            batch, self._pending = self._pending, []
            await self.store.run(functools.partial(_insert, rows=batch))


def _known(db: sqlite3.Connection, watch: str, paths: list[str]) -> dict[str, set[tuple[int, int]]]:
    found: dict[str, set[tuple[int, int]]] = {}
    for i in range(0, len(paths), 500):  # SQLite's host-parameter limit is 999 on older builds
        chunk = paths[i:i + 500]
        marks = ",".join("?" * len(chunk))
        for path, size, mtime_ns in db.execute(
                f"SELECT path, size, mtime_ns FROM file_events WHERE watch = ? AND path IN ({marks})",
                [watch, *chunk]):
            found.setdefault(path, set()).add((size, mtime_ns))
    return found


def _insert(db: sqlite3.Connection, rows: list[tuple[str, str, int, int, float]]) -> None:
    db.execute("BEGIN")  # the connection autocommits: one transaction for the whole burst
    try:
        db.executemany("INSERT OR IGNORE INTO file_events (watch, path, size, mtime_ns, t) VALUES (?, ?, ?, ?, ?)",
                       rows)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
