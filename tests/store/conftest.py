"""The store's backends: a SQLite file, or a scratch PostgreSQL database on the local server.

The session creates ``labdeck_test_<pid>`` on the PostgreSQL at ``LABDECK_TEST_POSTGRES``
(default ``postgresql://postgres@127.0.0.1:5432/test``) and drops it afterwards; each test
gets a fresh schema of its own in it. Tests of PostgreSQL are skipped, saying why, only
when no server answers there.
"""

from __future__ import annotations

import itertools
import os
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

ADMIN_URL = os.environ.get("LABDECK_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
_schemas = itertools.count(1)


def _admin() -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL answers at {ADMIN_URL}: {str(exc).splitlines()[0]}")


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """The URL of this session's scratch database."""
    admin = _admin()
    name = f"labdeck_test_{os.getpid()}"
    admin.execute(f"DROP DATABASE IF EXISTS {name}")
    admin.execute(f"CREATE DATABASE {name}")
    try:
        yield urllib.parse.urlsplit(ADMIN_URL)._replace(path=f"/{name}").geturl()
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """A URL whose tables live in a new, empty schema of the scratch database."""
    schema = f"t{next(_schemas)}"
    with psycopg.connect(pg_database, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {schema}")
    return f"{pg_database}?options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_at(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], str | Path]:
    """Where a new store goes, on each backend in turn: call it for the same place again."""
    if request.param == "sqlite":
        return lambda: tmp_path / "sub" / "labdeck.sqlite"
    url: str = request.getfixturevalue("pg_url")
    return lambda: url
