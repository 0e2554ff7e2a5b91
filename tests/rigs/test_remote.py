"""``labdeck rig init|start|stop|cleanup|status|info`` against a real ``labdeck serve``
process (login mode, API tokens) driving rigs on loopback: each rig's answer printed, a
rig that timed out or failed named, the exit code saying whether all answered."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from labdeck.rigs import RigEndpoint, SimulatedRig
from tests.helpers import free_port, scaled


class LensCapOn(SimulatedRig):
    def init(self, data: Any = None) -> dict[str, Any]:
        raise RuntimeError("the lens cap is on")


@dataclass
class Lab:
    url: str
    operator: str
    viewer: str
    behaviour: SimulatedRig


def _environment(data: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABDECK_") or k == "LABDECK_TEST_TIMEOUT_FACTOR"}
    return {**env, "LABDECK_DATA": str(data), "LABDECK_PORT": str(port)}


async def labdeck(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "labdeck", *args, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), scaled(60))
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def _token(config: Path, env: dict[str, str], name: str, role: str) -> str:
    code, out, err = await labdeck("token", "add", name, "--role", role, "--config", str(config), env=env)
    assert code == 0, err
    return out.splitlines()[0]


async def _healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(int(scaled(20) / 0.05)):
            assert proc.poll() is None, "labdeck serve exited"
            try:
                async with http.get(url + "healthz") as reply:
                    if reply.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError("labdeck serve did not start")


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    behaviour = SimulatedRig("behaviour")
    nobody = free_port(kind=2)  # SOCK_DGRAM: a UDP port where no rig answers
    async with RigEndpoint("udp://127.0.0.1:0", behaviour) as a, RigEndpoint("udp://127.0.0.1:0", LensCapOn()) as b:
        config = tmp_path / "labdeck.toml"
        config.write_text(f"""
[auth]
mode = "login"

[rigs.behaviour]
uri = "{a.uri}"
timeout = {scaled(3)}

[rigs.camera]
uri = "{b.uri}"
timeout = {scaled(3)}

[rigs.ephys]
uri = "udp://127.0.0.1:{nobody}"
timeout = 0.3
""")
        port = free_port()
        env = _environment(tmp_path / "data", port)
        operator = await _token(config, env, "bench-pc", "operator")
        viewer = await _token(config, env, "wall", "viewer")
        proc = subprocess.Popen([sys.executable, "-m", "labdeck", "serve", "--config", str(config)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}/"
            await _healthy(url, proc)
            yield Lab(url, operator, viewer, behaviour)
        finally:
            proc.terminate()
            proc.wait(scaled(15))


async def rig(lab: Lab, *args: str, token: str | None = None) -> tuple[int, str, str]:
    env = _environment(Path("."), 0)
    return await labdeck("rig", *args, "--server", lab.url, *(["--token", token] if token else []), env=env)


async def test_each_rigs_answer_is_printed_and_those_that_failed_are_named(lab: Lab) -> None:
    code, out, err = await rig(lab, "init", "--data", '{"subject": "algernon"}', token=lab.operator)
    assert code == 1
    lines = dict(line.split(": ", 1) for line in out.splitlines())
    assert json.loads(lines["behaviour"]) == {"rig": "behaviour", "state": "initialised"}
    assert lines["camera"].startswith("FAILED RigFailed: ") and "the lens cap is on" in lines["camera"]
    assert lines["ephys"].startswith("FAILED Timeout: ")
    assert err.strip() == "labdeck rig init: timed out: ephys; failed: camera (RigFailed)"


async def test_rigs_named_with_rig_are_driven_and_all_answering_exits_0(lab: Lab) -> None:
    code, out, err = await rig(lab, "start", "--rig", "behaviour", "--exp-ref", "2026-12-03_1_algernon", "--json",
                               token=lab.operator)
    assert (code, err) == (0, "")
    started = {"rig": "behaviour", "state": "running", "exp_ref": "2026-12-03_1_algernon"}
    assert json.loads(out) == {"behaviour": started}
    code, out, _ = await rig(lab, "stop", "--immediately", "--rig", "behaviour", token=lab.operator)
    assert code == 0 and json.loads(out.split(": ", 1)[1])["state"] == "stopped"
    code, out, _ = await rig(lab, "status", "--rig", "behaviour", token=lab.operator)
    assert (code, out) == (0, 'behaviour: "stopped"\n')
    code, _, _ = await rig(lab, "cleanup", "--rig", "behaviour", token=lab.operator)
    assert code == 0
    assert lab.behaviour.calls == ["start", "interrupt", "status", "cleanup"]


async def test_the_server_refusing_is_a_one_line_error_and_exit_1(lab: Lab) -> None:
    code, out, err = await rig(lab, "init", token=lab.viewer)  # a viewer may ask for status, not drive
    assert (code, out) == (1, "") and err.startswith("labdeck rig init: the server refused: AccessDenied: ")
    code, _, err = await rig(lab, "status")
    assert code == 1 and err == "labdeck rig status: the server refused the connection: 401 (an operator's --token " \
                                "is needed)\n"
    code, _, err = await rig(lab, "init", "--rig", "hexapod", token=lab.operator)
    assert code == 1 and "NotFound: no rig named hexapod" in err
    assert lab.behaviour.calls == []


async def test_bad_usage_exits_2_without_calling_anyone(lab: Lab) -> None:
    code, _, err = await rig(lab, "start", token=lab.operator)  # no --exp-ref
    assert code == 2 and "--exp-ref" in err
    code, _, err = await rig(lab, "init", "--data", "{not json", token=lab.operator)
    assert code == 2 and err.startswith("labdeck: --data '{not json' is not JSON")
    code, _, err = await labdeck("rig", "status", "--server", "ftp://lab.example/")
    assert code == 2 and "expected a server URL" in err
    assert lab.behaviour.calls == []
