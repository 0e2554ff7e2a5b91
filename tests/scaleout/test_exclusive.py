"""``@exclusive`` holds across server processes sharing one Redis: one call at a time in
the deployment, ``max_wait`` honoured, a SIGKILLed holder's lock freed by its expiry."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import RequestFailed, WireClient, until
from tests.scaleout.conftest import Servers

RIG = '''
import os
import time
from pathlib import Path

from labdeck import exclusive

INSIDE = Path(__file__).with_name("inside")


class Rig:
    @exclusive(lock="rig", max_wait=20)
    def hold(self, seconds: float) -> int:
        """Holds the rig; a second holder at the same time finds the mark and fails."""
        try:
            os.close(os.open(INSIDE, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            raise RuntimeError("two calls held the rig at once") from None
        time.sleep(seconds)
        INSIDE.unlink()
        return os.getpid()

    @exclusive(lock="rig", max_wait=0.3)
    def peek(self) -> int:
        return os.getpid()

    @exclusive(lock="rig", max_wait=20)
    def patient(self) -> int:
        return os.getpid()


rig = Rig()
'''


def project(root: Path) -> Path:
    (root / "lockrig.py").write_text(RIG)
    config = root / "labdeck.toml"
    config.write_text('[objects]\nrig = "lockrig:rig"\n\n[broker]\nlease_ttl = 1.0\n')
    return config


async def call(client: WireClient, method: str, *args: Any) -> Any:
    return await client.request("call", path=["rig", method], args=list(args), kwargs={})


async def test_two_processes_never_run_the_same_exclusive_method_at_once(servers: Servers, tmp_path: Path) -> None:
    a, b = await servers.start(2, config=project(tmp_path))
    async with WireClient(a.ws) as on_a, WireClient(b.ws) as on_b:
        pids = await asyncio.gather(call(on_a, "hold", 0.5), call(on_b, "hold", 0.5),
                                    call(on_a, "hold", 0.2), call(on_b, "hold", 0.2))
        assert set(pids) == {a.proc.pid, b.proc.pid}  # each ran where it was asked, one after another


async def test_a_call_on_another_process_waits_only_max_wait(servers: Servers, tmp_path: Path) -> None:
    a, b = await servers.start(2, config=project(tmp_path))
    async with WireClient(a.ws) as on_a, WireClient(b.ws) as on_b:
        holding = asyncio.ensure_future(call(on_a, "hold", 3))
        await until(lambda: (tmp_path / "inside").exists(), 10, "a to hold the rig")
        with pytest.raises(RequestFailed, match=r"Busy: rig\.peek is exclusive .* after 0\.3 s: .*pid"):
            await call(on_b, "peek")
        assert await holding == a.proc.pid
        assert await call(on_b, "peek") == b.proc.pid  # free once the holder returned


async def test_a_sigkilled_holder_frees_the_lock_when_its_lease_expires(servers: Servers, tmp_path: Path) -> None:
    a, b = await servers.start(2, config=project(tmp_path))
    async with WireClient(b.ws) as on_b:
        on_a = WireClient(a.ws)
        await on_a.connect()
        holding = asyncio.ensure_future(call(on_a, "hold", 60))
        await until(lambda: (tmp_path / "inside").exists(), 10, "a to hold the rig")
        with pytest.raises(RequestFailed, match="Busy"):
            await call(on_b, "peek")  # held from the other process
        a.kill()
        holding.cancel()
        await on_a.close()
        assert await call(on_b, "patient") == b.proc.pid  # within the 1 s lease, not the 60 s call
