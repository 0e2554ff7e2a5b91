"""Watch fixtures: a real store, a watcher on a temporary folder, and what it published."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from labdeck.store import Store
from labdeck.watch.config import WatchConfig
from labdeck.watch.ledger import Ledger
from labdeck.watch.watcher import Watcher
from tests.helpers import until


class Feed:
    """Everything published, by channel, in order."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, Any]] = []
        self.count: Counter[str] = Counter()

    def __call__(self, ch: str, data: Any) -> None:
        self.messages.append((ch, data))
        if ch.startswith("files/"):
            self.count[data["event"]] += 1

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [d for ch, d in self.messages if ch.startswith("files/") and d["event"] == kind]

    def paths(self) -> list[str]:
        return [d["path"] for d in self.events("file")]

    async def files(self, count: int, timeout: float = 10.0) -> list[str]:
        await until(lambda: self.count["file"] >= count, timeout, f"{count} file events")
        return self.paths()

    async def state(self, state: str, timeout: float = 10.0) -> dict[str, Any]:
        await until(lambda: any(d["state"] == state for d in self.events("status")), timeout, f"state {state}")
        return next(d for d in reversed(self.events("status")) if d["state"] == state)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "labdeck.sqlite")
    yield s
    s.close()


@pytest.fixture
async def watching(tmp_path: Path, store: Store) -> AsyncIterator[Callable[..., Any]]:
    """``await watching(root, **config)``: a started watcher and its feed; stopped at the end."""
    started: list[Watcher] = []

    async def start(root: Path, *, wait: bool = True, ledger_store: Store | None = None,
                    **config: Any) -> tuple[Watcher, Feed]:
        feed = Feed()
        cfg = WatchConfig(path=str(root), **{"settle": 0.2, "retry_max": 0.3, **config})
        watcher = Watcher("scans", cfg, root, Ledger(ledger_store or store, "scans"), feed,
                          log=logging.getLogger("test.watch"))
        watcher.start()
        started.append(watcher)
        if wait:
            await feed.state("watching")
        return watcher, feed

    yield start
    for watcher in started:
        await watcher.stop()
