"""Request statistics: exact after a known set of requests, kept across a restart, on /metrics."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from labdeck import Deck
from labdeck.admin.stats import route_group
from tests.conftest import ws_url
from tests.helpers import WireClient, until
from tests.web.test_http import parse_prometheus, value


async def fetch(http: aiohttp.ClientSession, url: str) -> int:
    """GET ``url``; the bytes of the body that came back."""
    async with http.get(url) as resp:
        return len(await resp.read())


def answered(deck: Deck) -> int:
    assert deck.admin is not None
    return sum(deck.admin.stats.counts.values())


async def stats_of(http: aiohttp.ClientSession, deck: Deck) -> dict[str, Any]:
    async with http.get(deck.url + "api/admin/stats?days=2") as resp:
        assert resp.status == 200
        body: dict[str, Any] = await resp.json()
        return body


async def test_the_statistics_after_known_requests_match_exactly(make_deck: Callable[..., Deck]) -> None:
    deck = make_deck()
    await deck.start()
    try:
        sent = 0
        async with aiohttp.ClientSession(auto_decompress=False) as http:
            for _ in range(3):
                sent += await fetch(http, deck.url + "healthz")
            for _ in range(2):
                sent += await fetch(http, deck.url + "static/style.css")
            sent += await fetch(http, deck.url + "no/such/page")  # 404, the error page
            sent += await fetch(http, deck.url + "x" * 300)  # 414 from the Host check: invalid
            async with WireClient(ws_url(deck)) as client:
                await client.request("channels")
                await client.request("channels")
                assert deck.admin is not None
                # counted while the connection is open, not once it closes
                await until(lambda: answered(deck) == 8, what="the 8 requests counted")
                assert deck.admin.stats.websocket_frames_in == 2
            body = await stats_of(http, deck)
        (today,) = body["days"]
        assert today["day"] == time.strftime("%Y-%m-%d", time.gmtime())
        assert {k: today[k] for k in ("requests", "files", "invalid", "not_found", "bytes_out")} == {
            "requests": 8, "files": 2, "invalid": 1, "not_found": 1, "bytes_out": sent}
        assert today["by_class"] == {"1xx": 1, "2xx": 5, "4xx": 2}
        totals = body["totals"]
        assert totals["by_group"] == {"healthz": 3, "static": 2, "unmatched": 2, "websocket": 1}
        assert totals["by_method"] == {"GET": 8}
        frames = [json.dumps({"id": i, "op": "channels"}) for i in (1, 2)]  # as WireClient sends them
        websocket = body["websocket"]
        assert {k: websocket[k] for k in ("frames_in", "bytes_in", "frames_out")} == {
            "frames_in": 2, "bytes_in": sum(map(len, frames)), "frames_out": 2}
        assert {r["route"] for r in body["slowest"]} >= {"/healthz", "/static"}
    finally:
        await deck.stop()

    again = make_deck()  # the same data folder: the totals since the first start go on
    await again.start()
    try:
        async with aiohttp.ClientSession() as http:
            body = await stats_of(http, again)
            assert body["totals"]["requests"] == 9  # the 8, and the statistics request before the restart
            assert body["days"][-1]["requests"] == 9
            await until(lambda: answered(again) == 1, what="the statistics request counted")
            async with http.get(again.url + "metrics") as resp:
                samples, types = parse_prometheus(await resp.text())
        assert types["labdeck_requests_total"] == "counter"
        assert value(samples, "labdeck_requests_total", method="GET", status_class="2xx", group="healthz") == 3
        assert value(samples, "labdeck_requests_total", method="GET", status_class="2xx", group="api/admin") == 2
        assert value(samples, "labdeck_files_served_total", method="GET", status_class="2xx", group="static") == 2
        assert value(samples, "labdeck_not_found_requests_total", method="GET", status_class="4xx",
                     group="unmatched") == 1
        assert value(samples, "labdeck_invalid_requests_total", method="GET", status_class="4xx",
                     group="unmatched") == 1
        assert samples[("labdeck_first_start_timestamp_seconds", frozenset())] < time.time()
    finally:
        await again.stop()


async def test_unknown_methods_and_random_paths_do_not_grow_the_tables(deck: Deck) -> None:
    async with aiohttp.ClientSession() as http:
        for i in range(10):
            async with http.request(f"BREW{chr(65 + i)}", deck.url + f"pot/{i}") as resp:
                assert resp.status in (400, 404, 405)  # the parser may refuse the method itself
        body = await stats_of(http, deck)
    assert body["totals"]["by_method"] == {"OTHER": 10}
    assert body["totals"]["by_group"] == {"unmatched": 10}


def test_route_groups_are_the_first_segment_or_the_api_name() -> None:
    assert route_group("/") == "dashboard"
    assert route_group("/lab/", "/lab") == "dashboard"
    assert route_group("/static/{filename}") == "static"
    assert route_group("/api/runs/{id}/log") == "api/runs"
    assert route_group("/api/{x}") == "api"
    assert route_group("/ws") == "websocket"
    assert route_group("/lab/login", "/lab") == "login"
    assert route_group(None) == "unmatched"


def _framed(payload: bytes) -> int:
    """Bytes of an unmasked server-to-client text frame carrying ``payload`` (RFC 6455 5.2)."""
    return len(payload) + (2 if len(payload) < 126 else 4 if len(payload) < 1 << 16 else 10)


async def test_websocket_messages_both_ways_show_in_metrics_while_the_connection_is_open(deck: Deck) -> None:
    requests = [{"id": 1, "op": "sub", "ch": "lab/count"}]
    requests += [{"id": 2 + i, "op": "pub", "ch": "lab/count", "data": i} for i in range(5)]
    requests.append({"id": 9, "op": "channels"})
    received: list[bytes] = []
    async with aiohttp.ClientSession() as http, http.ws_connect(ws_url(deck)) as ws:
        for req in requests:
            await ws.send_str(json.dumps(req))
        while len(received) < len(requests) + 5:  # a reply to each, and the 5 pushes
            msg = await ws.receive(timeout=10)
            assert msg.type is aiohttp.WSMsgType.TEXT
            received.append(msg.data.encode())
        async with http.get(deck.url + "metrics") as resp:
            samples, types = parse_prometheus(await resp.text())
        assert not ws.closed
    assert types["labdeck_websocket_frames_out_total"] == "counter"
    assert value(samples, "labdeck_websocket_frames_in_total") == len(requests)
    assert value(samples, "labdeck_websocket_bytes_in_total") == sum(len(json.dumps(r)) for r in requests)
    assert value(samples, "labdeck_websocket_frames_out_total") == len(received) == 12
    assert value(samples, "labdeck_websocket_bytes_out_total") == sum(map(_framed, received))
