"""A remote agent as the dashboard shows it: connected, its files in the Incoming panel as
they land on the scanner PC, and not connected once it stops."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from labdeck import Deck
from labdeck.demo.dicom_series import PATIENT, Protocol, SeriesWriter
from tests.browser.conftest import ServerFactory, open_dashboard, screenshot
from tests.helpers import scaled

pytestmark = pytest.mark.browser

SRC = Path(__file__).resolve().parents[2] / "src"


def test_the_incoming_panel_shows_an_agent_and_its_files(page: Page, make_deck: Callable[..., Deck],
                                                         tmp_path: Path) -> None:
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
        expect.set_options(timeout=scaled(15) * 1000)
        deadline = time.monotonic() + scaled(20)
        while not any(a["connected"] for a in page.request.get(deck.url + "api/agents").json()["agents"]):
            assert time.monotonic() < deadline and agent.poll() is None, (tmp_path / "agent.log").read_text()
            time.sleep(0.1)
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
    finally:
        if agent is not None and agent.poll() is None:
            agent.kill()
            agent.wait()
        log.close()
        factory.stop_all()
