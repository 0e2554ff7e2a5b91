"""Fences checked in the store: a write under an older lease never lands after a newer one's."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from labdeck import Deck, load_config
from labdeck.broker import fences
from labdeck.exceptions import Fenced
from labdeck.runner import history
from labdeck.store import Store
from tests.helpers import runner_of
from tests.store.conftest import pg_database, pg_url, store_at

__all__ = ["pg_database", "pg_url", "store_at"]  # the store's backends, as fixtures here too


def finish(state: str, error: str) -> Callable[[sqlite3.Connection], None]:
    return lambda db: history.finish_run(db, 1, state, 2.0, None, error)


def row(store: Store) -> tuple[str, str | None]:
    state, error = store.query_sync("SELECT state, error FROM runs WHERE id = 1")[0]
    return state, error


def test_an_older_fence_is_refused_after_a_newer_one_wrote(store_at: Callable[[], str | Path]) -> None:
    stalled, successor = Store(store_at()), Store(store_at())  # two processes on one database
    try:
        stalled.run_sync(lambda db: fences.fenced(
            db, "runner", 4, lambda db: history.create_run(db, "slow", ["python"], None, {}, "running")))
        successor.run_sync(lambda db: fences.fenced(db, "runner", 5, finish("failed", "taken over")))
        with pytest.raises(Fenced, match="newer holder than fence 4"):
            stalled.run_sync(lambda db: fences.fenced(db, "runner", 4, finish("stopped", "mine")))
        assert row(successor) == ("failed", "taken over")  # nothing of the refused write landed
        assert stalled.run_sync(lambda db: fences.stored(db, "runner")) == 5
        successor.run_sync(lambda db: fences.fenced(db, "runner", 5, finish("failed", "again")))  # its own: fine
        assert successor.run_sync(lambda db: fences.stored(db, "other")) == 0  # names are independent
    finally:
        stalled.close()
        successor.close()


def test_a_write_that_fails_leaves_the_fence_where_it_was(store_at: Callable[[], str | Path]) -> None:
    store = Store(store_at())
    try:
        def broken(db: sqlite3.Connection) -> None:
            raise ValueError("the write itself failed")

        with pytest.raises(ValueError):
            store.run_sync(lambda db: fences.fenced(db, "runner", 9, broken))
        assert store.run_sync(lambda db: fences.stored(db, "runner")) == 0
        store.run_sync(lambda db: fences.fenced(db, "runner", 3, lambda db: None))
        assert store.run_sync(lambda db: fences.stored(db, "runner")) == 3
    finally:
        store.close()


async def test_a_restarted_server_runs_scripts_though_its_in_process_fences_count_from_one(tmp_path: Path) -> None:
    (tmp_path / "quick.py").write_text("print('done')\n")
    toml = tmp_path / "labdeck.toml"
    toml.write_text('[server]\nport = 0\ndata = "data"\n\n[scripts]\nquick = "quick.py"\n')
    for _ in range(2):  # the second server's leases start again at fence 1; the store remembers more
        deck = Deck(load_config(toml, env={}))
        await deck.start()
        try:
            for _ in range(2):
                await runner_of(deck).run("quick")
                assert (await runner_of(deck).wait())["state"] == "finished"
            assert deck.store is not None
            seen = await deck.store.run(lambda db: fences.stored(db, "runner"))
        finally:
            await deck.stop()
    assert seen >= 4  # every run (and each start's sweep) wrote under a larger fence than the last
