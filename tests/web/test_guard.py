"""The request checks of every mode, as a hostile page would meet them: cross-site
forgery, DNS rebinding, bad REST input and the security headers, on a real server.

Where aiohttp's client would fix the request up (a missing Host), a raw socket sends it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from labdeck import Deck
from labdeck.web.guard import CONTENT_SECURITY_POLICY
from tests.conftest import ws_url
from tests.helpers import http_session, origin_of, runner_of, scaled
from tests.web.conftest import RUNS, run_history, write_lab

EVIL = "http://evil.example"


async def total_runs(deck: Deck) -> int:
    return int((await runner_of(deck).history())["total"])


def upload_body(name: str, content: bytes) -> tuple[bytes, str]:
    boundary = "b0undary1234"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n\r\n').encode()
    return body + content + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


async def raw_request(deck: Deck, head: str) -> tuple[int, bytes]:
    """Send ``head`` (request line and headers, no blank line) as written; status and body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", deck.port)
    try:
        writer.write(head.encode("latin-1") + b"\r\nConnection: close\r\n\r\n")
        await writer.drain()
        reply = await asyncio.wait_for(reader.read(), scaled(5))
    finally:
        writer.close()
    status_line, _, rest = reply.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


async def ws_status(deck: Deck, **headers: str) -> int:
    async with aiohttp.ClientSession() as session:
        try:
            async with session.ws_connect(ws_url(deck), headers=headers) as ws:
                await ws.close()
                return 101
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status


# -- cross-site forgery -------------------------------------------------------------------


async def test_a_form_post_from_another_site_cannot_prune_the_history(lab: Deck) -> None:
    url = lab.url + "api/runs/prune?keep=0"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    async with aiohttp.ClientSession() as http:
        for headers in ({"Origin": EVIL}, {"Origin": "null"}, {}, {"Sec-Fetch-Site": "cross-site"},
                        {"Origin": f"http://127.0.0.1:{lab.port}.evil.example"},
                        {"Origin": f"http://localhost:{lab.port}/"}):
            async with http.post(url, data="x=1", headers={**form, **headers}) as resp:
                assert resp.status == 403, headers
                body = await resp.json()
                assert body["error"]["type"] == "AccessDenied" and set(body["error"]) == {"type", "message"}
            assert await total_runs(lab) == RUNS
        async with http.delete(f"{lab.url}api/runs/1", headers={"Origin": EVIL}) as resp:
            assert resp.status == 403
    assert await total_runs(lab) == RUNS


async def test_the_servers_own_pages_and_token_holders_may_change_state(lab: Deck) -> None:
    own = origin_of(lab.url)
    async with aiohttp.ClientSession() as http:
        async with http.delete(f"{lab.url}api/runs/1", headers={"Origin": own}) as resp:
            assert resp.status == 200
        # another loopback name of the same port is the same server
        async with http.delete(f"{lab.url}api/runs/2", headers={"Origin": f"http://localhost:{lab.port}"}) as resp:
            assert resp.status == 200
        async with http.post(f"{lab.url}api/runs/prune?keep=5", headers={"Sec-Fetch-Site": "same-origin"}) as resp:
            assert resp.status == 200
        # a token holder needs no Origin (a page on another site cannot send the header), but
        # the token must be real: a made-up one is refused by the identity layer
        async with http.post(f"{lab.url}api/runs/prune?keep=0", headers={"Authorization": "Bearer t0ken"}) as resp:
            assert resp.status == 401
        assert lab.gate is not None
        token = await lab.gate.tokens.add("pruner", "admin")
        async with http.post(f"{lab.url}api/runs/prune?keep=0", headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 200
    assert await total_runs(lab) == 0


async def test_a_cross_site_upload_is_refused_and_replaces_nothing(lab: Deck, tmp_path: Path) -> None:
    target = tmp_path / "lab" / "stimuli" / "faces.txt"
    target.write_bytes(b"the real stimuli")
    body, content_type = upload_body("faces.txt", b"forged")
    async with aiohttp.ClientSession() as http:
        for origin in (EVIL, "null"):
            headers = {"Content-Type": content_type, "Origin": origin}
            async with http.post(f"{lab.url}api/uploads/stimuli", data=body, headers=headers) as resp:
                assert resp.status == 403
        assert target.read_bytes() == b"the real stimuli"
        headers = {"Content-Type": content_type, "Origin": origin_of(lab.url)}
        async with http.post(f"{lab.url}api/uploads/stimuli", data=body, headers=headers) as resp:
            assert resp.status == 201
    assert target.read_bytes() == b"forged"


# -- DNS rebinding ------------------------------------------------------------------------


async def test_a_rebound_name_gets_421_on_every_path_and_the_websocket(lab: Deck) -> None:
    rebound = {"Host": f"evil.example:{lab.port}", "Origin": f"http://evil.example:{lab.port}"}
    assert await ws_status(lab, **rebound) == 421
    assert not lab.hub.connections
    async with aiohttp.ClientSession() as http:
        for method, path in (("GET", "healthz"), ("GET", ""), ("GET", "api/runs"), ("GET", "no/such/page"),
                             ("POST", "api/runs/prune?keep=0"), ("DELETE", "api/runs/1")):
            async with http.request(method, lab.url + path, headers=rebound) as resp:
                assert resp.status == 421, path
                assert resp.content_type == "text/plain" and len(await resp.text()) < 100
    assert await total_runs(lab) == RUNS


async def test_a_request_without_host_is_a_bad_request(lab: Deck) -> None:
    status, _ = await raw_request(lab, "GET /healthz HTTP/1.0")
    assert status == 400
    status, _ = await raw_request(lab, "GET /healthz HTTP/1.1\r\nHost: ")
    assert status == 400
    status, body = await raw_request(lab, f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{lab.port}")
    assert status == 200 and b'"ok"' in body


async def test_loopback_names_are_answered(lab: Deck) -> None:
    for name in ("localhost", "LocalHost", "lab.localhost", "localhost.", "127.0.0.1", "127.9.9.9", "[::1]"):
        status, _ = await raw_request(lab, f"GET /healthz HTTP/1.1\r\nHost: {name}:{lab.port}")
        assert status == 200, name
    for name in ("127.0.0.1.evil.example", "localhost.evil.example", "evil.example", "[::2]", "0.0.0.0", "10.0.0.1"):
        status, _ = await raw_request(lab, f"GET /healthz HTTP/1.1\r\nHost: {name}:{lab.port}")
        assert status == 421, name


async def test_server_hostnames_are_answered_and_their_pages_may_change_state(
        make_deck: Callable[..., Deck], tmp_path: Path) -> None:
    deck = make_deck(write_lab(tmp_path / "lab", '[server]\nhostnames = ["Lab.Example.org"]'))
    await deck.start()
    try:
        await run_history(deck, 1)
        host = f"lab.example.org:{deck.port}"
        async with aiohttp.ClientSession() as http:
            async with http.get(deck.url + "healthz", headers={"Host": host}) as resp:
                assert resp.status == 200
            headers = {"Host": host, "Origin": f"http://localhost:{deck.port}"}  # not loopback-equivalent
            async with http.post(deck.url + "api/runs/prune?keep=0", headers=headers) as resp:
                assert resp.status == 403
            headers = {"Host": host, "Origin": f"https://{host}"}  # behind a proxy that ends TLS
            async with http.post(deck.url + "api/runs/prune?keep=0", headers=headers) as resp:
                assert resp.status == 200
        assert await ws_status(deck, Host=host, Origin=f"http://{host}") == 101
        assert await ws_status(deck, Host=host, Origin=f"http://localhost:{deck.port}") == 403
        assert await ws_status(deck, Host=f"other.example.org:{deck.port}") == 421
    finally:
        await deck.stop()


async def test_the_checks_hold_under_a_base_path(make_deck: Callable[..., Deck], tmp_path: Path) -> None:
    deck = make_deck(write_lab(tmp_path / "lab"), server_base_path="/lab")
    await deck.start()
    try:
        await run_history(deck, 1)
        async with aiohttp.ClientSession() as http:
            for path in ("healthz", "nothing/here", "../elsewhere"):
                async with http.get(deck.url + path, headers={"Host": "evil.example"}) as resp:
                    assert resp.status == 421, path
            async with http.post(deck.url + "api/runs/prune?keep=0", headers={"Origin": EVIL}) as resp:
                assert resp.status == 403
            async with http.get(deck.url) as resp:
                assert resp.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert await total_runs(deck) == 1
    finally:
        await deck.stop()


# -- bad REST input -----------------------------------------------------------------------


async def test_an_empty_keep_is_a_bad_request_not_keep_nothing(lab: Deck) -> None:
    async with http_session(lab.url) as http:
        for query in ("?keep=", "?keep", "", "?keep=-1", "?keep=two", "?keep=1e3"):
            async with http.post(f"{lab.url}api/runs/prune{query}") as resp:
                assert resp.status == 400, query
                assert (await resp.json())["error"]["type"] == "BadRequest"
    assert await total_runs(lab) == RUNS


@pytest.mark.parametrize("run", [str(1 << 63), str((1 << 63) - 1), "9" * 30, "0" * 40 + "1"])
async def test_a_run_id_past_what_sqlite_stores_is_not_found(lab: Deck, run: str) -> None:
    async with http_session(lab.url) as http:
        for method, suffix in (("GET", ""), ("GET", "/log"), ("GET", "/data"), ("GET", "/data.csv"),
                               ("GET", "/data.jsonl"), ("DELETE", "")):
            async with http.request(method, f"{lab.url}api/runs/{run}{suffix}") as resp:
                expected = 200 if run.endswith("1") and len(run) == 41 else 404
                assert resp.status == expected, (method, suffix)
                if expected == 404:
                    assert (await resp.json())["error"]["type"] == "NotFound"
                if method == "DELETE":
                    break


async def test_an_overlong_path_is_refused_and_the_server_keeps_serving(lab: Deck) -> None:
    async with aiohttp.ClientSession() as http:
        for path in ("static/" + "a" * 5000, "static/" + "a" * 256, "api/uploads/" + "d" * 300, "x" * 1000):
            async with http.get(lab.url + path) as resp:
                assert resp.status == 414, path[:20]
        async with http.get(lab.url + "static/" + "a/" * 1000 + "b") as resp:
            assert resp.status == 404
        async with http.get(lab.url + "static/" + "a" * 255) as resp:
            assert resp.status == 404
        async with http.get(lab.url + "healthz") as resp:
            assert resp.status == 200


# -- headers ------------------------------------------------------------------------------


async def headers_of(url: str) -> Any:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        assert resp.status == 200
        return resp.headers


async def test_every_response_says_nosniff_and_html_refuses_other_sites_frames(lab: Deck) -> None:
    for path in ("healthz", "metrics", "api/runs", "api/openapi.json", "static/app.js", "static/style.css"):
        headers = await headers_of(lab.url + path)
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["Referrer-Policy"] == "same-origin", path
        assert "Content-Security-Policy" not in headers, path
    page = await headers_of(lab.url)
    assert page["Content-Type"].startswith("text/html")
    assert page["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'self'" in page["Content-Security-Policy"]
    assert page["X-Frame-Options"] == "DENY"
    async with aiohttp.ClientSession() as http, http.get(lab.url + "no/such/page") as resp:
        assert resp.status == 404 and resp.headers["X-Content-Type-Options"] == "nosniff"
