"""The Objects panel: exposed Python objects as live forms in the dashboard."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from labdeck import Deck
from labdeck.demo.lab_objects import SimulatedDevice, StimulusSettings
from tests.browser.conftest import open_dashboard, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture
def lab(server: Deck) -> tuple[Deck, SimulatedDevice, StimulusSettings]:
    device, stimulus = SimulatedDevice(), StimulusSettings()
    server.expose("device", device)
    server.expose("stimulus", stimulus)
    return server, device, stimulus


def test_call_a_method_and_see_a_python_change_live(
    page: Page, lab: tuple[Deck, SimulatedDevice, StimulusSettings]
) -> None:
    deck, device, _ = lab
    open_dashboard(page, deck, "#objects")
    expect(page.get_by_test_id("object-device")).to_be_visible()
    expect(page.get_by_test_id("object-stimulus")).to_be_visible()

    page.get_by_test_id("arg-device.test_sum.a").fill("4")
    page.get_by_test_id("arg-device.test_sum.b").fill("5")
    page.get_by_test_id("call-device.test_sum").click()
    expect(page.get_by_test_id("result-device.test_sum")).to_have_text("→ 9")

    temperature = page.get_by_test_id("value-device.temperature")
    expect(temperature).to_have_text("21")
    device.temperature = 30.5  # from Python, in the test's thread
    expect(temperature).to_have_text("30.5")

    page.get_by_test_id("call-device.set_power").click()  # a required argument left empty
    expect(page.get_by_test_id("result-device.set_power")).to_have_text("argument mw is required")
    page.get_by_test_id("arg-device.set_power.mw").fill("80")
    page.get_by_test_id("call-device.set_power").click()
    expect(page.get_by_test_id("result-device.set_power")).to_have_text(
        "ValueError: power must be between 0 and 50 mW, not 80.0"
    )
    expect(page.get_by_test_id("call-device.factory_reset")).to_have_count(0)
    screenshot(page, "objects-panel.png")


def test_set_an_attribute_from_the_panel(page: Page, lab: tuple[Deck, SimulatedDevice, StimulusSettings]) -> None:
    deck, _, stimulus = lab
    open_dashboard(page, deck, "#objects")
    page.get_by_test_id("input-stimulus.contrast").fill("0.8")
    page.get_by_test_id("set-stimulus.contrast").click()
    expect(page.get_by_test_id("value-stimulus.contrast")).to_have_text("0.8")  # pushed back on obj/...
    assert stimulus.contrast == 0.8

    page.get_by_test_id("input-stimulus.enabled").uncheck()
    page.get_by_test_id("set-stimulus.enabled").click()
    expect(page.get_by_test_id("value-stimulus.enabled")).to_have_text("false")
    assert stimulus.enabled is False


def test_the_js_proxy_reaches_the_same_objects(page: Page, lab: tuple[Deck, SimulatedDevice, StimulusSettings]) -> None:
    deck, device, stimulus = lab
    open_dashboard(page, deck, "#objects")
    result = page.evaluate(
        """async () => {
            const deck = globalThis.labdeck.deck;
            const sum = await deck.obj.device.test_sum(4, 5);
            const contrast = await deck.obj.stimulus.contrast;
            let error = null;
            try { await deck.obj.device.nothing(); } catch (err) { error = [err.type, err.message]; }
            await deck.set(["stimulus", "pattern"], "checkerboard");
            return { sum, contrast, error };
        }"""
    )
    assert result == {"sum": 9, "contrast": 0.5, "error": ["NotFound", "'device.nothing' does not exist"]}
    assert stimulus.pattern == "checkerboard"
    expect(page.get_by_test_id("value-stimulus.pattern")).to_have_text('"checkerboard"')
    assert device.state == "ready"


def test_the_labs_objects_come_before_labdecks_built_ins(
    page: Page, lab: tuple[Deck, SimulatedDevice, StimulusSettings]
) -> None:
    open_dashboard(page, lab[0], "#objects")
    cards = page.locator(".object-card")
    expect(cards).to_have_count(3)
    expect(cards.last).to_have_attribute("data-testid", "object-runner")
    assert {cards.nth(i).get_attribute("data-testid") for i in range(2)} == {"object-device", "object-stimulus"}
    runner = page.get_by_test_id("object-runner")
    expect(runner).to_contain_text("built into labdeck")
    run_button = runner.get_by_role("button", name="run()")
    expect(run_button).to_be_hidden()  # folded until asked for
    runner.get_by_text("Show its methods").click()
    expect(run_button).to_be_visible()
