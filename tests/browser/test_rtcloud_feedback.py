"""The rt-cloud migration guide's feedback page in the browser: while labdeck runs the sample
script and the scanner writes, the participant sees each ``setResult`` value."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import ServerFactory
from tests.browser.test_login import on_loop
from tests.compat.test_rtcloud_project import TRS, scan, write_project
from tests.helpers import runner_of, scaled

pytestmark = pytest.mark.browser


def test_the_participant_sees_each_result_of_the_sample(page: Page, servers: ServerFactory, tmp_path: Path) -> None:
    deck = servers.make_deck(write_project(tmp_path))
    deck.run_in_thread(timeout=scaled(10))
    servers.running.append(deck)
    page.goto(deck.url + "feedback/")
    value = page.locator("deck-value")
    expect(value).to_have_attribute("conn", "open")
    on_loop(deck, runner_of(deck).run("sample"))
    scanner = threading.Thread(target=scan, args=(tmp_path, range(1, TRS + 1), 0.1))
    scanner.start()
    expect(value.get_by_test_id("deck-value-text")).to_have_text(f"{TRS / 10:.2f}", timeout=scaled(30) * 1000)
    scanner.join(scaled(30))
    width = page.evaluate("document.querySelector('.deck-bar-fill').style.width")
    assert float(width.removesuffix("%")) == pytest.approx(TRS / 10 * 100)
