"""What a person sees in the dashboard: the shell, the connection pill, the channel inspector."""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, Page, expect

from labdeck import Deck
from tests.browser.conftest import ServerFactory, open_dashboard, screenshot

pytestmark = pytest.mark.browser


def row(page: Page, ch: str) -> Locator:
    """The channel inspector's row of ``ch``."""
    return page.locator(f'[data-testid="channel-row"][data-ch="{ch}"]')


def test_dashboard_loads_and_goes_live(page: Page, server: Deck) -> None:
    open_dashboard(page, server)
    expect(page.get_by_test_id("brand")).to_have_text("labdeck")
    # The first panel in the navigation, the Overview, opens by default; a hash opens another.
    expect(page).to_have_title("Overview · labdeck")
    expect(page.get_by_test_id("panel-overview")).to_be_visible()
    expect(page.get_by_test_id("nav-channels")).to_have_text("Channels")
    page.get_by_test_id("nav-channels").click()
    expect(page).to_have_title("Channels · labdeck")
    expect(page.get_by_test_id("panel-channels")).to_be_visible()
    expect(page.get_by_test_id("panel-overview")).to_be_hidden()


def test_published_message_appears_in_channel_inspector(page: Page, server: Deck) -> None:
    server.publish("lab/pressure", 1013.2)  # before the page: shown from the retained value
    open_dashboard(page, server, "#channels")
    expect(row(page, "lab/pressure").get_by_test_id("channel-last")).to_have_text("1013.2")

    server.publish("lab/temp", {"celsius": 21.5, "sensor": "bore"})
    temp = row(page, "lab/temp")
    expect(temp.get_by_test_id("channel-last")).to_contain_text('"celsius": 21.5')
    expect(temp.get_by_test_id("channel-seq")).to_have_text("1")
    stream = page.get_by_test_id("live-message")
    expect(stream.filter(has_text="lab/temp").first).to_contain_text('"sensor":"bore"')

    server.publish("lab/temp", {"celsius": 21.7, "sensor": "bore"})
    expect(temp.get_by_test_id("channel-last")).to_contain_text('"celsius": 21.7')
    expect(temp.get_by_test_id("channel-seq")).to_have_text("2")
    expect(stream.first).to_contain_text("21.7")  # newest first


def test_filter_and_pause_the_live_stream(page: Page, server: Deck) -> None:
    server.publish("lab/temp", 20.5)
    server.publish("scanner/state", "idle")
    open_dashboard(page, server, "#channels")
    stream = page.get_by_test_id("live-message")
    # the current value of each channel: run/status (the idle runner), lab/temp,
    # scanner/state, and hub/channels (whose last announcement was scanner/state)
    expect(stream).to_have_count(4)

    page.get_by_test_id("live-filter").fill("scanner")
    expect(stream).to_have_count(2)
    expect(stream.filter(has_text="lab/temp")).to_have_count(0)

    page.get_by_test_id("live-pause").click()
    server.publish("scanner/state", "scanning")
    expect(page.get_by_test_id("live-status")).to_have_text("paused · 1 new")
    expect(row(page, "scanner/state").get_by_test_id("channel-last")).to_have_text('"scanning"')
    expect(stream).to_have_count(2)  # the table keeps updating; the stream holds still

    page.get_by_test_id("live-pause").click()
    expect(stream).to_have_count(3)
    expect(stream.first).to_contain_text('"scanning"')

    page.get_by_test_id("live-filter").fill("")
    expect(stream).to_have_count(5)

    row(page, "lab/temp").get_by_role("button", name="lab/temp").click()  # a channel name filters
    expect(stream).to_have_count(1)
    expect(page.get_by_test_id("live-filter")).to_have_value("lab/temp")


def test_page_reconnects_to_a_restarted_server(page: Page, servers: ServerFactory) -> None:
    first = servers.start()
    open_dashboard(page, first, "#channels")
    first.publish("lab/temp", {"celsius": 20.25})
    expect(row(page, "lab/temp").get_by_test_id("channel-last")).to_contain_text("20.25")

    port = first.port
    servers.stop(first)
    pill = page.get_by_test_id("conn")
    expect(pill).to_have_text("reconnecting…")
    expect(pill).to_have_attribute("data-state", "reconnecting")

    second = servers.start(server_port=port)
    second.publish("lab/temp", {"celsius": 23.5})
    second.publish("lab/humidity", 41)
    expect(pill).to_have_text("live")
    # The new server numbers from 1 again under a new epoch: the page must not skip it.
    expect(row(page, "lab/temp").get_by_test_id("channel-last")).to_contain_text("23.5")
    expect(row(page, "lab/temp").get_by_test_id("channel-seq")).to_have_text("1")
    expect(row(page, "lab/humidity").get_by_test_id("channel-last")).to_have_text("41")
    expect(page.get_by_test_id("toast").filter(has_text="connection restored")).to_be_visible()


def test_dashboard_under_a_base_path(page: Page, servers: ServerFactory) -> None:
    deck = servers.start(server_base_path="/lab")
    assert deck.url.endswith("/lab/")
    deck.publish("lab/temp", 19.5)
    page.goto(deck.url.removesuffix("/") + "#channels")  # the server redirects /lab to /lab/
    expect(page.get_by_test_id("conn")).to_have_text("live")
    assert page.url == deck.url + "#channels"
    expect(row(page, "lab/temp").get_by_test_id("channel-last")).to_have_text("19.5")
    deck.publish("lab/temp", 19.75)
    expect(row(page, "lab/temp").get_by_test_id("channel-last")).to_have_text("19.75")


def test_unknown_hash_shows_the_first_panel(page: Page, server: Deck) -> None:
    open_dashboard(page, server, "#no-such-panel")
    expect(page.get_by_test_id("panel-overview")).to_be_visible()
    expect(page.get_by_test_id("nav-overview")).to_have_attribute("aria-current", "page")


def test_screenshots_of_a_busy_dashboard(page: Page, server: Deck) -> None:
    server.publish("scanner/state", {"station": "MRC35343", "series": 7, "sequence": "ep2d_bold", "running": True})
    server.publish("lab/temp", {"celsius": 21.5, "sensor": "bore"})
    server.publish("lab/pressure", 1013.2)
    server.publish("rig/left/status", {"state": "running", "trial": 112, "reward_ul": 3.0, "licks": [0.12, 0.5, 0.81]})
    for i in range(12):
        server.publish("demo/sine", round(i * 0.26, 3))
    open_dashboard(page, server, "#channels")
    expect(page.get_by_test_id("channel-row")).to_have_count(7)  # hub/channels and run/status included
    expect(page.get_by_test_id("live-message")).to_have_count(7)  # the retained values
    screenshot(page, "dashboard.png")

    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.get_by_test_id("nav")).to_be_visible()
    screenshot(page, "dashboard-phone.png")
