"""One run at a time across server processes; a process killed mid-run frees the runner."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import RequestFailed, WireClient, until
from tests.scaleout.conftest import Servers

SLOW = """
import time
from labdeck import script
for i in range(600):
    script.log(f"tick {i}")
    time.sleep(0.05)
"""


def project(root: Path) -> Path:
    (root / "slow.py").write_text(SLOW)
    (root / "quick.py").write_text("print('done')\n")
    config = root / "labdeck.toml"
    config.write_text('[scripts]\nslow = "slow.py"\nquick = "quick.py"\n\n[broker]\nlease_ttl = 1.0\n')
    return config


async def call(client: WireClient, method: str, *args: Any) -> Any:
    return await client.request("call", path=["runner", method], args=list(args), kwargs={})


async def test_a_second_process_is_busy_while_one_runs_and_free_after_it_is_killed(
    servers: Servers, tmp_path: Path
) -> None:
    config = project(tmp_path)
    a, b = await servers.start(2, config=config, data=tmp_path / "shared-data")
    async with WireClient(b.ws) as watcher:
        await watcher.request("sub", ch="run/status")
        async with WireClient(a.ws) as on_a:
            run = await call(on_a, "run", "slow")
            await until(lambda: any(p["data"].get("state") == "running" for p in watcher.pushes["run/status"]),
                        20, "the run to be seen running from the other process")
        async with WireClient(b.ws) as on_b:
            with pytest.raises(RequestFailed, match=r"Busy: a script is running elsewhere: script 'slow' on .*pid"):
                await call(on_b, "run", "quick")
            a.kill()  # mid-run: its lease is renewed no more
            await until(lambda: a.proc.poll() is not None, 10, "the process to die")
            second = await run_when_free(on_b, "quick")  # within the lease's ttl
            assert second > run
            states = {r["id"]: r["state"] for r in (await call(on_b, "history"))["runs"]}
            assert states[run] == "interrupted"  # the killed process's run, swept by the new holder


async def test_stop_on_another_process_stops_the_run(servers: Servers, tmp_path: Path) -> None:
    config = project(tmp_path)
    a, b = await servers.start(2, config=config, data=tmp_path / "shared-data")
    async with WireClient(a.ws) as watcher, WireClient(a.ws) as on_a, WireClient(b.ws) as on_b:
        await watcher.request("sub", ch="run/status")
        run = await call(on_a, "run", "slow")
        await until(lambda: states(watcher, run)[-1:] == ["running"], 20, "the run running")
        await call(on_b, "stop")  # reaches the process that runs it
        await until(lambda: states(watcher, run)[-1:] == ["stopped"], 20, "the run stopped")
        assert await run_when_free(on_b, "quick") > run


def states(client: WireClient, run: int) -> list[str]:
    return [p["data"]["state"] for p in client.pushes["run/status"] if p["data"].get("run") == run]


async def run_when_free(client: WireClient, script: str) -> int:
    for _ in range(200):
        try:
            run: int = await call(client, "run", script)
            return run
        except RequestFailed as exc:
            assert exc.type == "Busy", exc
            await asyncio.sleep(0.05)
    raise AssertionError("the runner never became free")
