"""Login mode as a lab uses it, and as an attacker tries it: the login form, sessions,
API tokens on HTTP and the websocket, roles on routes and ops, logout, TLS."""

from __future__ import annotations

import re
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from yarl import URL

from labdeck import Deck
from labdeck.auth.cert import make_certificate
from labdeck.config import Config, ServerConfig, load_config
from labdeck.exceptions import ConfigError
from labdeck.web.auth import SESSION_COOKIE
from tests.conftest import ws_url
from tests.helpers import RequestFailed, WireClient

PASSWORD = "correct horse battery"


@pytest.fixture
async def deck(make_deck: Callable[..., Deck]) -> AsyncIterator[Deck]:
    """A started deck in login mode with three users, one per role."""
    d = make_deck(auth_mode="login")
    await d.start()
    assert d.gate is not None
    for name in ("vera", "otto", "ada"):
        await d.gate.users.add(name, {"vera": "viewer", "otto": "operator", "ada": "admin"}[name], PASSWORD)
    try:
        yield d
    finally:
        await d.stop()


def browser(**kwargs: Any) -> aiohttp.ClientSession:
    """A client that keeps cookies for an IP address, as browsers do (aiohttp's jar does not by default)."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), **kwargs)


def origin(deck: Deck) -> dict[str, str]:
    return {"Origin": deck.url.rstrip("/").removesuffix(deck.config.server.base_path)}


async def log_in(http: aiohttp.ClientSession, deck: Deck, user: str, password: str = PASSWORD,
                 next_path: str = "/") -> aiohttp.ClientResponse:
    """Fill in the form as a browser does: fetch it (for its csrf field), then post it."""
    async with http.get(f"{deck.url}login") as page:
        text = await page.text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', text)
    assert csrf is not None
    form = {"username": user, "password": password, "csrf": csrf[1], "next": next_path}
    return await http.post(f"{deck.url}login", data=form, allow_redirects=False, headers=origin(deck))


async def whoami(http: aiohttp.ClientSession, deck: Deck, **kwargs: Any) -> tuple[int, Any]:
    async with http.get(f"{deck.url}api/session", **kwargs) as reply:
        return reply.status, await reply.json()


def test_listening_beyond_loopback_needs_login_mode(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"labdeck user add NAME --role admin"):
        load_config(None, env={}, overrides={"server.host": "0.0.0.0"})
    config = load_config(None, env={}, overrides={"server.host": "0.0.0.0", "auth.mode": "login"})
    assert config.auth.mode == "login"


async def test_a_config_built_in_python_is_checked_too(tmp_path: Path) -> None:
    deck = Deck(Config(server=ServerConfig(host="0.0.0.0", port=0, data=str(tmp_path))))
    with pytest.raises(ConfigError, match="non-loopback"):
        await deck.start()
    assert deck.port is None  # it never listened


async def test_nobody_reaches_more_than_the_login_page(deck: Deck) -> None:
    async with browser() as http:
        async with http.get(deck.url, headers={"Accept": "text/html"}, allow_redirects=False) as reply:
            assert (reply.status, reply.headers["Location"]) == (303, "/login?next=/")
        async with http.get(f"{deck.url}api/runs") as reply:
            assert reply.status == 401
            assert (await reply.json())["error"]["type"] == "Unauthenticated"
            assert reply.headers["WWW-Authenticate"].startswith("Bearer")
        for public in ("healthz", "login", "static/style.css"):
            async with http.get(f"{deck.url}{public}") as reply:
                assert reply.status == 200, public
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(ws_url(deck))
        assert refused.value.status == 401


async def test_a_user_logs_in_gets_a_session_cookie_and_logs_out(deck: Deck) -> None:
    async with browser() as http:
        reply = await log_in(http, deck, "otto", next_path="/#history/3")
        assert (reply.status, reply.headers["Location"]) == (303, "/#history/3")
        cookie = reply.headers["Set-Cookie"]
        assert cookie.startswith(f"{SESSION_COOKIE}=")
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
        assert "Secure" not in cookie  # plain HTTP: a Secure cookie would never come back
        assert await whoami(http, deck) == (200, {"user": "otto", "role": "operator", "via": "session",
                                                 "mode": "login"})
        async with http.post(f"{deck.url}logout", allow_redirects=False, headers=origin(deck)) as out:
            assert (out.status, out.headers["Location"]) == (303, "/login")
        assert (await whoami(http, deck))[0] == 401


async def test_a_wrong_password_is_refused_and_repeated_failures_are_slowed(deck: Deck) -> None:
    # A first wait of a minute, not a second: on a loaded machine the attempts themselves can
    # take longer than a second, and the wait would be over before the next one is made.
    assert deck.gate is not None
    deck.gate.throttle.base = 60.0
    async with browser() as http:
        reply = await log_in(http, deck, "otto", "wrong password!")
        assert reply.status == 401
        assert "Wrong user name or password." in await reply.text()
        assert SESSION_COOKIE not in reply.cookies
        unknown = await log_in(http, deck, "nobody", "wrong password!")
        assert unknown.status == 401 and "Wrong user name or password." in await unknown.text()
        statuses = [(await log_in(http, deck, "otto", "wrong password!")).status for _ in range(3)]
        assert statuses == [401, 401, 401]  # three free attempts per user name, then each one waits
        slowed = await log_in(http, deck, "otto")  # even the right password waits its turn
        assert slowed.status == 429 and 1 <= int(slowed.headers["Retry-After"]) <= 60


async def test_the_login_form_needs_its_csrf_field(deck: Deck) -> None:
    async with browser() as http:
        form = {"username": "otto", "password": PASSWORD, "csrf": "made-up"}
        async with http.post(f"{deck.url}login", data=form, allow_redirects=False, headers=origin(deck)) as reply:
            assert reply.status == 403 and SESSION_COOKIE not in reply.cookies


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "evil", "/\x07"])
async def test_login_never_redirects_to_another_site(deck: Deck, target: str) -> None:
    async with browser() as http:
        reply = await log_in(http, deck, "otto", next_path=target)
        assert (reply.status, reply.headers["Location"]) == (303, "/")


async def test_a_planted_session_id_never_becomes_a_logged_in_session(deck: Deck) -> None:
    async with browser() as attacker, browser() as victim:
        await log_in(attacker, deck, "vera")
        planted = attacker.cookie_jar.filter_cookies(URL(deck.url))[SESSION_COOKIE].value
        victim.cookie_jar.update_cookies({SESSION_COOKIE: planted})
        await log_in(victim, deck, "ada")
        assert victim.cookie_jar.filter_cookies(URL(deck.url))[SESSION_COOKIE].value != planted
        assert (await whoami(victim, deck))[1]["user"] == "ada"
        assert (await whoami(attacker, deck))[0] == 401  # the planted session was ended at login


async def test_a_forged_or_tampered_cookie_is_nobody(deck: Deck) -> None:
    async with browser() as http:
        await log_in(http, deck, "ada")
        good = http.cookie_jar.filter_cookies(URL(deck.url))[SESSION_COOKIE].value
        for forged in (good[:-2] + ("AA" if not good.endswith("AA") else "BB"), "x" * 60, good.split(".")[0]):
            status, _ = await whoami(http, deck, cookies={SESSION_COOKIE: forged})
            assert status == 401, forged


async def test_roles_on_rest_routes(deck: Deck) -> None:
    sessions = {}
    for name in ("vera", "otto", "ada"):
        http = browser()
        await log_in(http, deck, name)
        sessions[name] = http
    try:
        for name, http in sessions.items():
            async with http.get(f"{deck.url}api/runs") as reply:
                assert reply.status == 200, name
            async with http.post(f"{deck.url}api/runs/prune?keep=5", headers=origin(deck)) as reply:
                body = await reply.json()
                if name == "ada":
                    assert reply.status == 200
                else:
                    assert reply.status == 403, name
                    assert body["error"] == {"type": "AccessDenied",
                                             "message": "POST /api/runs/prune needs the admin role"}
    finally:
        for http in sessions.values():
            await http.close()


async def test_api_tokens_on_http_and_on_the_websocket(deck: Deck) -> None:
    assert deck.gate is not None
    viewer = await deck.gate.tokens.add("dashboard-wall", "viewer")
    operator = await deck.gate.tokens.add("scanner-agent", "operator")
    async with browser() as http:
        for bad in ("ldk_not-a-token", ""):
            async with http.get(f"{deck.url}api/runs", headers={"Authorization": f"Bearer {bad}"}) as reply:
                assert reply.status == 401
        assert await whoami(http, deck, headers={"Authorization": f"Bearer {viewer}"}) == (
            200, {"user": "dashboard-wall", "role": "viewer", "via": "token", "mode": "login"})
    async with WireClient(ws_url(deck), headers={"Authorization": f"Bearer {viewer}"}) as client:
        await client.request("sub", ch="lab/temp")
        with pytest.raises(RequestFailed, match="pub needs the operator role"):
            await client.request("pub", ch="lab/temp", data=1)
        with pytest.raises(RequestFailed) as caught:
            await client.request("call", path=["runner", "run"], args=["main"])
        assert caught.value.type == "AccessDenied"
        assert (await client.request("call", path=["runner", "status"]))["state"] == "idle"  # @reads: viewers too
        assert (await client.request("call", path=["runner", "history"]))["total"] == 0
    async with WireClient(ws_url(deck), headers={"Authorization": f"Bearer {operator}"}) as client:
        assert await client.request("pub", ch="lab/temp", data=21.5) >= 1
    await deck.gate.tokens.revoke("scanner-agent")
    async with browser() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(ws_url(deck), headers={"Authorization": f"Bearer {operator}"})
        assert refused.value.status == 401


async def test_tls_serves_https_with_hsts_and_secure_cookies(make_deck: Callable[..., Deck], tmp_path: Path) -> None:
    make_certificate(["127.0.0.1", "localhost"], tmp_path / "tls")
    deck = make_deck(auth_mode="login", tls_cert=str(tmp_path / "tls" / "cert.pem"),
                     tls_key=str(tmp_path / "tls" / "key.pem"))
    await deck.start()
    try:
        assert deck.url.startswith("https://127.0.0.1:")
        assert deck.gate is not None
        await deck.gate.users.add("ada", "admin", PASSWORD)
        trust = ssl.create_default_context(cafile=str(tmp_path / "tls" / "cert.pem"))
        async with browser(connector=aiohttp.TCPConnector(ssl=trust)) as http:
            async with http.get(f"{deck.url}healthz") as reply:
                assert reply.status == 200
                assert reply.headers["Strict-Transport-Security"].startswith("max-age=")
            reply = await log_in(http, deck, "ada")
            assert reply.status == 303 and "Secure" in reply.headers["Set-Cookie"]
        async with browser() as http:  # a client that does not trust the certificate
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await http.get(f"{deck.url}healthz")
    finally:
        await deck.stop()


async def test_an_admin_lists_and_ends_sessions_and_their_websockets_close(deck: Deck) -> None:
    async with browser() as admin, browser() as otto:
        await log_in(admin, deck, "ada")
        await log_in(otto, deck, "otto")
        ws = await otto.ws_connect(ws_url(deck), headers=origin(deck))
        async with otto.get(f"{deck.url}api/sessions") as reply:
            assert reply.status == 403
        async with admin.get(f"{deck.url}api/sessions") as reply:
            sessions = (await reply.json())["sessions"]
        assert sorted(s["user"] for s in sessions) == ["ada", "otto"]
        assert all(set(s) == {"handle", "user", "created", "last_seen", "peer", "user_agent"} for s in sessions)
        handle = next(s["handle"] for s in sessions if s["user"] == "otto")
        async with admin.delete(f"{deck.url}api/sessions/{handle}", headers=origin(deck)) as reply:
            assert (reply.status, await reply.json()) == (200, {"ended": handle, "websockets_closed": 1})
        closing = await ws.receive()
        assert (closing.type, ws.close_code) == (aiohttp.WSMsgType.CLOSE, 1008)
        assert (await whoami(otto, deck))[0] == 401
        async with admin.delete(f"{deck.url}api/sessions/{handle}", headers=origin(deck)) as reply:
            assert reply.status == 404


async def test_logging_out_closes_that_sessions_websocket(deck: Deck) -> None:
    async with browser() as http:
        await log_in(http, deck, "vera")
        ws = await http.ws_connect(ws_url(deck), headers=origin(deck))
        await http.post(f"{deck.url}logout", allow_redirects=False, headers=origin(deck))
        await ws.receive()
        assert ws.close_code == 1008
