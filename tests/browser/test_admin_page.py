"""The admin page, as an admin uses it: tokens, switches, maintenance, jobs, the statistics
chart and the audit log; and the same panel in the dashboard."""

from __future__ import annotations

import asyncio

import pytest
from playwright.sync_api import Page, expect

from labdeck import Deck
from tests.browser.conftest import ServerFactory, open_dashboard, screenshot, wait_until
from tests.helpers import scaled

PASSWORD = "correct horse battery"

pytestmark = pytest.mark.browser


def on_server(deck: Deck, coro: object) -> object:
    assert deck._loop is not None
    return asyncio.run_coroutine_threadsafe(coro, deck._loop).result(scaled(10))  # type: ignore[arg-type]


def log_in(page: Page, user: str, password: str = PASSWORD) -> None:
    page.get_by_test_id("login-user").fill(user)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()


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


def test_an_admin_adds_a_user_changes_the_role_sets_the_password_and_deletes_them(
        page: Page, servers: ServerFactory) -> None:
    deck = servers.start(auth_mode="login")
    assert deck.gate is not None
    on_server(deck, deck.gate.users.add("ada", "admin", PASSWORD))
    page.goto(deck.url + "admin")
    log_in(page, "ada")
    users = page.get_by_test_id("users")
    expect(users.get_by_test_id("user")).to_have_count(1)

    page.get_by_test_id("user-add-name").fill("bea")
    page.get_by_test_id("user-add-role").select_option("operator")
    page.get_by_test_id("user-add-password").fill("a first password")
    page.get_by_test_id("user-add").click()
    expect(users.get_by_test_id("user")).to_have_count(2)
    expect(page.get_by_test_id("user-role-bea")).to_have_value("operator")

    page.get_by_test_id("user-role-bea").select_option("viewer")
    audit = page.get_by_test_id("audit")
    expect(audit.locator('[data-action="user.role"]')).to_have_count(1)
    page.get_by_test_id("user-password-bea").fill("a second password")
    page.get_by_test_id("user-password-set-bea").click()
    expect(audit.locator('[data-action="user.password"]')).to_have_count(1)
    assert [(u.name, u.role) for u in on_server(deck, deck.gate.users.list())] == [  # type: ignore[attr-defined]
        ("ada", "admin"), ("bea", "viewer")]

    bea = page.context.browser.new_context()  # type: ignore[union-attr]
    try:
        other = bea.new_page()
        other.goto(deck.url)
        log_in(other, "bea", "a second password")
        expect(other.get_by_test_id("conn")).to_have_text("live")
        page.get_by_test_id("user-delete-bea").click()
        page.get_by_test_id("user-delete-bea").click()  # the second press confirms
        expect(users.get_by_test_id("user")).to_have_count(1)
        expect(audit.locator('[data-action="user.delete"]')).to_have_count(1)
        expect(other).to_have_title("Log in · labdeck")  # her websocket closed at once, her session is gone
    finally:
        bea.close()

    page.get_by_test_id("user-role-ada").select_option("operator")  # the last admin
    expect(page.get_by_test_id("toasts")).to_contain_text("last admin")
    expect(page.get_by_test_id("user-role-ada")).to_have_value("admin")
