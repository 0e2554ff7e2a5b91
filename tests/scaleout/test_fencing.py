"""A server process that stalls past the runner lease's expiry stops acting as the run's owner.

The stall is real: the process is frozen with SIGSTOP (as a paused VM or a swapped-out
host would be) for longer than ``[broker] lease_ttl``, then resumed with SIGCONT.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from labdeck.runner.orphans import ORPHAN_ERROR
from tests.helpers import WireClient, scaled, until
from tests.scaleout.conftest import RedisServer, Server, Servers
from tests.scaleout.test_runner import call, project, run_when_free, states


@contextmanager
def frozen(server: Server) -> Iterator[None]:
    """SIGSTOP ``server`` for the block, SIGCONT after it whatever happens."""
    os.kill(server.proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)


async def test_a_stalled_owner_cannot_record_the_run_the_next_owner_took_over(
    servers: Servers, tmp_path: Path
) -> None:
    config = project(tmp_path)
    a, b = await servers.start(2, config=config, data=tmp_path / "shared-data")
    async with WireClient(b.ws) as watcher, WireClient(b.ws) as on_b:
        await watcher.request("sub", ch="run/status")
        async with WireClient(a.ws) as on_a:
            run = await call(on_a, "run", "slow")
        await until(lambda: states(watcher, run)[-1:] == ["running"], 20, "the run running on a")
        with frozen(a):  # a's lease expires; b takes it, finds a's script and kills it
            second = await run_when_free(on_b, "quick")
            await until(lambda: states(watcher, second)[-1:] == ["finished"], 20, "b's own run to finish")
        heard = len(states(watcher, run))
        await until(lambda: "took the one-run lock over" in a.log.read_text(), 20, "a to find itself fenced off")
        async with WireClient(a.ws) as on_a:  # a forgets the run rather than tell its own story of it
            await until_idle(on_a)
        runs = {r["id"]: r for r in (await call(on_b, "history"))["runs"]}
        assert (runs[run]["state"], runs[run]["error"]) == ("failed", ORPHAN_ERROR)  # b's record stands
        assert len(states(watcher, run)) == heard  # and a announced nothing about it


async def test_an_owner_that_finds_its_lease_lost_stops_its_script(servers: Servers, tmp_path: Path) -> None:
    config = project(tmp_path)
    (a,) = await servers.start(1, config=config)
    async with WireClient(a.ws) as watcher:
        await watcher.request("sub", ch="run/status")
        await watcher.request("sub", ch="run/log")
        run = await call(watcher, "run", "slow")
        await until(lambda: states(watcher, run)[-1:] == ["running"], 20, "the run running")
        with frozen(a):
            await asyncio.sleep(scaled(2.5))  # past the 1 s lease: nobody renews it
        await until(lambda: states(watcher, run)[-1:] == ["stopped"], 15, "the script stopped")
        notes = [line["text"] for push in watcher.pushes["run/log"] for line in push["data"]["lines"]
                 if line["stream"] == "labdeck"]
        assert any("lost the one-run lock" in text for text in notes)
        assert (await call(watcher, "run", "quick")) > run  # and the runner is free again


async def until_idle(client: WireClient) -> None:
    for _ in range(100):
        if (await call(client, "status"))["state"] == "idle":
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the stalled process still shows the run as its own")


async def test_a_run_is_stopped_when_redis_stays_away_past_the_lease(
    servers: Servers, redis_server: RedisServer, tmp_path: Path
) -> None:
    servers.redis_url = redis_server.url
    (a,) = await servers.start(1, config=project(tmp_path))
    async with WireClient(a.ws) as watcher:
        await watcher.request("sub", ch="run/status")
        run = await call(watcher, "run", "slow")
        await until(lambda: states(watcher, run)[-1:] == ["running"], 20, "the run running")
        redis_server.stop()
        try:
            await asyncio.sleep(scaled(2.5))  # the 1 s lease cannot be renewed meanwhile
        finally:
            redis_server.start()
        await until(lambda: states(watcher, run)[-1:] == ["stopped"], 20, "the script stopped")
