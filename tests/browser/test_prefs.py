"""A user's dashboard choices follow them to another browser, and nobody else sees them:
the last script run, the settings being edited with their preset, the Overview's cards and
the stations' alerts (notification and sound)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from labdeck import Deck
from tests.browser.conftest import ServerFactory
from tests.helpers import scaled

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
LABDECK_TOML = '''\
[scripts]
main = "main.py"
second = "main.py"

[run]
default_config = "run_config.toml"

[watch.scanner]
path = "incoming"
kind = "dicom"
'''
RUN_CONFIG = 'subject = "sub-01"\nn_trs = 40\n'
WANTED = {"run.script": "second", "overview.cards.hidden": ["log"], "stations.alerts": True}


@pytest.fixture
def lab(tmp_path: Path, make_deck: Callable[..., Deck]) -> Iterator[Deck]:
    """A login-mode server with two operators, ada and bea, scripts, settings and a scanner watch."""
    project = tmp_path / "project"
    (project / "incoming").mkdir(parents=True)
    (project / "main.py").write_text("print('hello')\n", encoding="utf-8")
    (project / "run_config.toml").write_text(RUN_CONFIG, encoding="utf-8")
    (project / "labdeck.toml").write_text(LABDECK_TOML, encoding="utf-8")
    factory = ServerFactory(lambda **o: make_deck(project / "labdeck.toml", **o))
    deck = factory.start(auth_mode="login")
    try:
        assert deck.gate is not None and deck._loop is not None
        for name in ("ada", "bea"):
            asyncio.run_coroutine_threadsafe(deck.gate.users.add(name, "operator", PASSWORD),
                                             deck._loop).result(scaled(20))
        yield deck
    finally:
        factory.stop_all()


def logged_in(browser: Browser, deck: Deck, user: str) -> tuple[BrowserContext, Page]:
    """A browser of its own (no storage shared with any other), on the dashboard as ``user``."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(scaled(10) * 1000)
    page = context.new_page()
    page.goto(deck.url)
    page.get_by_test_id("login-user").fill(user)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("conn")).to_have_text("live")
    return context, page


def go(page: Page, panel: str) -> Any:
    page.get_by_test_id(f"nav-{panel}").click()
    section = page.get_by_test_id(f"panel-{panel}")
    expect(section).to_be_visible()
    return section


def saved(page: Page) -> dict[str, Any]:
    """The preferences the server keeps for the page's user."""
    reply = page.request.get(page.url.split("#")[0] + "api/prefs")
    assert reply.ok
    prefs: dict[str, Any] = reply.json()["prefs"]
    return prefs


def wait_saved(page: Page, check: Callable[[dict[str, Any]], bool]) -> None:
    deadline = time.monotonic() + scaled(10)
    while not check(saved(page)):
        assert time.monotonic() < deadline, f"the server kept {saved(page)}"
        page.wait_for_timeout(50)


def choose(page: Page) -> None:
    """What ada chooses in her first browser."""
    run = go(page, "run")
    run.get_by_test_id("run-script").select_option("second")
    run.get_by_test_id("run-start").click()  # the last script is the one last run
    expect(run.get_by_test_id("run-state")).to_have_text("finished", timeout=scaled(15) * 1000)
    settings = go(page, "settings")
    settings.get_by_test_id("setting-n_trs").fill("12")
    settings.get_by_test_id("settings-preset-name").fill("pilot")
    settings.get_by_test_id("settings-save").click()
    expect(settings.get_by_test_id("settings-label")).to_have_text("preset “pilot”")
    settings.get_by_test_id("setting-subject").fill("sub-07")  # the preset, edited
    overview = go(page, "overview")
    overview.get_by_test_id("overview-choose").locator("summary").click()
    overview.locator('[data-testid=overview-option][data-card="log"]').uncheck()
    expect(overview.get_by_test_id("overview-card-log")).to_be_hidden()
    toggle = go(page, "stations").get_by_test_id("alerts-toggle")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")


def test_choices_follow_the_user_to_another_browser_and_not_to_another_user(browser: Browser, lab: Deck) -> None:
    first, ada = logged_in(browser, lab, "ada")
    try:
        choose(ada)
        wait_saved(ada, lambda p: all(p.get(k) == v for k, v in WANTED.items())
                   and p.get("settings.form", {}).get("fields", {}).get('["subject"]') == "sub-07")
    finally:
        first.close()

    second, again = logged_in(browser, lab, "ada")
    try:
        expect(go(again, "run").get_by_test_id("run-script")).to_have_value("second")
        settings = go(again, "settings")
        expect(settings.get_by_test_id("setting-subject")).to_have_value("sub-07")
        expect(settings.get_by_test_id("setting-n_trs")).to_have_value("12")
        expect(settings.get_by_test_id("settings-label")).to_contain_text("pilot")
        expect(go(again, "overview").get_by_test_id("overview-card-log")).to_be_hidden()
        expect(go(again, "stations").get_by_test_id("alerts-toggle")).to_have_attribute("aria-pressed", "true")
    finally:
        second.close()

    third, bea = logged_in(browser, lab, "bea")
    try:
        assert saved(bea) == {}
        expect(go(bea, "run").get_by_test_id("run-script")).to_have_value("main")
        settings = go(bea, "settings")
        expect(settings.get_by_test_id("setting-subject")).to_have_value("sub-01")
        expect(settings.get_by_test_id("setting-n_trs")).to_have_value("40")
        expect(go(bea, "overview").get_by_test_id("overview-card-log")).to_be_visible()
        expect(go(bea, "stations").get_by_test_id("alerts-toggle")).to_have_attribute("aria-pressed", "false")
    finally:
        third.close()
