"""The Rigs panel as a scientist drives it on a scan day: two loopback rigs (one per wire
mode) initialised, started with the day's experiment reference, stopped and cleaned up,
each row's state and round trip following; a viewer sees the states but cannot drive."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from labdeck import Deck
from labdeck.rigs import RigEndpoint, SimulatedRig
from tests.browser.conftest import ServerFactory, contrast_violations, open_dashboard, screenshot
from tests.browser.test_login import PASSWORD, log_in, on_loop
from tests.helpers import runner_of, scaled

pytestmark = pytest.mark.browser

ROUND_TRIP = re.compile(r"^\d+\.\d\d ms$")
MAIN = """
import asyncio
from labdeck import script

async def main():
    async with script.rigs() as rigs:
        await rigs.init({"subject": "SW_023"})
        await rigs.start("2026-12-03_1_SW_023")

asyncio.run(main())
"""


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Bench:
    """A server driving two simulated rigs that answer from the server's own loop."""

    def __init__(self, deck: Deck, rigs: dict[str, SimulatedRig]) -> None:
        self.deck, self.rigs = deck, rigs


@pytest.fixture
def open_bench(tmp_path: Path, make_deck: Callable[..., Deck]) -> Iterator[Bench]:
    """Open mode: whoever is on this machine drives the rigs."""
    yield from _bench("open", tmp_path, make_deck)


@pytest.fixture
def login_bench(tmp_path: Path, make_deck: Callable[..., Deck]) -> Iterator[Bench]:
    """Login mode, with the viewer vera."""
    yield from _bench("login", tmp_path, make_deck)


def _bench(mode: str, tmp_path: Path, make_deck: Callable[..., Deck]) -> Iterator[Bench]:
    ports = {"behaviour": free_udp_port(), "camera": free_udp_port()}
    toml = tmp_path / "labdeck.toml"
    toml.write_text(f'[rigs.behaviour]\nuri = "udp://127.0.0.1:{ports["behaviour"]}"\ntimeout = 3\n'
                    f'[rigs.camera]\nuri = "udp://127.0.0.1:{ports["camera"]}"\nmode = "iblutil"\ntimeout = 3\n'
                    '[scripts]\nmain = "main.py"\n', encoding="utf-8")
    (tmp_path / "main.py").write_text(MAIN, encoding="utf-8")
    factory = ServerFactory(lambda **o: make_deck(toml, **o))
    deck = factory.start(auth_mode=mode)
    sims = {"behaviour": SimulatedRig("behaviour"), "camera": SimulatedRig("camera")}
    endpoints = [RigEndpoint(f"udp://127.0.0.1:{ports['behaviour']}", sims["behaviour"]),
                 RigEndpoint(f"udp://127.0.0.1:{ports['camera']}", sims["camera"], mode="iblutil")]
    try:
        for ep in endpoints:
            on_loop(deck, ep.start())
        if mode == "login":
            assert deck.gate is not None
            on_loop(deck, deck.gate.users.add("vera", "viewer", PASSWORD))
        yield Bench(deck, sims)
    finally:
        for ep in endpoints:
            on_loop(deck, ep.close())
        factory.stop_all()


def row(page: Page, rig: str) -> Locator:
    return page.get_by_test_id("panel-rigs").get_by_test_id(f"rig-{rig}")


def expect_states(page: Page, state: str) -> None:
    for rig in ("behaviour", "camera"):
        expect(row(page, rig).get_by_test_id("rig-state")).to_have_text(state)
        expect(row(page, rig).get_by_test_id("rig-rtt")).to_have_text(ROUND_TRIP)


def eventually(predicate: Callable[[], bool], page: Page, timeout: float = 5.0) -> None:
    """Poll ``predicate`` (state on the server side) while the page keeps running."""
    for _ in range(int(scaled(timeout) * 20)):
        if predicate():
            return
        page.wait_for_timeout(50)
    raise AssertionError("the server never got there")


def both_sizes(page: Page, name: str) -> None:
    page.set_viewport_size({"width": 1440, "height": 900})
    screenshot(page, f"{name}-1440.png")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, f"{name}-390.png")
    page.set_viewport_size({"width": 1440, "height": 900})


def test_an_operator_drives_both_rigs_through_an_experiment(page: Page, open_bench: Bench) -> None:
    bench = open_bench
    open_dashboard(page, bench.deck, "#rigs")
    panel = page.get_by_test_id("panel-rigs")
    expect(panel.get_by_test_id("rigs-count")).to_have_text("2 rigs")
    expect(row(page, "behaviour").get_by_test_id("rig-state")).to_have_text("unknown")
    today = date.today().isoformat()
    expect(panel.get_by_test_id("rigs-exp-ref")).to_have_value(f"{today}_1_")
    both_sizes(page, "rigs-unknown")

    panel.get_by_test_id("rig-init-all").click()
    expect_states(page, "initialised")
    panel.get_by_test_id("rig-start-all").click()  # no subject yet: refused before anything is sent
    expect(page.get_by_test_id("toast").last).to_contain_text("needs a subject")
    assert bench.rigs["behaviour"].exp_ref is None

    panel.get_by_test_id("rigs-subject").fill("SW_023")
    expect(panel.get_by_test_id("rigs-ref-preview")).to_have_text(f"starts {today}_1_SW_023")
    panel.get_by_test_id("rig-start-all").click()
    expect_states(page, "running")
    expect(row(page, "camera").get_by_test_id("rig-last")).to_contain_text("start: ok")
    assert {sim.exp_ref for sim in bench.rigs.values()} == {f"{today}_1_SW_023"}
    both_sizes(page, "rigs-running")

    panel.get_by_test_id("rig-stop-all").click()
    expect_states(page, "stopped")
    panel.get_by_test_id("rig-cleanup-behaviour").click()  # one rig alone
    expect(row(page, "behaviour").get_by_test_id("rig-last")).to_contain_text("cleanup: ok")
    expect(row(page, "camera").get_by_test_id("rig-state")).to_have_text("stopped")
    panel.get_by_test_id("rig-cleanup-all").click()
    expect(row(page, "camera").get_by_test_id("rig-last")).to_contain_text("cleanup: ok")
    eventually(lambda: len(bench.rigs["behaviour"].calls) == 5, page)
    assert bench.rigs["behaviour"].calls == ["init", "start", "stop", "cleanup", "cleanup"]
    assert bench.rigs["camera"].calls == ["init", "start", "stop", "cleanup"]


def test_what_an_experiment_script_sends_the_rigs_shows_in_the_panel(page: Page, open_bench: Bench) -> None:
    bench = open_bench
    open_dashboard(page, bench.deck, "#rigs")
    expect(row(page, "behaviour").get_by_test_id("rig-state")).to_have_text("unknown")
    runner = runner_of(bench.deck)
    run = on_loop(bench.deck, runner.run("main"))
    expect_states(page, "running")
    for rig in ("behaviour", "camera"):
        expect(row(page, rig).get_by_test_id("rig-last")).to_contain_text("start: ok")
        expect(row(page, rig).get_by_test_id("rig-last")).to_contain_text(f"by run {run}")
    assert {sim.exp_ref for sim in bench.rigs.values()} == {"2026-12-03_1_SW_023"}
    eventually(lambda: runner.status()["state"] == "finished", page)
    screenshot(page, "rigs-by-script-1440.png")


def test_a_viewer_sees_the_states_but_cannot_drive_the_rigs(page: Page, login_bench: Bench) -> None:
    bench = login_bench
    page.goto(bench.deck.url + "#rigs")
    log_in(page, "vera")
    expect(page.get_by_test_id("who-role")).to_have_text("viewer")
    panel = page.get_by_test_id("panel-rigs")
    expect(panel.get_by_test_id("rigs-readonly")).to_be_visible()
    expect(panel.get_by_test_id("rigs-readonly")).to_contain_text("needs the operator role")
    for action in ("init", "start", "stop", "interrupt", "cleanup"):
        expect(panel.get_by_test_id(f"rig-{action}-all")).to_be_disabled()
        expect(panel.get_by_test_id(f"rig-{action}-camera")).to_be_disabled()

    on_loop(bench.deck, bench.deck.capabilities["rigs"].object.init())  # type: ignore[attr-defined]
    expect(row(page, "behaviour").get_by_test_id("rig-state")).to_have_text("initialised")
    expect(row(page, "camera").get_by_test_id("rig-state")).to_have_text("initialised")
    both_sizes(page, "rigs-viewer")
    # The viewer's note and the states read in the dark theme too (scan rooms are dim).
    page.emulate_media(color_scheme="dark")
    found = contrast_violations(page, "panel-rigs")
    assert not found, found
    page.emulate_media(color_scheme="light")

    # Past the disabled button, straight at the server: refused, with the role it needs.
    answer = page.evaluate("""async () => {
      const ws = new WebSocket(new URL("ws", document.baseURI).href.replace(/^http/, "ws"));
      await new Promise((ok) => ws.addEventListener("open", ok));
      const reply = new Promise((ok) => ws.addEventListener("message", (ev) => {
        const msg = JSON.parse(ev.data); if (msg.id === 7) ok(msg);
      }));
      ws.send(JSON.stringify({ id: 7, op: "call", path: ["rigs", "start"], args: ["2026-01-01_1_x"] }));
      return await reply;
    }""")
    assert answer["ok"] is False and answer["error"]["type"] == "AccessDenied", answer
    assert bench.rigs["behaviour"].exp_ref is None
