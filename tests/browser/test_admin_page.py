"""The admin page, as an admin uses it: tokens, switches, maintenance, jobs, the statistics
chart and the audit log; and the same panel in the dashboard."""

from __future__ import annotations

import asyncio

import pytest
from playwright.sync_api import Page, expect

from labdeck import Deck
from tests.browser.conftest import open_dashboard, screenshot, wait_until
from tests.helpers import scaled

pytestmark = pytest.mark.browser


def on_server(deck: Deck, coro: object) -> object:
    assert deck._loop is not None
    return asyncio.run_coroutine_threadsafe(coro, deck._loop).result(scaled(10))  # type: ignore[arg-type]


def test_an_admin_revokes_a_token_switches_timing_and_runs_maintenance(page: Page, server: Deck) -> None:
    assert server.gate is not None
    on_server(server, server.gate.tokens.add("wall", "viewer"))
    page.goto(server.url + "admin")
    tokens = page.get_by_test_id("tokens")
    expect(tokens.get_by_test_id("token")).to_have_count(1)
    expect(tokens).to_contain_text("wall")
    wait_until(page, "document.querySelector('[data-testid=stats-chart] canvas') !== null", scaled(10))
    expect(page.get_by_test_id("stats-chart")).not_to_have_attribute("data-requests", "0")

    page.get_by_test_id("switch-timing").check()
    audit = page.get_by_test_id("audit")
    expect(audit.locator('[data-action="switch.timing"]')).to_have_count(1)
    assert server.admin is not None and server.admin.switches.timing is True

    page.get_by_test_id("token-revoke-wall").click()
    expect(tokens.get_by_test_id("token")).to_have_count(0)
    expect(audit.locator('[data-action="token.revoke"]')).to_have_count(1)

    page.get_by_test_id("job-run-stats").click()
    expect(page.locator('[data-testid=job][data-job=stats]')).to_contain_text("statistics rows")

    page.get_by_test_id("maintenance-message").fill("New gradient coil today")
    page.get_by_test_id("maintenance-on").click()
    expect(page.get_by_test_id("maintenance-state")).to_have_attribute("data-on", "true")
    visitor = page.context.new_page()
    visitor.goto(server.url)
    expect(visitor.get_by_test_id("error-page")).to_have_attribute("data-status", "503")
    expect(visitor.get_by_test_id("error-message")).to_have_text("New gradient coil today")
    screenshot(page, "admin-page.png")
    page.reload()  # the admin page itself keeps working in maintenance mode
    expect(page.get_by_test_id("maintenance-state")).to_have_attribute("data-on", "true")
    page.get_by_test_id("maintenance-off").click()
    expect(page.get_by_test_id("maintenance-state")).to_have_attribute("data-on", "false")
    expect(audit.locator('[data-action^="maintenance."]')).to_have_count(2)
    visitor.reload()
    expect(visitor.get_by_test_id("conn")).to_have_text("live")
    visitor.close()


def test_the_admin_panel_is_in_the_dashboard(page: Page, server: Deck) -> None:
    open_dashboard(page, server, "#admin")
    panel = page.get_by_test_id("panel-admin")
    expect(panel).to_be_visible()
    expect(panel.get_by_test_id("job")).to_have_count(5)
    expect(panel.get_by_test_id("switch-log_level")).to_be_visible()
