"""The Stations and Incoming panels as a technologist sees them: a card turns red when a
parameter changes in the middle of a series, and no patient's name is anywhere on the page."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from labdeck import Deck
from labdeck.demo.dicom_series import PATIENT, Protocol, SeriesWriter
from tests.browser.conftest import ServerFactory, contrast_violations, open_dashboard, screenshot

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


RECORD_ALERTS = """
window.__notified = [];
window.__tones = 0;
if (window.Notification) {
  const Real = window.Notification;
  window.Notification = class extends Real {
    constructor(title, options) { super(title, options); window.__notified.push({ title, body: options?.body }); }
  };
}
const realTone = AudioContext.prototype.createOscillator;
AudioContext.prototype.createOscillator = function () { window.__tones += 1; return realTone.call(this); };
"""


def test_an_alert_sounds_notifies_and_keeps_the_card_red_until_acknowledged(
        page: Page, scanner: tuple[Deck, Path]) -> None:
    deck, folder = scanner
    page.context.grant_permissions(["notifications"], origin=deck.url.rstrip("/"))
    page.add_init_script(RECORD_ALERTS)
    status = page.request.post(deck.url + "api/dicom/refs", headers={"Origin": deck.url.rstrip("/")},
                               data={"project": "Brain^Study", "sequence": "bold", "params": {"TR": 1300.0}}).status
    assert status == 200
    SeriesWriter(folder, BOLD, series=1).write()
    open_dashboard(page, deck, "#stations")
    card = page.get_by_test_id("station-AWP167046")
    expect(card).to_have_attribute("data-verdict", "ok")
    toggle = page.get_by_test_id("alerts-toggle")
    expect(toggle).to_have_text("Alerts off")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    page.reload()  # the choice is remembered (a preference of the user's, kept by the server)
    expect(page.get_by_test_id("alerts-toggle")).to_have_attribute("aria-pressed", "true")
    expect(card).to_have_attribute("data-verdict", "ok")
    assert page.evaluate("window.__notified") == []

    series = SeriesWriter(folder, BOLD, series=2)
    series.write(BOLD.changed(tr=2000.0))
    expect(card).to_have_attribute("data-alert", "yes")
    page.wait_for_function("window.__notified.length === 1")
    assert page.evaluate("window.__notified") == [
        {"title": "AWP167046: bold does not conform", "body": "TR should be 1300 ms but is 2000 ms"}]
    assert page.evaluate("window.__tones") >= 2
    SeriesWriter(folder, BOLD, series=3).write()  # the next series conforms: the card stays red
    expect(card.get_by_test_id("station-verdict")).to_have_text("conforms")
    expect(card).to_have_attribute("data-verdict", "bad")
    expect(card.get_by_test_id("station-alert")).to_contain_text("Not acknowledged: series 2 bold")
    screenshot(page, "stations-alert-unacknowledged.png")
    # The pressed toggle and the red alert read in the dark theme too.
    page.emulate_media(color_scheme="dark")
    found = contrast_violations(page, "panel-stations")
    assert not found, found
    page.emulate_media(color_scheme="light")
    card.get_by_test_id("station-ack").click()
    expect(page.get_by_test_id("toast").filter(has_text="alert acknowledged")).to_be_visible()
    expect(card).to_have_attribute("data-verdict", "ok")
    expect(card.get_by_test_id("station-alert")).to_have_count(0)
    rows = deck.capabilities["watch"].ctx.store.query_sync("SELECT station FROM dicom_acks")
    assert [r[0] for r in rows] == ["AWP167046"]
    text = page.content() + page.inner_text("body")
    for value in PATIENT.values():
        assert value not in text
