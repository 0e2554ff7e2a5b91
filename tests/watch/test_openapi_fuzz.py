"""The watch capability's REST routes, fuzzed against their OpenAPI description by
schemathesis (the core's fuzz runs on a server without watches): a server watching a real
folder, with a station, a reference and a stored finding."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from labdeck import Deck
from labdeck.demo.dicom_series import Protocol, SeriesWriter
from labdeck.watch import inotify
from tests.helpers import origin_of, scaled, until
from tests.web.test_openapi_fuzz import CHECKS

pytestmark = pytest.mark.skipif(not inotify.available(), reason="inotify is Linux only")

PATHS = ("/api/watches", "/api/files/", "/api/stations", "/api/dicom/", "/api/agents")
EXAMPLES = 15
BUDGET = 30.0


def fuzz(url: str) -> tuple[int, list[str]]:
    schema = schemathesis.openapi.from_url(url + "api/openapi.json")
    headers = {"Origin": origin_of(url)}
    deadline = time.monotonic() + scaled(BUDGET)
    done, skipped = 0, []
    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith(PATHS):
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if time.monotonic() > deadline:
                skipped.append(f"{operation.label} ({mode.value})")
                continue

            @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case: schemathesis.Case) -> None:
                case.call_and_validate(base_url=url.rstrip("/"), headers=headers, checks=CHECKS, timeout=scaled(10))

            try:
                check()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, operation.label
        done += 1
    return done, skipped


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
    done, skipped = await asyncio.to_thread(fuzz, scanner.url)
    assert done == 13
    assert not skipped, f"the fuzz ran out of time before {', '.join(skipped)}"
