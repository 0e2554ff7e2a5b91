"""Maintenance mode, from the file and from the admin's switch, with a client connected."""

from __future__ import annotations

import datetime as dt
import time

import aiohttp
import pytest

from labdeck import Deck
from labdeck.admin.maintenance import DEFAULT_RETRY, parse_notice
from tests.conftest import ws_url
from tests.helpers import WireClient, http_session, until


async def status_of(http: aiohttp.ClientSession, url: str) -> tuple[int, str, str]:
    async with http.get(url) as resp:
        return resp.status, resp.headers.get("Retry-After", ""), await resp.text()


async def test_on_and_off_from_the_file_while_a_client_stays_connected(deck: Deck) -> None:
    flag = deck.config.data_dir / "maintenance"
    until_time = dt.datetime.now().astimezone() + dt.timedelta(minutes=10)
    async with WireClient(ws_url(deck)) as client, http_session(deck.url) as http:
        await client.request("sub", ch="lab/x")
        flag.write_text(f"until: {until_time.isoformat()}\nNew <b>coil</b> today.\n", encoding="utf-8")
        await until(lambda: deck.admin is not None and deck.admin.maintenance.current() is not None,
                    what="maintenance noticed")

        status, retry, text = await status_of(http, deck.url)
        assert status == 503 and "New &lt;b&gt;coil&lt;/b&gt; today." in text and 'data-status="503"' in text
        assert 590 <= int(retry) <= 600
        async with http.get(deck.url + "api/panels") as resp:
            assert resp.status == 503 and resp.headers["Retry-After"]
            assert (await resp.json())["error"] == {"type": "Maintenance", "message": "New <b>coil</b> today."}
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(ws_url(deck))
        assert refused.value.status == 503
        for page in ("login", "admin", "healthz", "static/style.css", "api/admin/maintenance"):
            assert (await status_of(http, deck.url + page))[0] == 200, page

        # the connection opened before goes on: requests answered, pushes delivered
        deck.publish("lab/x", 1)
        await client.wait_for("lab/x", 1)
        assert "lab/x" in await client.request("channels")

        flag.unlink()
        await until(lambda: deck.admin is not None and deck.admin.maintenance.current() is None, what="ended")
        assert (await status_of(http, deck.url))[0] == 200
        async with WireClient(ws_url(deck)) as late:
            assert "lab/x" in await late.request("channels")
        deck.publish("lab/x", 2)
        await client.wait_for("lab/x", 2)


async def test_the_admin_switch_writes_the_file_and_is_audited(deck: Deck) -> None:
    end = time.time() + 120
    async with http_session(deck.url) as http:
        async with http.put(deck.url + "api/admin/maintenance", json={"message": "Scanner upgrade", "until": end}) as r:
            assert r.status == 200
            state = await r.json()
        assert state["on"] and state["message"] == "Scanner upgrade" and 110 <= state["retry_after"] <= 120
        notice = parse_notice((deck.config.data_dir / "maintenance").read_text(encoding="utf-8"))
        assert notice.message == "Scanner upgrade" and abs((notice.until or 0) - end) < 1
        status, retry, text = await status_of(http, deck.url)  # at once, not after the next look at the file
        assert status == 503 and "Scanner upgrade" in text and 110 <= int(retry) <= 120

        async with http.delete(deck.url + "api/admin/maintenance") as r:
            assert (await r.json())["on"] is False
        assert not (deck.config.data_dir / "maintenance").exists()
        assert (await status_of(http, deck.url))[0] == 200
        async with http.get(deck.url + "api/admin/audit") as r:
            actions = [e["action"] for e in (await r.json())["entries"]]
        assert actions[:2] == ["maintenance.off", "maintenance.on"]

        for bad in ({"message": 5}, {"message": "until: tomorrow"}, {"until": "soon"}, {"message": "x" * 2001},
                    {"message": "ok", "extra": 1}, {"message": "bell\x07"}):
            async with http.put(deck.url + "api/admin/maintenance", json=bad) as r:
                assert r.status == 400, bad
        assert not (deck.config.data_dir / "maintenance").exists()


def test_the_file_s_first_line_names_the_end() -> None:
    notice = parse_notice("until: 2030-01-02T03:04:05+00:00\nBack soon\n")
    assert notice.message == "Back soon"
    assert notice.until == dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC).timestamp()
    assert notice.retry_after(notice.until - 42.5) == 43
    assert notice.retry_after(notice.until + 1) == DEFAULT_RETRY  # past its end: still in maintenance
    odd = parse_notice("until: after lunch\nBack soon")
    assert odd.until is None and odd.message.startswith("until: after lunch")
    assert parse_notice("").message  # an empty file still says something
