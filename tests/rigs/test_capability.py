"""Rigs in a server: [rigs.<name>] sections, the rigs object over the wire protocol, the
REST routes, the rigs/<name> channels, and ``labdeck rig serve`` as a real process."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from labdeck import Deck
from labdeck.config import load_config
from labdeck.exceptions import ConfigError
from labdeck.rigs import Rig, RigEndpoint, SimulatedRig
from tests.conftest import ws_url
from tests.helpers import WireClient, scaled, until


def project(tmp_path: Path, sections: str) -> Path:
    path = tmp_path / "labdeck.toml"
    path.write_text(sections, encoding="utf-8")
    return path


async def test_the_rigs_object_drives_every_configured_rig_and_publishes_their_states(
    make_deck: Callable[..., Deck], tmp_path: Path
) -> None:
    behaviour, camera = SimulatedRig("behaviour"), SimulatedRig("camera")
    async with RigEndpoint("udp://127.0.0.1:0", behaviour) as a, \
            RigEndpoint("ws://127.0.0.1:0", camera, mode="iblutil") as b:
        deck = make_deck(project(tmp_path, f"""
[rigs.behaviour]
uri = "{a.uri}"
timeout = {scaled(3)}
[rigs.camera]
uri = "{b.uri}"
mode = "iblutil"
"""))
        await deck.start()
        try:
            async with WireClient(ws_url(deck)) as client:
                await client.request("sub", ch="rigs/camera", since=0)
                answers = await client.request("call", path=["rigs", "init"], args=[{"subject": "algernon"}])
                assert answers["behaviour"]["state"] == answers["camera"]["state"] == "initialised"
                started = await client.request("call", path=["rigs", "start"], args=["2026-12-02_1_algernon"])
                assert {a["exp_ref"] for a in started.values()} == {"2026-12-02_1_algernon"}
                await client.request("call", path=["rigs", "stop"], kwargs={"immediately": True, "rigs": ["camera"]})
                await until(lambda: client.pushes["rigs/camera"][-1]["data"]["state"] == "stopped", what="stopped")
                last = client.pushes["rigs/camera"][-1]["data"]
                assert last["last"]["event"] == "interrupt" and last["rtt_ms"] > 0
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{deck.url}api/rigs") as reply:
                    states = {v["rig"]: v["state"] for v in await reply.json()}
                async with http.get(f"{deck.url}api/rigs/status") as reply:
                    status = await reply.json()
            assert states == {"behaviour": "running", "camera": "stopped"}
            assert status == {"behaviour": "running", "camera": "stopped"}
        finally:
            await deck.stop()
    assert behaviour.calls == ["init", "start", "status"]
    assert camera.calls == ["init", "start", "interrupt", "status"]


def test_a_rig_section_is_checked_like_every_other(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape("missing required key `rigs.a.uri`")):
        load_config(project(tmp_path, "[rigs.a]\nmode = 'labdeck'\n"), env={})
    with pytest.raises(ConfigError, match=r"mode.*zmq"):
        load_config(project(tmp_path, "[rigs.a]\nuri = 'udp://127.0.0.1'\nmode = 'zmq'\n"), env={})
    with pytest.raises(ConfigError, match="ws://"):
        Deck(load_config(project(tmp_path, "[rigs.a]\nuri = 'ws://127.0.0.1'\n"), env={}))


@pytest.mark.parametrize(("mode", "scheme"), [("labdeck", "udp"), ("iblutil", "ws")])
async def test_labdeck_rig_serve_runs_a_rig_until_interrupted(mode: str, scheme: str) -> None:
    argv = [sys.executable, "-m", "labdeck", "rig", "serve", f"{scheme}://127.0.0.1:0", "--mode", mode]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            uri = proc.stdout.readline().split()[2]
            async with Rig(uri, "served", mode=mode, timeout=scaled(3)) as rig:  # type: ignore[arg-type]
                assert (await rig.init())["state"] == "initialised"
                assert await rig.status() == "initialised"
        finally:
            proc.send_signal(2)
            code = proc.wait(scaled(10))
    assert code == 0


def test_rig_serve_names_bad_handlers() -> None:
    done = subprocess.run([sys.executable, "-m", "labdeck", "rig", "serve", "udp://127.0.0.1:0",
                           "--handlers", "no_such_module:Rig"], capture_output=True, text=True, timeout=scaled(30))
    assert done.returncode == 2 and "no_such_module" in done.stderr


async def test_the_demo_has_two_simulated_rigs_one_per_mode(tmp_path: Path) -> None:
    from labdeck.demo import build_demo

    deck = build_demo(port=0, data=str(tmp_path))
    await deck.start()
    try:
        rigs = deck.capabilities["rigs"].object  # type: ignore[attr-defined]
        assert {v["rig"]: v["mode"] for v in rigs.rigs()} == {"behaviour": "labdeck", "camera": "iblutil"}
        answers = await rigs.init()
        assert {name: a["state"] for name, a in answers.items()} == {"behaviour": "initialised",
                                                                    "camera": "initialised"}
    finally:
        await deck.stop()
