"""The two how-tos of the lab's own pages, built from their code blocks as written and used
in the browser: the stimulus control page and the participant feedback display."""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from labdeck import Deck
from tests.browser.conftest import ServerFactory, screenshot
from tests.browser.test_login import on_loop
from tests.helpers import runner_of, scaled

pytestmark = pytest.mark.browser

HOWTOS = Path(__file__).resolve().parents[2] / "docs" / "howto"
_BLOCK = re.compile(r"```(python|toml|html)\n(.*?)```", re.S)
_NAME = re.compile(r"^(?:# (\S+)|<!-- (\S+) -->)\n")


def build(howto: str, folder: Path) -> Path:
    """Write every code block of ``howto`` that names its file into ``folder``; the config file."""
    written = []
    for _, code in _BLOCK.findall((HOWTOS / howto).read_text(encoding="utf-8")):
        named = _NAME.match(code)
        if named is None:
            continue
        path = folder / (named[1] or named[2])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(code[named.end():] if path.suffix == ".html" else code, encoding="utf-8")
        written.append(path.name)
    assert "labdeck.toml" in written, f"{howto} names no labdeck.toml block"
    return folder / "labdeck.toml"


@pytest.fixture
def project_on_path(tmp_path: Path) -> Iterator[Path]:
    """A project folder importable for ``[objects]``, forgotten again afterwards."""
    folder = tmp_path / "lab"
    folder.mkdir()
    sys.path.insert(0, str(folder))
    try:
        yield folder
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("stimulus", None)


def start(servers: ServerFactory, toml: Path) -> Deck:
    deck = servers.make_deck(toml)
    deck.run_in_thread(timeout=scaled(10))
    servers.running.append(deck)
    return deck


def test_the_stimulus_control_page(page: Page, servers: ServerFactory, project_on_path: Path) -> None:
    deck = start(servers, build("build-a-stimulus-page.md", project_on_path))
    page.goto(deck.url + "stimulus/")
    expect(page.get_by_test_id("conn")).to_have_attribute("data-state", "open")
    expect(page.locator("h1")).to_have_text("Stimulus control · Projector B")
    expect(page.get_by_test_id("who-role")).to_have_text("open mode")

    contrast = page.locator("deck-template").first
    field = contrast.get_by_role("textbox").or_(contrast.locator("input"))
    expect(field).to_have_value("0.5")
    field.fill("0.8")
    field.press("Enter")
    expect(contrast.locator("deck-value")).to_have_text("0.8")
    expect(page.locator("deck-template").nth(1).locator("deck-value")).to_have_text("4")

    show = page.locator("deck-button", has_text="Show trials")
    show.get_by_role("button").click()
    expect(show.locator("output")).to_have_text("3 trials at contrast 0.8")
    expect(page.locator('deck-value[attr="stimulus.trials_shown"]')).to_have_text("3")
    page.locator("#trials").fill("500")
    show.get_by_role("button").click()
    expect(show.locator("output")).to_have_text("ValueError: trials must be between 1 and 100, not 500")

    page.locator("deck-button", has_text="Blank screen").get_by_role("button").click()
    expect(contrast.locator("deck-value")).to_have_text("0")

    run = page.locator("deck-run")
    run.get_by_test_id("deck-run-start").click()
    expect(run).to_have_attribute("state", "finished", timeout=scaled(20) * 1000)
    expect(run.get_by_test_id("deck-run-state")).to_have_text("finished · main")
    expect(page.locator("deck-plot")).to_have_attribute("points-shown", "5")
    expect(page.locator("deck-log").get_by_test_id("deck-log-line").filter(has_text="trial 5")).to_have_count(1)
    screenshot(page, "howto-stimulus-page.png")


def test_the_participant_feedback_display(page: Page, servers: ServerFactory, project_on_path: Path) -> None:
    deck = start(servers, build("participant-feedback.md", project_on_path))
    page.goto(deck.url + "feedback/")
    value = page.locator("deck-value")
    expect(page.locator("deck-status")).to_have_attribute("data-state", "open")
    expect(value).to_have_attribute("conn", "open")
    on_loop(deck, runner_of(deck).run("main"))
    last = round(math.sin(20 / 3), 2)
    expect(value.get_by_test_id("deck-value-text")).to_have_text(f"{last:.2f}", timeout=scaled(20) * 1000)
    width = page.evaluate("document.querySelector('.deck-bar-fill').style.width")
    assert width == f"{(last + 1) / 2 * 100:.1f}%"
    size = page.evaluate("parseFloat(getComputedStyle(document.querySelector('deck-value')).fontSize)")
    assert size >= 48, "the value fills the screen"
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(0, 0, 0)"
    screenshot(page, "howto-participant-feedback.png")
