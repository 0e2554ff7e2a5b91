"""The store's contract on both backends: a SQLite file and a PostgreSQL database."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from labdeck.exceptions import StoreError
from labdeck.store import Store, latest_schema
from labdeck.store.db import migrations

StoreAt = Callable[[], "str | Path"]


def ledger(store: Store) -> list[tuple[int, str]]:
    rows = store.query_sync("SELECT version, name FROM labdeck_migrations ORDER BY version")
    return [(int(r[0]), r[1]) for r in rows]


def test_a_new_database_gets_every_migration_in_the_ledger(store_at: StoreAt) -> None:
    store = Store(store_at())
    try:
        assert store.schema == latest_schema()
        assert ledger(store) == [(v, name) for v, name, _ in migrations()]
    finally:
        store.close()


def test_reopening_applies_nothing_and_keeps_the_data(store_at: StoreAt) -> None:
    store = Store(store_at())
    store.run_sync(lambda db: db.execute("INSERT INTO meta VALUES ('note', 'x')"))
    before = ledger(store)
    store.close()
    again = Store(store_at())
    try:
        assert ledger(again) == before
        assert again.query_sync("SELECT value FROM meta WHERE key = 'note'")[0]["value"] == "x"
    finally:
        again.close()


async def test_queries_give_row_ids_named_rows_and_sqlite_errors(store_at: StoreAt) -> None:
    store = Store(store_at())
    try:
        first = await store.execute("INSERT INTO runs (script, command, user, state, started) VALUES (?, ?, ?, ?, ?)",
                                    ("main", "[]", "ada", "running", 1763742000.123456))
        second = await store.execute("INSERT INTO runs (script, command, state, started) VALUES (?, ?, ?, ?)",
                                     ("main", "[]", "running", 1.0))
        assert second == first + 1
        row = (await store.query("SELECT id, user, started FROM runs WHERE id = ?", (first,)))[0]
        assert (row["id"], row["user"], row[2]) == (first, "ada", 1763742000.123456)  # 64-bit floats
        assert dict(row) == {"id": first, "user": "ada", "started": 1763742000.123456}
        await store.execute("INSERT INTO users (name, role, password, created) VALUES ('ada', 'admin', 'x', 1)")
        with pytest.raises(sqlite3.IntegrityError):
            await store.execute("INSERT INTO users (name, role, password, created) VALUES ('ada', 'viewer', 'y', 2)")
        thread = await store.run(lambda db: threading.current_thread().name)
        assert thread.startswith("labdeck-store")
    finally:
        store.close()


def test_sqlite_forms_behave_alike(store_at: StoreAt) -> None:
    store = Store(store_at())

    def work(db: sqlite3.Connection) -> tuple[object, ...]:
        db.execute("INSERT OR REPLACE INTO presets (name, config, updated) VALUES (?, ?, ?)", ("a", "{}", 1.0))
        db.execute("INSERT OR REPLACE INTO presets (name, config, updated) VALUES (?, ?, ?)", ("a", "{\"x\": 1}", 2.0))
        db.execute("INSERT INTO file_events (watch, path, size, mtime_ns, t) VALUES ('w', 'a', 1, ?, 0)",
                   (1_763_742_000_123_456_789,))  # a nanosecond mtime needs 64 bits
        ignored = db.execute("INSERT OR IGNORE INTO file_events (watch, path, size, mtime_ns, t) "
                             "VALUES ('w', 'a', 1, ?, 0)", (1_763_742_000_123_456_789,)).rowcount
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO run_points (run, series, x, y) VALUES (?, ?, ?, ?)",
                       [(run, "s", float(x), 0.0) for x in (3, 1, 2)])
        db.execute("COMMIT")
        order = [r[0] for r in db.execute("SELECT x FROM run_points WHERE run = ? ORDER BY rowid", (run,))]
        total = db.execute("SELECT SUM(size), COUNT(*) FROM file_events").fetchone()
        rest = [r[0] for r in db.execute("SELECT x FROM run_points ORDER BY x LIMIT -1 OFFSET 1")]
        presets = db.execute("SELECT config, updated FROM presets").fetchall()
        return ignored, order, tuple(total), rest, [tuple(p) for p in presets]

    try:
        run = store.run_sync(lambda db: db.execute(
            "INSERT INTO runs (script, command, state, started) VALUES ('m', '[]', 'done', 0)").lastrowid)
        ignored, order, total, rest, presets = store.run_sync(work)
        assert ignored == 0
        assert order == [3.0, 1.0, 2.0]
        assert total == (1, 1) and type(total[0]) is int
        assert rest == [2.0, 3.0]
        assert presets == [("{\"x\": 1}", 2.0)]
    finally:
        store.close()


def test_a_failed_transaction_rolls_back(store_at: StoreAt) -> None:
    store = Store(store_at())

    def fail(db: sqlite3.Connection) -> None:
        with db:
            db.execute("BEGIN")
            db.execute("INSERT INTO meta VALUES ('a', '1')")
            db.execute("INSERT INTO meta VALUES ('a', '2')")

    try:
        with pytest.raises(sqlite3.IntegrityError):
            store.run_sync(fail)
        assert store.query_sync("SELECT COUNT(*) FROM meta")[0][0] == 0
        assert store.run_sync(lambda db: db.in_transaction) is False
    finally:
        store.close()


def test_a_database_from_a_newer_labdeck_is_refused(store_at: StoreAt) -> None:
    store = Store(store_at())
    newer = latest_schema() + 5
    store.run_sync(lambda db: db.execute("INSERT INTO labdeck_migrations VALUES (?, 'future.sql', 0)", (newer,)))
    if isinstance(store_at(), Path):
        store.run_sync(lambda db: db.execute(f"PRAGMA user_version = {newer}"))
    store.close()
    with pytest.raises(StoreError) as info:
        Store(store_at())
    assert f"schema {newer}" in str(info.value) and f"up to {latest_schema()}" in str(info.value)


def test_server_processes_starting_together_migrate_once(store_at: StoreAt, tmp_path: Path) -> None:
    go = tmp_path / "go"
    code = ("import sys, os, time\nfrom labdeck.store import Store\nprint('ready', flush=True)\n"
            "while not os.path.exists(sys.argv[2]): time.sleep(0.0005)\nStore(sys.argv[1]).close()")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(store_at()), str(go)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(3)]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    go.touch()
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
    store = Store(store_at())
    try:
        assert ledger(store) == [(v, name) for v, name, _ in migrations()]  # each once
    finally:
        store.close()
