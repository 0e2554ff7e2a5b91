"""Two labdeck servers on one PostgreSQL database, and start-ups that cannot reach it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from labdeck import Deck, load_config
from labdeck.runner import history
from tests.helpers import TcpRelay


@pytest.fixture
async def two_decks(pg_url: str, tmp_path: Path) -> AsyncIterator[tuple[Deck, Deck]]:
    """Two servers, each with a data folder of its own (as on two hosts), sharing ``pg_url``."""
    decks = [Deck(load_config(None, env={}, overrides={"server.port": 0, "server.data": str(tmp_path / name),
                                                       "store.url": pg_url}))
             for name in ("a", "b")]
    for deck in decks:
        await deck.start()
    try:
        yield decks[0], decks[1]
    finally:
        for deck in decks:
            await deck.stop()


async def test_servers_sharing_a_database_see_each_others_runs(two_decks: tuple[Deck, Deck]) -> None:
    a, b = two_decks
    assert a.store is not None and not (Path(a.config.data_dir) / "labdeck.sqlite").exists()
    run = await a.store.run(lambda db: history.create_run(db, "main", ["python", "main.py"], "ada", {}, "running"))
    await a.store.run(lambda db: history.insert_lines(db, run, [(1, 1.5, "stdout", "hello")]))
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{b.url}api/runs", params={"user": "ada"}) as resp:
            assert resp.status == 200
            page = await resp.json()
        async with http.get(f"{b.url}api/runs/{run}/log") as resp:
            lines = (await resp.json())["lines"]
    assert [r["id"] for r in page["runs"]] == [run] and page["users"] == ["ada"]
    assert page["runs"][0]["script"] == "main"
    assert [line["text"] for line in lines] == ["hello"]


async def test_a_user_added_by_the_cli_can_be_seen_by_every_server(
    two_decks: tuple[Deck, Deck], pg_url: str, tmp_path: Path,
) -> None:
    a, b = two_decks
    config = tmp_path / "labdeck.toml"
    config.write_text(f'[server]\ndata = "cli-data"\n[store]\nurl = "{pg_url}"\n')
    done = subprocess.run([sys.executable, "-m", "labdeck", "user", "add", "grace", "--role", "operator",
                           "--password-stdin", "--config", str(config)], input="correct horse battery\n",
                          env=_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for deck in (a, b):
        assert deck.gate is not None
        assert [(u.name, u.role) for u in await deck.gate.users.list()] == [("grace", "operator")]


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "LABDECK_CONFIG": "", **extra}


def _serve(tmp_path: Path, url: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "labdeck.toml"
    config.write_text(f'[server]\nport = 0\ndata = "data"\n[store]\nurl = "{url}"\n')
    return subprocess.run([sys.executable, "-m", "labdeck", "serve", "--config", str(config)], env=_env(),
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize(("url", "says"), [
    ("postgresql://labdeck:s3cret@127.0.0.1:1/labdeck", "cannot connect: connection failed"),
    ("postgresql://postgres@127.0.0.1:5432/labdeck_no_such_db?connect_timeout=5", "does not exist"),
    ("postgresql://labdeck@127.0.0.1:port/labdeck", "cannot connect"),
    ("mysql://labdeck@127.0.0.1/labdeck", "is not a PostgreSQL URL"),
])
def test_a_bad_or_unreachable_database_is_one_clear_line_at_start_up(tmp_path: Path, url: str, says: str) -> None:
    done = _serve(tmp_path, url)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("labdeck: ") and says in lines[0], done.stderr
    assert "s3cret" not in done.stderr


async def test_healthz_says_when_postgresql_is_away_and_the_server_recovers_by_itself(
        pg_url: str, tmp_path: Path) -> None:
    """The database behind a relay that goes away (as a restarted or unreachable server
    does): /healthz turns degraded naming the store, the server keeps serving, and once the
    database answers again the next request reconnects and all is well."""
    target = urllib.parse.urlsplit(pg_url)
    relay = TcpRelay(target.port or 5432, target.hostname or "127.0.0.1")
    port = await relay.start()
    url = target._replace(netloc=f"{target.username}@127.0.0.1:{port}").geturl()
    deck = Deck(load_config(None, env={}, overrides={"server.port": 0, "server.data": str(tmp_path / "data"),
                                                    "store.url": url}))
    await deck.start()
    try:
        async with aiohttp.ClientSession() as http:
            async def health() -> dict[str, Any]:
                async with http.get(f"{deck.url}healthz") as reply:
                    assert reply.status == 200
                    body: dict[str, Any] = await reply.json()
                    return body

            body = await health()
            assert body["status"] == "ok" and body["checks"]["store"] == {"ok": True, "backend": "postgresql"}
            await relay.close()
            body = await health()
            assert body["status"] == "degraded"
            assert body["checks"]["store"]["ok"] is False and body["checks"]["store"]["error"]
            assert str(port) not in body["checks"]["store"]["error"]  # public: not where the database is
            async with http.get(f"{deck.url}") as page:  # the dashboard is still served
                assert page.status == 200
            await relay.start(port)
            for _ in range(50):  # bounded: the store connects again on its next query
                body = await health()
                if body["status"] == "ok":
                    break
                await asyncio.sleep(0.1)
            assert body["checks"]["store"] == {"ok": True, "backend": "postgresql"}
    finally:
        await deck.stop()
        await relay.close()
