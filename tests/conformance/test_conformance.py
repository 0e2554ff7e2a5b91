"""``labdeck conformance`` against real servers: every check passes against labdeck
itself, the report and exit code say when one does not, and the command line works."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from labdeck import Deck
from labdeck.auth.cert import make_certificate
from labdeck.cli import main
from labdeck.conformance import CHECKS, Target, ordered, report, run
from tests.broker.conftest import REDIS_URL, wipe
from tests.conftest import ws_url
from tests.helpers import scaled
from tests.scaleout.conftest import Servers

HISTORY = 20
BOUND = 64 * 1024
IN_FLIGHT = 8
SETTINGS = {"server_history": HISTORY, "server_send_queue_bytes": BOUND, "server_max_in_flight": IN_FLIGHT}


class Slow:
    async def wait(self) -> str:
        await asyncio.sleep(0.3)
        return "done"


SLOW_MODULE = """\
import asyncio


class Slow:
    async def wait(self) -> str:
        await asyncio.sleep(0.3)
        return "done"


slow = Slow()
"""

SERVER_TOML = f"""\
[server]
history = {HISTORY}
send_queue_bytes = {BOUND}
max_in_flight = {IN_FLIGHT}

[objects]
slow = "conformance_objects:slow"
"""


@pytest.fixture(params=["one process, in-memory broker", "two processes sharing Redis"])
async def servers(
    request: pytest.FixtureRequest, make_deck: Callable[..., Deck], tmp_path: Path
) -> AsyncIterator[list[str]]:
    """The websocket URLs of the servers under test: one in-process server, or two
    ``labdeck serve`` processes on one Redis key prefix of their own."""
    if request.param == "two processes sharing Redis":
        async for urls in _redis_backed(tmp_path):
            yield urls
        return
    deck = make_deck(**SETTINGS)
    deck.expose("slow", Slow())
    await deck.start()
    try:
        yield [ws_url(deck)]
    finally:
        await deck.stop()


async def _redis_backed(root: Path) -> AsyncIterator[list[str]]:
    (root / "conformance_objects.py").write_text(SLOW_MODULE)
    config = root / "labdeck.toml"
    config.write_text(SERVER_TOML)
    prefix = f"labdeck-test-{secrets.token_hex(6)}"
    group = Servers(root, REDIS_URL, prefix)
    try:
        started = await group.start(2, config=config)
        yield [server.ws for server in started]
    finally:
        group.stop()
        await wipe(prefix)


def target(urls: list[str], *, history: int = HISTORY, token: str | None = None, ca: str | None = None,
           slow_call: str | None = "slow.wait") -> Target:
    return Target(urls, token, history=history, send_queue_bytes=BOUND, max_in_flight=IN_FLIGHT, timeout=scaled(5),
                  ca=ca, slow_call=slow_call)


async def test_labdeck_passes_every_check(servers: list[str]) -> None:
    outcomes = await run(target(servers))
    assert [o.name for o in outcomes] == [c.name for c in ordered()]
    assert outcomes[0].name == "reply.ids" and len(outcomes) == len(CHECKS)
    failed = [o for o in outcomes if o.status != "pass"]
    assert not failed, report(failed)


async def test_the_python_client_passes_the_checks_made_through_its_own_api(servers: list[str]) -> None:
    # The "a second client written from the page passes the suite": these checks
    # hold only when labdeck.client and the server agree on each rule.
    outcomes = await run(target(servers), only=["client."])
    assert [o.name for o in outcomes] == ["client.exactly_once", "client.requests", "client.subscribe", "client.gap"]
    assert all(o.status == "pass" for o in outcomes), report(outcomes)


async def test_several_urls_publish_through_one_and_read_through_the_next(servers: list[str]) -> None:
    # One process named twice: the code paths of a multi-process run (reconnecting to the
    # next URL, one epoch across URLs) without a second process.
    outcomes = await run(target([servers[0], servers[0]]), only=["push.", "epoch.", "client."])
    assert len(outcomes) == 7 and all(o.status == "pass" for o in outcomes), report(outcomes)


async def test_a_server_that_breaks_a_rule_fails_its_check_with_the_reason(servers: list[str]) -> None:
    # Told the history is shorter than it is, the gap check sees no gap where it expects one.
    outcomes = await run(target(servers, history=HISTORY // 2), only=["replay.gap"])
    assert [(o.name, o.status) for o in outcomes] == [("replay.gap", "FAIL")]
    text = report(outcomes)
    assert "expected one gap 1 to 5, got []" in text
    assert text.endswith("0 passed, 1 failed, 0 skipped\n")


async def command(*args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABDECK_") or k == "LABDECK_TEST_TIMEOUT_FACTOR"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "labdeck", *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), scaled(60))
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_the_command_reports_each_check_and_exits_0_or_1(servers: list[str]) -> None:
    options = ["--history", str(HISTORY), "--send-queue-bytes", str(BOUND), "--only", "reply.", "--only", "sub."]
    code, out, err = await command("conformance", *servers, *options)
    assert code == 0, out + err
    assert "pass  reply.ids" in out and "pass  sub.unsub" in out
    assert "skip  reply.duplicate_id" in out and "needs --slow-call PATH" in out
    assert "0 failed" in out and "replay.gap" not in out
    code, out, _ = await command("conformance", *servers, "--history", "5", "--only", "replay.gap")
    assert code == 1
    assert "FAIL  replay.gap" in out


def test_a_url_that_is_not_a_websocket_url_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["conformance", "http://127.0.0.1:8888/"]) == 2
    assert capsys.readouterr().err == "labdeck: 'http://127.0.0.1:8888/' is not a ws:// or wss:// URL\n"


async def test_an_operator_token_is_what_a_login_server_needs(make_deck: Callable[..., Deck]) -> None:
    deck = make_deck(auth_mode="login", **SETTINGS)
    await deck.start()
    try:
        assert deck.gate is not None
        token = await deck.gate.tokens.add("conformance", "operator")
        outcomes = await run(target([ws_url(deck)], token=token), only=["push.", "client.", "upgrade."])
        assert all(o.status == "pass" for o in outcomes), report(outcomes)
        viewer = await deck.gate.tokens.add("wall", "viewer")
        (outcome,) = await run(target([ws_url(deck)], token=viewer), only=["push.order"])
        assert outcome.status == "FAIL" and "AccessDenied" in outcome.detail
    finally:
        await deck.stop()


async def test_over_tls_with_the_servers_certificate_trusted(make_deck: Callable[..., Deck], tmp_path: Path) -> None:
    make_certificate(["127.0.0.1", "localhost"], tmp_path / "tls")
    cert = str(tmp_path / "tls" / "cert.pem")
    deck = make_deck(auth_mode="login", tls_cert=cert, tls_key=str(tmp_path / "tls" / "key.pem"), **SETTINGS)
    await deck.start()
    try:
        assert deck.gate is not None
        token = await deck.gate.tokens.add("conformance", "operator")
        url = ws_url(deck).replace("https://", "wss://")
        assert url.startswith("wss://")
        only = ["reply.ids", "push.", "client.", "close.", "upgrade."]
        outcomes = await run(target([url], token=token, ca=cert), only=only)
        assert len(outcomes) == 11 and all(o.status == "pass" for o in outcomes), report(outcomes)
        (untrusted,) = await run(target([url], token=token), only=["reply.ids"])
        assert untrusted.status == "FAIL" and "certificate" in untrusted.detail.lower()
    finally:
        await deck.stop()
