"""The dashboard a lab leaves open on scan day, in the demo lab, at a desktop's 1440x900
and a phone's 390x844: the Overview showing a live run's plot and log together, no panel
wider than the screen, follow mode that survives a panel switch and a reload, Overview cards
chosen per user, settings that survive a reload, Run disabled with its reason, charts with
units, export and downsampling, History's filters and comparison, keyboard navigation, and
an accessibility check (axe-core) of every panel in the light and the dark theme."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from labdeck import Deck
from labdeck.demo import build_demo
from tests.browser.conftest import open_dashboard, screenshot, wait_until
from tests.helpers import runner_of, scaled

pytestmark = pytest.mark.browser

T = TypeVar("T")
AXE = Path(__file__).resolve().parents[2] / "ui" / "node_modules" / "axe-core" / "axe.min.js"
WIDE = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
PASSWORD = "correct horse battery"


def on_loop(deck: Deck, work: Coroutine[Any, Any, T]) -> T:
    """Run ``work`` on the deck's event loop (it serves from another thread) and wait for it."""
    assert deck._loop is not None
    return asyncio.run_coroutine_threadsafe(work, deck._loop).result(scaled(20))


def start_demo(data: Path, **overrides: Any) -> Deck:
    deck = build_demo(port=0, data=str(data))
    for key, value in overrides.items():
        section, _, name = key.partition("_")
        setattr(getattr(deck.config, section), name, value)
    deck.run_in_thread(timeout=scaled(10))
    return deck


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Deck]:
    """The demo lab, serving from a background thread."""
    deck = start_demo(tmp_path / "demo")
    try:
        yield deck
    finally:
        deck.shutdown()
        deck.join(scaled(10))


def run_main(deck: Deck, trs: int, tr: float = 0.05, **config: Any) -> int:
    """Start the demo's main script at a quick pace; the run id."""
    runner = runner_of(deck)
    return on_loop(deck, runner.run("main", {**runner.default_config(), "tr": tr, "trs": trs, **config}))


def panels_of(page: Page) -> list[str]:
    nav = page.get_by_test_id("nav")
    expect(nav.locator("a").first).to_be_visible()
    ids: list[str] = nav.locator("a").evaluate_all("links => links.map(a => a.dataset.testid.slice(4))")
    return ids


def show(page: Page, panel: str) -> None:
    page.evaluate(f"location.hash = {json.dumps('#' + panel)}")
    expect(page.get_by_test_id(f"panel-{panel}")).to_be_visible()
    expect(page.get_by_test_id(f"panel-{panel}")).to_have_attribute("data-state", "ready")


def test_the_overview_shows_a_live_runs_plot_and_log_together(page: Page, demo: Deck) -> None:
    run = run_main(demo, trs=400)
    for size, name in ((WIDE, "wide"), (PHONE, "phone")):
        page.set_viewport_size(size)
        open_dashboard(page, demo)  # the landing page is the Overview
        overview = page.get_by_test_id("panel-overview")
        expect(overview).to_be_visible()
        expect(overview.get_by_test_id("overview-run-state")).to_have_text("running")
        chart = overview.locator('[data-testid="plot-chart"][data-series="classifier"]')
        expect(chart).to_be_visible()
        first = int(chart.get_attribute("data-points") or 0)
        log = overview.get_by_test_id("overview-log").get_by_test_id("log-line")
        expect(log.filter(has_text="evidence").first).to_be_visible()
        # Both keep moving while the run goes on.
        expect(chart).not_to_have_attribute("data-points", str(first), timeout=scaled(10) * 1000)
        percent = overview.get_by_test_id("overview-run-progress-percent")
        expect(percent).not_to_have_text("\u2013")  # a percentage, not the dash of none
        plots_box = overview.get_by_test_id("overview-card-plots").bounding_box()
        log_box = overview.get_by_test_id("overview-card-log").bounding_box()
        assert plots_box and log_box
        if name == "wide":  # side by side
            assert abs(plots_box["y"] - log_box["y"]) < 2 and log_box["x"] > plots_box["x"] + plots_box["width"] - 1
        else:  # stacked, each the screen's width
            assert log_box["y"] >= plots_box["y"] + plots_box["height"] - 1
        # The motion series carries its unit: on the axis and beside the live value.
        motion = overview.locator('[data-testid="plot-chart"][data-series="motion"]')
        expect(motion.get_by_test_id("plot-value")).to_contain_text("mm")
        # The stations and the rigs each have their card, live.
        expect(overview.locator('[data-testid="overview-summary"][data-panel="stations"]')).to_have_count(1)
        expect(overview.get_by_test_id("rigs-summary").locator("li")).to_have_count(2)
        expect(overview.get_by_test_id("stations-summary").locator("li").first).to_be_visible(timeout=scaled(15) * 1000)
        screenshot(page, f"overview-{name}.png")
    on_loop(demo, runner_of(demo).stop())
    expect(page.get_by_test_id("panel-overview").get_by_test_id("overview-run-state")).to_have_text(
        "stopped", timeout=scaled(15) * 1000)
    assert run == 1


def test_no_panel_is_wider_than_the_screen(page: Page, demo: Deck) -> None:
    run_main(demo, trs=200)
    for size, name in ((WIDE, "wide"), (PHONE, "phone")):
        page.set_viewport_size(size)
        open_dashboard(page, demo)
        for panel in panels_of(page):
            show(page, panel)
            page.wait_for_timeout(300)  # charts and lists fill in
            wide = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert wide <= 0, f"{panel} at {size['width']} px is {wide} px too wide"
            # A wide table scrolls inside its own box, never the page.
            for table in page.get_by_test_id(f"panel-{panel}").locator("table").all():
                if table.is_visible():
                    scroller = table.evaluate("t => getComputedStyle(t.parentElement).overflowX")
                    box = table.evaluate("t => t.parentElement.getBoundingClientRect().right")
                    assert scroller in ("auto", "scroll") or box <= size["width"], (panel, scroller)
            if name == "phone":
                # The navigation scrolls and shows the panel that is open.
                link = page.get_by_test_id(f"nav-{panel}").bounding_box()
                assert link and link["x"] >= 0 and link["x"] + link["width"] <= size["width"] + 1, panel
        show(page, "overview")
        screenshot(page, f"overview-narrow-check-{name}.png")


def test_objects_lay_out_attributes_in_rows_on_a_phone(page: Page, demo: Deck) -> None:
    page.set_viewport_size(PHONE)
    open_dashboard(page, demo, "#objects")
    objects = page.get_by_test_id("panel-objects")
    # The lab's own objects counted apart from labdeck's runner, stations and rigs.
    expect(objects.get_by_test_id("objects-count")).to_have_text(re.compile(r"^\d+ of the lab's own · 3 built in$"))
    row = objects.get_by_test_id("input-stimulus.contrast")
    expect(row).to_be_visible()
    box = row.bounding_box()
    assert box is not None and box["height"] < 60, box  # an input, not a 200 px column
    label = objects.locator(".obj-attr", has=page.get_by_test_id("value-stimulus.contrast"))
    assert (label.bounding_box() or {"height": 999})["height"] < 110
    screenshot(page, "objects-phone.png")


def test_follow_mode_survives_a_panel_switch_and_a_reload(page: Page, demo: Deck) -> None:
    run_main(demo, trs=600, tr=0.03)
    open_dashboard(page, demo, "#log")
    log = page.get_by_test_id("panel-log")
    view = log.get_by_test_id("log-view")
    expect(log.get_by_test_id("log-line").nth(40)).to_be_attached()
    follow = log.get_by_test_id("log-follow")
    expect(follow).to_have_attribute("aria-pressed", "true")

    def at_bottom() -> bool:
        return bool(view.evaluate("v => v.scrollTop + v.clientHeight >= v.scrollHeight - 40"))

    assert at_bottom()
    show(page, "plots")
    page.wait_for_timeout(500)  # lines keep coming meanwhile
    show(page, "log")
    page.wait_for_timeout(200)
    assert at_bottom(), "back on the Log panel, the newest line is in view"

    # Scrolling up stops following and offers the way back; the choice holds over a reload.
    view.evaluate("v => { v.scrollTop = 0; v.dispatchEvent(new Event('scroll')); }")
    expect(follow).to_have_attribute("aria-pressed", "false")
    expect(log.get_by_test_id("log-latest")).to_be_visible()
    saved = "fetch('api/prefs').then(r => r.json()).then(b => b.prefs['log.follow'] === false)"
    wait_until(page, saved, scaled(10))  # the preference is on the server
    page.reload()
    expect(page.get_by_test_id("conn")).to_have_text("live")
    log = page.get_by_test_id("panel-log")
    expect(log.get_by_test_id("log-follow")).to_have_attribute("aria-pressed", "false")
    log.get_by_test_id("log-latest").click()
    expect(log.get_by_test_id("log-follow")).to_have_attribute("aria-pressed", "true")
    page.wait_for_timeout(300)
    assert bool(log.get_by_test_id("log-view").evaluate("v => v.scrollTop + v.clientHeight >= v.scrollHeight - 40"))

    # The count follows the filter; search marks matches without hiding the rest.
    log.get_by_test_id("log-filter").fill("registered")
    expect(log.get_by_test_id("log-count")).to_contain_text(" of ")
    shown = log.get_by_test_id("log-line").count()
    assert shown and all("registered" in t for t in log.get_by_test_id("log-line").all_inner_texts())
    log.get_by_test_id("log-filter").fill("")
    log.get_by_test_id("log-search").fill("TR   5:")
    log.get_by_test_id("log-search").press("Enter")
    expect(log.get_by_test_id("log-search-count")).to_have_text("1/1")
    expect(log.locator(".log-line.hit.current")).to_contain_text("TR   5:")
    expect(log.get_by_test_id("log-follow")).to_have_attribute("aria-pressed", "false")
    on_loop(demo, runner_of(demo).stop())


def test_overview_cards_are_each_users_own(browser: Browser, tmp_path: Path) -> None:
    deck = start_demo(tmp_path / "demo", auth_mode="login")
    contexts: list[BrowserContext] = []
    try:
        assert deck.gate is not None
        on_loop(deck, deck.gate.users.add("vera", "viewer", PASSWORD))
        on_loop(deck, deck.gate.users.add("otto", "operator", PASSWORD))

        def logged_in(user: str) -> Page:
            context = browser.new_context(viewport=WIDE)
            contexts.append(context)
            page = context.new_page()
            page.goto(deck.url)
            page.get_by_test_id("login-user").fill(user)
            page.get_by_test_id("login-password").fill(PASSWORD)
            page.get_by_test_id("login-submit").click()
            expect(page.get_by_test_id("conn")).to_have_text("live")
            expect(page.get_by_test_id("panel-overview")).to_be_visible()
            return page

        vera = logged_in("vera")
        overview = vera.get_by_test_id("panel-overview")
        overview.get_by_test_id("overview-choose").locator("summary").click()
        overview.locator('[data-testid="overview-option"][data-card="log"]').uncheck()
        expect(overview.get_by_test_id("overview-card-log")).to_be_hidden()
        wait_until(vera, "fetch('api/prefs').then(r => r.json()).then(b => "
                   "(b.prefs['overview.cards.hidden'] ?? []).includes('log'))", scaled(10))

        elsewhere = logged_in("vera")  # another browser, the same user
        expect(elsewhere.get_by_test_id("panel-overview").get_by_test_id("overview-card-plots")).to_be_visible()
        expect(elsewhere.get_by_test_id("panel-overview").get_by_test_id("overview-card-log")).to_be_hidden()
        otto = logged_in("otto")
        expect(otto.get_by_test_id("panel-overview").get_by_test_id("overview-card-log")).to_be_visible()
    finally:
        for context in contexts:
            context.close()
        deck.shutdown()
        deck.join(scaled(10))


def test_settings_survive_a_reload_and_block_run_with_the_reason(page: Page, demo: Deck) -> None:
    open_dashboard(page, demo, "#settings")
    settings = page.get_by_test_id("panel-settings")
    settings.get_by_test_id("setting-subject").fill("sub-42")
    settings.get_by_test_id("setting-trs").fill("")  # not a number: invalid
    show(page, "run")
    run = page.get_by_test_id("panel-run")
    expect(run.get_by_test_id("run-start")).to_be_disabled()
    expect(run.get_by_test_id("run-blocked")).to_contain_text("trs: a number is expected")
    wait_until(page, "fetch('api/prefs').then(r => r.json()).then(b => "
               "b.prefs['settings.form']?.fields?.['[\"subject\"]'] === 'sub-42')", scaled(10))
    page.reload()
    expect(page.get_by_test_id("conn")).to_have_text("live")
    settings = page.get_by_test_id("panel-settings")
    expect(settings.get_by_test_id("setting-subject")).to_have_value("sub-42")
    expect(page.get_by_test_id("panel-run").get_by_test_id("run-start")).to_be_disabled()
    overview_reason = page.get_by_test_id("panel-overview").get_by_test_id("overview-run-blocked")
    expect(overview_reason).to_contain_text("not valid")
    show(page, "settings")
    settings.get_by_test_id("setting-trs").fill("5")
    show(page, "run")
    expect(page.get_by_test_id("panel-run").get_by_test_id("run-start")).to_be_enabled()
    expect(page.get_by_test_id("panel-run").get_by_test_id("run-blocked")).to_be_hidden()


def test_started_is_said_only_when_the_start_succeeded(page: Page, demo: Deck) -> None:
    (Path(demo.config.server.data) / "project" / "scripts" / "init.py").unlink()
    open_dashboard(page, demo, "#run")
    run = page.get_by_test_id("panel-run")
    run.get_by_test_id("run-script").select_option("init")
    run.get_by_test_id("run-start").click()
    toast = page.get_by_test_id("toast").last
    expect(toast).to_contain_text("could not start")
    expect(toast).to_contain_text("script file not found")
    expect(page.get_by_test_id("toasts")).not_to_contain_text("Started")


def test_charts_export_png_and_csv_and_draw_a_million_points_downsampled(page: Page, tmp_path: Path,
                                                                       demo: Deck) -> None:
    project = Path(demo.config.server.data) / "project"
    (project / "scripts" / "big.py").write_text(
        "from labdeck import script\n"
        "for start in range(0, 1_000_000, 20_000):\n"
        "    xs = range(start, start + 20_000)\n"
        "    script.plot(xs, [(x % 5000) / 5000 for x in xs], series='signal', unit='V', xlabel='sample')\n"
        "    script.plot(xs[::1000], [0.5] * 20, series='level', unit='V', chart='signal')\n", encoding="utf-8")
    demo.config.scripts["big"] = "scripts/big.py"
    run = on_loop(demo, runner_of(demo).run("big"))
    assert on_loop(demo, runner_of(demo).wait())["state"] == "finished"
    # A run of a million points, drawn from the server's copy: the History panel's chart.
    open_dashboard(page, demo, f"#history/{run}")
    plots = page.get_by_test_id("panel-history")
    chart = plots.locator('[data-testid="plot-chart"][data-chart="signal"]')
    expect(chart).to_have_attribute("data-points", "1001000", timeout=scaled(60) * 1000)
    expect(chart).to_have_attribute("data-series", "level signal")  # two series, one chart
    expect(chart).to_have_attribute("data-zoomed", "false")
    page.wait_for_timeout(300)
    drawn = int(chart.get_attribute("data-drawn") or 0)
    width = chart.locator(".plot-body").evaluate("b => b.clientWidth")
    assert 0 < drawn <= 8 * width + 2000, (drawn, width)  # a few points per pixel, not a million
    expect(chart).to_have_attribute("data-units", "V")
    expect(chart).to_have_attribute("data-xlabel", "sample")
    expect(chart.get_by_test_id("plot-value").first).to_contain_text(" V")
    expect(chart.get_by_test_id("plot-legend-item")).to_have_count(2)
    with page.expect_download() as png:
        chart.get_by_test_id("plot-png").click()
    saved = tmp_path / "chart.png"
    png.value.save_as(saved)
    assert saved.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with page.expect_download() as got:
        chart.get_by_test_id("plot-csv").click()
    rows = list(csv.reader(io.StringIO(Path(got.value.path()).read_text(encoding="utf-8"))))
    assert rows[0] == ["series", "x", "y", "unit"] and len(rows) == 1 + 1_001_000
    assert rows[1] == ["level", "0", "0.5", "V"] and ["signal", "0", "0", "V"] in rows


COUNT_FRAMES = """(() => {
  const frames = window.framesSeen = { n: 0 };
  const tick = () => { frames.n += 1; requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
})();"""


@pytest.mark.parametrize("size", [WIDE, PHONE], ids=["wide", "phone"])
def test_live_charts_draw_once_a_frame_at_most_and_a_few_points_a_pixel(page: Page, demo: Deck,
                                                                      size: dict[str, int]) -> None:
    project = Path(demo.config.server.data) / "project"
    (project / "scripts" / "stream.py").write_text(
        "from labdeck import script\n"
        "for start in range(0, 1_000_000, 500):\n"
        "    xs = range(start, start + 500)\n"
        "    script.plot(xs, [(x % 7919) / 7919 for x in xs], series='stream')\n", encoding="utf-8")
    demo.config.scripts["stream"] = "scripts/stream.py"
    page.set_viewport_size(size)
    page.add_init_script(COUNT_FRAMES)  # from the page's first frame: every draw falls in a counted one
    open_dashboard(page, demo, "#plots")
    on_loop(demo, runner_of(demo).run("stream"))
    for panel in ("plots", "overview", "plots"):  # live, then 2,000 pushes replayed at once on each load
        chart = page.get_by_test_id(f"panel-{panel}").locator('[data-testid="plot-chart"][data-chart="stream"]')
        expect(chart).to_be_visible()
        width = chart.locator(".plot-body").evaluate("b => b.clientWidth")
        points, deadline = 0, time.monotonic() + scaled(60)  # a bound, not a speed check (about 5 s here)
        while points < 1_000_000:  # the points arrive; the drawn count stays a few points a pixel
            assert time.monotonic() < deadline, f"{points:,} of 1,000,000 points reached the {panel} panel"
            page.wait_for_timeout(100)
            state = chart.evaluate("c => ({points: +c.dataset.points, drawn: +c.dataset.drawn})")
            points = state["points"]
            assert state["drawn"] <= 4 * width + 400, (panel, state, width)
        page.wait_for_timeout(300)  # the draw of the last points
        draws = int(chart.get_attribute("data-draws") or 0)
        frames = page.evaluate("window.framesSeen.n")
        assert 0 < draws <= frames, (panel, draws, frames)  # however many pushes came in one frame
        assert on_loop(demo, runner_of(demo).wait())["state"] == "finished"
        page.goto(demo.url + ("#overview" if panel == "plots" else "#plots"))
        page.reload()


def test_history_filters_and_compares_runs(page: Page, demo: Deck) -> None:
    for subject, trs in (("sub-01", 6), ("sub-02", 8)):
        run_main(demo, trs=trs, tr=0.01, subject=subject)
        on_loop(demo, runner_of(demo).wait())
    on_loop(demo, runner_of(demo).run("finalize"))
    on_loop(demo, runner_of(demo).wait())
    open_dashboard(page, demo, "#history")
    history = page.get_by_test_id("panel-history")
    expect(history.get_by_test_id("history-row")).to_have_count(3)
    history.get_by_test_id("history-filter-script").select_option("main")
    expect(history.get_by_test_id("history-row")).to_have_count(2)
    history.get_by_test_id("history-filter-state").select_option("failed")
    expect(history.get_by_test_id("history-row")).to_have_count(0)
    expect(history.get_by_test_id("history-empty")).to_have_text("No run matches these filters.")
    history.get_by_test_id("history-filter-clear").click()
    expect(history.get_by_test_id("history-row")).to_have_count(3)
    for run in (1, 2):
        history.locator(f'[data-testid="history-row"][data-run="{run}"]').get_by_test_id("history-pick").check()
    history.get_by_test_id("history-compare").click()
    expect(page).to_have_url(f"{demo.url}#history/compare/1,2")
    view = history.get_by_test_id("history-compare-view")
    expect(view.locator('[data-testid="config-diff-row"][data-key="subject"]')).to_have_attribute(
        "data-differs", "true")
    expect(view.locator('[data-testid="config-diff-row"][data-key="tr"]')).to_have_attribute("data-differs", "false")
    overlaid = history.locator('[data-testid="plot-chart"][data-chart="classifier"]')
    expect(overlaid).to_have_attribute("data-series", "run 1 · classifier run 2 · classifier")
    expect(overlaid).to_have_attribute("data-points", "14")
    for size, name in ((WIDE, "wide"), (PHONE, "phone")):
        page.set_viewport_size(size)
        page.evaluate("window.scrollTo(0, 0)")
        screenshot(page, f"history-compare-{name}.png")
    # A link to a run opens it on a fresh page.
    page.goto("about:blank")
    page.goto(f"{demo.url}#history/2")
    expect(page.get_by_test_id("panel-history").get_by_test_id("history-run")).to_contain_text("Run 2 · main")


def test_the_keyboard_reaches_every_panel_and_the_run_controls(page: Page, demo: Deck) -> None:
    open_dashboard(page, demo)
    first = page.get_by_test_id("nav-overview")
    first.focus()
    page.keyboard.press("Tab")
    expect(page.get_by_test_id("nav-run")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("panel-run")).to_be_visible()
    run = page.get_by_test_id("panel-run")
    run.get_by_test_id("run-script").focus()
    page.keyboard.press("Tab")
    expect(run.get_by_test_id("run-start")).to_be_focused()
    page.keyboard.press("Enter")
    expect(run.get_by_test_id("run-state")).not_to_have_text("idle")
    on_loop(demo, runner_of(demo).stop())


def test_every_panel_passes_the_accessibility_check(browser: Browser, demo: Deck) -> None:
    if not AXE.is_file():
        pytest.fail("axe-core is not installed: run `npm --prefix ui ci`", pytrace=False)
    run_main(demo, trs=30, tr=0.01)
    on_loop(demo, runner_of(demo).wait())
    # The light theme on a desktop, the dark one on a phone: every panel in each.
    for size, name, scheme in ((WIDE, "wide", "light"), (PHONE, "phone", "dark")):
        context = browser.new_context(viewport=size, color_scheme=scheme)  # type: ignore[arg-type]
        try:
            page = context.new_page()
            open_dashboard(page, demo)
            page.evaluate(AXE.read_text(encoding="utf-8"))  # evaluated, not a script tag: the CSP forbids those
            for panel in panels_of(page):
                show(page, panel)
                page.wait_for_timeout(300)
                found = page.evaluate("""async () => (await axe.run(document, {resultTypes: ["violations"]}))
                    .violations.map(v => `${v.id}: ${v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", ")}`)""")
                assert not found, f"{panel} at {size['width']} px, {scheme}: {found}"
            if scheme == "dark":
                show(page, "overview")
                screenshot(page, f"overview-dark-{name}.png")
        finally:
            context.close()
