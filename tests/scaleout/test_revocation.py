"""A token revoked, or a session ended, on one process closes its websockets on every
process at once (not at their next sweep, a minute later), and from the command line too."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import aiohttp

from labdeck import Deck, load_config
from tests.conftest import ws_url
from tests.helpers import free_port, scaled
from tests.scaleout.conftest import Server, Servers

REVOKED = 1008
ROLE_CHANGED = 1012


def labdeck(servers: Servers, data: Path, *args: str) -> str:
    """Run ``labdeck ARGS`` on the deployment's data and broker; its output."""
    env = {**os.environ, "LABDECK_BROKER_URL": servers.redis_url, "LABDECK_BROKER_PREFIX": servers.prefix,
           "LABDECK_DATA": str(data), "LABDECK_CONFIG": ""}
    done = subprocess.run([sys.executable, "-m", "labdeck", *args], env=env, cwd=servers.root,
                          capture_output=True, text=True, timeout=scaled(30), check=True)
    return done.stdout


def new_token(servers: Servers, data: Path, name: str, role: str) -> str:
    out = labdeck(servers, data, "token", "add", name, "--role", role)
    return next(line for line in out.splitlines() if line.startswith("ldk_"))


@asynccontextmanager
async def sockets(token: str, *on: Server) -> AsyncIterator[list[aiohttp.ClientWebSocketResponse]]:
    """One websocket per server, opened with ``token``."""
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(aiohttp.ClientSession())
        auth = {"Authorization": f"Bearer {token}"}
        yield [await stack.enter_async_context(http.ws_connect(s.ws, headers=auth)) for s in on]


async def close_code(ws: aiohttp.ClientWebSocketResponse) -> int:
    """The code of the close frame the server sends (well before the 60 s sweep)."""
    while (msg := await ws.receive(timeout=scaled(10))).type is aiohttp.WSMsgType.TEXT:
        pass
    assert msg.type is aiohttp.WSMsgType.CLOSE, msg
    return int(msg.data)


async def test_a_token_revoked_on_one_process_closes_its_websockets_on_all(servers: Servers, tmp_path: Path) -> None:
    data = tmp_path / "shared-data"
    a, b = await servers.start(2, data=data)
    scanner, admin = new_token(servers, data, "scanner", "operator"), new_token(servers, data, "ops", "admin")
    async with sockets(scanner, a, b) as (on_a, on_b), sockets(admin, b) as (kept,):
        async with aiohttp.ClientSession() as http, http.delete(
                f"http://127.0.0.1:{a.port}/api/admin/tokens/scanner",
                headers={"Authorization": f"Bearer {admin}"}) as resp:
            assert resp.status == 200, await resp.text()
            assert (await resp.json())["websockets_closed"] == 1  # a's own
        assert list(await asyncio.gather(close_code(on_a), close_code(on_b))) == [REVOKED, REVOKED]
        await kept.send_str('{"id": 1, "op": "channels"}')  # another identity's websocket stays
        reply = await kept.receive(timeout=scaled(10))
        assert '"ok":true' in reply.data.replace(" ", "")


async def test_labdeck_token_revoke_closes_the_websockets_on_every_process(servers: Servers, tmp_path: Path) -> None:
    data = tmp_path / "shared-data"
    a, b = await servers.start(2, data=data)
    scanner = new_token(servers, data, "scanner", "operator")
    async with sockets(scanner, a, b) as (on_a, on_b):
        labdeck(servers, data, "token", "revoke", "scanner")
        assert list(await asyncio.gather(close_code(on_a), close_code(on_b))) == [REVOKED, REVOKED]


async def test_a_forged_notice_closes_nothing_still_valid(servers: Servers, tmp_path: Path) -> None:
    import redis.asyncio as aioredis

    data = tmp_path / "shared-data"
    (a,) = await servers.start(1, data=data)
    scanner, other = new_token(servers, data, "scanner", "operator"), new_token(servers, data, "other", "viewer")
    async with sockets(scanner, a) as (ws,), sockets(other, a) as (revoked,):
        r = aioredis.from_url(servers.redis_url)
        try:
            for forged in (b'{"kind": "token", "name": "scanner"}', b"not json", b"x" * 5000,
                           b'{"kind": "everything"}', b'{"kind": "session", "extra": 1}'):
                await r.publish(f"{servers.prefix}:control", forged)
        finally:
            await r.aclose()
        labdeck(servers, data, "token", "revoke", "other")  # a real notice, handled after the forged ones
        assert await close_code(revoked) == REVOKED
        await ws.send_str('{"id": 1, "op": "channels"}')
        reply = await ws.receive(timeout=scaled(10))
        assert reply.type is aiohttp.WSMsgType.TEXT and '"ok":true' in reply.data.replace(" ", "")


PASSWORD = "a long enough password"


def add_user(data: Path, name: str, role: str) -> None:
    env = {**os.environ, "LABDECK_DATA": str(data), "LABDECK_CONFIG": ""}
    subprocess.run([sys.executable, "-m", "labdeck", "user", "add", name, "--role", role, "--password-stdin"],
                   input=PASSWORD + "\n", env=env, text=True, check=True, capture_output=True, timeout=scaled(30))


async def log_in(http: aiohttp.ClientSession, server: Server, name: str) -> None:
    base = f"http://127.0.0.1:{server.port}"
    async with http.get(f"{base}/login") as page:
        csrf = re.search(r'name="csrf" value="([^"]+)"', await page.text())
    assert csrf is not None
    form = {"username": name, "password": PASSWORD, "csrf": csrf[1], "next": "/"}
    async with http.post(f"{base}/login", data=form, allow_redirects=False, headers={"Origin": base}) as resp:
        assert resp.status == 303, await resp.text()


async def login_deployment(servers: Servers, tmp_path: Path) -> tuple[Server, Server, str]:
    """Two processes in login mode on one data folder, a user ``otto`` and an admin token."""
    data, config = tmp_path / "shared-data", tmp_path / "labdeck.toml"
    config.write_text('[auth]\nmode = "login"\n')
    a, b = await servers.start(2, data=data, config=config)
    add_user(data, "otto", "operator")
    return a, b, new_token(servers, data, "ops", "admin")


async def test_a_session_ended_on_one_process_closes_its_websockets_on_all(servers: Servers, tmp_path: Path) -> None:
    a, b, admin = await login_deployment(servers, tmp_path)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as otto:
        await log_in(otto, a, "otto")
        on_a, on_b = await otto.ws_connect(a.ws), await otto.ws_connect(b.ws)
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {admin}"}) as ops:
            async with ops.get(f"http://127.0.0.1:{b.port}/api/sessions") as resp:
                (session,) = (await resp.json())["sessions"]
            async with ops.delete(f"http://127.0.0.1:{b.port}/api/sessions/{session['handle']}") as resp:
                assert resp.status == 200, await resp.text()  # on b: a hears of it
        assert list(await asyncio.gather(close_code(on_a), close_code(on_b))) == [REVOKED, REVOKED]


async def test_a_role_changed_on_one_process_reconnects_its_websockets_on_all(
    servers: Servers, tmp_path: Path
) -> None:
    a, b, admin = await login_deployment(servers, tmp_path)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as otto:
        await log_in(otto, a, "otto")
        on_a, on_b = await otto.ws_connect(a.ws), await otto.ws_connect(b.ws)
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {admin}"}) as ops, ops.patch(
                f"http://127.0.0.1:{a.port}/api/admin/users/otto", json={"role": "viewer"}) as resp:
            assert resp.status == 200, await resp.text()
        assert list(await asyncio.gather(close_code(on_a), close_code(on_b))) == [ROLE_CHANGED, ROLE_CHANGED]
        again = await otto.ws_connect(b.ws)  # the session still holds, with the new role
        await again.send_str('{"id": 1, "op": "call", "path": ["runner", "stop"], "args": [], "kwargs": {}}')
        reply = await again.receive(timeout=scaled(10))
        assert "AccessDenied" in reply.data  # a viewer may not stop runs
        await again.close()


async def test_without_a_shared_broker_the_sweep_closes_a_revoked_tokens_websockets(tmp_path: Path) -> None:
    deck = Deck(load_config(None, env={}, overrides={"server.port": 0, "server.data": str(tmp_path)}))
    await deck.start()
    try:
        assert deck.gate is not None
        scanner = await deck.gate.tokens.add("scanner", "operator")
        kept = await deck.gate.tokens.add("kept", "operator")
        async with aiohttp.ClientSession() as http:
            revoked = await http.ws_connect(ws_url(deck), headers={"Authorization": f"Bearer {scanner}"})
            other = await http.ws_connect(ws_url(deck), headers={"Authorization": f"Bearer {kept}"})
            await deck.gate.tokens.revoke("scanner")  # only the store's row, as `labdeck token revoke` does
            assert "1 websockets of ended sessions closed" in await deck.gate.sweep()
            assert await close_code(revoked) == REVOKED
            await other.send_str('{"id": 1, "op": "channels"}')
            assert (await other.receive(timeout=scaled(10))).type is aiohttp.WSMsgType.TEXT
            await other.close()
    finally:
        await deck.stop()


def test_labdeck_token_revoke_revokes_even_when_redis_is_away(tmp_path: Path) -> None:
    env = {**os.environ, "LABDECK_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0", "LABDECK_DATA": str(tmp_path),
           "LABDECK_CONFIG": ""}

    def labdeck_here(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "labdeck", *args], env=env, cwd=tmp_path, capture_output=True,
                              text=True, timeout=scaled(30))

    assert labdeck_here("token", "add", "scanner", "--role", "operator").returncode == 0
    done = labdeck_here("token", "revoke", "scanner")
    assert done.returncode == 0 and "revoked" in done.stdout
    assert "the running servers were not told" in done.stderr  # they close its websockets at their sweep
    assert "scanner" not in labdeck_here("token", "list").stdout
