"""Regenerate the screenshots of the docs: every panel of the demo lab, mid-run, at a
desktop's 1440x900 and a phone's 390x844.

Run ``./dev.sh screenshots`` (or ``python -m tests.browser.screenshots [FOLDER]``); the
images go to ``docs/images/<panel>-wide.png`` and ``<panel>-phone.png``. The demo runs
on a scratch data folder with its main script at a quick pace, so the plots and the log
have something to show.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from labdeck.demo import build_demo
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.helpers import runner_of

DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
SIZES = (("wide", 1440, 900), ("phone", 390, 844))


def shoot(folder: Path = DOCS_IMAGES) -> list[Path]:
    """Take every panel's screenshots into ``folder``; the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(prefix="labdeck-shots-") as data:
        deck = build_demo(port=0, data=data)
        deck.run_in_thread(timeout=10)
        try:
            runner = runner_of(deck)
            config = {**runner.default_config(), "tr": 0.1, "trs": 600}
            assert deck._loop is not None
            import asyncio

            asyncio.run_coroutine_threadsafe(runner.run("main", config), deck._loop).result(10)
            time.sleep(4)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
                try:
                    for name, width, height in SIZES:
                        page = browser.new_page(viewport={"width": width, "height": height})
                        page.goto(deck.url)
                        page.get_by_test_id("nav").locator("a").first.wait_for()
                        ids = page.get_by_test_id("nav").locator("a").evaluate_all(
                            "links => links.map(a => a.dataset.testid.slice(4))")
                        for panel in ids:
                            written.append(_panel(page, deck.url, panel, folder / f"{panel}-{name}.png"))
                        page.close()
                finally:
                    browser.close()
        finally:
            deck.shutdown()
            deck.join(10)
    return written


def _panel(page: Page, url: str, panel: str, path: Path) -> Path:
    page.goto(f"{url}#{panel}")
    page.get_by_test_id(f"panel-{panel}").wait_for(state="visible")
    page.wait_for_timeout(800)  # live data and charts settle
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path))
    return path


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DOCS_IMAGES
    for shot in shoot(target):
        print(shot)
