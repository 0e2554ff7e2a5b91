"""Login mode in the browser, as a lab member meets it: the login form, the dashboard with
who they are, a delete refused to a viewer with a clear message, and logging out."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Page, expect

from labdeck import Deck
from tests.browser.conftest import ServerFactory, screenshot
from tests.helpers import scaled

pytestmark = pytest.mark.browser

T = TypeVar("T")
PASSWORD = "correct horse battery"


def on_loop(deck: Deck, work: Coroutine[Any, Any, T]) -> T:
    """Run ``work`` on the deck's event loop (it serves from another thread) and wait for it."""
    assert deck._loop is not None
    return asyncio.run_coroutine_threadsafe(work, deck._loop).result(scaled(20))


@pytest.fixture
def lab(tmp_path: Path, make_deck: Callable[..., Deck]) -> Iterator[Deck]:
    """A server in login mode with a viewer and an admin, and one finished run in its history."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "hello.py").write_text("print('hello from the scanner room')\n", encoding="utf-8")
    (project / "labdeck.toml").write_text('[scripts]\nmain = "hello.py"\n', encoding="utf-8")
    factory = ServerFactory(lambda **o: make_deck(project / "labdeck.toml", **o))
    deck = factory.start(auth_mode="login")
    try:
        assert deck.gate is not None
        on_loop(deck, deck.gate.users.add("vera", "viewer", PASSWORD))
        on_loop(deck, deck.gate.users.add("ada", "admin", PASSWORD))
        runner = deck.capabilities["runner"].runner  # type: ignore[attr-defined]
        on_loop(deck, runner.start_run("main", None, "ada"))
        on_loop(deck, runner.wait())
        yield deck
    finally:
        factory.stop_all()


def log_in(page: Page, user: str) -> None:
    page.get_by_test_id("login-user").fill(user)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()


def test_a_viewer_logs_in_is_refused_a_delete_and_logs_out(page: Page, lab: Deck) -> None:
    page.goto(lab.url + "#history/1")
    expect(page).to_have_title("Log in · labdeck")  # sent to the form, the address kept for later
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "login-390.png")
    page.set_viewport_size({"width": 1440, "height": 900})
    screenshot(page, "login-1440.png")
    page.get_by_test_id("login-user").fill("vera")
    page.get_by_test_id("login-password").fill("not her password")
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("login-error")).to_have_text("Wrong user name or password.")
    expect(page.get_by_test_id("login-user")).to_have_value("vera")

    log_in(page, "vera")
    expect(page.get_by_test_id("conn")).to_have_text("live")
    expect(page.get_by_test_id("who-name")).to_have_text("vera")
    expect(page.get_by_test_id("who-role")).to_have_text("viewer")
    history = page.get_by_test_id("panel-history")
    expect(history).to_be_visible()  # back where she was going: #history/1
    delete = history.get_by_test_id("history-delete")
    delete.click()
    delete.click()  # the second press confirms
    expect(page.get_by_test_id("toast").last).to_contain_text("needs the admin role")
    screenshot(page, "login-viewer-refused-1440.png")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "login-viewer-refused-390.png")

    page.get_by_test_id("logout").click()
    expect(page).to_have_title("Log in · labdeck")
    page.goto(lab.url)
    expect(page).to_have_title("Log in · labdeck")


def test_open_mode_says_anyone_on_this_machine_is_admin(page: Page, servers: ServerFactory) -> None:
    deck = servers.start()
    page.goto(deck.url)
    expect(page.get_by_test_id("who")).to_have_text("open: anyone on this machine")
