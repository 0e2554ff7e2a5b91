"""The SQLite store on real files: migrations in order, WAL, reopening, and files it must refuse."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from labdeck.exceptions import StoreError
from labdeck.store import Store, latest_schema
from labdeck.store.db import migrations


def user_version(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute("PRAGMA user_version").fetchone()[0])
    finally:
        db.close()


def store_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("labdeck-store")]


def test_migrations_are_numbered_from_one_and_only_grow() -> None:
    steps = migrations()
    numbers = [version for version, _, _ in steps]
    assert numbers == sorted(set(numbers))
    assert steps[0][1] == "0001_initial.sql"
    assert latest_schema() == numbers[-1]


def test_a_new_database_gets_every_migration_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "labdeck.sqlite"
    store = Store(path)
    try:
        assert store.schema == latest_schema()
        assert store.query_sync("PRAGMA journal_mode")[0][0] == "wal"
        tables = {row[0] for row in store.query_sync("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "meta" in tables
    finally:
        store.close()
    assert path.exists() and user_version(path) == latest_schema()


def test_migrations_run_in_order_from_the_version_found(tmp_path: Path) -> None:
    path = tmp_path / "labdeck.sqlite"
    first = migrations()[0]
    db = sqlite3.connect(path)
    db.executescript(f"{first[2]}\nPRAGMA user_version = 1;")
    db.execute("INSERT INTO meta VALUES ('kept', 'yes')")
    db.commit()
    db.close()
    store = Store(path)  # must apply 2..N only: re-running 0001 would fail on the existing table
    try:
        assert store.schema == latest_schema()
        assert [tuple(r) for r in store.query_sync("SELECT key, value FROM meta")] == [("kept", "yes")]
    finally:
        store.close()


def test_reopening_is_a_no_op(tmp_path: Path) -> None:
    path = tmp_path / "labdeck.sqlite"
    store = Store(path)
    store.run_sync(lambda db: db.execute("INSERT INTO meta VALUES ('note', 'x')"))
    schema_sql = store.query_sync("SELECT sql FROM sqlite_master ORDER BY name")
    store.close()
    again = Store(path)
    try:
        assert again.schema == latest_schema()
        assert [tuple(r) for r in again.query_sync("SELECT sql FROM sqlite_master ORDER BY name")] == [
            tuple(r) for r in schema_sql
        ]
        assert again.query_sync("SELECT value FROM meta WHERE key = 'note'")[0][0] == "x"
    finally:
        again.close()


async def test_queries_run_off_the_event_loop(tmp_path: Path) -> None:
    store = Store(tmp_path / "labdeck.sqlite")
    try:
        rowid = await store.execute("INSERT INTO meta VALUES (?, ?)", ("k", "v"))
        assert rowid >= 1
        assert [tuple(r) for r in await store.query("SELECT key, value FROM meta WHERE key = ?", ("k",))] == [
            ("k", "v")
        ]
        thread = await store.run(lambda db: threading.current_thread().name)
        assert thread.startswith("labdeck-store")
    finally:
        store.close()
    with pytest.raises(StoreError, match="closed"):
        store._call(lambda db: None)


def test_a_database_from_a_newer_labdeck_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "labdeck.sqlite"
    newer = latest_schema() + 5
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE future (x)")
    db.execute(f"PRAGMA user_version = {newer}")
    db.commit()
    db.close()
    before = path.read_bytes()
    threads = len(store_threads())

    with pytest.raises(StoreError) as info:
        Store(path)
    message = str(info.value)
    assert f"schema {newer}" in message and f"up to {latest_schema()}" in message
    assert str(path) in message

    assert path.read_bytes() == before
    assert user_version(path) == newer
    assert not Path(f"{path}-wal").exists()
    assert len(store_threads()) == threads, "a refused store leaves no worker thread behind"


@pytest.mark.parametrize("content", [b"this is a lab notebook, not a database\n" * 100, b"\x00" * 5000])
def test_a_file_that_is_not_a_database_is_refused_and_left_untouched(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "labdeck.sqlite"
    path.write_bytes(content)
    with pytest.raises(StoreError) as info:
        Store(path)
    assert str(path) in str(info.value)
    assert path.read_bytes() == content


def test_a_data_folder_that_cannot_be_created_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where a folder should be")
    with pytest.raises(StoreError, match="cannot create"):
        Store(tmp_path / "blocker" / "labdeck.sqlite")
