"""A watch runs in one server process of a deployment: each file reported once; when its
process is SIGKILLed another takes the watch over."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

from tests.helpers import WireClient, until
from tests.scaleout.conftest import Server, Servers

CH = "files/scans"


def project(root: Path) -> Path:
    (root / "scans").mkdir()
    config = root / "labdeck.toml"
    config.write_text('[watch.scans]\npath = "scans"\n\n[broker]\nlease_ttl = 1.0\n')
    return config


def files(client: WireClient) -> list[str]:
    return [p["data"]["path"] for p in client.pushes[CH] if p["data"].get("event") == "file"]


async def standby(server: Server) -> Any:
    health: Any = await server.health()
    return health["checks"].get("watch", {}).get("standby")


async def test_one_process_watches_and_another_takes_over_when_it_is_killed(servers: Servers, tmp_path: Path) -> None:
    config = project(tmp_path)
    a, b = await servers.start(2, config=config, data=tmp_path / "shared-data")
    standing: list[Server] = []
    for _ in range(200):  # a process answers /healthz a moment before its capabilities start
        standing = [s for s in (a, b) if await standby(s)]
        if standing:
            break
        await asyncio.sleep(0.05)
    assert len(standing) == 1, "exactly one process stands by"
    (spare,) = standing
    owner = a if spare is b else b
    assert "pid" in await standby(spare)
    async with WireClient(a.ws) as on_a, WireClient(b.ws) as on_b:
        for client in (on_a, on_b):
            await client.request("sub", ch=CH)
        (tmp_path / "scans" / "one.dat").write_bytes(b"1")
        for client in (on_a, on_b):
            await until(lambda client=client: files(client) == ["one.dat"], 10, "the first file")  # type: ignore[misc]
        owner.kill()
        for _ in range(200):  # the lease expires within its ttl; the spare takes over
            if await standby(spare) is None:
                break
            await asyncio.sleep(0.05)
        assert await standby(spare) is None, "the spare never took the watch over"
        (tmp_path / "scans" / "two.dat").write_bytes(b"2")
        survivor = on_a if spare is a else on_b
        await until(lambda: files(survivor)[-1:] == ["two.dat"], 10, "the second file")
        assert files(survivor) == ["one.dat", "two.dat"]  # each once, none again after the takeover


async def test_an_owner_that_stalled_past_its_lease_stands_by_when_it_comes_back(
    servers: Servers, tmp_path: Path
) -> None:
    config = project(tmp_path)
    a, b = await servers.start(2, config=config, data=tmp_path / "shared-data")
    for _ in range(200):
        if await standby(a) or await standby(b):
            break
        await asyncio.sleep(0.05)
    spare = a if await standby(a) else b
    owner = b if spare is a else a
    os.kill(owner.proc.pid, signal.SIGSTOP)
    try:
        for _ in range(200):  # the spare takes the watch over while the owner is frozen
            if await standby(spare) is None:
                break
            await asyncio.sleep(0.05)
        assert await standby(spare) is None, "the spare never took the watch over"
    finally:
        os.kill(owner.proc.pid, signal.SIGCONT)
    for _ in range(200):  # back, the old owner finds its lease lost and stops watching
        if await standby(owner):
            break
        await asyncio.sleep(0.05)
    found = await standby(owner)
    assert found is not None and "pid" in found, "the stalled owner still runs the watch"
    async with WireClient(owner.ws) as client:
        await client.request("sub", ch=CH)
        (tmp_path / "scans" / "late.dat").write_bytes(b"3")
        await until(lambda: files(client) == ["late.dat"], 10, "the file")
        await asyncio.sleep(0.5)  # a second watcher would have reported it by now
        assert files(client) == ["late.dat"]  # once: only the new owner watches
