"""The real-browser suite: the system's Chromium driven by Playwright (sync API).

The labdeck server runs in a background thread (:meth:`Deck.run_in_thread`) so test
bodies stay synchronous; the browser is launched once per module, a page per test.
Every test module here sets ``pytestmark = pytest.mark.browser`` (``pytest -m "not browser"``
skips them).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from labdeck import Deck
from labdeck.web.app import STATIC_DIR
from tests.helpers import scaled

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
VENDOR_FILES = ("uPlot.esm.js", "uPlot.min.css")
AXE = Path(__file__).resolve().parents[2] / "ui" / "node_modules" / "axe-core" / "axe.min.js"
"""axe-core, the accessibility checker (a test-only npm package of the dashboard)."""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    missing = [name for name in VENDOR_FILES if not (STATIC_DIR / "vendor" / name).is_file()]
    if missing:
        pytest.fail(
            f"the dashboard's third-party files are not built (missing static/vendor/{', '.join(missing)}): "
            "run `npm --prefix ui ci && npm --prefix ui run build`",
            pytrace=False,
        )
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's `chromium` package", pytrace=False)
    expect.set_options(timeout=scaled(10) * 1000)
    with launch_chromium() as browser:
        yield browser


@contextlib.contextmanager
def launch_chromium() -> Iterator[Browser]:
    """The system's Chromium, headless, as every browser test drives it."""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page; an uncaught JavaScript error in it, or anything its Content-Security-Policy
    blocked, fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(scaled(10) * 1000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def wait_until(page: Page, expression: str, timeout: float) -> None:
    """Poll ``expression`` (awaited when it is a promise) until it is truthy, at most
    ``timeout`` seconds. Playwright's own ``wait_for_function`` compiles its predicate
    with ``eval``, which the dashboard's Content-Security-Policy rightly forbids."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {expression}")
        page.wait_for_timeout(20)


class ServerFactory:
    """Starts decks in background threads and stops whatever is still running at the end."""

    def __init__(self, make_deck: Callable[..., Deck]) -> None:
        self.make_deck = make_deck
        self.running: list[Deck] = []

    def start(self, **overrides: Any) -> Deck:
        deck = self.make_deck(**overrides)
        deck.run_in_thread(timeout=scaled(10))
        self.running.append(deck)
        return deck

    def stop(self, deck: Deck) -> None:
        deck.shutdown()
        deck.join(scaled(10))
        if deck in self.running:
            self.running.remove(deck)

    def stop_all(self) -> None:
        for deck in list(self.running):
            self.stop(deck)


@pytest.fixture
def servers(make_deck: Callable[..., Deck]) -> Iterator[ServerFactory]:
    factory = ServerFactory(make_deck)
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture
def server(servers: ServerFactory) -> Deck:
    """A labdeck server on an ephemeral loopback port, serving from a background thread."""
    return servers.start()


def open_dashboard(page: Page, deck: Deck, hash: str = "") -> None:
    """Load the dashboard and wait until its connection is live."""
    page.goto(deck.url + hash)
    expect(page.get_by_test_id("conn")).to_have_attribute("data-state", "open")
    expect(page.get_by_test_id("conn")).to_have_text("live")


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/ for a person to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def contrast_violations(page: Page, panel_id: str) -> list[list[str]]:
    """The elements of ``#panel_id`` whose text fails axe-core's colour-contrast rule, in the
    theme the page shows now (``page.emulate_media(color_scheme=...)`` picks it)."""
    page.evaluate(AXE.read_text(encoding="utf-8"))
    found: list[list[str]] = page.evaluate("""async (id) => (await axe.run(document.getElementById(id),
        {runOnly: ["color-contrast"], resultTypes: ["violations"]}))
        .violations.map(v => v.nodes.map(n => n.target.join(" ")))""", panel_id)
    return found
