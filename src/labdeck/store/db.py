"""The SQLite store: one file in WAL mode, migrated forward on open.

Migrations are the numbered files ``migrations/NNNN_name.sql``, applied in order inside
one transaction each; the schema version is SQLite's ``user_version``, the number of the
last migration applied. Numbers only grow; one may be missing while the work it is
reserved for lands elsewhere (a database is migrated past a missing number, so the
migrations of a release must be complete before it ships). A database whose
version is newer than the newest migration this labdeck has was written by a newer
labdeck: opening it is refused (:class:`StoreError`) rather than risking corruption.

All queries run on one worker thread owned by the store, so the event loop never
blocks on disk and SQLite sees a single writer.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from labdeck.exceptions import StoreError

__all__ = ["Store", "latest_schema", "migrations"]

T = TypeVar("T")
_MIGRATION = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migrations() -> list[tuple[int, str, str]]:
    """``(version, file name, sql)`` of every migration shipped, in order."""
    found = []
    for entry in resources.files("labdeck.store").joinpath("migrations").iterdir():
        m = _MIGRATION.match(entry.name)
        if m:
            found.append((int(m[1]), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    if found and found[0][0] != 1:
        raise StoreError(f"migration {found[0][1]} is out of sequence: the first is number 0001")
    for (before, _, _), (version, name, _) in itertools.pairwise(found):
        if version == before:
            raise StoreError(f"migration {name}: number {version:04d} is used twice")
    return found


def latest_schema() -> int:
    """The schema version this labdeck writes: the number of its last migration."""
    steps = migrations()
    return steps[-1][0] if steps else 0


class Store:
    """An open labdeck database.

    Args:
        path: the database file; its folder is created if missing.

    Raises:
        StoreError: the file is not a database, or was written by a newer labdeck.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="labdeck-store")
        self._db: sqlite3.Connection | None = None
        try:
            self._pool.submit(self._open).result()
        except BaseException:
            self._pool.shutdown(wait=True)
            raise

    def _open(self) -> None:
        db: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.row_factory = sqlite3.Row
            # Checked before anything writes: switching to WAL rewrites the file header,
            # and a database refused here must be left exactly as it was.
            current = self._check_version(db)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            self._migrate(db, current)
            self._db = db
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: cannot open database: {exc}") from None
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot create database: {exc}") from None
        finally:
            if self._db is None and db is not None:  # refused: release the file
                db.close()

    def _check_version(self, db: sqlite3.Connection) -> int:
        """The file's schema version; refuses one newer than this labdeck's migrations."""
        current = int(db.execute("PRAGMA user_version").fetchone()[0])
        if current > latest_schema():
            raise StoreError(
                f"{self.path}: database schema {current} was written by a newer labdeck "
                f"(this one knows up to {latest_schema()}); upgrade labdeck or use another data folder"
            )
        return current

    def _migrate(self, db: sqlite3.Connection, current: int) -> None:
        for version, name, sql in (step for step in migrations() if step[0] > current):
            try:
                db.executescript(f"BEGIN IMMEDIATE;\n{sql}\n;PRAGMA user_version = {version};\nCOMMIT;")
            except sqlite3.Error as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise StoreError(f"{self.path}: migration {name} failed: {exc}") from None

    @property
    def schema(self) -> int:
        return int(self.query_sync("PRAGMA user_version")[0][0])

    # -- queries --------------------------------------------------------------------

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._db is None:
            raise StoreError(f"{self.path}: store is closed")
        return fn(self._db)

    def run_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` on the store's thread and wait for it (blocking)."""
        return self._pool.submit(self._call, fn).result()

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` on the store's thread without blocking the loop."""
        return await asyncio.wrap_future(self._pool.submit(self._call, fn))

    def query_sync(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return self.run_sync(lambda db: db.execute(sql, params).fetchall())

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return await self.run(lambda db: db.execute(sql, params).fetchall())

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the last row id."""
        return await self.run(lambda db: db.execute(sql, params).lastrowid or 0)

    def close(self) -> None:
        def _close(db: sqlite3.Connection) -> None:
            db.close()

        if self._db is not None:
            self.run_sync(_close)
            self._db = None
        self._pool.shutdown(wait=True)

