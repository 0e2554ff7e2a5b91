"""HTTP routes: ``/healthz``, ``/metrics`` in Prometheus text format, and the base path."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest

import labdeck
from labdeck import Deck
from tests.conftest import ws_url
from tests.helpers import WireClient

SAMPLE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)"
    r"(?:\{(?P<labels>[a-zA-Z_][a-zA-Z0-9_]*=\"(?:[^\"\\]|\\.)*\"(?:,[a-zA-Z_][a-zA-Z0-9_]*=\"(?:[^\"\\]|\\.)*\")*)\})?"
    r" (?P<value>[-+]?(?:[0-9.]+(?:[eE][-+]?[0-9]+)?|\+Inf|-Inf|NaN))$"
)
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_prometheus(text: str) -> tuple[Samples, dict[str, str]]:
    """Every sample ``{(name, labels): value}`` and every ``# TYPE`` ``{family: kind}``.

    Fails on any line that is neither a comment nor ``name{labels} value``.
    """
    samples: Samples = {}
    types: dict[str, str] = {}
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("#"):
            parts = line.split(" ", 3)
            assert parts[1] in ("HELP", "TYPE") and len(parts) >= 3, line
            if parts[1] == "TYPE":
                types[parts[2]] = parts[3]
            continue
        m = SAMPLE.match(line)
        assert m, f"not a Prometheus sample line: {line!r}"
        labels = frozenset(LABEL.findall(m["labels"] or ""))
        key = (m["name"], labels)
        assert key not in samples, f"duplicated series: {line!r}"
        samples[key] = float(m["value"])
    return samples, types


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


async def get(url: str, **kwargs: object) -> tuple[int, str, dict[str, str]]:
    async with aiohttp.ClientSession() as session, session.get(url, **kwargs) as resp:  # type: ignore[arg-type]
        return resp.status, await resp.text(), dict(resp.headers)


async def test_healthz_reports_status_version_and_connections(deck: Deck, client: WireClient) -> None:
    async with aiohttp.ClientSession() as session, session.get(deck.url + "healthz") as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        body = await resp.json()
    assert body["status"] == "ok"
    assert body["version"] == labdeck.__version__
    assert body["connections"] == 1
    assert body["uptime"] >= 0


def test_the_parser_rejects_what_is_not_prometheus_text() -> None:
    for bad in ("metric", "metric{a=1} 2", "metric 1 2 3", 'metric{a="x} 1', "9metric 1"):
        with pytest.raises(AssertionError):
            parse_prometheus(bad + "\n")
    samples, _ = parse_prometheus('m{a="x\\"y",b="2"} 1.5e3\nn +Inf\n')
    assert value(samples, "m", a='x\\"y', b="2") == 1500.0


async def test_metrics_is_prometheus_text_with_the_documented_families(deck: Deck, client: WireClient) -> None:
    await client.request("sub", ch="lab/temp")
    await client.request("pub", ch="lab/temp", data=1)
    await client.request("pub", ch="lab/temp", data=2)
    await client.wait_for("lab/temp", 2)
    await get(deck.url + "healthz")
    await get(deck.url + "healthz")
    await get(deck.url + "no/such/page")

    status, text, headers = await get(deck.url + "metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    samples, types = parse_prometheus(text)

    assert types["labdeck_websocket_connections"] == "gauge"
    assert value(samples, "labdeck_websocket_connections") == 1
    assert value(samples, "labdeck_websocket_slow_disconnects_total") == 0
    assert value(samples, "labdeck_channel_subscriptions", group="lab") == 1
    assert types["labdeck_messages_in_total"] == "counter"
    assert value(samples, "labdeck_messages_in_total", group="lab") == 2
    assert value(samples, "labdeck_messages_out_total", group="lab") == 2
    assert value(samples, "labdeck_http_requests_total", method="GET", route="/healthz", status="200") == 2
    assert value(samples, "labdeck_http_requests_total", method="GET", route="unmatched", status="404") == 1

    assert types["labdeck_http_request_duration_seconds"] == "histogram"
    buckets = sorted(
        (float(dict(labels)["le"]), v)
        for (name, labels), v in samples.items()
        if name == "labdeck_http_request_duration_seconds_bucket" and dict(labels)["route"] == "/healthz"
    )
    assert buckets[-1] == (float("inf"), 2)
    counts = [v for _, v in buckets]
    assert counts == sorted(counts), "histogram buckets are cumulative"
    assert value(samples, "labdeck_http_request_duration_seconds_count", route="/healthz") == 2
    assert value(samples, "labdeck_http_request_duration_seconds_sum", route="/healthz") > 0


async def test_a_scan_of_random_paths_does_not_grow_the_series(deck: Deck) -> None:
    for i in range(20):
        await get(deck.url + f"static/nothing-{i}.js")
        await get(deck.url + f"random/{i}")
    _, text, _ = await get(deck.url + "metrics")
    assert "nothing-" not in text and "random/" not in text


@pytest.fixture
async def lab_deck(make_deck: Callable[..., Deck]) -> AsyncIterator[Deck]:
    d = make_deck(server_base_path="/lab/")
    await d.start()
    try:
        yield d
    finally:
        await d.stop()


async def test_the_base_path_serves_every_route_under_it(lab_deck: Deck) -> None:
    assert lab_deck.url.endswith("/lab/")
    root = lab_deck.url
    for path, status in (("", 200), ("healthz", 200), ("metrics", 200), ("static/deck.js", 200)):
        got, _, _ = await get(root + path)
        assert got == status, path
    async with WireClient(ws_url(lab_deck)) as client:
        assert ws_url(lab_deck).endswith("/lab/ws")
        await client.request("channels")
    bare = root.removesuffix("lab/")
    for path in ("healthz", "metrics", "ws", "static/deck.js"):
        got, _, _ = await get(bare + path)
        assert got == 404, path


async def test_the_base_path_without_slash_redirects_to_it(lab_deck: Deck) -> None:
    url = lab_deck.url.removesuffix("/")
    async with aiohttp.ClientSession() as session, session.get(url, allow_redirects=False) as resp:
        assert resp.status in (301, 308)
        assert resp.headers["Location"] == "/lab/"
    status, text, _ = await get(url)
    assert status == 200 and "<html" in text.lower()
