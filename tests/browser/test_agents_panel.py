"""A remote agent as the dashboard shows it: connected, its files in the Incoming panel as
they land on the scanner PC, its card on the Overview (last file, backlog), and not
connected once it stops."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from labdeck import Deck
from labdeck.demo.dicom_series import PATIENT, Protocol, SeriesWriter
from tests.browser.conftest import AXE, ServerFactory, open_dashboard, screenshot
from tests.browser.test_scan_day import PHONE, WIDE
from tests.helpers import scaled

pytestmark = pytest.mark.browser

SRC = Path(__file__).resolve().parents[2] / "src"


@contextmanager
def lab_with_agent(make_deck: Callable[..., Deck],
                   tmp_path: Path) -> Iterator[tuple[Deck, Path, subprocess.Popen[str]]]:
    """A server watching nothing itself and a real ``labdeck agent`` named scanpc watching
    ``scans/`` (DICOM) for it: ``(deck, scans, agent)`` once the agent is connected."""
    config = tmp_path / "labdeck.toml"
    config.write_text(f'[server]\ndata = "{tmp_path / "data"}"\n\n[watch]\n')
    factory = ServerFactory(make_deck)
    agent: subprocess.Popen[str] | None = None
    log = (tmp_path / "agent.log").open("w")
    try:
        deck = factory.start(config=config)
        env = {**os.environ, "PYTHONPATH": str(SRC)}
        added = subprocess.run([sys.executable, "-m", "labdeck", "token", "add", "scanner-pc", "--role", "operator",
                                "--config", str(config)], env=env, capture_output=True, text=True, check=True,
                               timeout=scaled(30))
        env["LABDECK_TOKEN"] = added.stdout.split()[0]
        scans = tmp_path / "scans"
        scans.mkdir()
        agent = subprocess.Popen([sys.executable, "-m", "labdeck", "agent", "--server", deck.url, "--watch",
                                  f"{scans}:dicom", "--name", "scanpc", "--data", str(tmp_path / "agent")],
                                 env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + scaled(20)
        while not any(a["connected"] for a in _agents(deck)):
            assert time.monotonic() < deadline and agent.poll() is None, (tmp_path / "agent.log").read_text()
            time.sleep(0.1)
        yield deck, scans, agent
    finally:
        if agent is not None and agent.poll() is None:
            agent.kill()
            agent.wait()
        log.close()
        factory.stop_all()


def _agents(deck: Deck) -> list[dict[str, object]]:
    with urllib.request.urlopen(deck.url + "api/agents", timeout=scaled(10)) as reply:
        agents: list[dict[str, object]] = json.load(reply)["agents"]
    return agents


def test_the_incoming_panel_shows_an_agent_and_its_files(page: Page, make_deck: Callable[..., Deck],
                                                         tmp_path: Path) -> None:
    with lab_with_agent(make_deck, tmp_path) as (deck, scans, agent):
        expect.set_options(timeout=scaled(15) * 1000)
        open_dashboard(page, deck, "#incoming")
        row = page.get_by_test_id("agent-scanpc")
        expect(row).to_have_attribute("data-state", "connected")
        SeriesWriter(scans, Protocol("bold")).write()
        files = page.get_by_test_id("incoming-scanpc.scans").get_by_test_id("incoming-list").locator("li")
        expect(files).to_have_count(1)
        expect(files.first).to_contain_text("001_bold/MR.001.00001.dcm")
        screenshot(page, "incoming-agent.png")
        agent.send_signal(signal.SIGINT)
        agent.wait(scaled(10))
        expect(row).to_have_attribute("data-state", "disconnected")
        text = page.content() + page.inner_text("body")
        assert not any(value in text for value in PATIENT.values())


def test_the_overview_has_a_card_of_the_agents(browser: Browser, make_deck: Callable[..., Deck],
                                              tmp_path: Path) -> None:
    with lab_with_agent(make_deck, tmp_path) as (deck, scans, agent):
        expect.set_options(timeout=scaled(15) * 1000)
        series = SeriesWriter(scans, Protocol("bold"))
        for size, name in ((WIDE, "wide"), (PHONE, "phone")):
            context = browser.new_context(viewport=size, color_scheme="dark" if name == "phone" else "light")
            try:
                page = context.new_page()
                open_dashboard(page, deck)  # the Overview
                card = page.locator('[data-testid="overview-summary"][data-panel="incoming"]')
                expect(card.get_by_role("heading")).to_have_text("Agents")
                row = card.get_by_test_id("agents-summary").locator('li[data-agent="scanpc"]')
                expect(row).to_have_attribute("data-state", "connected")
                expect(row.locator(".badge")).to_have_text("connected")
                path = series.write().relative_to(scans).as_posix()
                expect(row.get_by_test_id("agent-last-file")).to_contain_text(path)
                expect(row.get_by_test_id("agent-backlog")).to_have_text("queue empty")
                wide = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
                assert wide <= 0, f"the Overview at {size['width']} px is {wide} px too wide"
                page.evaluate(AXE.read_text(encoding="utf-8"))
                found = page.evaluate("""async () => (await axe.run(document, {resultTypes: ["violations"]}))
                    .violations.map(v => `${v.id}: ${v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", ")}`)""")
                assert not found, f"the Overview at {size['width']} px: {found}"
                screenshot(page, f"overview-agents-{name}.png")
            finally:
                context.close()
        page = browser.new_page()
        try:
            open_dashboard(page, deck)
            row = page.get_by_test_id("agents-summary").locator('li[data-agent="scanpc"]')
            expect(row).to_have_attribute("data-state", "connected")
            agent.send_signal(signal.SIGINT)
            agent.wait(scaled(10))
            expect(row).to_have_attribute("data-state", "disconnected")
            expect(row.locator(".badge")).to_have_text("not connected")
        finally:
            page.close()
