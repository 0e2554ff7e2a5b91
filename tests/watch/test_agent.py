"""The remote agent against a real server on loopback: files and DICOM findings forwarded,
what happened while the server was away sent exactly once, agents shown connected or not,
and files fetched only from inside the agent's roots."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from labdeck import Deck
from labdeck.client import websocket_url as ws_url
from labdeck.demo.dicom_series import PATIENT, Protocol, SeriesWriter
from labdeck.exceptions import ConfigError
from labdeck.watch import inotify
from labdeck.watch.agent.runner import Agent, AgentWatch, parse_watch
from tests.conftest import ws_url as deck_ws
from tests.helpers import WireClient, free_port, origin_of, until

pytestmark = pytest.mark.skipif(not inotify.available(), reason="inotify is Linux only")

BOLD = Protocol("bold")
CH = "dicom/AWP167046"


class Lab:
    """A server (started and stopped at will, always on the same port and data) and an agent."""

    def __init__(self, make_deck: Callable[..., Deck], tmp_path: Path) -> None:
        self.make_deck, self.tmp = make_deck, tmp_path
        self.port = free_port()
        (tmp_path / "labdeck.toml").write_text("[watch]\n")  # the capability, no local folder
        self.deck: Deck | None = None
        self.token = self.admin = ""
        self.scans = tmp_path / "scanner-pc" / "scans"
        self.scans.mkdir(parents=True)

    async def start(self) -> Deck:
        self.deck = self.make_deck(self.tmp / "labdeck.toml", server_port=self.port, auth_mode="login")
        await self.deck.start()
        assert self.deck.gate is not None
        if not self.token:
            self.token = await self.deck.gate.tokens.add("scanner-pc", "operator")
            self.admin = await self.deck.gate.tokens.add("qa", "admin")
        return self.deck

    async def stop(self) -> None:
        if self.deck is not None:
            await self.deck.stop()
            self.deck = None

    def agent(self) -> Agent:
        watch = AgentWatch("scans", self.scans, "dicom")
        return Agent(ws_url(f"http://127.0.0.1:{self.port}/"), self.token, [watch], self.tmp / "agent-data",
                     name="scanpc", retry_max=0.5)

    async def get(self, path: str, token: str | None = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        async with aiohttp.ClientSession() as http, http.get(self.url + path, headers=headers) as reply:
            return reply.status, await reply.json()

    async def fetch(self, body: Any, token: str | None = None) -> tuple[int, bytes, dict[str, str]]:
        headers = {"Authorization": f"Bearer {token or self.admin}", "Origin": origin_of(self.url)}
        async with aiohttp.ClientSession() as http, \
                http.post(self.url + "api/agents/scanpc/fetch", json=body, headers=headers) as reply:
            return reply.status, await reply.read(), dict(reply.headers)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def stored(self, sql: str) -> Any:
        assert self.deck is not None
        return self.deck.capabilities["watch"].ctx.store.query_sync(sql)


@pytest.fixture
async def lab(make_deck: Callable[..., Deck], tmp_path: Path) -> AsyncIterator[Lab]:
    found = Lab(make_deck, tmp_path)
    try:
        yield found
    finally:
        await found.stop()


@contextlib.asynccontextmanager
async def running(agent: Agent) -> AsyncIterator[Agent]:
    task = asyncio.get_running_loop().create_task(agent.run())
    try:
        yield agent
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_an_agent_forwards_files_and_findings_and_shows_as_connected(
        lab: Lab, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    deck = await lab.start()
    async with WireClient(deck_ws(deck), headers={"Authorization": f"Bearer {lab.token}"}) as client:
        for ch in (CH, "files/scanpc.scans"):
            await client.request("sub", ch=ch)
        async with running(lab.agent()) as agent:
            await until(lambda: agent.connected, what="the agent to connect")
            status, listed = await lab.get("api/agents")
            assert status == 200 and [(a["name"], a["connected"], a["watches"]) for a in listed["agents"]] == [
                ("scanpc", True, {"scans": "dicom"})]
            series = SeriesWriter(lab.scans, BOLD)
            series.write()
            series.write()
            series.write(BOLD.changed(tr=2000.0))
            (lab.scans / "notes.dcm").write_text("not an image")
            await client.wait_for(CH, 3)
        found = [p["data"] for p in client.pushes[CH]]
        assert [f["conforms"] for f in found] == [None, None, None]  # no reference yet: grey
        events = [p["data"] for p in client.pushes["files/scanpc.scans"]]
        assert sorted(e["event"] for e in events) == ["file"] * 4 + ["problem"]
        assert next(e for e in events if e["event"] == "problem")["reason"] == "not a DICOM file"
        status, files = await lab.get("api/files/scanpc.scans")
        assert status == 200 and len(files["files"]) == 4
        text = json.dumps(client.frames) + json.dumps(files) + caplog.text
        text += "".join(f.read_bytes().decode("latin-1") for f in (lab.tmp / "agent-data").glob("agent.sqlite*"))
        assert not any(value in text for value in PATIENT.values())
    await until(lambda: not deck.capabilities["watch"].agents.connected("scanpc") or True)


async def test_what_happens_while_the_server_is_away_arrives_exactly_once(lab: Lab) -> None:
    await lab.start()
    await lab.stop()  # the token exists; now the server is gone
    agent = lab.agent()
    async with running(agent):
        first = SeriesWriter(lab.scans, BOLD, series=1)
        for _ in range(5):
            first.write()
        await asyncio.sleep(0.5)
        assert not agent.connected
        await lab.start()
        await until(lambda: lab.stored("SELECT COUNT(*) FROM dicom_findings")[0][0] == 5, timeout=30,
                    what="the queue sent after the server came back")
        await lab.stop()  # away again, with the agent still watching
        second = SeriesWriter(lab.scans, BOLD, series=2)
        for _ in range(4):
            second.write()
        await asyncio.sleep(0.3)
        await lab.start()
        await until(lambda: lab.stored("SELECT COUNT(*) FROM dicom_findings")[0][0] == 9, timeout=30,
                    what="the second absence's files")
        await asyncio.sleep(0.5)
    assert lab.stored("SELECT COUNT(*) FROM file_events WHERE watch = 'scanpc.scans'")[0][0] == 9
    assert lab.stored("SELECT COUNT(*) FROM dicom_findings")[0][0] == 9
    # the agent restarted (its rescan finds all nine again): nothing is queued twice
    async with running(lab.agent()) as again:
        await until(lambda: again.connected, what="the agent to reconnect")
        await asyncio.sleep(0.5)
        assert again.sent == 0
    assert lab.stored("SELECT COUNT(*) FROM dicom_findings")[0][0] == 9
    assert lab.stored("SELECT last_seq FROM agents")[0][0] == 9


async def test_a_batch_sent_twice_is_taken_once(lab: Lab) -> None:
    deck = await lab.start()
    async with WireClient(deck_ws(deck), headers={"Authorization": f"Bearer {lab.token}"}) as client:
        hello = await client.request("call", path=["agents", "hello"], args=["pc2", "q1", {"w": "files"}])
        assert hello["last_seq"] == 0
        rows = [{"seq": n, "watch": "w", "body": {"path": f"f{n}.txt", "size": n, "mtime": 1.0}} for n in (1, 2)]
        for _ in range(2):  # the reply was lost: the agent sends the same entries again
            reply = await client.request("call", path=["agents", "events"], args=["pc2", "q1", rows])
            assert reply == {"last_seq": 2}
        again = await client.request("call", path=["agents", "hello"], args=["pc2", "q1", {"w": "files"}])
        assert again["last_seq"] == 2
        wiped = await client.request("call", path=["agents", "hello"], args=["pc2", "q2", {"w": "files"}])
        assert wiped["last_seq"] == 0  # a new queue (the agent's data wiped) starts afresh
    assert lab.stored("SELECT COUNT(*) FROM file_events WHERE watch = 'pc2.w'")[0][0] == 2


async def test_the_agents_list_names_each_agents_last_file_and_backlog(lab: Lab) -> None:
    deck = await lab.start()
    async with WireClient(deck_ws(deck), headers={"Authorization": f"Bearer {lab.token}"}) as client:
        await client.request("call", path=["agents", "hello"], args=["pc3", "q1", {"w": "files"}])
        status, listed = await lab.get("api/agents")
        assert [(a["last_file"], a["backlog"]) for a in listed["agents"]] == [(None, None)]  # not said yet
        rows = [{"seq": n, "watch": "w", "body": {"path": f"run/f{n}.txt", "size": n, "mtime": 1.0}} for n in (1, 2)]
        await client.request("call", path=["agents", "events"], args=["pc3", "q1", rows, 40])
        status, listed = await lab.get("api/agents")
        agent = listed["agents"][0]
        assert status == 200 and agent["backlog"] == 40
        assert (agent["last_file"]["watch"], agent["last_file"]["path"]) == ("pc3.w", "run/f2.txt")
        await client.request("call", path=["agents", "beat"], args=["pc3"])  # it beats once its queue is empty
        assert (await lab.get("api/agents"))[1]["agents"][0]["backlog"] == 0
        with pytest.raises(Exception, match="InvalidArguments"):
            await client.request("call", path=["agents", "events"], args=["pc3", "q1", [], -1])


@pytest.mark.parametrize("rows", [
    [{"seq": 1, "watch": "w", "body": {"path": "../../etc/passwd", "size": 1, "mtime": 1}}],
    [{"seq": 1, "watch": "other", "body": {"path": "a", "size": 1, "mtime": 1}}],
    [{"seq": "1", "watch": "w", "body": {}}],
    [{"seq": 1, "watch": "w", "body": {"path": "a", "size": 1, "mtime": 1, "header": {"station": 3}}}],
])
async def test_what_an_agent_sends_is_checked(lab: Lab, rows: list[dict[str, Any]]) -> None:
    deck = await lab.start()
    async with WireClient(deck_ws(deck), headers={"Authorization": f"Bearer {lab.token}"}) as client:
        await client.request("call", path=["agents", "hello"], args=["pc3", "q", {"w": "dicom"}])
        with pytest.raises(Exception, match="InvalidArguments"):
            await client.request("call", path=["agents", "events"], args=["pc3", "q", rows])


async def test_an_agent_header_cannot_carry_a_patient_field(lab: Lab) -> None:
    deck = await lab.start()
    header = {"station": "S1", "project": "P", "sequence": "bold", "series": 1, "series_uid": "1.2",
              "params": {"TR": 1.0, "PatientName": "Doe^Jane"}, "extra": {"PatientID": "PID-0042-SECRET"}}
    async with WireClient(deck_ws(deck), headers={"Authorization": f"Bearer {lab.token}"}) as client:
        await client.request("sub", ch="dicom/S1")
        await client.request("call", path=["agents", "hello"], args=["pc4", "q", {"w": "dicom"}])
        rows = [{"seq": 1, "watch": "w", "body": {"path": "a.dcm", "size": 1, "mtime": 1, "header": header}}]
        await client.request("call", path=["agents", "events"], args=["pc4", "q", rows])
        await client.wait_for("dicom/S1", 1)
        state = await client.request("call", path=["stations", "state"])
        text = json.dumps(client.frames) + json.dumps(state)
    assert "Doe" not in text and "SECRET" not in text


async def test_files_are_fetched_only_from_inside_the_agents_roots(lab: Lab, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    await lab.start()
    path = SeriesWriter(lab.scans, BOLD).write()
    secret = lab.tmp / "scanner-pc" / "secret.txt"
    secret.write_text("outside")
    (lab.scans / "link.dcm").symlink_to(secret)
    async with running(lab.agent()) as agent:
        await until(lambda: agent.connected, what="the agent to connect")
        relative = path.relative_to(lab.scans).as_posix()
        status, data, headers = await lab.fetch({"watch": "scans", "path": relative})
        assert status == 200 and data == path.read_bytes()
        assert headers["X-Content-SHA256"] == hashlib.sha256(data).hexdigest()
        assert (await lab.fetch({"watch": "scans", "path": "link.dcm"}))[0] == 403  # a symlink out of the root
        assert (await lab.fetch({"watch": "scans", "path": "../secret.txt"}))[0] == 400
        assert (await lab.fetch({"watch": "scans", "path": "nothing.dcm"}))[0] == 403
        assert (await lab.fetch({"watch": "elsewhere", "path": relative}))[0] == 404
        assert (await lab.fetch({"watch": "scans", "path": relative}, token=lab.token))[0] == 403  # operator
    assert (await lab.fetch({"watch": "scans", "path": relative}))[0] == 404  # not connected


def test_watch_arguments_and_urls() -> None:
    taken: set[str] = set()
    assert parse_watch("/data/scans:dicom", taken).kind == "dicom"
    second = parse_watch("/other/scans", taken)
    assert (second.name, second.kind) == ("scans-2", "files")
    with pytest.raises(ConfigError, match="files or dicom"):
        parse_watch("/data/x:pdf", set())
    assert ws_url("https://lab.example:8443/deck") == "wss://lab.example:8443/deck/ws"
    assert ws_url("http://127.0.0.1:8888") == "ws://127.0.0.1:8888/ws"
    with pytest.raises(ConfigError):
        ws_url("ftp://x")


async def test_an_agent_connects_over_wss_trusting_the_labs_own_certificate(make_deck: Callable[..., Deck],
                                                                             tmp_path: Path) -> None:
    from labdeck.cli import main

    tls = tmp_path / "tls"
    assert main(["cert", "--host", "127.0.0.1", "--out", str(tls)]) == 0
    port = free_port()
    config = tmp_path / "labdeck.toml"
    config.write_text(f'[tls]\ncert = "{tls / "cert.pem"}"\nkey = "{tls / "key.pem"}"\n\n[watch]\n')
    deck = make_deck(config, server_port=port, auth_mode="login")
    await deck.start()
    try:
        assert deck.gate is not None
        token = await deck.gate.tokens.add("pc", "operator")
        scans = tmp_path / "scans"
        scans.mkdir()
        url = ws_url(f"https://127.0.0.1:{port}/")
        assert url.startswith("wss://")
        untrusting = Agent(url, token, [AgentWatch("scans", scans, "files")], tmp_path / "a1", name="pc1")
        async with running(untrusting):
            await asyncio.sleep(1.0)
            assert not untrusting.connected  # the lab's certificate is not one the system trusts
        agent = Agent(url, token, [AgentWatch("scans", scans, "files")], tmp_path / "a2", name="pc2",
                      ca=tls / "cert.pem")
        async with running(agent):
            await until(lambda: agent.connected, what="the agent to connect over wss")
            (scans / "run1.csv").write_text("1,2,3\n")
            store = deck.capabilities["watch"].ctx.store
            await until(lambda: store.query_sync("SELECT COUNT(*) FROM file_events WHERE watch = 'pc2.scans'")[0][0]
                        == 1, what="the file forwarded")
    finally:
        await deck.stop()


async def test_nobody_but_the_server_asks_an_agent_for_files(lab: Lab) -> None:
    deck = await lab.start()
    async with WireClient(deck_ws(deck), headers={"Authorization": f"Bearer {lab.admin}"}) as client:
        with pytest.raises(Exception, match="AccessDenied"):
            await client.request("pub", ch="agents/scanpc", data={"fetch": 1, "watch": "scans", "path": "a.dcm"})
