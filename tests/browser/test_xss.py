"""Every string a user or a script controls reaches the dashboard as text, never as markup:
channel names and values, log lines, plot series, results, configuration values, preset
names, exposed attributes and docstrings, uploaded file names, error messages."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from labdeck import Deck
from tests.browser.conftest import ServerFactory, open_dashboard

pytestmark = pytest.mark.browser

PROBE = '<b id="xss-probe">probe</b><img src="x-probe" onerror="window.__xss=1">'

SCRIPT = f'''\
from labdeck import script
PROBE = {PROBE!r}
print(PROBE, flush=True)
script.plot(1, 2, series=PROBE[:90])
script.result(PROBE[:90], PROBE)
script.progress(0.5, PROBE)
raise SystemExit(PROBE)
'''


class Marked:
    __doc__ = PROBE  # a docstring the lab wrote: shown by dir

    def __init__(self) -> None:
        self.label = PROBE
        self.settings = {"note": PROBE}

    def shout(self) -> str:
        raise ValueError(PROBE)


@pytest.fixture
def lab(tmp_path: Path, make_deck: Callable[..., Deck]) -> Iterator[Deck]:
    project = tmp_path / "project"
    (project / "incoming").mkdir(parents=True)
    (project / "evil.py").write_text(SCRIPT, encoding="utf-8")
    (project / "defaults.toml").write_text(f"subject = {json.dumps(PROBE)}\n", encoding="utf-8")
    (project / "labdeck.toml").write_text(
        '[scripts]\nmain = "evil.py"\n[run]\ndefault_config = "defaults.toml"\n'
        '[run.upload_dirs]\nincoming = "incoming"\n', encoding="utf-8")
    (project / "incoming" / "<b id=\"xss-probe\">f.dat").write_bytes(b"x")
    factory = ServerFactory(lambda **o: make_deck(project / "labdeck.toml", **o))
    deck = factory.start()
    deck.expose("marked", Marked())
    try:
        yield deck
    finally:
        factory.stop_all()


def post(deck: Deck, path: str) -> None:
    request = urllib.request.Request(deck.url + path, method="POST", headers={"Origin": deck.url.rstrip("/")})
    urllib.request.urlopen(request, timeout=10).close()


def assert_no_markup(page: Page) -> None:
    assert page.evaluate("document.getElementById('xss-probe') === null"), "a probe became markup"
    assert page.evaluate("document.querySelector('img[src=\"x-probe\"]') === null")
    assert page.evaluate("window.__xss === undefined")


def test_no_user_controlled_string_becomes_markup(page: Page, lab: Deck) -> None:
    open_dashboard(page, lab)
    page.evaluate(f"""async () => {{
        const probe = {json.dumps(PROBE)};
        await labdeck.deck.publish("lab/" + probe.replaceAll("/", "|"), {{note: probe, [probe]: 1}});
        await labdeck.deck.call(["runner", "save_preset"], [probe.slice(0, 60), {{subject: probe}}]);
        await labdeck.deck.call(["runner", "run"], ["main"]);
        try {{ await labdeck.deck.call(["marked", "shout"]); }} catch (e) {{}}
    }}""")
    for panel in ("run", "log", "plots", "settings", "files", "history", "objects", "channels"):
        page.get_by_test_id(f"nav-{panel}").click()
        expect(page.get_by_test_id(f"panel-{panel}")).to_be_visible()
        page.wait_for_timeout(300)
        assert_no_markup(page)
    page.get_by_test_id("nav-log").click()
    expect(page.get_by_test_id("panel-log")).to_contain_text(PROBE)  # it arrived, as text
    page.get_by_test_id("nav-channels").click()
    expect(page.get_by_test_id("panel-channels")).to_contain_text('<b id="xss-probe">')
    page.goto(lab.url + "#history/1")
    page.wait_for_timeout(500)
    assert_no_markup(page)
    page.get_by_test_id("nav-objects").click()
    page.get_by_test_id("object-marked").click()
    page.wait_for_timeout(300)
    assert_no_markup(page)
