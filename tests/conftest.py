"""Fixtures: a real labdeck server on a loopback port with its data in a temporary folder."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from labdeck import Deck, load_config
from labdeck.capability import Capability
from tests.helpers import WireClient

SUITE_STORE = os.environ.get("LABDECK_TEST_STORE_URL", "")
"""A PostgreSQL database (``postgresql://postgres@127.0.0.1:5432/labdeck_suite``) that the
decks of ``make_deck`` keep their store in, each in a new schema, instead of a SQLite file:
``LABDECK_TEST_STORE_URL=... pytest tests/runner`` runs those tests on PostgreSQL."""


READS_THE_SQLITE_FILE = pytest.mark.skipif(bool(SUITE_STORE), reason="reads the SQLite file itself, with sqlite3")


def fresh_postgres_schema(url: str) -> str:
    """A URL of ``url``'s database whose tables go in a new, empty schema."""
    import psycopg

    schema = f"s{uuid.uuid4().hex[:16]}"
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {schema}")
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


@pytest.fixture
def make_deck(tmp_path: Path) -> Callable[..., Deck]:
    """Build (not start) a deck on an ephemeral loopback port with its data in ``tmp_path``:
    ``make_deck(config=None, capabilities=(), **overrides)``, where ``config`` is a
    project's config file, ``capabilities`` further capability classes to enable and
    ``**overrides`` are ``server_history=5``-style keys of the config."""
    schema: list[str] = []

    def make(config: Path | None = None, capabilities: Sequence[type[Capability]] = (), **overrides: Any) -> Deck:
        dotted = {"server.port": 0, "server.data": str(tmp_path / "data")}
        if SUITE_STORE:  # one schema per test, as one data folder: a deck made again finds it
            if not schema:
                schema.append(fresh_postgres_schema(SUITE_STORE))
            dotted["store.url"] = schema[0]
        dotted.update({k.replace("_", ".", 1): v for k, v in overrides.items()})
        return Deck(load_config(config, env={}, overrides=dotted), capabilities=capabilities)

    return make


@pytest.fixture
async def deck(make_deck: Callable[..., Deck]) -> AsyncIterator[Deck]:
    """A started deck with default settings."""
    d = make_deck()
    await d.start()
    try:
        yield d
    finally:
        await d.stop()


def ws_url(deck: Deck) -> str:
    return deck.url.replace("http://", "ws://") + "ws"


@pytest.fixture
async def client(deck: Deck) -> AsyncIterator[WireClient]:
    """A wire-protocol client connected to ``deck``."""
    async with WireClient(ws_url(deck)) as c:
        yield c
