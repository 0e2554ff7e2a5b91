"""Regenerate the screenshots of the docs: every panel of the demo lab and the admin page,
mid-run, at a desktop's 1440x900 and a phone's 390x844, in the light and the dark theme.

Run ``./dev.sh screenshots`` (or ``python -m tests.browser.screenshots [FOLDER]``); the
images go to ``docs/images/<panel>-wide.png`` and ``<panel>-phone.png`` (the light theme),
``<panel>-wide-dark.png`` and ``<panel>-phone-dark.png``, the admin page being
``admin-page``. The demo runs on a scratch data folder with its main script at a quick
pace and a busy day's content (tests/browser/busy_lab.py: rigs started, a remote agent,
files with long names), so every panel has something to show.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

from labdeck import Deck
from labdeck.demo import build_demo
from tests.browser.busy_lab import busy_lab
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.helpers import runner_of

DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
SIZES = (("wide", 1440, 900), ("phone", 390, 844))
SCHEMES = (("light", ""), ("dark", "-dark"))


def shoot(folder: Path = DOCS_IMAGES) -> list[Path]:
    """Take every panel's screenshots into ``folder``; the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="labdeck-shots-") as data:
        deck = build_demo(port=0, data=str(Path(data) / "demo"))
        deck.run_in_thread(timeout=10)
        try:
            config = {**runner_of(deck).default_config(), "tr": 0.1, "trs": 1800}
            with busy_lab(deck, Path(data) / "lab", "main", config):
                time.sleep(4)  # the run's plots and log fill in
                with sync_playwright() as pw:
                    browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
                    try:
                        return _every_page(browser, deck, folder)
                    finally:
                        browser.close()
        finally:
            deck.shutdown()
            deck.join(10)


def _every_page(browser: Browser, deck: Deck, folder: Path) -> list[Path]:
    written = []
    for scheme, suffix in SCHEMES:
        for name, width, height in SIZES:
            context = browser.new_context(viewport={"width": width, "height": height},
                                          color_scheme=scheme)  # type: ignore[arg-type]
            page = context.new_page()
            page.goto(deck.url)
            page.get_by_test_id("nav").locator("a").first.wait_for()
            ids = page.get_by_test_id("nav").locator("a").evaluate_all(
                "links => links.map(a => a.dataset.testid.slice(4))")
            for panel in ids:
                written.append(_panel(page, deck.url, panel, folder / f"{panel}-{name}{suffix}.png"))
            page.goto(deck.url + "admin")
            page.get_by_test_id("stats-chart").locator("canvas").wait_for(state="attached")
            page.wait_for_timeout(800)
            page.screenshot(path=str(folder / f"admin-page-{name}{suffix}.png"))
            written.append(folder / f"admin-page-{name}{suffix}.png")
            context.close()
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
