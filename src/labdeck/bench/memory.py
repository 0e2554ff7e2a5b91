"""``memory``: each server's resident memory idle, and what 1,000 idle clients add.

The servers are the same processes the other benchmarks use. The resident set size is
read from ``/proc/<pid>/status`` (Linux only; elsewhere the benchmark is skipped with a
note). A labdeck client subscribes to a channel, as a dashboard does; a baseline client
only connects, since the bare servers have no subscriptions.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from labdeck.bench.report import Figure
from labdeck.bench.servers import Server

__all__ = ["MEMORY_TARGET_MB", "rss_mb", "run_memory"]

MEMORY_TARGET_MB = 100.0
"""The design's bound for an idle server, and for what 1,000 idle clients may add."""


def rss_mb(pid: int) -> float | None:
    """Resident memory of process ``pid`` in MB, or ``None`` where /proc is not there."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


async def _connect(session: aiohttp.ClientSession, server: Server, n: int) -> aiohttp.ClientWebSocketResponse:
    ws = await session.ws_connect(server.ws_url, compress=0)
    if server.kind == "labdeck":
        await ws.send_str(f'{{"id":{n},"op":"sub","ch":"bench/idle"}}')
        await ws.receive()  # the sub reply: the subscription exists
    return ws


async def _with_clients(server: Server, clients: int, timeout: float) -> float | None:
    """RSS of ``server`` while ``clients`` idle websocket clients are connected."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        sockets: list[aiohttp.ClientWebSocketResponse] = []
        try:
            async with asyncio.timeout(timeout):
                for start in range(0, clients, 100):
                    batch = range(start, min(start + 100, clients))
                    sockets += await asyncio.gather(*(_connect(session, server, n) for n in batch))
                await asyncio.sleep(0.5)  # let the server settle its buffers
            return rss_mb(server.process.pid)
        finally:
            await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


async def run_memory(
    servers: dict[str, Server], clients: int = 1000, timeout: float = 60.0
) -> tuple[list[Figure], list[Figure]] | None:
    """``(idle figures, added-by-clients figures)`` in MB, or ``None`` without /proc.

    Raises:
        TimeoutError: the clients could not all connect within ``timeout`` seconds.
    """
    idle: list[Figure] = []
    added: list[Figure] = []
    for kind, server in servers.items():
        before = rss_mb(server.process.pid)
        if before is None:
            return None
        after = await _with_clients(server, clients, timeout)
        if after is None:
            return None
        label = f"{kind} server"
        idle.append(Figure("memory-idle", kind, label, "MB", before, None, before, 1))
        added.append(Figure(f"memory-{clients}", kind, label, "MB", after - before, None, after - before, 1,
                            {"with_clients": after}))
    return idle, added
