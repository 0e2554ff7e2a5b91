"""The demo's own pages: a stimulus control page and the participant's feedback display,
both made of the web components, driving the demo's objects and its main script."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from labdeck import Deck
from labdeck.demo import build_demo
from tests.browser.conftest import screenshot
from tests.helpers import scaled

pytestmark = pytest.mark.browser


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Deck]:
    deck = build_demo(port=0, data=str(tmp_path / "demo"))
    deck.run_in_thread(timeout=scaled(20))
    try:
        yield deck
    finally:
        deck.shutdown()
        deck.join(scaled(20))


def test_the_demo_stimulus_page_drives_the_demo_lab(page: Page, demo: Deck) -> None:
    page.goto(demo.url + "stimulus/")
    expect(page.get_by_test_id("conn")).to_have_attribute("data-state", "open")
    contrast = page.locator('deck-template[name="contrast"] input')
    expect(contrast).to_have_value("0.5")
    contrast.fill("0.7")
    contrast.press("Enter")
    expect(page.locator('deck-template[name="contrast"] deck-input')).to_have_attribute("value", "0.7")
    expect(page.locator('deck-template[name="enabled"] input')).to_be_checked()

    power = page.locator("deck-button", has_text="Set power")
    power.get_by_role("button").click()
    expect(power.locator("output")).to_have_text("10")
    expect(page.locator('deck-value[attr="device.power_mw"]')).to_have_text("10 mW")

    run = page.locator("deck-run")
    run.get_by_test_id("deck-run-start").click()
    classifier = page.locator('deck-value[series="classifier"]')
    expect(classifier.get_by_test_id("deck-value-text")).to_have_text(re.compile(r"^-?\d+\.\d{3}$"),
                                                                      timeout=scaled(20) * 1000)
    expect(page.locator("deck-plot")).to_have_attribute("points-shown", re.compile(r"^[1-9][0-9]*$"))
    expect(run).to_have_attribute("state", "running")
    screenshot(page, "demo-stimulus-page.png")

    feedback = page.context.new_page()
    feedback.goto(demo.url + "feedback/")
    expect(feedback.locator("deck-value")).to_have_attribute("conn", "open")
    expect(feedback.get_by_test_id("deck-value-text")).to_have_text(re.compile(r"^-?\d+\.\d\d$"))
    screenshot(feedback, "demo-feedback.png")
    run.get_by_test_id("deck-run-stop").click()
    expect(run).not_to_have_attribute("state", "running", timeout=scaled(20) * 1000)
