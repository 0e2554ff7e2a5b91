"""An rt-cloud script's web interface on the dashboard: a TR plotted twice is one point with
the second value (in the Plots panel and in the stored run alike), the script's clears empty
the charts, and its lines for the operator show as toasts."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import ServerFactory, open_dashboard
from tests.helpers import scaled

pytestmark = pytest.mark.browser

SCRIPT = '''\
import time
from pathlib import Path

from labdeck.compat.rtcloud import ClientInterface

webInterface = ClientInterface().webInterface


def wait_for(name):
    while not Path(name).exists():
        time.sleep(0.02)


webInterface.plotDataPoint(1, 1, 0.5)
webInterface.plotDataPoint(1, 2, 0.25)
webInterface.plotDataPoint(1, 2, 0.75)  # TR 2 again: its point moves
webInterface.plotDataPoint(2, 1, 0.125)
webInterface.userLog("classifier loaded")
webInterface.setUserError("head motion above 3 mm")
wait_for("clear-run-2")
webInterface.clearRunPlot(2)
wait_for("clear-all")
webInterface.clearAllPlots()
wait_for("done")
'''


def rest(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=scaled(10)) as reply:
        return json.load(reply)


def test_a_tr_plotted_twice_is_one_point_and_clears_and_notices_reach_the_operator(
        page: Page, servers: ServerFactory, tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(SCRIPT, encoding="utf-8")
    (tmp_path / "labdeck.toml").write_text('[scripts]\nmain = "main.py"\n', encoding="utf-8")
    deck = servers.make_deck(tmp_path / "labdeck.toml")
    deck.run_in_thread(timeout=scaled(10))
    servers.running.append(deck)
    open_dashboard(page, deck, "#run")
    page.get_by_test_id("panel-run").get_by_test_id("run-start").click()

    toasts = page.get_by_test_id("toast")
    expect(toasts.filter(has_text="classifier loaded")).to_have_count(1)
    expect(toasts.filter(has_text="head motion above 3 mm")).to_have_class("toast err")

    page.get_by_test_id("nav-plots").click()
    plots = page.get_by_test_id("panel-plots")
    run1 = plots.locator('[data-testid="plot-chart"][data-series="run 1"]')
    run2 = plots.locator('[data-testid="plot-chart"][data-series="run 2"]')
    expect(run1).to_have_attribute("data-points", "2")
    expect(run1.get_by_test_id("plot-legend")).to_contain_text("0.75")
    expect(run2).to_have_attribute("data-points", "1")
    run_id = rest(deck.url + "api/runs")["runs"][0]["id"]
    stored = rest(deck.url + f"api/runs/{run_id}/data")["series"]
    assert (stored["run 1"]["x"], stored["run 1"]["y"]) == ([1, 2], [0.5, 0.75])  # the same as the chart

    page.reload()  # what a browser that joins late draws comes from the same points
    expect(page.get_by_test_id("conn")).to_have_text("live")
    expect(run1).to_have_attribute("data-points", "2")
    expect(run1.get_by_test_id("plot-legend")).to_contain_text("0.75")

    (tmp_path / "clear-run-2").touch()
    expect(run2).to_have_attribute("data-points", "0")
    expect(run1).to_have_attribute("data-points", "2")
    (tmp_path / "clear-all").touch()
    expect(run1).to_have_attribute("data-points", "0")
    assert "run 1" not in rest(deck.url + f"api/runs/{run_id}/data")["series"]  # the store dropped them too
    (tmp_path / "done").touch()
    expect(page.get_by_test_id("run-state")).to_have_text("finished")
