"""The watch capability's REST routes, fuzzed against their OpenAPI description by
schemathesis (the core's fuzz runs on a server without watches): a server watching a real
folder, with a station, a reference and a stored finding."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from labdeck import Deck
from labdeck.demo.dicom_series import Protocol, SeriesWriter
from labdeck.watch import inotify
from tests.helpers import scaled, until
from tests.web.test_openapi_fuzz import fuzz

pytestmark = pytest.mark.skipif(not inotify.available(), reason="inotify is Linux only")

PATHS = ("/api/watches", "/api/files/", "/api/stations", "/api/dicom/", "/api/agents")
EXAMPLES = 15
BUDGET = 30.0


@pytest.fixture
async def scanner(make_deck: Callable[..., Deck], tmp_path: Path) -> AsyncIterator[Deck]:
    (tmp_path / "scans").mkdir()
    (tmp_path / "labdeck.toml").write_text('[watch.scanner]\npath = "scans"\nkind = "dicom"\n')
    deck = make_deck(tmp_path / "labdeck.toml")
    await deck.start()
    try:
        await until(lambda: deck.capabilities["watch"].health()["ok"], what="the watch to watch")
        SeriesWriter(tmp_path / "scans", Protocol("bold")).write()
        await until(lambda: deck.capabilities["watch"].dicom.checked == 1, what="the file checked")
        yield deck
    finally:
        await deck.stop()


@pytest.mark.timeout(scaled(BUDGET + 30))
async def test_every_watch_operation_keeps_to_its_openapi_document(scanner: Deck) -> None:
    done, skipped = await asyncio.to_thread(fuzz, scanner.url, paths=PATHS, examples=EXAMPLES, budget=BUDGET)
    assert done == 13
    assert not skipped, f"the fuzz ran out of time before {', '.join(skipped)}"
