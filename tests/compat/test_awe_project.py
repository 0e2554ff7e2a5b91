"""The migration guide's page classes, written the way the research web server documents them,
run on labdeck with only their import changed: a real server in login mode, real HTTP, the
site's role enforced, a hostile argument escaped, preferences remembered in a cookie and
session data cleaned up when its lifetime runs out."""

from __future__ import annotations

import re
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from labdeck import Deck
from labdeck.exceptions import ConfigError
from labdeck.web.guard import CONTENT_SECURITY_POLICY
from tests.web.test_login import PASSWORD, browser, log_in, origin

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "howto" / "migrate-awe.md"
HOSTILE = '<script>alert("x")</script>'


def write_project(folder: Path) -> Path:
    found = dict(re.findall(r"<!-- file: (\S+) -->\n```\w+\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S))
    assert set(found) == {"runpages.py", "labdeck.toml"}
    assert "from labdeck.compat.awe import HtmlBase, HtmlTemplate" in found["runpages.py"]
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in found.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder / "labdeck.toml"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    toml = write_project(tmp_path / "lab")
    monkeypatch.syspath_prepend(str(tmp_path / "lab"))
    monkeypatch.delitem(sys.modules, "runpages", raising=False)
    yield toml
    sys.modules.pop("runpages", None)


@pytest.fixture
async def deck(make_deck: Callable[..., Deck], project: Path) -> AsyncIterator[Deck]:
    d = make_deck(project, auth_mode="login")
    await d.start()
    assert d.gate is not None
    await d.gate.users.add("vera", "viewer", PASSWORD)
    await d.gate.users.add("otto", "operator", PASSWORD)
    try:
        yield d
    finally:
        await d.stop()


async def fetch(http: aiohttp.ClientSession, deck: Deck, path: str, **kwargs: Any) -> tuple[int, Any, str]:
    async with http.request(kwargs.pop("method", "GET"), deck.url + path, allow_redirects=False, **kwargs) as r:
        return r.status, r.headers, await r.text()


async def test_the_page_class_serves_its_defaults_and_escapes_a_hostile_argument(deck: Deck) -> None:
    async with browser() as http:
        await log_in(http, deck, "otto")
        status, headers, body = await fetch(http, deck, "runs/")
        assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
        assert "<title>Runs</title>" in body and '<meta name="author" content="The lab">' in body
        assert "<h1>Runs of all</h1>" in body and body.count("<tr>") == 2
        assert headers["Cache-Control"] == "no-store"  # getExtraHeaders
        assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY  # the server's, kept
        status, _, body = await fetch(http, deck, "runs/", params={"project": HOSTILE, "rows": "3"})
        assert status == 200 and body.count("<tr>") == 3
        assert "<h1>Runs of &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</h1>" in body
        assert "<script>" not in body


async def test_preferences_from_arguments_come_back_from_the_cookie(deck: Deck) -> None:
    async with browser() as http:
        await log_in(http, deck, "otto")
        async with http.get(deck.url + "runs/", params={"project": "bold", "rows": "3"}) as r:
            cookie = r.headers["Set-Cookie"]
        assert cookie.startswith("runs=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert "Path=/runs/" in cookie and "Max-Age=31536000" in cookie
        status, headers, body = await fetch(http, deck, "runs/")  # no arguments: the cookie's
        assert status == 200 and "<h1>Runs of bold</h1>" in body and body.count("<tr>") == 3
        assert "Set-Cookie" not in headers  # nothing new to remember
        status, _, body = await fetch(http, deck, "runs/", params={"project": "rest"})
        assert "<h1>Runs of rest</h1>" in body and body.count("<tr>") == 3  # rows not given: still remembered


async def test_session_data_lives_per_visitor_and_is_cleaned_up_when_it_lapses(deck: Deck) -> None:
    import runpages  # the module the server imported for the site

    async with browser() as otto, browser() as other:
        await log_in(otto, deck, "otto")
        await log_in(other, deck, "otto")  # the same user in another browser: another session
        for expected in ("visit 1", "visit 2"):
            assert expected in (await fetch(otto, deck, "runs/"))[2]
        assert "visit 1" in (await fetch(other, deck, "runs/"))[2]
        runpages.Runs.SessionLifeTime = 0  # every session lapses before the next request
        assert "visit 1" in (await fetch(otto, deck, "runs/"))[2]
        assert sorted(runpages.CLEANED) == [1, 2]  # both visitors' data went through cleanupUserSession


async def test_content_type_status_and_roles(deck: Deck) -> None:
    async with browser() as http:
        await log_in(http, deck, "otto")
        status, headers, body = await fetch(http, deck, "runs/", params={"format": "csv"})
        assert (status, headers["Content-Type"], body) == (200, "text/csv; charset=utf-8", "run 1,0.91\nrun 2,0.87\n")
        status, _, body = await fetch(http, deck, "runs/missing")
        assert status == 404 and "<title>Not found</title>" in body and "no such run" in body
        assert (await fetch(http, deck, "runs/other"))[0] == 404  # not a page of the site
        form = {"project": "posted"}
        status, _, body = await fetch(http, deck, "runs/", method="POST", data=form, headers=origin(deck))
        assert status == 200 and "<h1>Runs of posted</h1>" in body
        status, _, _ = await fetch(http, deck, "runs/", method="POST", data=form,
                                   headers={"Origin": "http://evil.example"})
        assert status == 403  # a cross-site form
    async with browser() as vera:
        await log_in(vera, deck, "vera")
        status, _, body = await fetch(vera, deck, "runs/")
        assert status == 403 and "operator" in body
    async with browser() as anonymous:
        assert (await fetch(anonymous, deck, "runs/"))[0] == 401


async def test_a_page_that_breaks_the_rules_gets_a_plain_500(make_deck: Callable[..., Deck], project: Path) -> None:
    (project.parent / "bad.py").write_text(
        "from labdeck.compat.awe import HtmlBase\n"
        "class Header(HtmlBase):\n    def getExtraHeaders(self):\n        return {'Set-Cookie': 'admin=1'}\n"
        "class Crash(HtmlBase):\n    def getHtml(self):\n        raise RuntimeError('secret detail')\n")
    project.write_text('[pages.bad]\nclasses = { "header" = "bad:Header", "crash" = "bad:Crash" }\n')
    deck = make_deck(project)
    await deck.start()
    try:
        async with aiohttp.ClientSession() as http:
            for page in ("header", "crash"):
                status, headers, body = await fetch(http, deck, f"bad/{page}")
                assert status == 500 and "error" in body and "secret" not in body and "Traceback" not in body
                assert "Set-Cookie" not in headers
    finally:
        await deck.stop()
        sys.modules.pop("bad", None)


async def test_a_class_that_is_not_a_page_is_a_config_error(make_deck: Callable[..., Deck], project: Path) -> None:
    project.write_text('[pages.x]\nclasses = { "" = "runpages:RUNS" }\n')
    deck = make_deck(project)
    try:
        with pytest.raises(ConfigError, match=r"pages.x.classes.*not a subclass of labdeck.compat.awe.HtmlBase"):
            await deck.start()
    finally:
        await deck.stop()
