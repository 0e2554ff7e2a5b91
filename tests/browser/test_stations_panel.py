"""The Stations and Incoming panels as a technologist sees them: a card turns red when a
parameter changes in the middle of a series, and no patient's name is anywhere on the page."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from labdeck import Deck
from labdeck.demo.dicom_series import PATIENT, Protocol, SeriesWriter
from tests.browser.conftest import ServerFactory, open_dashboard, screenshot

pytestmark = pytest.mark.browser

BOLD = Protocol("bold")


@pytest.fixture
def scanner(tmp_path: Path, make_deck: Callable[..., Deck]) -> Iterator[tuple[Deck, Path]]:
    folder = tmp_path / "scans"
    folder.mkdir()
    (tmp_path / "labdeck.toml").write_text('[watch.scanner]\npath = "scans"\nkind = "dicom"\n')
    factory = ServerFactory(make_deck)
    try:
        yield factory.start(config=tmp_path / "labdeck.toml"), folder
    finally:
        factory.stop_all()


def test_a_station_card_turns_red_on_a_mid_series_change_and_shows_no_patient(
        page: Page, scanner: tuple[Deck, Path]) -> None:
    deck, folder = scanner
    SeriesWriter(folder, BOLD, series=1).write()  # history: the reference is learned from it
    open_dashboard(page, deck, "#stations")
    card = page.get_by_test_id("station-AWP167046")
    expect(card).to_have_attribute("data-verdict", "none")
    expect(card.get_by_test_id("station-errors")).to_contain_text("No reference protocol")
    series = SeriesWriter(folder, BOLD, series=2)
    series.write()
    series.write()
    expect(card).to_have_attribute("data-verdict", "ok")
    expect(card.get_by_test_id("station-verdict")).to_have_text("conforms")
    series.write(BOLD.changed(tr=2000.0))
    expect(card).to_have_attribute("data-verdict", "bad")
    expect(card.get_by_test_id("station-errors")).to_contain_text("TR should be 1300 ms but is 2000 ms")
    expect(card).to_contain_text("series 2 · 3 files (1 not conforming)")
    screenshot(page, "stations-mid-series-change.png")

    page.goto(deck.url + "#stations/AWP167046")  # the page for a screen beside the console
    expect(page.get_by_test_id("station-AWP167046")).to_have_attribute("data-verdict", "bad")
    page.get_by_test_id("nav-incoming").click()
    expect(page.get_by_test_id("incoming-scanner").get_by_test_id("incoming-list").locator("li")).to_have_count(4)
    page.get_by_test_id("incoming-filter").fill("002_bold")
    expect(page.locator('[data-testid="incoming-list"] li:visible')).to_have_count(3)
    text = page.content() + page.inner_text("body")
    for value in PATIENT.values():
        assert value not in text
    assert "Doe" not in text


def test_pin_as_reference_turns_an_unknown_sequence_green(page: Page, scanner: tuple[Deck, Path]) -> None:
    deck, folder = scanner
    series = SeriesWriter(folder, Protocol("new_localizer"), series=1)
    series.write()
    open_dashboard(page, deck, "#stations")
    card = page.get_by_test_id("station-AWP167046")
    expect(card).to_have_attribute("data-verdict", "none")
    card.get_by_test_id("station-pin").click()
    expect(page.get_by_test_id("toast").filter(has_text="pinned as the reference")).to_be_visible()
    series.write()
    expect(card).to_have_attribute("data-verdict", "ok")
