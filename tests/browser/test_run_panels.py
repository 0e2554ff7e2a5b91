"""The run panels as a scientist uses them: configure, run, watch the log and the plot,
reload mid-run without losing anything, stop, and find the run again in History."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from labdeck import Deck
from tests.browser.conftest import ServerFactory, open_dashboard, screenshot
from tests.helpers import scaled

pytestmark = pytest.mark.browser

TRS = 30  # the run's length in the test, set from the Settings panel (the default is 40)

SCRIPT = '''\
"""A small fMRI-like run: log lines, one classifier value per TR, progress; then it
waits for a file named by its configuration (or for Stop)."""

import sys
import time
from pathlib import Path

from labdeck import script

cfg = script.config()
trs = int(cfg["n_trs"])
print(f"session {cfg['subject']}: {trs} TRs", flush=True)
print("stimulus display not calibrated, using defaults", file=sys.stderr, flush=True)
for tr in range(trs):
    time.sleep(cfg["advanced"]["tr_seconds"])
    script.plot(tr, (tr * 7) % 11 / 10, series="classifier")
    script.progress((tr + 1) / trs, f"TR {tr + 1} of {trs}")
    print(f"TR {tr + 1:3d}  classifier {(tr * 7) % 11 / 10:.1f}", flush=True)
script.result("trs", trs)
print("waiting for the scanner to finish", flush=True)
release = Path(cfg["advanced"]["release_file"])
while not release.exists():
    time.sleep(0.05)
print("released", flush=True)
'''

BURST = '''\
"""100,000 points in chunks, as fast as the server takes them."""

from labdeck import script

for start in range(0, 100_000, 1000):
    xs = range(start, start + 1000)
    script.plot(xs, [(x % 1000) / 1000 for x in xs], series="signal")
print("plotted", flush=True)
'''

LABDECK_TOML = '''\
[scripts]
main = "scripts/main.py"
burst = "scripts/burst.py"

[run]
default_config = "run_config.toml"
grace_int = 3.0
'''

RUN_CONFIG = '''\
subject = "sub-01"
n_trs = 40
feedback = true

[advanced]
release_file = "release.flag"
tr_seconds = 0.0
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder: labdeck.toml, the default run configuration, scripts/main.py."""
    root = tmp_path / "project"
    (root / "scripts").mkdir(parents=True)
    (root / "scripts" / "main.py").write_text(SCRIPT, encoding="utf-8")
    (root / "scripts" / "burst.py").write_text(BURST, encoding="utf-8")
    (root / "run_config.toml").write_text(RUN_CONFIG, encoding="utf-8")
    (root / "labdeck.toml").write_text(LABDECK_TOML, encoding="utf-8")
    return root


@pytest.fixture
def labs(project: Path, make_deck: Callable[..., Deck]) -> Iterator[ServerFactory]:
    """Starts labdeck servers for the project; ``labs.start(server_history=3)``-style overrides."""
    factory = ServerFactory(lambda **overrides: make_deck(project / "labdeck.toml", **overrides))
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture
def lab(labs: ServerFactory) -> Deck:
    """A labdeck server for the project, serving from a background thread."""
    return labs.start()


def rest(deck: Deck, path: str) -> Any:
    with urllib.request.urlopen(deck.url + path, timeout=scaled(10)) as reply:
        return json.load(reply)


def server_log(deck: Deck, run: int) -> list[dict[str, Any]]:
    """Every line of the run's log as the server has it (REST, page by page)."""
    lines: list[dict[str, Any]] = []
    while True:
        page = rest(deck, f"api/runs/{run}/log?after={lines[-1]['n'] if lines else 0}&limit=1000")["lines"]
        if not page:
            return lines
        lines += page


def go(page: Page, panel: str) -> Locator:
    page.get_by_test_id(f"nav-{panel}").click()
    section = page.get_by_test_id(f"panel-{panel}")
    expect(section).to_be_visible()
    return section


def test_run_watch_reload_stop_and_find_in_history(page: Page, lab: Deck, project: Path) -> None:
    open_dashboard(page, lab, "#settings")
    settings = page.get_by_test_id("panel-settings")
    expect(settings.get_by_test_id("setting-subject")).to_have_value("sub-01")
    expect(settings.get_by_test_id("setting-feedback")).to_be_checked()
    advanced = settings.get_by_test_id("settings-group-advanced")
    expect(advanced.get_by_test_id("setting-advanced-release_file")).to_be_hidden()  # folded away
    settings.get_by_test_id("setting-n_trs").fill(str(TRS))
    expect(settings.get_by_test_id("settings-label")).to_have_text("edited defaults")
    screenshot(page, "run-panels-settings.png")

    run = go(page, "run")
    expect(run.get_by_test_id("run-config")).to_have_text("edited defaults")
    expect(run.get_by_test_id("run-script")).to_have_value("main")
    run.get_by_test_id("run-start").click()
    expect(run.get_by_test_id("run-state")).to_have_text("running")
    expect(run.get_by_test_id("run-start")).to_be_disabled()  # one run at a time
    expect(run.get_by_test_id("run-progress-message")).to_have_text(f"TR {TRS} of {TRS}")
    expect(run.get_by_test_id("run-progress-percent")).to_have_text("100 %")
    run_id = int(run.get_by_test_id("run-id").inner_text())
    screenshot(page, "run-panels-run.png")

    log = go(page, "log")
    lines = log.get_by_test_id("log-line")
    expect(lines.filter(has_text="waiting for the scanner")).to_have_count(1, timeout=scaled(15) * 1000)
    expect(lines.filter(has_text=f"session sub-01: {TRS} TRs")).to_have_count(1)  # the edited configuration
    expect(log.locator('[data-testid="log-line"][data-stream="stderr"]')).to_contain_text("not calibrated")
    shown = lines.count()
    assert shown == len(server_log(lab, run_id)) >= TRS + 3
    screenshot(page, "run-panels-log.png")

    plots = go(page, "plots")
    chart = plots.locator('[data-testid="plot-chart"][data-series="classifier"]')
    expect(chart).to_have_attribute("data-points", str(TRS))
    expect(chart.get_by_test_id("plot-count")).to_have_text(f"{TRS} points")
    screenshot(page, "run-panels-plots.png")

    # A reload in the middle of the run: the page comes back with everything.
    page.reload()
    expect(page.get_by_test_id("conn")).to_have_attribute("data-state", "open")
    expect(chart).to_have_attribute("data-points", str(TRS))
    log = go(page, "log")
    expect(lines.filter(has_text="waiting for the scanner")).to_have_count(1)
    expect(lines).to_have_count(len(server_log(lab, run_id)))
    assert [int(n) for n in lines.evaluate_all("rows => rows.map(r => r.dataset.n)")] == list(range(1, shown + 1))

    run = go(page, "run")
    expect(run.get_by_test_id("run-state")).to_have_text("running")
    expect(run.get_by_test_id("run-id")).to_have_text(str(run_id))
    expect(run.get_by_test_id("run-progress-percent")).to_have_text("100 %")
    expect(run.get_by_test_id("run-result")).to_contain_text(str(TRS))

    run.get_by_test_id("run-stop").click()
    expect(run.get_by_test_id("run-state")).to_have_text("stopped", timeout=scaled(15) * 1000)
    expect(run.get_by_test_id("run-start")).to_be_enabled()
    expect(run.get_by_test_id("run-stop")).to_be_disabled()

    history = go(page, "history")
    row = history.locator(f'[data-testid="history-row"][data-run="{run_id}"]')
    expect(row.get_by_test_id("history-state")).to_have_text("stopped")
    expect(row).to_contain_text("main")
    row.click()
    detail = history.get_by_test_id("history-run")
    expect(detail).to_contain_text(f"Run {run_id} · main")
    expect(detail.get_by_test_id("history-config")).to_contain_text("n_trs")
    past = history.locator('[data-testid="plot-chart"][data-series="classifier"]')
    expect(past).to_have_attribute("data-points", str(TRS))
    expect(history.get_by_test_id("history-log-line").filter(has_text="session sub-01")).to_have_count(1)
    expect(detail.get_by_test_id("history-csv")).to_have_attribute("href", f"{lab.url}api/runs/{run_id}/data.csv")
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "run-panels-history.png")


def test_a_run_that_finishes_and_a_preset(page: Page, lab: Deck, project: Path) -> None:
    (project / "release.flag").touch()  # the script ends as soon as it has plotted
    open_dashboard(page, lab, "#settings")
    settings = page.get_by_test_id("panel-settings")
    settings.get_by_test_id("setting-n_trs").fill("5")
    settings.get_by_test_id("setting-subject").fill("phantom")
    settings.get_by_test_id("settings-preset-name").fill("phantom QA")
    settings.get_by_test_id("settings-save").click()
    expect(settings.get_by_test_id("settings-label")).to_have_text("preset “phantom QA”")

    settings.get_by_test_id("settings-reset").click()
    expect(settings.get_by_test_id("setting-n_trs")).to_have_value("40")
    settings.get_by_test_id("settings-preset").select_option("phantom QA")
    settings.get_by_test_id("settings-load").click()
    expect(settings.get_by_test_id("setting-subject")).to_have_value("phantom")

    settings.get_by_test_id("setting-n_trs").fill("")
    run = go(page, "run")
    expect(run.get_by_test_id("run-config")).to_contain_text("needs fixing")
    settings = go(page, "settings")
    settings.get_by_test_id("setting-n_trs").fill("5")

    run = go(page, "run")
    run.get_by_test_id("run-start").click()
    expect(run.get_by_test_id("run-state")).to_have_text("finished", timeout=scaled(15) * 1000)
    expect(run.get_by_test_id("run-exit")).to_have_text("0")
    log = go(page, "log")
    lines = log.get_by_test_id("log-line")
    expect(lines.filter(has_text="session phantom: 5 TRs")).to_have_count(1)
    expect(lines.filter(has_text="released")).to_have_count(1)

    with page.expect_download() as download:
        log.get_by_test_id("log-download").click()
    assert download.value.suggested_filename.startswith("run-")
    saved = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    run_id = int(page.get_by_test_id("run-id").inner_text())
    assert len(saved) == len(server_log(lab, run_id))
    assert saved[-1].endswith(server_log(lab, run_id)[-1]["text"])

    log.get_by_test_id("log-filter").fill("classifier")
    expect(log.get_by_test_id("log-line")).to_have_count(5)
    log.get_by_test_id("log-errors-only").check()
    expect(log.get_by_test_id("log-line")).to_have_count(0)
    log.get_by_test_id("log-filter").fill("")
    expect(log.get_by_test_id("log-line")).to_have_count(1)

    history = go(page, "history")
    row = history.locator(f'[data-testid="history-row"][data-run="{run_id}"]')
    expect(row.get_by_test_id("history-state")).to_have_text("finished")
    row.click()
    delete = history.get_by_test_id("history-delete")
    delete.click()
    expect(delete).to_have_text(f"Delete run {run_id}?")  # asks once more
    delete.click()
    expect(row).to_have_count(0)
    expect(history.get_by_test_id("history-empty")).to_be_visible()
    with pytest.raises(urllib.error.HTTPError):
        rest(lab, f"api/runs/{run_id}")


def test_reload_when_the_channels_no_longer_hold_the_run(page: Page, labs: ServerFactory) -> None:
    # Channels keep only their last 3 messages: after a reload, the run's start must come
    # from the server's copy (REST), and the page must show it all, in order, once.
    lab = labs.start(server_history=3)
    open_dashboard(page, lab, "#settings")
    settings = page.get_by_test_id("panel-settings")
    settings.get_by_test_id("settings-group-advanced").locator("summary").click()
    settings.get_by_test_id("setting-advanced-tr_seconds").fill("0.02")
    settings.get_by_test_id("setting-n_trs").fill("60")
    run = go(page, "run")
    run.get_by_test_id("run-start").click()
    expect(run.get_by_test_id("run-progress-message")).to_have_text("TR 60 of 60", timeout=scaled(20) * 1000)
    run_id = int(run.get_by_test_id("run-id").inner_text())

    page.reload()
    expect(page.get_by_test_id("conn")).to_have_attribute("data-state", "open")
    log = go(page, "log")
    lines = log.get_by_test_id("log-line")
    expect(lines.filter(has_text="waiting for the scanner")).to_have_count(1)
    expected = server_log(lab, run_id)
    expect(lines).to_have_count(len(expected))
    assert lines.evaluate_all("rows => rows.map(r => Number(r.dataset.n))") == [line["n"] for line in expected]
    plots = go(page, "plots")
    expect(plots.locator('[data-testid="plot-chart"][data-series="classifier"]')).to_have_attribute("data-points", "60")

    go(page, "run").get_by_test_id("run-stop").click()
    expect(page.get_by_test_id("run-state")).to_have_text("stopped", timeout=scaled(15) * 1000)


def test_a_hundred_thousand_points_and_zoom(page: Page, lab: Deck) -> None:
    open_dashboard(page, lab, "#run")
    run = page.get_by_test_id("panel-run")
    run.get_by_test_id("run-script").select_option("burst")
    run.get_by_test_id("run-start").click()
    plots = go(page, "plots")
    chart = plots.locator('[data-testid="plot-chart"][data-series="signal"]')
    expect(chart).to_have_attribute("data-points", "100000", timeout=scaled(30) * 1000)
    expect(chart.get_by_test_id("plot-count")).to_have_text("100,000 points")

    # Drag across the middle of the chart to zoom in; a double-click shows everything again.
    box = chart.locator(".u-over").bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.4, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, y, steps=5)
    page.mouse.up()
    expect(chart).to_have_attribute("data-zoomed", "true")
    chart.locator(".u-over").dblclick()
    expect(chart).to_have_attribute("data-zoomed", "false")

    chart.get_by_test_id("plot-clear").click()
    expect(chart).to_have_attribute("data-points", "0")
    expect(page.get_by_test_id("run-state")).to_have_text("finished")


def test_history_routes_name_the_open_run(page: Page, lab: Deck, project: Path) -> None:
    (project / "release.flag").touch()  # each run ends as soon as it has plotted
    open_dashboard(page, lab, "#run")
    run = page.get_by_test_id("panel-run")
    ids = []
    for _ in range(2):
        run.get_by_test_id("run-start").click()
        expect(run.get_by_test_id("run-state")).to_have_text("finished", timeout=scaled(15) * 1000)
        ids.append(int(run.get_by_test_id("run-id").inner_text()))
    first, second = ids
    for width, height, name in ((1440, 900, "run-panel-wide.png"), (390, 844, "run-panel-phone.png")):
        page.set_viewport_size({"width": width, "height": height})
        screenshot(page, name)
    page.set_viewport_size({"width": 1280, "height": 860})

    # A fresh page on #history/<id> opens that run (a goto that only changes the hash
    # would stay in the same document).
    page.goto("about:blank")
    page.goto(f"{lab.url}#history/{first}")
    history = page.get_by_test_id("panel-history")
    expect(history.get_by_test_id("history-run")).to_contain_text(f"Run {first} · main")
    expect(history.locator(f'[data-testid="history-row"][data-run="{first}"]')).to_have_class("history-row selected")

    # Opening another run puts it into the address; Back goes to the one before.
    history.locator(f'[data-testid="history-row"][data-run="{second}"]').click()
    expect(page).to_have_url(f"{lab.url}#history/{second}")
    expect(history.get_by_test_id("history-run")).to_contain_text(f"Run {second} · main")
    expect(history.get_by_test_id("history-log-line").filter(has_text="released")).to_have_count(1)
    for width, height, name in ((1440, 900, "history-run-wide.png"), (390, 844, "history-run-phone.png")):
        page.set_viewport_size({"width": width, "height": height})
        page.evaluate("window.scrollTo(0, 0)")
        screenshot(page, name)
    page.set_viewport_size({"width": 1280, "height": 860})
    page.go_back()
    expect(page).to_have_url(f"{lab.url}#history/{first}")
    expect(history.get_by_test_id("history-run")).to_contain_text(f"Run {first} · main")

    history.get_by_test_id("history-close").click()
    expect(page).to_have_url(f"{lab.url}#history")
    expect(history.get_by_test_id("history-detail")).to_be_hidden()
