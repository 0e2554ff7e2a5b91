"""The migration guide's object-server project (``tests/compat/wispy_project``: a Python file
exposing two objects with ``RPCWebApp`` and a YAML config, a page using ``rpc.js`` proxies, a
custom template and an SVG favicon) run for real as ``python app.py``, driven through Chromium
under the dashboard's Content-Security-Policy (the ``page`` fixture fails on any violation)."""

from __future__ import annotations

import http.client
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import wait_until
from tests.helpers import free_port, scaled

pytestmark = pytest.mark.browser

PROJECT = Path(__file__).resolve().parents[1] / "compat" / "wispy_project"
SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The project copied, on a free port, started as its docs say (once for the module: each
    test asserts changes, not absolute values); yields its base URL."""
    tmp_path = tmp_path_factory.mktemp("wispy")
    folder = tmp_path / "project"
    shutil.copytree(PROJECT, folder)
    port = free_port()
    config = folder / "config.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace("port: 8890", f"port: {port}"), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(SRC), "LABDECK_DATA": str(tmp_path / "data")}
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=folder, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/lab/"
    try:
        deadline = time.monotonic() + scaled(15)
        while True:
            try:
                urllib.request.urlopen(base + "healthz", timeout=1).close()
                break
            except (urllib.error.URLError, OSError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read().decode() if proc.stdout and proc.poll() is not None else ""
                    pytest.fail(f"app.py did not start: {out}")
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(scaled(10))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()


def open_page(page: Page, base: str) -> None:
    page.goto(base + "www/")
    wait_until(page, "document.body.dataset.ready === 'yes'", scaled(10))


def test_proxies_get_set_call_delete_and_channels(page: Page, project: str) -> None:
    open_page(page, project)  # the module's first test: the objects as app.py made them
    expect(page.locator("#a")).to_have_text("1")
    expect(page.locator("#sum")).to_have_text("9")
    expect(page.locator("#secret")).to_have_text("AccessDenied")  # interface.restricted
    expect(page.locator("#count")).to_have_text("0")  # tracked_channel_values, current value first
    assert "sample/count" in page.locator("#channels").inner_text().split()

    page.fill("#new-a", "42")
    page.click("#set-a")
    expect(page.locator("#a")).to_have_text("42")
    page.click("#bump")
    page.click("#bump")
    expect(page.locator("#count")).to_have_text("2")

    assert page.evaluate("(async () => await rpc.laser.label)()") == "<b>laser</b>"
    page.click("#forget")
    wait_until(page, "rpc.laser.label.then(() => false, (e) => e.type === 'NotFound')", scaled(5))


def test_a_second_browser_sees_the_first_ones_changes(page: Page, project: str) -> None:
    open_page(page, project)
    start = int(page.evaluate("(async () => await rpc.sample.tracked_channel_values)()")["sample/count"])
    expect(page.locator("#count")).to_have_text(str(start))
    page.click("#bump")
    expect(page.locator("#count")).to_have_text(str(start + 1))
    other = page.context.new_page()
    open_page(other, project)
    expect(other.locator("#count")).to_have_text(str(start + 1))
    page.click("#bump")
    expect(other.locator("#count")).to_have_text(str(start + 2))
    # handlers without the current value only hear what comes after
    other.evaluate("""() => { window.heard = [];
        return rpc.sample.rpcWebsocket.addChannelHandlers({"sample/count": (v) => heard.push(v)}, false); }""")
    page.click("#bump")
    wait_until(other, f"JSON.stringify(window.heard) === '[{start + 3}]'", scaled(5))


def test_policy_from_the_yaml_file(page: Page, project: str) -> None:
    open_page(page, project)
    # max_depth 2 below the object: sample.a.real is three
    assert page.evaluate("rpc.sample.a.real.imag.then(() => 'read', (e) => e.type)") == "AccessDenied"
    assert page.evaluate("rpc.sample.__class__.then(() => 'read', (e) => e.type)") == "AccessDenied"
    # caller.lock: the second of two calls queues past max_start_delay (0.2 s) and is Busy
    kinds = page.evaluate("""() => Promise.allSettled([rpc.laser.fire(1.5), rpc.laser.fire(0)])
        .then((r) => r.map((x) => x.status === 'fulfilled' ? x.value : x.reason.type))""")
    assert kinds == ["fired", "Busy"]


def test_custom_template_escapes_and_moves_children(page: Page, project: str) -> None:
    open_page(page, project)
    card = page.locator("custom-template section.card")
    expect(card.locator("h2")).to_have_text("Laser <img src=x onerror=alert(1)>")
    assert card.locator("img").count() == 0  # a parameter is text, never HTML
    assert card.locator("h2").get_attribute("title") == "Laser <img src=x onerror=alert(1)>"
    expect(card.locator("p.reading #reading")).to_have_text("0.5")  # $#reading, filled by app.js
    expect(card.locator("div.body em")).to_have_text("power, read from Python")  # $innerHTML


def test_svg_favicon_follows_its_svg(page: Page, project: str) -> None:
    open_page(page, project)
    href = page.locator('link[rel="icon"]').get_attribute("href") or ""
    assert href.startswith("data:image/svg+xml,") and "green" in href
    page.evaluate("document.getElementById('dot').setAttribute('fill', 'red')")
    wait_until(page, "document.querySelector('link[rel=icon]').href.includes('red')", scaled(5))


def test_a_foreign_origin_or_host_is_refused(project: str) -> None:
    url = urllib.parse.urlsplit(project)
    upgrade = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    for headers in ({"Origin": "http://evil.example"}, {"Host": "evil.example"}):
        conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=scaled(5))
        try:
            conn.request("GET", url.path + "ws", headers={**upgrade, **headers})
            assert conn.getresponse().status in (400, 403, 421), headers
        finally:
            conn.close()


UPLOAD = """async (name) => {
    const form = new FormData();
    form.append("file", new Blob(["t,v\\n0,1\\n"]), name);
    const reply = await fetch("../api/uploads/data", { method: "POST", body: form });
    return reply.status;
}"""


def test_the_upload_folder_takes_its_file_types_and_never_overwrites(page: Page, project: str) -> None:
    open_page(page, project)
    assert page.evaluate(UPLOAD, "run1.csv") < 300
    assert page.evaluate(UPLOAD, "tool.exe") >= 400  # file_types: [".csv"]
    assert page.evaluate(UPLOAD, "run1.csv") >= 400  # overwrite: []
    listing = page.evaluate("fetch('../api/uploads/data').then((r) => r.text())")
    assert "run1.csv" in listing and "tool.exe" not in listing  # list_names: true
