"""Starting and stopping the servers a benchmark measures, each in its own process.

Every server runs as ``python -m labdeck.bench.serve KIND`` with this interpreter
(:data:`sys.executable`) and reports its port on its first line of stdout. Stopping
closes the server's stdin, which it treats as the signal to shut down; one that
has not exited after a grace period gets SIGTERM, then SIGKILL. Because a server
also stops when its stdin ends, none outlives a benchmark that is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

from labdeck.exceptions import BenchmarkFailed

__all__ = ["KINDS", "Server", "running_servers", "spawn", "start_server", "stop_server"]

KINDS = ("labdeck", "aiohttp", "tornado")
"""The server under test first, then the baselines."""


@dataclass(frozen=True)
class Server:
    """A running benchmark server."""

    kind: str
    port: int
    features: frozenset[str]
    process: asyncio.subprocess.Process

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def spawn(module: str, *args: str, what: str, timeout: float = 20.0,
                ) -> tuple[asyncio.subprocess.Process, dict[str, Any]]:
    """Start ``python -m module args`` and read the JSON line it prints once it listens.

    Args:
        what: the process in the error, e.g. ``"the tornado server"``.

    Raises:
        BenchmarkFailed: it exited or printed nothing within ``timeout`` seconds; the process
            is stopped before this is raised.
    """
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", module, *args,
                                                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), timeout)
        except TimeoutError:
            raise BenchmarkFailed(f"{what} did not start within {timeout:g} s") from None
        if not line:
            code = await proc.wait()
            raise BenchmarkFailed(f"{what} exited with code {code} before listening")
        info: dict[str, Any] = json.loads(line)
        return proc, info
    except BaseException:
        await stop_server(proc)
        raise


async def start_server(kind: str, timeout: float = 20.0) -> Server:
    """Start a ``kind`` server and wait until it listens.

    Raises:
        BenchmarkFailed: it exited or did not report a port within ``timeout`` seconds;
            the process is stopped before this is raised.
    """
    proc, info = await spawn("labdeck.bench.serve", kind, what=f"the {kind} server", timeout=timeout)
    return Server(kind, int(info["port"]), frozenset(info["features"]), proc)


async def stop_server(proc: asyncio.subprocess.Process, grace: float = 5.0) -> None:
    """End a server process: stdin closed, then SIGTERM, then SIGKILL."""
    if proc.returncode is None and proc.stdin is not None:
        proc.stdin.close()
    for escalate in (None, proc.terminate, proc.kill):
        if escalate is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                escalate()
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), grace)
            return
        except TimeoutError:
            continue


@contextlib.asynccontextmanager
async def running_servers(kinds: Iterable[str], timeout: float = 20.0) -> AsyncIterator[dict[str, Server]]:
    """Start every kind of server at once; all are stopped on leaving, however that happens.

    Raises:
        BenchmarkFailed: a server did not start (the others are stopped first).
    """
    kinds = list(kinds)
    results = await asyncio.gather(*(start_server(k, timeout) for k in kinds), return_exceptions=True)
    servers = {s.kind: s for s in results if isinstance(s, Server)}
    try:
        for result in results:
            if isinstance(result, BaseException):
                raise result
        yield servers
    finally:
        await asyncio.gather(*(stop_server(s.process) for s in servers.values()), return_exceptions=True)
