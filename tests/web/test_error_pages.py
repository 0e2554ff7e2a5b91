"""Error pages: one clean page per status with an error id that the log line has too;
never a traceback outside debug mode; the API keeps its JSON errors."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from aiohttp import web

from labdeck import Deck
from labdeck.web import access
from tests.helpers import origin_of

SECRET = "the-detail-only-the-log-may-see"


async def boom(request: web.Request) -> web.StreamResponse:
    raise RuntimeError(SECRET)


async def busy(request: web.Request) -> web.StreamResponse:
    raise web.HTTPTooManyRequests(headers={"Retry-After": "7"})


def lab_routes(app: web.Application) -> None:
    """A lab's own routes: one with a bug, one that rate-limits."""
    access.add(app, "GET", "/lab/boom", boom, "viewer")
    access.add(app, "GET", "/api/lab/boom", boom, "viewer")
    access.add(app, "GET", "/lab/busy", busy, "viewer")


@pytest.fixture
async def server(make_deck: Callable[..., Deck]) -> AsyncIterator[tuple[Deck, dict[str, str], dict[str, str]]]:
    """A login-mode deck with the lab's routes; headers of an admin's and a viewer's token."""
    deck = make_deck(auth_mode="login")
    deck.routes.append(lab_routes)
    await deck.start()
    assert deck.gate is not None
    tokens = [await deck.gate.tokens.add(name, role) for name, role in (("boss", "admin"), ("wall", "viewer"))]
    origin = origin_of(deck.url)
    admin, viewer = ({"Authorization": f"Bearer {t}", "Origin": origin} for t in tokens)
    try:
        yield deck, admin, viewer
    finally:
        await deck.stop()


def page_of(text: str, status: int) -> str:
    """The error id of an error page for ``status``, checking the page is one."""
    assert f'data-status="{status}"' in text and 'href="/static/style.css"' in text, text[:300]
    assert "Traceback" not in text and SECRET not in text
    found = re.search(r'data-testid="error-id">([0-9a-f]{8})<', text)
    assert found, text
    return found[1]


def logged(caplog: pytest.LogCaptureFixture, error_id: str) -> logging.LogRecord:
    (record,) = [r for r in caplog.records if getattr(r, "error_id", None) == error_id]
    assert error_id in record.getMessage()
    return record


async def test_each_status_gets_its_page_with_an_id_the_log_has(
        server: tuple[Deck, dict[str, str], dict[str, str]], caplog: pytest.LogCaptureFixture) -> None:
    deck, admin, viewer = server
    caplog.set_level(logging.INFO, logger="labdeck")
    async with aiohttp.ClientSession() as http:
        form = {"Origin": admin["Origin"], "Content-Type": "application/x-www-form-urlencoded"}
        cases = [
            (400, "GET", "ws", admin, None),  # a plain GET of the websocket address
            (403, "GET", "admin", viewer, None),
            (404, "GET", "no/such/page", admin, None),
            (413, "POST", "login", form, b"username=" + b"x" * (2 << 20)),  # over the 1 MiB a body may have
            (429, "GET", "lab/busy", admin, None),
            (500, "GET", "lab/boom", admin, None),
        ]
        for status, method, path, headers, body in cases:
            data = None if body is None else io.BytesIO(body)
            async with http.request(method, deck.url + path, headers=headers, data=data) as resp:
                assert resp.status == status and resp.content_type == "text/html", (status, resp.status)
                error_id = page_of(await resp.text(), status)
                record = logged(caplog, error_id)
                assert record.levelno == (logging.ERROR if status == 500 else logging.INFO)
                if status == 429:
                    assert resp.headers["Retry-After"] == "7"
        assert SECRET in logged(caplog, error_id).exc_text  # type: ignore[operator]

        async with http.put(deck.url + "api/admin/maintenance", headers=admin, json={"message": "Back at 3"}) as r:
            assert r.status == 200
        async with http.get(deck.url, headers=admin) as resp:
            assert resp.status == 503 and resp.headers["Retry-After"]
            text = await resp.text()
            logged(caplog, page_of(text, 503))
            assert "Back at 3" in text


async def test_debug_shows_the_traceback_and_the_api_keeps_json(
        server: tuple[Deck, dict[str, str], dict[str, str]]) -> None:
    deck, admin, _ = server
    async with aiohttp.ClientSession() as http:
        async with http.get(deck.url + "api/lab/boom", headers=admin) as resp:
            assert resp.status == 500
            error = (await resp.json())["error"]
            assert error["type"] == "InternalError" and SECRET not in error["message"]
            assert re.search(r"internal error [0-9a-f]{8}", error["message"])
        async with http.get(deck.url + "api/no/such", headers=admin) as resp:
            assert resp.status == 404 and (await resp.json())["error"]["type"] == "NotFound"

        async with http.patch(deck.url + "api/admin/switches", headers=admin, json={"debug": True}) as resp:
            assert (await resp.json())["debug"] is True
        async with http.get(deck.url + "lab/boom", headers=admin) as resp:
            text = await resp.text()
            assert resp.status == 500 and "Traceback" in text and SECRET in text
        assert deck.hub.debug is True  # the websocket replies' detail follows the same switch


async def test_under_a_base_path_the_pages_link_inside_it(make_deck: Callable[..., Deck]) -> None:
    deck = make_deck(server_base_path="/lab")
    await deck.start()
    try:
        root = deck.url.removesuffix("lab/")
        async with aiohttp.ClientSession() as http:
            for url in (deck.url + "nothing", root + "elsewhere"):  # inside the base path and outside it
                async with http.get(url) as resp:
                    text = await resp.text()
                    assert resp.status == 404 and 'href="/lab/static/style.css"' in text and 'href="/lab/"' in text
            assert deck.admin is not None
            deck.admin.maintenance.switch_on("Gone fishing", None)
            async with http.get(deck.url) as resp:
                assert resp.status == 503 and "Gone fishing" in await resp.text()
            async with http.get(deck.url + "api/panels") as resp:
                assert resp.status == 503 and resp.headers["Retry-After"] == "300"
            async with http.get(deck.url + "admin") as resp:
                assert resp.status == 200
    finally:
        await deck.stop()
