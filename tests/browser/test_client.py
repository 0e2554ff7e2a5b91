"""The JavaScript client (static/deck.js) in the real browser, against a real server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from playwright.sync_api import Page

from labdeck import Deck
from tests.browser.conftest import open_dashboard, wait_until
from tests.helpers import scaled

pytestmark = pytest.mark.browser

# Imports deck.js afresh as the dashboard would and keeps one client in window.client.
OPEN_CLIENT = """async (url) => {
    const { connect } = await import(new URL("static/deck.js", document.baseURI));
    window.client = url ? connect(url) : connect();
    window.states = [];
    window.client.on("state", (s) => window.states.push(s));
}"""

ERROR_OF = """async ([op, fields, options]) => {
    try {
        await window.client.request(op, fields, options);
        return null;
    } catch (err) {
        return { type: err.type, message: err.message };
    }
}"""


@pytest.fixture
def client_page(page: Page, server: Deck) -> Page:
    open_dashboard(page, server)
    page.evaluate(OPEN_CLIENT, None)
    wait_until(page, "window.client.state === 'open'", scaled(10))
    return page


def error_of(page: Page, op: str, fields: dict[str, Any] | None = None, **options: Any) -> Any:
    return page.evaluate(ERROR_OF, [op, fields or {}, options])


def test_requests_resolve_with_results(client_page: Page) -> None:
    seq = client_page.evaluate("window.client.publish('lab/notes', {text: 'subject in scanner'})")
    assert seq == 1
    assert client_page.evaluate("window.client.channels()")["lab/notes"] == 1


def test_request_errors_carry_the_server_type(client_page: Page) -> None:
    assert error_of(client_page, "frobnicate")["type"] == "UnknownOp"
    assert error_of(client_page, "sub", {"ch": "a//b"})["type"] == "BadRequest"
    denied = error_of(client_page, "pub", {"ch": "run/log", "data": 1})
    assert denied["type"] == "AccessDenied"
    assert "run/log" in denied["message"]


def test_request_rejects_with_disconnected_when_the_socket_drops(client_page: Page) -> None:
    error = client_page.evaluate("""async () => {
        const pending = window.client.channels();
        window.client._ws.close();   // the reply can no longer arrive
        try { await pending; return null; } catch (err) { return err.type; }
    }""")
    assert error == "Disconnected"
    wait_until(client_page, "window.client.state === 'open'", scaled(10))
    assert client_page.evaluate("window.states") == ["open", "reconnecting", "open"]


def test_request_times_out_without_a_server(page: Page, server: Deck) -> None:
    open_dashboard(page, server)
    # no socket answers there (another port would be one the page's CSP may not reach)
    page.evaluate(OPEN_CLIENT, f"ws://127.0.0.1:{server.port}/no-socket-here")
    assert error_of(page, "channels", timeout=300) == {
        "type": "Timeout",
        "message": "no reply to channels within 300 ms",
    }
    assert page.evaluate("window.client.state") in ("connecting", "reconnecting")
    page.evaluate("window.client.close()")
    assert page.evaluate("window.client.state") == "closed"


def test_subscription_resumes_after_a_drop_without_loss_or_duplicates(client_page: Page, server: Deck) -> None:
    ready = client_page.evaluate("""async () => {
        window.seen = [];
        window.gaps = [];
        const unsub = window.client.subscribe("lab/counter", (data, push) => {
            window.seen.push(push.seq);
            // Drop the connection in the middle of the stream: the rest of the first
            // fifty must come back by replay.
            if (push.seq === 25) window.client._ws.close();
        }, { since: 0, onGap: (gap) => window.gaps.push(gap) });
        return await unsub.ready;
    }""")
    assert ready["seq"] == 0
    for i in range(1, 51):
        server.publish("lab/counter", i)
    wait_until(client_page, "window.states.includes('reconnecting')", scaled(10))
    for i in range(51, 101):
        server.publish("lab/counter", i)
    wait_until(client_page, "window.seen.includes(100)", scaled(20))
    assert client_page.evaluate("window.seen") == list(range(1, 101))
    assert client_page.evaluate("window.gaps") == []


def test_gap_is_reported_when_history_no_longer_reaches_back(page: Page, servers: Any) -> None:
    deck = servers.start(server_history=5)
    for i in range(1, 21):
        deck.publish("lab/counter", i)
    open_dashboard(page, deck)
    page.evaluate(OPEN_CLIENT, None)
    result = page.evaluate("""() => new Promise((resolve) => {
        const seen = [];
        window.client.subscribe("lab/counter", (data, push) => {
            seen.push(push.seq);
            if (push.seq === 20) resolve({ seen, gap });
        }, { since: 3, onGap: (g) => { gap = g; } });
        let gap = null;
    })""")
    assert result == {"seen": [16, 17, 18, 19, 20], "gap": {"from": 4, "to": 15}}


def test_a_second_handler_on_a_channel_gets_the_current_value(client_page: Page, server: Deck) -> None:
    client_page.evaluate("""async () => {
        window.first = [];
        await window.client.subscribe("lab/temp", (d) => window.first.push(d)).ready;
    }""")
    server.publish("lab/temp", 20.5)
    wait_until(client_page, "window.first.length === 1", scaled(10))
    second = client_page.evaluate("""() => new Promise((resolve) => {
        window.client.subscribe("lab/temp", (d, push) => resolve([d, push.seq]));
    })""")
    assert second == [20.5, 1]
    # a later handler asking for history gets it, and the first sees nothing twice
    server.publish("lab/temp", 20.75)
    replayed = client_page.evaluate("""() => new Promise((resolve) => {
        const got = [];
        window.client.subscribe("lab/temp", (d, push) => {
            got.push(push.seq);
            if (push.seq === 2) resolve(got);
        }, { since: 0 });
    })""")
    assert replayed == [1, 2]
    wait_until(client_page, "window.first.length >= 2", scaled(10))
    assert client_page.evaluate("window.first") == [20.5, 20.75]


class Sample:
    """An object a lab would expose: a value and a method."""

    def __init__(self) -> None:
        self.a = 1
        self.b = "spare"

    def test_sum(self, x: int, y: int) -> int:
        return x + y


def test_obj_proxy_gets_sets_calls_and_deletes(page: Page, servers: Any) -> None:
    deck = servers.start()
    sample = Sample()
    deck.expose("sample", sample)
    open_dashboard(page, deck)
    page.evaluate(OPEN_CLIENT, None)
    assert page.evaluate("window.client.obj.sample.test_sum(4, 5)") == 9
    assert page.evaluate("(async () => await window.client.obj.sample.a)()") == 1
    page.evaluate("window.client.obj.sample.a = 2")
    wait_until(page, "window.client.obj.sample.a.then((v) => v === 2)", scaled(10))
    assert page.evaluate("(async () => await window.client.obj.sample.a)()") == 2
    assert sample.a == 2
    page.evaluate("delete window.client.obj.sample.b")
    wait_until(page, "window.client.get('sample.b').then(() => false, (err) => err.type === 'NotFound')", scaled(10))
    assert not hasattr(sample, "b")
    missing = page.evaluate("window.client.obj.sample.nothing_here.then(() => null, (err) => err.type)")
    assert missing == "NotFound"


def test_obj_proxy_set_errors_become_error_events(page: Page, servers: Any) -> None:
    deck = servers.start()
    deck.expose("sample", Sample())
    open_dashboard(page, deck)
    page.evaluate(OPEN_CLIENT, None)
    error = page.evaluate("""() => new Promise((resolve) => {
        window.client.on("error", (err) => resolve({ type: err.type, message: err.message }));
        window.client.obj.sample._secret = 1;
    })""")
    assert error["type"] == "AccessDenied"


def test_subscription_resumes_after_the_server_drops_a_slow_client(client_page: Page, server: Deck) -> None:
    client_page.evaluate("""async () => {
        window.seen = [];
        await window.client.subscribe("lab/counter", (data, push) => window.seen.push(push.seq), { since: 0 }).ready;
    }""")
    for i in range(1, 11):
        server.publish("lab/counter", i)
    wait_until(client_page, "window.seen.length === 10", scaled(10))
    loop = server._loop
    assert loop is not None
    conns = list(server.hub.connections)
    for conn in conns:  # both the dashboard's and the test's client: as the slow-client policy does
        asyncio.run_coroutine_threadsafe(conn.close(1013, "slow consumer"), loop).result(scaled(10))
    for i in range(11, 21):
        server.publish("lab/counter", i)
    wait_until(client_page, "window.seen.length >= 20", scaled(20))
    assert client_page.evaluate("window.seen") == list(range(1, 21))
    assert client_page.evaluate("window.states").count("reconnecting") == 1


def test_late_handler_with_since_joins_mid_stream_without_loss_or_duplicates(client_page: Page, server: Deck) -> None:
    client_page.evaluate("""async () => {
        window.first = [];
        window.late = [];
        await window.client.subscribe("lab/counter", (data, push) => {
            window.first.push(push.seq);
            // joins while messages are still arriving on the first subscription
            if (push.seq === 50) {
                window.client.subscribe("lab/counter", (d, p) => window.late.push(p.seq), { since: 0 });
            }
        }).ready;
    }""")
    for i in range(1, 201):
        server.publish("lab/counter", i)
    wait_until(client_page, "window.first.includes(200) && window.late.includes(200)", scaled(20))
    assert client_page.evaluate("window.first") == list(range(1, 201))
    assert client_page.evaluate("window.late") == list(range(1, 201))


def test_a_drop_while_a_late_handler_replays_resumes_it_where_it_was(client_page: Page, server: Deck) -> None:
    """The first handler has seen every push when the connection drops a moment into the
    late one's replay: on reconnect each resumes after its own last push, not the channel's."""
    for i in range(1, 201):
        server.publish("lab/counter", i)
    client_page.evaluate("""async () => {
        window.first = [];
        window.late = [];
        await window.client.subscribe("lab/counter", (data, push) => window.first.push(push.seq), { since: 0 }).ready;
    }""")
    wait_until(client_page, "window.first.includes(200)", scaled(10))
    client_page.evaluate("""() => window.client.subscribe("lab/counter", (data, push) => {
        window.late.push(push.seq);
        if (push.seq === 3) window.client._ws.close();  // three pushes into its replay
    }, { since: 0 })""")
    wait_until(client_page, "window.states.includes('reconnecting') && window.late.includes(200)", scaled(20))
    assert client_page.evaluate("window.late") == list(range(1, 201))
    assert client_page.evaluate("window.first") == list(range(1, 201))
