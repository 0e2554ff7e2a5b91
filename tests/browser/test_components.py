"""A page built from the web components alone, with no script of its own, driving exposed
objects: live values, an input bound to an attribute, buttons calling methods, a template
whose values stay text, roles, and the connection state."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from labdeck import Deck
from labdeck.demo.lab_objects import SimulatedDevice, StimulusSettings
from tests.browser.conftest import ServerFactory, screenshot, wait_until
from tests.browser.test_login import on_loop
from tests.helpers import scaled

pytestmark = pytest.mark.browser

Lab = tuple[Deck, SimulatedDevice, StimulusSettings]

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Bench</title>
<link rel="stylesheet" href="../static/style.css">
<link rel="stylesheet" href="../static/components/deck-components.css">
<script type="module" src="../static/components/deck-components.js"></script>
</head>
<body>
<deck-status data-testid="status"></deck-status>
<p>Temperature <deck-value attr="device.temperature" digits="1" unit="°C" data-testid="temp"></deck-value></p>
<p>Contrast <deck-input attr="stimulus.contrast" type="number" step="0.05" data-testid="contrast"></deck-input>
   now <deck-value attr="stimulus.contrast" data-testid="contrast-now"></deck-value></p>
<p><input id="a" type="number" value="4"> + <input id="b" type="number" value="5">
   <deck-button call="device.test_sum" inputs="a b" data-testid="sum">Add</deck-button></p>
<p><deck-button call="device.set_power" args="[80]" data-testid="power">Full power</deck-button></p>
<template id="row"><p class="row" title="[[label]]"><b>[[label]]</b>:
  <deck-value attr="[[attr]]"></deck-value> <a href="[[link]]" data-testid="row-link">more</a></p></template>
<deck-template use="row" label="Pattern" attr="stimulus.pattern" link="help.html"
  data-testid="row-pattern"></deck-template>
<deck-template use="row" label="<img src=x onerror=alert(1)>" attr="stimulus.enabled" link="javascript:alert(2)"
  data-testid="row-hostile"></deck-template>
</body>
</html>
"""


def lab_pages(tmp_path: Path, auth: str = "open", base: str = "") -> Path:
    folder = tmp_path / "lab"
    (folder / "bench").mkdir(parents=True)
    (folder / "bench" / "index.html").write_text(PAGE)
    toml = folder / "labdeck.toml"
    toml.write_text(f'[server]\nbase_path = "{base}"\n[auth]\nmode = "{auth}"\n'
                    '[pages.bench]\nfolder = "bench"\nrole = "viewer"\n')
    return toml


@pytest.fixture
def bench(servers: ServerFactory, tmp_path: Path) -> Callable[..., Lab]:
    def start(auth: str = "open", base: str = "") -> Lab:
        deck = servers.make_deck(lab_pages(tmp_path, auth, base))
        device, stimulus = SimulatedDevice(), StimulusSettings()
        deck.expose("device", device)
        deck.expose("stimulus", stimulus)
        deck.run_in_thread(timeout=scaled(10))
        servers.running.append(deck)
        return deck, device, stimulus

    return start


def test_a_page_of_components_drives_exposed_objects(page: Page, bench: Callable[..., Lab]) -> None:
    deck, device, stimulus = bench()
    page.on("dialog", lambda dialog: pytest.fail(f"a template value was run as script: {dialog.message}"))
    page.goto(deck.url + "bench/")
    expect(page.get_by_test_id("status")).to_have_attribute("data-state", "open")
    expect(page.get_by_test_id("status")).to_have_text("live")

    temp = page.get_by_test_id("temp")
    expect(temp).to_have_text("21.0 °C")
    device.temperature = 30.25  # from Python, in the test's thread
    expect(temp).to_have_text("30.3 °C")

    field = page.get_by_test_id("contrast").locator("input")
    expect(field).to_have_value("0.5")
    field.fill("0.8")
    field.press("Enter")
    expect(page.get_by_test_id("contrast-now")).to_have_text("0.8")
    assert stimulus.contrast == 0.8
    stimulus.contrast = 0.25  # a change from Python reaches the input too
    expect(field).to_have_value("0.25")

    page.get_by_test_id("sum").get_by_role("button", name="Add").click()
    expect(page.get_by_test_id("sum").locator("output")).to_have_text("9")
    page.locator("#a").fill("10")
    page.locator("#b").fill("0.5")
    page.get_by_test_id("sum").get_by_role("button").click()
    expect(page.get_by_test_id("sum").locator("output")).to_have_text("10.5")

    page.get_by_test_id("power").get_by_role("button").click()
    result = page.get_by_test_id("power").locator("output")
    expect(result).to_have_text("ValueError: power must be between 0 and 50 mW, not 80.0")
    expect(result).to_have_class("deck-result deck-result-error")

    pattern = page.get_by_test_id("row-pattern")
    expect(pattern.locator("b")).to_have_text("Pattern")
    expect(pattern.locator("deck-value")).to_have_text("grating")
    expect(pattern.get_by_test_id("row-link")).to_have_attribute("href", "help.html")
    hostile = page.get_by_test_id("row-hostile")
    expect(hostile.locator("b")).to_have_text("<img src=x onerror=alert(1)>")  # text, not an element
    expect(hostile.locator("img")).to_have_count(0)
    expect(hostile.get_by_test_id("row-link")).not_to_have_attribute("href", "javascript:alert(2)")
    assert hostile.get_by_test_id("row-link").get_attribute("href") is None
    expect(hostile.locator("deck-value")).to_have_text("true")
    screenshot(page, "components-page.png")


def test_the_connection_state_shows_on_every_component(page: Page, bench: Callable[..., Lab],
                                                       servers: ServerFactory) -> None:
    deck, _, _ = bench()
    page.goto(deck.url + "bench/")
    expect(page.get_by_test_id("temp")).to_have_attribute("conn", "open")
    expect(page.get_by_test_id("sum").get_by_role("button")).to_be_enabled()
    servers.stop(deck)
    expect(page.get_by_test_id("status")).to_have_attribute("data-state", "reconnecting")
    expect(page.get_by_test_id("temp")).to_have_attribute("conn", "reconnecting")
    expect(page.get_by_test_id("temp")).to_have_attribute("title",
                                                          "not connected (reconnecting): the value may be stale")
    expect(page.get_by_test_id("sum").get_by_role("button")).to_be_disabled()
    expect(page.get_by_test_id("contrast").locator("input")).to_be_disabled()


def test_a_viewer_sees_the_values_and_the_controls_disabled_with_the_reason(page: Page,
                                                                           bench: Callable[..., Lab]) -> None:
    deck, _, stimulus = bench("login")
    assert deck.gate is not None
    on_loop(deck, deck.gate.users.add("vera", "viewer", "correct horse battery"))
    page.goto(deck.url + "bench/")  # sent to the login form first
    page.get_by_test_id("login-user").fill("vera")
    page.get_by_test_id("login-password").fill("correct horse battery")
    page.get_by_test_id("login-submit").click()
    expect(page).to_have_url(deck.url + "bench/")
    expect(page.get_by_test_id("temp")).to_have_text("21.0 °C")
    button = page.get_by_test_id("sum").get_by_role("button")
    expect(button).to_be_disabled()
    expect(page.get_by_test_id("sum")).to_have_attribute("why", "needs the operator role (you are viewer)")
    expect(page.get_by_test_id("sum").get_by_test_id("deck-button-why")).to_have_text(
        "needs the operator role (you are viewer)")
    expect(page.get_by_test_id("contrast").locator("input")).to_be_disabled()
    expect(page.get_by_test_id("contrast").locator("input")).to_have_value("0.5")
    wait_until(page, "document.querySelector('[data-testid=contrast]').hasAttribute('disabled')", scaled(5))
    assert stimulus.contrast == 0.5


def test_the_components_work_under_a_base_path(page: Page, bench: Callable[..., Lab]) -> None:
    deck, device, _ = bench(base="/lab")
    assert deck.url.endswith("/lab/")
    page.goto(deck.url + "bench/")
    expect(page.get_by_test_id("status")).to_have_attribute("data-state", "open")
    device.temperature = 25.0
    expect(page.get_by_test_id("temp")).to_have_text("25.0 °C")
    page.get_by_test_id("sum").get_by_role("button").click()
    expect(page.get_by_test_id("sum").locator("output")).to_have_text("9")
