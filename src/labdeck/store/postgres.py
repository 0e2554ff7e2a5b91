"""The PostgreSQL backend of the store: psycopg 3, one connection on the store's thread.

labdeck's queries are written against the part of :class:`sqlite3.Connection` they
use (``execute``, ``executemany``, ``lastrowid``, ``rowcount``, rows read by index or
by name, explicit ``BEGIN``/``COMMIT``/``ROLLBACK``, ``with db:``). :class:`Connection`
offers that same part over psycopg, each statement translated by
:mod:`labdeck.store.dialect`, so a capability's SQL runs unchanged on either database.
Errors come out as :mod:`sqlite3`'s classes (``IntegrityError`` for a broken
constraint), so a caller catches one set whichever database is behind the store.

The connection autocommits, as the SQLite one does: a statement outside ``BEGIN`` is
its own transaction. Sums come back as ``int`` (or ``float``), never ``Decimal``.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Any

import psycopg
import psycopg.adapt
from psycopg.pq import TransactionStatus

from labdeck.exceptions import StoreError
from labdeck.store import dialect
from labdeck.store.db import redact

__all__ = ["Connection", "Cursor", "Row", "applied", "connect", "open_database", "redact"]

CONNECT_TIMEOUT = 10
"""Seconds a start-up waits for the server before saying it cannot reach it."""

_INSERT = re.compile(r"^\s*INSERT\s+(?:OR\s+\w+\s+)?INTO\s+(\w+)", re.I)


class Row(tuple[Any, ...]):
    """A result row read by position (``row[0]``, unpacking) or by name (``row["id"]``), like :class:`sqlite3.Row`."""

    _names: dict[str, int]

    def __new__(cls, names: dict[str, int], values: Sequence[Any]) -> Row:
        row = super().__new__(cls, values)
        row._names = names
        return row

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return super().__getitem__(self._names[key])
        return super().__getitem__(key)

    def keys(self) -> list[str]:
        return list(self._names)


class Cursor:
    """What :meth:`Connection.execute` returns: rows to fetch, ``lastrowid``, ``rowcount``."""

    def __init__(self, rows: list[Row], rowcount: int, lastrowid: int | None) -> None:
        self._rows = iter(rows)
        self.rowcount = rowcount
        self.lastrowid = lastrowid

    def fetchone(self) -> Row | None:
        return next(self._rows, None)

    def fetchall(self) -> list[Row]:
        return list(self._rows)

    def __iter__(self) -> Iterator[Row]:
        return self._rows


class Connection:
    """One psycopg connection with the interface labdeck's SQL is written against.

    Args:
        url: the database, to connect again after losing the connection.
        raw: an open psycopg connection to it, in autocommit mode.
    """

    def __init__(self, url: str, raw: psycopg.Connection[tuple[Any, ...]]) -> None:
        self.url = url
        self.raw = raw
        self.keys: dict[str, list[str]] = {}
        self.identity: dict[str, str] = {}
        self._sql: dict[str, str] = {}

    def learn_schema(self) -> None:
        """Read the tables' keys and identity columns (after migrating; the translation needs them)."""
        keys: dict[str, list[str]] = {}
        for table, column in self.raw.execute(dialect.PRIMARY_KEYS_SQL).fetchall():
            keys.setdefault(table, []).append(column)
        self.keys = keys
        self.identity = dict(self.raw.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND is_identity = 'YES' AND column_name <> 'rowid'"
        ).fetchall())
        self._sql.clear()

    def _translate(self, sql: str) -> str:
        found = self._sql.get(sql)
        if found is None:
            found = self._sql[sql] = dialect.query_to_postgres(sql, self.keys)
            if len(self._sql) > 4096:  # SQL built with f-strings: keep the cache bounded
                self._sql.clear()
        return found

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        """Run one statement; an ``INSERT`` into a table with an identity column sets ``lastrowid``."""
        text = self._translate(sql)
        insert = _INSERT.match(sql)
        key = self.identity.get(insert[1].lower()) if insert else None
        if key is not None and "RETURNING" not in text.upper():
            text = f"{text} RETURNING {key}"
        with _sqlite_errors():
            cur = self.raw.execute(text, _text_safe(params))
            rows = _rows(cur) if cur.description else []
        lastrowid = int(rows[0][0]) if key is not None and rows else None
        return Cursor([] if key is not None else rows, cur.rowcount, lastrowid)

    def executemany(self, sql: str, seq: Sequence[Sequence[Any]] | Any) -> Cursor:
        text = self._translate(sql)
        with _sqlite_errors(), self.raw.cursor() as cur:
            cur.executemany(text, [_text_safe(p) for p in seq])
            return Cursor([], cur.rowcount, None)

    def executescript(self, script: str) -> None:
        """Run several statements (no parameters) as they are, after :func:`dialect.schema_to_postgres`."""
        with _sqlite_errors():
            self.raw.execute(script)

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Like ``with sqlite3.Connection``: an open transaction is committed, or rolled back on an error."""
        if self.in_transaction:
            self.raw.execute("ROLLBACK" if exc_type else "COMMIT")

    def close(self) -> None:
        self.raw.close()

    @property
    def broken(self) -> bool:
        return bool(self.raw.closed or self.raw.broken)

    def reconnect(self) -> None:
        """Replace a broken connection (the server restarted); the schema is known already.

        Raises:
            StoreError: the server cannot be reached (the next query tries again).
        """
        self.raw.close()
        self.raw = _connect_raw(self.url)


def _text_safe(params: Sequence[Any]) -> tuple[Any, ...]:
    """``params`` with NUL in strings as U+FFFD: PostgreSQL's text cannot hold NUL, which
    SQLite keeps (a script's binary output, decoded with replacement, may carry one)."""
    return tuple(p.replace("\x00", "\ufffd") if isinstance(p, str) and "\x00" in p else p for p in params)


def connect(url: str) -> Connection:
    """Connect to the database at ``url`` (``postgresql://user@host:5432/name``).

    Raises:
        StoreError: the URL is malformed, or the server cannot be
            reached or refuses: one line naming the URL without its password.
    """
    return Connection(url, _connect_raw(url))


def _connect_raw(url: str) -> psycopg.Connection[tuple[Any, ...]]:
    try:
        raw = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
    except psycopg.Error as exc:
        raise StoreError(f"{redact(url)}: cannot connect: {_first_line(exc)}") from None
    raw.adapters.register_loader("numeric", _NumberLoader)
    return raw


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _rows(cur: Any) -> list[Row]:
    """The cursor's rows, sharing one name map (the first column of a repeated name wins, as in sqlite3)."""
    names = {col.name: i for i, col in reversed(list(enumerate(cur.description)))}
    return [Row(names, values) for values in cur.fetchall()]


class _NumberLoader(psycopg.adapt.Loader):
    """``numeric`` (what ``SUM`` of integers gives) as ``int``, or ``float`` with a fraction."""

    def load(self, data: psycopg.abc.Buffer) -> int | float:
        text = bytes(data).decode()
        return float(text) if any(c in text for c in ".eEN") else int(text)


class _sqlite_errors:
    """Raise psycopg's errors as :mod:`sqlite3`'s (see the module docstring)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is None or not isinstance(exc, psycopg.Error):
            return
        kind: Callable[[str], Exception] = sqlite3.DatabaseError
        if isinstance(exc, psycopg.errors.IntegrityError):
            kind = sqlite3.IntegrityError
        elif isinstance(exc, psycopg.OperationalError):
            kind = sqlite3.OperationalError
        raise kind(_first_line(exc)) from exc


MIGRATION_LOCK = 0x6C616264_65636B  # "labdeck": the advisory lock that start-ups migrate under


def open_database(url: str, steps: Sequence[tuple[int, str, str]], ledger: str) -> Connection:
    """Connect, and migrate the database forward under an advisory lock.

    Args:
        url: the database.
        steps: every migration shipped, ``(version, file name, sql)`` in order.
        ledger: the DDL of the ledger table, as SQLite reads it.

    Raises:
        StoreError: cannot connect; the database was migrated by a newer labdeck (it is
            left as it was); or a migration failed (it is rolled back).
    """
    db = connect(url)
    try:
        _migrate(db, redact(url), steps, ledger)
        db.learn_schema()
    except BaseException:
        db.close()
        raise
    return db


def _migrate(db: Connection, where: str, steps: Sequence[tuple[int, str, str]], ledger: str) -> None:
    # Server processes starting together queue here: the first migrates, the others then
    # find the ledger complete. The lock is the session's, released below or on disconnect.
    with _sqlite_errors():
        db.raw.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        with _sqlite_errors():
            db.raw.execute(dialect.schema_to_postgres(ledger))
        current = applied(db)
        latest = steps[-1][0] if steps else 0
        if current > latest:
            raise StoreError(f"{where}: database schema {current} was written by a newer labdeck "
                             f"(this one knows up to {latest}); upgrade labdeck or use another database")
        for version, name, sql in (step for step in steps if step[0] > current):
            _apply(db, where, version, name, sql)
    except sqlite3.Error as exc:
        raise StoreError(f"{where}: cannot migrate: {exc}") from None
    finally:
        if not db.broken:
            db.raw.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))


def _apply(db: Connection, where: str, version: int, name: str, sql: str) -> None:
    try:
        with db.raw.transaction():
            db.raw.execute(dialect.schema_to_postgres(sql))
            db.raw.execute("INSERT INTO labdeck_migrations (version, name, applied) "
                           "VALUES (%s, %s, EXTRACT(EPOCH FROM clock_timestamp()))", (version, name))
    except psycopg.Error as exc:
        raise StoreError(f"{where}: migration {name} failed: {_first_line(exc)}") from None


def applied(db: Connection) -> int:
    """The newest migration the ledger records (0: none)."""
    row = db.execute("SELECT COALESCE(MAX(version), 0) FROM labdeck_migrations").fetchone()
    return int(row[0]) if row else 0
