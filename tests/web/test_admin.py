"""The admin's API: users, sessions, tokens, switches, every change in the audit log; admins only."""

from __future__ import annotations

import logging
from collections.abc import Callable

import aiohttp
import pytest

from labdeck import Deck
from labdeck.web.admin import ROLE_CHANGED_CLOSE_CODE
from labdeck.web.auth import SESSION_ENDED_CLOSE_CODE
from tests.conftest import ws_url
from tests.helpers import WireClient, origin_of, until
from tests.web.test_login import PASSWORD, browser, log_in


async def test_an_admin_revokes_a_token_ends_a_session_and_the_audit_log_says_who(
        make_deck: Callable[..., Deck], caplog: pytest.LogCaptureFixture) -> None:
    deck = make_deck(auth_mode="login")
    await deck.start()
    try:
        gate = deck.gate
        assert gate is not None
        await gate.users.add("ada", "admin", PASSWORD)
        await gate.users.add("otto", "operator", PASSWORD)
        agent = await gate.tokens.add("scanner-agent", "operator")
        origin = {"Origin": origin_of(deck.url)}
        async with browser() as ada, browser() as otto:
            await log_in(ada, deck, "ada")
            await log_in(otto, deck, "otto")
            async with otto.get(deck.url + "api/admin/users") as resp:
                assert resp.status == 403  # an operator is not an admin
            async with ada.get(deck.url + "api/admin/users") as resp:
                assert [(u["name"], u["role"]) for u in (await resp.json())["users"]] == [
                    ("ada", "admin"), ("otto", "operator")]

            async with WireClient(ws_url(deck), headers={"Authorization": f"Bearer {agent}"}) as client:
                async with ada.delete(deck.url + "api/admin/tokens/scanner-agent", headers=origin) as resp:
                    assert await resp.json() == {"revoked": "scanner-agent", "websockets_closed": 1}
                assert client.ws is not None
                await until(lambda: client.ws is not None and client.ws.closed, what="the token's websocket closed")
            async with ada.get(deck.url + "api/admin/tokens") as resp:
                assert (await resp.json())["tokens"] == []
            async with aiohttp.ClientSession() as http, http.get(
                    deck.url + "api/session", headers={"Authorization": f"Bearer {agent}"}) as resp:
                assert resp.status == 401

            async with ada.get(deck.url + "api/sessions") as resp:
                handle = next(s["handle"] for s in (await resp.json())["sessions"] if s["user"] == "otto")
            async with ada.delete(deck.url + f"api/sessions/{handle}", headers=origin) as resp:
                assert resp.status == 200
            async with otto.get(deck.url + "api/session") as resp:
                assert resp.status == 401

            caplog.set_level(logging.INFO, logger="labdeck.web.timing")
            async with ada.patch(deck.url + "api/admin/switches", json={"timing": True, "log_level": "error"},
                                 headers=origin) as resp:
                assert await resp.json() == {"log_level": "ERROR", "timing": True, "debug": False}
            async with ada.get(deck.url + "healthz?probe=1"):
                pass
            await until(lambda: any("GET /healthz?probe=1 200" in r.getMessage() for r in caplog.records),
                        what="the timing line")
            for bad in ({"log_level": "LOUD"}, {"timing": "yes"}, {"colour": True}, {}):
                async with ada.patch(deck.url + "api/admin/switches", json=bad, headers=origin) as resp:
                    assert resp.status == 400, bad
            async with ada.patch(deck.url + "api/admin/switches", data=b"[1", headers=origin) as resp:
                assert resp.status == 400

            async with ada.get(deck.url + "api/admin/audit") as resp:
                entries = (await resp.json())["entries"]
            assert [(e["user"], e["via"], e["action"]) for e in entries] == [
                ("ada", "session", "switch.log_level"), ("ada", "session", "switch.timing"),
                ("ada", "session", "session.end"), ("ada", "session", "token.revoke")]
            assert entries[0]["detail"]["new"] == "ERROR" and entries[1]["detail"] == {"old": False, "new": True}
            assert entries[2]["detail"]["user"] == "otto"
            async with ada.get(deck.url + "api/admin/audit?limit=1&before=" + str(entries[1]["id"])) as resp:
                assert [e["action"] for e in (await resp.json())["entries"]] == ["session.end"]
    finally:
        await deck.stop()
    assert logging.getLogger("labdeck").level == logging.NOTSET  # the level switch ends with the server


async def test_the_admin_page_is_for_admins(make_deck: Callable[..., Deck]) -> None:
    deck = make_deck(auth_mode="login")
    await deck.start()
    try:
        assert deck.gate is not None
        await deck.gate.users.add("ada", "admin", PASSWORD)
        async with browser() as http:
            async with http.get(deck.url + "admin", headers={"Accept": "text/html"}, allow_redirects=False) as resp:
                assert resp.status == 303 and resp.headers["Location"].endswith("/login?next=/admin")
            await log_in(http, deck, "ada")
            async with http.get(deck.url + "admin") as resp:
                assert resp.status == 200 and "static/admin-page.js" in await resp.text()
            async with http.get(deck.url + "api/panels") as resp:
                assert "admin" in [p["id"] for p in (await resp.json())["panels"]]
    finally:
        await deck.stop()


async def _closed_with(ws: aiohttp.ClientWebSocketResponse) -> int | None:
    """The code of the close frame the server sends ``ws`` (pushes before it are skipped).

    The frame's own code, not ``ws.close_code``: the server may cut the connection right
    after its close frame, before the client's reply, which aiohttp then records as 1006."""
    while (msg := await ws.receive(timeout=10)).type is aiohttp.WSMsgType.TEXT:
        pass
    assert msg.type is aiohttp.WSMsgType.CLOSE, msg
    return int(msg.data)


async def test_an_admin_adds_changes_resets_and_deletes_users_and_the_last_admin_stays(
        make_deck: Callable[..., Deck]) -> None:
    deck = make_deck(auth_mode="login")
    await deck.start()
    try:
        assert deck.gate is not None
        await deck.gate.users.add("ada", "admin", PASSWORD)
        await deck.gate.users.add("otto", "operator", PASSWORD)
        origin = {"Origin": origin_of(deck.url)}
        users = deck.url + "api/admin/users"
        async with browser() as ada, browser() as otto, browser() as bea:
            await log_in(ada, deck, "ada")
            await log_in(otto, deck, "otto")
            new = {"name": "bea", "role": "operator", "password": "a first password"}
            async with otto.post(users, json=new, headers=origin) as resp:
                assert resp.status == 403
            async with ada.post(users, json=new) as resp:
                assert resp.status == 403  # no Origin: a cross-site form could have sent it
            for bad, status in (({**new, "name": "Bea"}, 400), ({**new, "role": "root"}, 400),
                                ({**new, "password": "short"}, 400), ({**new, "admin": True}, 400),
                                ({"name": "bea"}, 400), ({**new, "name": "otto"}, 409)):
                async with ada.post(users, json=bad, headers=origin) as resp:
                    assert resp.status == status, bad
                    assert (await resp.json())["error"]["message"]
            async with ada.post(users, json=new, headers=origin) as resp:
                assert resp.status == 201
                assert (await resp.json())["user"]["role"] == "operator"

            assert (await log_in(bea, deck, "bea", "a first password")).status == 303
            async with bea.ws_connect(ws_url(deck)) as ws:
                async with ada.patch(users + "/bea", json={"role": "viewer"}, headers=origin) as resp:
                    assert (await resp.json())["user"]["role"] == "viewer"
                assert await _closed_with(ws) == ROLE_CHANGED_CLOSE_CODE  # to reconnect with the new role
            async with bea.get(deck.url + "api/session") as resp:
                assert (await resp.json())["role"] == "viewer"

            async with bea.ws_connect(ws_url(deck)) as ws:
                async with ada.put(users + "/bea/password", json={"password": "a second password"},
                                   headers=origin) as resp:
                    assert (await resp.json())["websockets_closed"] == 1
                assert await _closed_with(ws) == SESSION_ENDED_CLOSE_CODE
            async with bea.get(deck.url + "api/session") as resp:
                assert resp.status == 401
            assert (await log_in(bea, deck, "bea", "a first password")).status != 303
            assert (await log_in(bea, deck, "bea", "a second password")).status == 303

            for method, path, body in (("PATCH", "/ada", {"role": "operator"}), ("DELETE", "/ada", None)):
                async with ada.request(method, users + path, json=body, headers=origin) as resp:
                    assert resp.status == 409
                    assert "last admin" in (await resp.json())["error"]["message"]
            async with ada.delete(users + "/nobody", headers=origin) as resp:
                assert resp.status == 404

            async with bea.ws_connect(ws_url(deck)) as ws:
                async with ada.delete(users + "/bea", headers=origin) as resp:
                    assert await resp.json() == {"deleted": "bea", "sessions_ended": 1, "websockets_closed": 1}
                assert await _closed_with(ws) == SESSION_ENDED_CLOSE_CODE
            async with bea.get(deck.url + "api/session") as resp:
                assert resp.status == 401
            async with ada.patch(users + "/otto", json={"role": "admin"}, headers=origin):
                pass
            async with ada.delete(users + "/ada", headers=origin) as resp:
                assert resp.status == 200  # another admin is left: otto
            async with otto.get(deck.url + "api/admin/audit") as resp:
                entries = (await resp.json())["entries"]
        assert [(e["user"], e["action"], e["detail"]) for e in reversed(entries)] == [
            ("ada", "user.add", {"name": "bea", "role": "operator"}),
            ("ada", "user.role", {"name": "bea", "old": "operator", "new": "viewer"}),
            ("ada", "user.password", {"name": "bea"}),
            ("ada", "user.delete", {"name": "bea"}),
            ("ada", "user.role", {"name": "otto", "old": "operator", "new": "admin"}),
            ("ada", "user.delete", {"name": "ada"}),
        ]
    finally:
        await deck.stop()
