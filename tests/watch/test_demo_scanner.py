"""The demo's scanners: conforming series, a TR change halfway through a BOLD run, an unknown sequence."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from labdeck.demo import build_demo
from labdeck.demo.scanner import SimulatedScanner
from tests.conftest import ws_url
from tests.helpers import WireClient, until


async def test_the_demo_scanner_shows_green_red_and_grey(tmp_path: Path) -> None:
    deck = build_demo(port=0, data=str(tmp_path))
    scanner = next(s for s in deck.services if isinstance(s, SimulatedScanner))
    scanner.interval, scanner.files = 0.01, 6
    await deck.start()
    try:
        async with WireClient(ws_url(deck)) as client:
            await client.request("sub", ch="dicom/AWP167046")

            def series(n: int) -> list[tuple[str, bool | None]]:
                return sorted((p["data"]["sequence"], p["data"]["conforms"]) for p in client.pushes["dicom/AWP167046"]
                              if p["data"]["series"] == n)

            # A series' first file lands in a new folder and waits out `settle`: compare per series.
            await until(lambda: all(len(series(n)) == 6 for n in (1, 2, 3)), 30, "three series")
            assert series(1) == [("t1_mprage", True)] * 6
            assert series(2) == [("bold_rest", False)] * 3 + [("bold_rest", True)] * 3
            assert series(3) == [("dwi_experimental", None)] * 6
    finally:
        await deck.stop()


async def test_a_fresh_demo_is_healthy_from_its_first_second(tmp_path: Path) -> None:
    """The scanner's folder is there before the watch starts: no 'does not exist' warning
    and no degraded /healthz at each start of a new user's first demo."""
    deck = build_demo(port=0, data=str(tmp_path / "fresh"))
    await deck.start()
    try:
        async with aiohttp.ClientSession() as http, http.get(f"{deck.url}healthz") as reply:
            body = await reply.json()
        assert body["status"] == "ok", body["checks"]
    finally:
        await deck.stop()
