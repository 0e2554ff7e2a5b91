"""The dashboard shell mounts what the server announces: a lab's own capability adds a
panel (module and stylesheet from its static folder) in its order; a broken panel shows
its error in place; routes carry a sub-path; panels hear when they are shown and hidden."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, Route, expect

from labdeck import Deck
from labdeck.capability import Capability, Panel
from tests.browser.conftest import ServerFactory, open_dashboard, screenshot

pytestmark = pytest.mark.browser

# The kit comes in as ctx.kit: a capability's panel imports nothing of labdeck's files.
PROBE_JS = """\
export default {
  mount(section, { deck, kit, navigate }) {
    const $ = kit.fill(section, `
      <div class="card">
        <header><h2>Probe</h2></header>
        <output class="probe-value" data-testid="probe-value">waiting</output>
        <button type="button" class="btn" data-testid="probe-go">to b</button>
        <ol data-testid="probe-hooks"></ol>
      </div>`);
    const note = (text) => $("probe-hooks").append(kit.el("li", "", text));
    const off = deck.subscribe("probe/value", (data) => { $("probe-value").textContent = String(data); });
    $("probe-go").addEventListener("click", () => navigate("b"));
    return {
      shown: (sub) => note(`shown:${sub}`),
      hidden: () => note("hidden"),
      cleanup: off,
    };
  },
};
"""

# The other form of the hooks: methods of the panel object, mount returning nothing.
PINNED_JS = """\
export default {
  mount(section) {
    this.list = document.createElement("ol");
    this.list.dataset.testid = "pinned-hooks";
    section.append(this.list);
  },
  shown(sub) { this.note(`shown:${sub}`); },
  hidden() { this.note("hidden"); },
  note(text) {
    const li = document.createElement("li");
    li.textContent = text;
    this.list.append(li);
  },
};
"""

THROWS_JS = """\
export default { mount() { throw new Error("the probe's hardware is unplugged"); } };
"""

PROBE_CSS = ".probe-value { color: rgb(200, 0, 0); }\n"

NAV_WITH_PROBE = [
    "Overview", "Run", "Probe", "Log", "Plots", "Settings", "Files", "History",
    "Pinned", "Objects", "Missing", "Channels", "Admin", "Throws",
]


@pytest.fixture
def probe(tmp_path: Path) -> type[Capability]:
    """A lab's own capability: three working or broken panels from a folder of its own."""
    folder = tmp_path / "probe-static"
    folder.mkdir()
    (folder / "probe.js").write_text(PROBE_JS, encoding="utf-8")
    (folder / "probe.css").write_text(PROBE_CSS, encoding="utf-8")
    (folder / "pinned.js").write_text(PINNED_JS, encoding="utf-8")
    (folder / "throws.js").write_text(THROWS_JS, encoding="utf-8")

    class Probe(Capability):
        name = "probe"
        static = folder
        panels = (
            Panel("probe", "Probe", "probe.js", order=15, css="probe.css"),
            Panel("pinned", "Pinned", "pinned.js", order=55),
            Panel("missing", "Missing", "missing.js", order=70),
            Panel("throws", "Throws", "throws.js", order=95),
        )

    return Probe


@pytest.fixture
def probed(servers: ServerFactory, probe: type[Capability]) -> Deck:
    return servers.start(capabilities=[probe])


def hooks(page: Page, testid: str) -> Callable[[], list[str]]:
    return lambda: page.get_by_test_id(testid).locator("li").all_inner_texts()


def test_a_capabilitys_panel_appears_in_its_order_and_works(page: Page, probed: Deck) -> None:
    open_dashboard(page, probed)
    expect(page.get_by_test_id("nav").locator("a")).to_have_text(NAV_WITH_PROBE)
    page.get_by_test_id("nav-probe").click()
    expect(page).to_have_title("Probe · labdeck")
    value = page.get_by_test_id("probe-value")
    expect(value).to_have_text("waiting")
    expect(value).to_have_css("color", "rgb(200, 0, 0)")  # its stylesheet came with it
    probed.publish("probe/value", 42)
    expect(value).to_have_text("42")


def test_a_panel_that_fails_shows_its_error_and_the_others_work(page: Page, probed: Deck) -> None:
    open_dashboard(page, probed, "#missing")
    missing = page.get_by_test_id("panel-missing")
    expect(missing.get_by_test_id("panel-error")).to_contain_text("The Missing panel could not be loaded")
    expect(missing).to_have_attribute("data-state", "failed")
    page.get_by_test_id("nav-throws").click()
    expect(page.get_by_test_id("panel-throws").get_by_test_id("panel-error")).to_have_text(
        "The Throws panel could not start: the probe's hardware is unplugged")
    expect(page.get_by_test_id("toast").filter(has_text="unplugged")).to_be_visible()
    screenshot(page, "panel-failed.png")

    page.get_by_test_id("nav-channels").click()
    probed.publish("lab/temp", 21.5)
    row = page.locator('[data-testid="channel-row"][data-ch="lab/temp"]')
    expect(row.get_by_test_id("channel-last")).to_have_text("21.5")
    page.get_by_test_id("nav-run").click()
    expect(page.get_by_test_id("run-state")).to_have_text("idle")


def test_shown_and_hidden_hooks_follow_the_route(page: Page, probed: Deck) -> None:
    open_dashboard(page, probed, "#probe/a")
    probe = hooks(page, "probe-hooks")
    expect(page.get_by_test_id("probe-hooks").locator("li")).to_have_text(["shown:a"])

    page.get_by_test_id("probe-go").click()  # the panel moves its own route
    expect(page).to_have_url(f"{probed.url}#probe/b")
    expect(page.get_by_test_id("probe-hooks").locator("li")).to_have_text(["shown:a", "shown:b"])

    page.get_by_test_id("nav-pinned").click()
    expect(page.get_by_test_id("pinned-hooks").locator("li")).to_have_text(["shown:"])
    expect(page.get_by_test_id("probe-hooks").locator("li")).to_have_text(["shown:a", "shown:b", "hidden"])

    page.get_by_test_id("nav-probe").click()  # back where it was left
    expect(page).to_have_url(f"{probed.url}#probe/b")
    expect(page.get_by_test_id("pinned-hooks").locator("li")).to_have_text(["shown:", "hidden"])
    assert probe() == ["shown:a", "shown:b", "hidden", "shown:b"]


def test_a_restarted_server_with_other_panels(page: Page, servers: ServerFactory, probe: type[Capability]) -> None:
    first = servers.start(capabilities=[probe])
    open_dashboard(page, first, "#probe")
    expect(page.get_by_test_id("probe-value")).to_have_text("waiting")
    port = first.port
    servers.stop(first)
    expect(page.get_by_test_id("conn")).to_have_text("reconnecting…")

    servers.start(server_port=port)  # the same lab without the probe
    expect(page.get_by_test_id("conn")).to_have_text("live")
    expect(page.get_by_test_id("nav-probe")).to_have_count(0)
    expect(page.get_by_test_id("panel-probe")).to_have_count(0)
    expect(page.get_by_test_id("panel-overview")).to_be_visible()  # the route fell back to the first panel
    expect(page.get_by_test_id("nav").locator("a")).to_have_text(
        [name for name in NAV_WITH_PROBE if name not in ("Probe", "Pinned", "Missing", "Throws")])


def test_the_panel_list_is_asked_for_again_after_a_failure(page: Page, server: Deck) -> None:
    refused: list[str] = []

    def refuse_once(route: Route) -> None:
        if refused:
            route.continue_()
        else:
            refused.append(route.request.url)
            route.fulfill(status=503, json={"error": {"type": "Maintenance", "message": "back in a moment"}})

    page.route("**/api/panels", refuse_once)
    open_dashboard(page, server)
    expect(page.get_by_test_id("no-panels")).to_have_text("The panels could not be listed: back in a moment")
    expect(page.get_by_test_id("panel-overview")).to_be_visible()  # asked again, a few seconds later
    expect(page.get_by_test_id("no-panels")).to_have_count(0)
    assert len(refused) == 1
