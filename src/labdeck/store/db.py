"""The store: a SQLite file in WAL mode (the default), or a PostgreSQL database, migrated
forward on open.

Migrations are the numbered files ``migrations/NNNN_name.sql``, applied in order inside
one transaction each, on either database (PostgreSQL reads them through
:mod:`labdeck.store.dialect`). Each one applied is recorded in the ledger table
``labdeck_migrations``; on SQLite the schema version is also the file's ``user_version``,
the number of the last migration applied. Numbers only grow; one may be missing while the work it is
reserved for lands elsewhere (a database is migrated past a missing number, so the
migrations of a release must be complete before it ships). A database whose
version is newer than the newest migration this labdeck has was written by a newer
labdeck: opening it is refused (:class:`StoreError`) rather than risking corruption.

All queries run on one worker thread owned by the store, so the event loop never
blocks on disk and SQLite sees a single writer. A query is a function of the connection
(``store.run(lambda db: db.execute(...))``), written against the part of
:class:`sqlite3.Connection` that :class:`labdeck.store.postgres.Connection` also offers.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import sqlite3
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from labdeck.exceptions import StoreError

if TYPE_CHECKING:
    from labdeck.config import Config
    from labdeck.store.postgres import Connection as PostgresConnection

fcntl: Any
try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: one server process per data folder there
    fcntl = None

__all__ = ["LEDGER", "Store", "is_postgres", "latest_schema", "migrations", "redact", "store_target"]

T = TypeVar("T")
_MIGRATION = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_POSTGRES = ("postgresql://", "postgres://")
HEALTH_TIMEOUT = 2.0
"""Seconds ``/healthz`` waits for the database to answer before it says it does not."""

LEDGER = """CREATE TABLE IF NOT EXISTS labdeck_migrations (
    version INTEGER PRIMARY KEY,  -- a migration's number
    name    TEXT NOT NULL,        -- its file name
    applied REAL NOT NULL         -- when (Unix time)
)"""
"""The ledger of applied migrations, on both databases."""


def is_postgres(target: str | Path) -> bool:
    """Whether ``target`` is a PostgreSQL URL rather than a SQLite file."""
    return isinstance(target, str) and target.startswith(_POSTGRES)


def redact(url: str) -> str:
    """``url`` without its password, fit for a log line or an error message."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]  # as written, still percent-encoded
    return url.replace(parts.netloc, f"{user}:***@{host}", 1)


def store_target(config: Config) -> str | Path:
    """Where ``config``'s store lives: ``[store] url``, or ``labdeck.sqlite`` in the data folder."""
    return config.store.url or config.data_dir / "labdeck.sqlite"


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
        target: the SQLite file (its folder is created if missing), or a
            ``postgresql://`` URL (see :func:`store_target`).

    Raises:
        StoreError: the file is not a database; the PostgreSQL server cannot be reached
            or refuses; the database was written by a newer labdeck.
    """

    def __init__(self, target: str | Path) -> None:
        self.url: str | None = str(target) if is_postgres(target) else None
        self.path = Path(target) if self.url is None else None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="labdeck-store")
        self._db: sqlite3.Connection | None = None
        self._pg: PostgresConnection | None = None
        try:
            self._pool.submit(self._open if self.url is None else self._open_postgres).result()
        except BaseException:
            self._pool.shutdown(wait=True)
            raise

    @property
    def where(self) -> str:
        """The database, as error messages name it (a URL without its password)."""
        return str(self.path) if self.url is None else redact(self.url)

    def _open_postgres(self) -> None:
        assert self.url is not None
        try:
            from labdeck.store import postgres
        except ImportError:
            raise StoreError(f"{self.where}: PostgreSQL needs its driver: pip install 'labdeck[postgres]'") from None
        self._pg = postgres.open_database(self.url, migrations(), LEDGER)
        # Callers' functions take the sqlite3 interface, which this connection offers in part.
        self._db = cast(sqlite3.Connection, self._pg)

    def _open(self) -> None:
        assert self.path is not None
        db: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.row_factory = sqlite3.Row
            # Checked before anything writes: switching to WAL rewrites the file header,
            # and a database refused here must be left exactly as it was.
            with self._migration_lock():  # several server processes may open one file at once
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

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        """Hold an exclusive lock on ``<file>.lock`` (server processes of one host that
        start together must not apply the same migration twice)."""
        if fcntl is None or self.path is None:  # pragma: no cover
            yield
            return
        lock = self.path.with_name(self.path.name + ".lock").open("a")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield
        finally:
            lock.close()

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
        steps = migrations()
        known = [(version, name) for version, name, _ in steps if version <= current]
        if current and not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'labdeck_migrations'").fetchone():
            self._script(db, "ledger", "".join(  # a file from before the ledger: record what it has
                f"INSERT OR IGNORE INTO labdeck_migrations VALUES ({v}, '{n}', {time.time()});\n" for v, n in known))
        for version, name, sql in (step for step in steps if step[0] > current):
            self._script(db, name, f"{sql}\n;INSERT INTO labdeck_migrations VALUES ({version}, '{name}', "
                                   f"{time.time()});\nPRAGMA user_version = {version};")

    def _script(self, db: sqlite3.Connection, name: str, sql: str) -> None:
        """Run ``sql`` (file names and numbers only, no input) in one transaction with the ledger."""
        try:
            db.executescript(f"BEGIN IMMEDIATE;\n{LEDGER};\n{sql}\nCOMMIT;")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise StoreError(f"{self.path}: migration {name} failed: {exc}") from None

    @property
    def schema(self) -> int:
        """The number of the last migration applied."""
        pg = self._pg
        if pg is not None:
            from labdeck.store.postgres import applied

            return self.run_sync(lambda db: applied(pg))
        return int(self.query_sync("PRAGMA user_version")[0][0])

    # -- queries --------------------------------------------------------------------

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._db is None:
            raise StoreError(f"{self.where}: store is closed")
        if self._pg is not None and self._pg.broken:  # the server restarted: connect again
            self._pg.reconnect()
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

    async def health(self, timeout: float = HEALTH_TIMEOUT) -> dict[str, object]:
        """What ``/healthz`` says of the database: for PostgreSQL ``{"ok": True, "backend":
        "postgresql"}`` while it answers a trivial query within ``timeout`` seconds, ``"ok":
        False`` with the reason when it does not (the server is down or unreachable; the store
        connects again by itself). A SQLite file has no server to lose: ``{}``, and no query
        that would wait behind a long write on the store's one thread."""
        if self.url is None:
            return {}
        backend = "postgresql"
        try:
            async with asyncio.timeout(timeout):
                await self.query("SELECT 1")
        except TimeoutError:
            return {"ok": False, "backend": backend, "error": f"no answer within {timeout:g} s"}
        except (sqlite3.Error, StoreError, OSError) as exc:
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            # /healthz is public: say what is wrong, not where the database is
            return {"ok": False, "backend": backend, "error": why.removeprefix(f"{self.where}: ")}
        return {"ok": True, "backend": backend}

    def close(self) -> None:
        def _close(db: sqlite3.Connection) -> None:
            db.close()

        if self._db is not None:
            self.run_sync(_close)
            self._db = self._pg = None
        self._pool.shutdown(wait=True)

