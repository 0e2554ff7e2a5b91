"""The lab's own pages over HTTP, as a visitor and as an attacker meets them: static files,
templates in the layout, listings, path escapes, roles, crawlers and the rate limit."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from labdeck import Deck, load_config
from labdeck.exceptions import ConfigError
from labdeck.pages.listing import human_size
from labdeck.web.guard import CONTENT_SECURITY_POLICY
from tests.pages.conftest import INDEX, PAGES, write_pages
from tests.web.test_guard import raw_request

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


async def get(deck: Deck, path: str, **kwargs: object) -> tuple[int, dict[str, str], str]:
    async with aiohttp.ClientSession() as http, http.get(deck.url + path, allow_redirects=False, **kwargs) as r:
        return r.status, dict(r.headers), await r.text(errors="replace")


async def test_a_static_folder_is_served_at_its_route_with_its_homepage(site: Deck) -> None:
    status, headers, _ = await get(site, "stimulus")
    assert (status, headers["Location"]) == (308, "/stimulus/")
    status, headers, body = await get(site, "stimulus/")
    assert (status, body) == (200, INDEX)
    assert headers["Content-Type"].startswith("text/html")
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY  # the dashboard's, on a lab's page too
    status, headers, body = await get(site, "stimulus/style.css")
    assert (status, headers["Content-Type"], body) == (200, "text/css", "p { color: red; }")
    status, _, body = await get(site, "welcome/")
    assert (status, body) == (200, "<p>welcome</p>")


async def test_a_template_is_rendered_in_the_layout_with_every_value_escaped(site: Deck) -> None:
    status, headers, body = await get(site, "stimulus/control?q=<b>bold</b>")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert '<h1 data-testid="title">Stimulus &lt;control&gt;</h1>' in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body and "<script>alert" not in body
    assert '<p data-testid="q">&lt;b&gt;bold&lt;/b&gt;</p>' in body
    assert '<p data-testid="contrast">0.75</p>' in body  # the project's default script configuration
    assert '<p data-testid="me">nobody/admin</p>' in body  # open mode: the local user is admin
    assert 'href="/stimulus/" aria-current="page">stimulus</a>' in body and 'href="/files/data/">data</a>' in body
    assert "/static/components/deck-components.js" in body and "open mode" in body
    assert (await get(site, "stimulus/control.html"))[0] == 200


@pytest.mark.parametrize("path", [
    "stimulus/.secret", "stimulus/templates/control.html", "stimulus/%2e%2e/%2e%2e/labdeck.toml",
    "stimulus/..%2f..%2flabdeck.toml", "files/data/escape.txt", "files/data/sub/%2e%2e/%2e%2e/outside.txt",
    "stimulus/missing.png", "stimulus/a%00b", "stimulus/%ff%fe", "files/data/a.txt/x", "console/index.html/",
])
async def test_no_path_leaves_its_root_or_shows_what_is_hidden(site: Deck, path: str) -> None:
    status, _, body = await get(site, path)
    assert status == 404, (path, status, body[:200])
    assert "outside the roots" not in body and "hidden" not in body and "[pages" not in body


async def test_raw_dot_segments_never_reach_outside(site: Deck) -> None:
    for path in ("/stimulus/../labdeck.toml", "/files/data/../../outside.txt", "/stimulus/./../run.toml"):
        status, body = await raw_request(site, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1")
        assert b"outside the roots" not in body and b"[pages" not in body and b"contrast" not in body, path
        assert status in (404, 308), (path, status)


async def test_a_template_cannot_include_a_file_outside_its_folder(make_deck: Callable[..., Deck],
                                                                   tmp_path: Path) -> None:
    toml = write_pages(tmp_path / "lab")
    templates = tmp_path / "lab" / "pages" / "stimulus" / "templates"
    (templates / "sneaky.html").write_text('{% include "../../../outside.txt" %}')
    os.symlink(tmp_path / "lab" / "outside.txt", templates / "linked.html")
    (templates / "python.html").write_text("{{ values.__class__.__mro__ }}")
    deck = make_deck(toml)
    await deck.start()
    try:
        for name in ("sneaky", "linked"):
            status, _, body = await get(deck, f"stimulus/{name}")
            assert status in (404, 500) and "outside the roots" not in body, name
        status, _, body = await get(deck, "stimulus/python")
        assert status == 200 and "<class" not in body and "&lt;class" not in body  # the sandbox hides it
    finally:
        await deck.stop()


async def test_a_listing_is_sortable_with_human_sizes_and_content_types(site: Deck) -> None:
    status, _, body = await get(site, "files/data/")
    assert status == 200
    names = [line.split('data-testid="entry-name">')[1].split("<")[0] for line in body.splitlines()
             if 'data-testid="entry-name"' in line]
    assert names == ["sub/", "a.txt", "big.bin", "scan.json"]  # folders first, then by name; no hidden, no escape
    assert ">2.0 MB<" in body and ">6 B<" in body
    assert ">application/json<" in body and ">text/plain<" in body and ">folder<" in body
    _, _, body = await get(site, "files/data/?sort=size&order=desc")
    names = [line.split('data-testid="entry-name">')[1].split("<")[0] for line in body.splitlines()
             if 'data-testid="entry-name"' in line]
    assert names == ["sub/", "big.bin", "a.txt", "scan.json"]
    status, _, body = await get(site, "files/data/sub/")
    assert status == 200 and "b.csv" in body and 'data-testid="parent"' in body
    status, _, body = await get(site, "files/data/?sort=__class__")
    assert status == 400 and "sort must be one of" in body


async def test_a_large_file_is_served_in_ranges(site: Deck) -> None:
    status, headers, _ = await get(site, "files/data/big.bin", headers={"Range": "bytes=1000-1009"})
    assert status == 206 and headers["Content-Range"] == "bytes 1000-1009/2097152"
    async with aiohttp.ClientSession() as http, http.get(site.url + "files/data/big.bin",
                                                         headers={"Range": "bytes=-4"}) as r:
        assert r.status == 206 and await r.read() == bytes([252, 253, 254, 255])
    status, headers, _ = await get(site, "files/data/big.bin", headers={"Range": "bytes=9999999-"})
    assert status == 416


def test_human_sizes() -> None:
    assert [human_size(n) for n in (0, 1023, 1024, 1536, 10 * 1024, 5 << 20, 3 << 40)] == [
        "0 B", "1023 B", "1.0 KB", "1.5 KB", "10 KB", "5.0 MB", "3.0 TB"]


async def test_roles_and_login_decide_who_sees_a_site(make_deck: Callable[..., Deck], tmp_path: Path) -> None:
    deck = make_deck(write_pages(tmp_path / "lab", '\n[auth]\nmode = "login"\n'))
    await deck.start()
    try:
        assert deck.gate is not None
        viewer = await deck.gate.tokens.add("wall", "viewer")
        status, headers, _ = await get(deck, "stimulus/control", headers={"Accept": "text/html"})
        assert status == 303 and headers["Location"] == "/login?next=/stimulus/control"
        assert (await get(deck, "stimulus/control"))[0] == 401  # not a browser: no redirect
        status, _, body = await get(deck, "welcome/")  # public: no login
        assert (status, body) == (200, "<p>welcome</p>")
        auth = {"Authorization": f"Bearer {viewer}"}
        status, _, body = await get(deck, "stimulus/control", headers=auth)
        assert status == 200 and '<p data-testid="me">wall/viewer</p>' in body
        assert 'href="/console/"' not in body  # the navigation shows only what the role may see
        status, _, body = await get(deck, "console/", headers=auth)
        assert status == 403 and "operator" in body
        operator = await deck.gate.tokens.add("desk", "operator")
        assert (await get(deck, "console/", headers={"Authorization": f"Bearer {operator}"}))[0] == 200
    finally:
        await deck.stop()


async def test_robots_txt_keeps_crawlers_away_and_crawlers_get_only_public_pages(site: Deck) -> None:
    status, headers, body = await get(site, "robots.txt")
    assert (status, body) == (200, "User-agent: *\nDisallow: /\n")
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    bot = {"User-Agent": GOOGLEBOT}
    for path in ("", "stimulus/", "stimulus/control", "files/data/", "api/runs", "metrics"):
        status, _, body = await get(site, path, headers=bot)
        assert status == 403 and "crawlers" in body, path
    for path in ("welcome/", "robots.txt", "login", "healthz", "static/style.css"):
        assert (await get(site, path, headers=bot))[0] == 200, path
    for agent in ("curl/8.5.0", "python-requests/2.32", "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36"):
        assert (await get(site, "stimulus/control", headers={"User-Agent": agent}))[0] == 200, agent


async def test_the_rate_limit_answers_429_with_retry_after(make_deck: Callable[..., Deck], tmp_path: Path) -> None:
    deck = make_deck(write_pages(tmp_path / "lab"), server_rate_limit=3)
    await deck.start()
    try:
        for _ in range(3):
            assert (await get(deck, "stimulus/control"))[0] == 200
        status, headers, body = await get(deck, "stimulus/control")
        assert status == 429 and int(headers["Retry-After"]) >= 1 and "too many requests" in body
        assert 'data-status="429"' in body  # the error page, with its id
        assert (await get(deck, "files/data/"))[0] == 429  # listings count too
        for _ in range(10):  # static files do not
            assert (await get(deck, "stimulus/style.css"))[0] == 200
        login = {"username": "x", "password": "y"}
        async with aiohttp.ClientSession(headers={"Origin": deck.url.rstrip("/")}) as http, \
                http.post(deck.url + "login", data=login) as r:
            assert r.status == 429 and "Retry-After" in r.headers
    finally:
        await deck.stop()


@pytest.mark.parametrize(("table", "error"), [
    ('[pages.x]\nroute = "/api"\nfolder = "."', "`pages.x.route`: '/api' is one of the server's own routes"),
    ('[pages.x]\nroute = "/static/x"\nfolder = "."', "one of the server's own routes"),
    ('[pages.x]\nroute = "no-slash"\nfolder = "."', "`pages.x.route`: 'no-slash' must look like '/stimulus'"),
    ('[pages.x]\nroute = "/a/../b"\nfolder = "."', "must look like '/stimulus'"),
    ('[pages.x]\nfolder = "../elsewhere"', "`pages.x.folder`: '../elsewhere' is outside the project folder"),
    ('[pages.x]\nrole = "root"\nfolder = "."', "`pages.x.role`: 'root' is not one of public, viewer"),
    ("[pages.x]\nlisting = true", "`pages.x`: needs a `folder`, `templates` or `classes`"),
    ('[pages.x]\nfolder = "."\nhome = "../x.html"', "`pages.x.home`"),
    ('[pages.x]\nfolder = "."\n[pages.y]\nroute = "/x"\nfolder = "."', "is also the route of pages.x"),
    ('[pages.x]\nfolder = "."\nroutes = 1', "unknown key `pages.x.routes`"),
    ('[run]\nupload_dirs = { up = "site/up" }\n[pages.x]\nfolder = "site"',
     "`run.upload_dirs.up`: inside `pages.x.folder`, so an upload would be served"),
    ('[run.upload_dirs.up]\npath = "t"\n[pages.x]\ntemplates = "t"', "inside `pages.x.templates`"),
])
def test_a_bad_pages_table_is_one_clear_error(tmp_path: Path, table: str, error: str) -> None:
    toml = tmp_path / "labdeck.toml"
    toml.write_text(table + "\n")
    with pytest.raises(ConfigError) as info:
        load_config(toml, env={})
    assert error in str(info.value), str(info.value)


def test_the_example_tables_load(tmp_path: Path) -> None:
    toml = tmp_path / "labdeck.toml"
    toml.write_text(PAGES)
    pages = load_config(toml, env={}).pages
    assert pages["data"].route == "/files/data" and pages["stimulus"].route == "/stimulus"


def test_an_upload_folder_may_be_a_listing_root(tmp_path: Path) -> None:
    toml = tmp_path / "labdeck.toml"
    toml.write_text('[run]\nupload_dirs = { up = "up" }\n[pages.x]\nfolder = "up"\nlisting = true\n')
    assert load_config(toml, env={}).pages["x"].listing


async def test_a_file_of_a_listing_is_served_sandboxed(make_deck: Callable[..., Deck], tmp_path: Path) -> None:
    toml = write_pages(tmp_path / "lab")
    (tmp_path / "lab" / "data" / "report.html").write_text("<script src='x.js'></script>")
    deck = make_deck(toml)
    await deck.start()
    try:
        status, headers, _ = await get(deck, "files/data/report.html")
        assert status == 200 and headers["Content-Security-Policy"].startswith("sandbox;")
        _, headers, _ = await get(deck, "stimulus/")  # the lab's own pages are pages of the server
        assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    finally:
        await deck.stop()


async def test_a_public_page_knows_who_is_logged_in(make_deck: Callable[..., Deck], tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    toml = write_pages(lab, '\n[pages.news]\ntemplates = "pages/news"\nrole = "public"\n[auth]\nmode = "login"\n')
    (lab / "pages" / "news").mkdir()
    (lab / "pages" / "news" / "index.html").write_text(
        '{% extends "labdeck/layout.html" %}{% block content %}<p id="me">{{ user or "nobody" }}</p>{% endblock %}')
    deck = make_deck(toml)
    await deck.start()
    try:
        assert deck.gate is not None
        token = await deck.gate.tokens.add("wall", "viewer")
        status, _, body = await get(deck, "news/")
        assert status == 200 and '<p id="me">nobody</p>' in body and 'data-testid="login-link"' in body
        assert 'href="/stimulus/"' not in body  # nobody: only the public sites in the navigation
        _, _, body = await get(deck, "news/", headers={"Authorization": f"Bearer {token}"})
        assert '<p id="me">wall</p>' in body and 'href="/stimulus/"' in body
    finally:
        await deck.stop()


async def head(deck: Deck, path: str, **kwargs: object) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as http, http.head(deck.url + path, allow_redirects=False, **kwargs) as r:
        return r.status, dict(r.headers), await r.read()


async def test_head_answers_as_get_does_without_the_body(make_deck: Callable[..., Deck], tmp_path: Path) -> None:
    """Link checkers and monitoring probes send HEAD: a page answers it with GET's status and
    headers, and the same role rule."""
    deck = make_deck(write_pages(tmp_path / "lab", '\n[auth]\nmode = "login"\n'))
    await deck.start()
    try:
        assert deck.gate is not None
        status, headers, body = await head(deck, "welcome/")
        assert (status, body) == (200, b"") and headers["Content-Type"].startswith("text/html")
        assert int(headers["Content-Length"]) == len("<p>welcome</p>")
        assert (await head(deck, "stimulus/style.css"))[0] == 401  # the same login rule as GET
        viewer = {"Authorization": f"Bearer {await deck.gate.tokens.add('wall', 'viewer')}"}
        status, headers, body = await head(deck, "stimulus/style.css", headers=viewer)
        assert (status, headers["Content-Type"], body) == (200, "text/css", b"")
        assert (await head(deck, "console/", headers=viewer))[0] == 403
        assert (await head(deck, "stimulus/no-such-file", headers=viewer))[0] == 404
    finally:
        await deck.stop()
