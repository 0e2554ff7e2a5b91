"""An experiment's ``main`` script, run by the runner, starts the project's rigs with
``labdeck.script.rigs()``: one loopback rig per wire mode, driven through a session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from labdeck.exceptions import ConfigError
from labdeck.rigs import RigEndpoint, SimulatedRig
from labdeck.script import rigs
from tests.helpers import http_session, runner_of, scaled, until
from tests.runner.conftest import Project, connect

MAIN = """
    import asyncio
    from labdeck import script

    async def main():
        cfg = script.config()
        async with script.rigs() as rigs:
            await rigs.init({"subject": cfg["subject"]})
            started = await rigs.start(cfg["exp_ref"])
            script.log("started", sorted(started))
            script.result("status", await rigs.status())
            await rigs.stop()
            await rigs.cleanup()

    asyncio.run(main())
    """


async def test_a_main_script_drives_the_project_rigs(project: Project, start_deck: Callable[..., Any]) -> None:
    behaviour, camera = SimulatedRig("behaviour"), SimulatedRig("camera")
    async with RigEndpoint("udp://127.0.0.1:0", behaviour) as a, \
            RigEndpoint("ws://127.0.0.1:0", camera, mode="iblutil") as b:
        toml = project(scripts={"main": MAIN}, extra=f"""
[rigs.behaviour]
uri = "{a.uri}"
timeout = {scaled(3)}
[rigs.camera]
uri = "{b.uri}"
mode = "iblutil"
timeout = {scaled(3)}
""")
        async with start_deck(toml) as deck:
            panel = await connect(deck, "rigs/behaviour", "rigs/camera")  # what the Rigs panel hears
            runner = runner_of(deck)
            run = await runner.run("main", {"subject": "algernon", "exp_ref": "2026-12-02_1_algernon"})
            final = await runner.wait()
            assert final["state"] == "finished", final
            info = await runner.run_info(run)
            await until(lambda: all(len(panel.pushes[f"rigs/{r}"]) >= 6 for r in ("behaviour", "camera")),
                        what="every request of the script on the rigs' channels")
            await panel.close()
            async with http_session(deck.url) as http, http.get(f"{deck.url}api/rigs") as resp:
                listed = {view["rig"]: view for view in await resp.json()}
    assert info["results"] == {"status": {"behaviour": "running", "camera": "running"}}
    for name in ("behaviour", "camera"):
        seen = [p["data"] for p in panel.pushes[f"rigs/{name}"]][-5:]  # after the state announced at start
        assert [(v["last"]["event"], v["state"]) for v in seen] == [
            ("init", "initialised"), ("start", "running"), ("status", "running"), ("stop", "stopped"),
            ("cleanup", "connected")]
        assert all(v["last"]["via"] == f"run {run}" and v["last"]["outcome"] == "ok" for v in seen)
        assert seen[1]["last"]["data"]["exp_ref"] == "2026-12-02_1_algernon"
        assert listed[name]["state"] == "connected" and listed[name]["rtt_ms"] > 0  # the server's own record too
        assert listed[name]["last"]["event"] == "cleanup"
    for sim in (behaviour, camera):
        assert sim.calls == ["init", "start", "status", "stop", "cleanup"]
        assert sim.exp_ref is None  # cleaned up, after starting 2026-12-02_1_algernon


def test_without_a_project_the_script_is_told_where_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LABDECK_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"no labdeck\.toml in"):
        rigs()


def test_a_bad_rig_section_is_a_config_error(tmp_path: Path) -> None:
    toml = tmp_path / "labdeck.toml"
    toml.write_text('[rigs.cam]\nmode = "iblutil"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[rigs\].*uri"):
        rigs(toml)
