"""Fixtures for identity tests: a real SQLite store in a temporary folder, a clock the test
moves, and cheap argon2 parameters (the recommended ones cost ~0.2 s a hash on this machine)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import argon2
import pytest

from labdeck.auth.passwords import Passwords
from labdeck.store import Store

T0 = 1_800_000_000.0


class Clock:
    """Unix time that only moves when the test says so."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "labdeck.sqlite"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    s = Store(db_path)
    try:
        yield s
    finally:
        s.close()


def cheap_passwords(memory_kib: int = 8 * 1024) -> Passwords:
    return Passwords(argon2.PasswordHasher(time_cost=1, memory_cost=memory_kib, parallelism=1))


@pytest.fixture
def passwords() -> Passwords:
    return cheap_passwords()


def stored_bytes(db_path: Path) -> bytes:
    """Everything SQLite has on disk for the database: the file and its write-ahead log."""
    return b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))
