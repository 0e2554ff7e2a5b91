"""``scaleout``: broadcast throughput and publish-to-browser latency through Redis with 1, 2
and 4 server processes, beside one process on the in-process broker, in one run.

Every configuration is real ``labdeck serve`` processes on loopback ports (Redis ones on
one key prefix of their own, deleted afterwards), with the subscribed clients spread
round-robin over the processes. For the throughput one publisher per process sends
``pub`` requests with up to ``window`` unanswered each (a connection's requests are
answered in order, each after Redis assigned its seq); the figure is delivered messages
per second across all clients, from the first ``pub`` until every client has the last
message; every client checks that it got every seq exactly once, in order. The latency is
measured with one publisher on the first process at a paced rate (``latency_rate``
messages per second): each message carries the publisher's clock, and each client notes
when it arrived.

Redis: ``LABDECK_BENCH_REDIS`` (default ``redis://127.0.0.1:6379/0``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from labdeck.bench.report import TIMES, Figure, median, percentile
from labdeck.exceptions import BenchmarkFailed

__all__ = ["ScaleCounts", "run_scaleout"]

REDIS_URL = os.environ.get("LABDECK_BENCH_REDIS", "redis://127.0.0.1:6379/0")
CH = "bench/scaleout"


@dataclass(frozen=True)
class ScaleCounts:
    processes: tuple[int, ...] = (1, 2, 4)
    clients: int = 24
    messages: int = 5_000
    window: int = 200
    latency_rate: int = 500
    latency_seconds: float = 3.0
    timeout: float = 60.0

    @classmethod
    def quick(cls) -> ScaleCounts:
        return cls(clients=8, messages=1_000, latency_seconds=1.0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def _servers(count: int, redis: str | None, folder: Path) -> AsyncIterator[list[int]]:
    prefix = f"labdeck-bench-{secrets.token_hex(4)}"
    procs, ports = [], []
    try:
        for _ in range(count):
            port = _free_port()
            env = {**os.environ, "LABDECK_PORT": str(port), "LABDECK_DATA": str(folder / f"d{port}"),
                   "LABDECK_CONFIG": ""}
            env.pop("LABDECK_BROKER_URL", None)
            if redis:
                env.update(LABDECK_BROKER_URL=redis, LABDECK_BROKER_PREFIX=prefix)
            procs.append(await asyncio.create_subprocess_exec(
                sys.executable, "-m", "labdeck", "serve", env=env, cwd=folder,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL))
            ports.append(port)
        for port, proc in zip(ports, procs, strict=True):
            await _wait_listening(port, proc)
        yield ports
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.terminate()
        for proc in procs:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 15)
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        if redis:
            await _wipe(redis, prefix)


async def _wait_listening(port: int, proc: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(400):
            if proc.returncode is not None:
                raise BenchmarkFailed(f"a labdeck server exited with {proc.returncode} before listening")
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise BenchmarkFailed(f"a labdeck server on port {port} did not start")


async def _wipe(url: str, prefix: str) -> None:
    import redis.asyncio as aioredis

    r = aioredis.from_url(url)
    try:
        keys = [k async for k in r.scan_iter(f"{prefix}:*", count=1000)]
        if keys:
            await r.delete(*keys)
    finally:
        await r.aclose()


class _Subscriber:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.next = 0
        self.latencies: list[float] = []
        self.done = asyncio.Event()
        self.until = 0

    async def read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            seq = frame.get("seq")
            if seq is None:
                continue
            if seq != self.next:
                raise BenchmarkFailed(f"a client expected seq {self.next} and got {seq}")
            self.next += 1
            sent = frame["data"].get("t")
            if sent is not None:
                self.latencies.append((time.perf_counter() - sent) * 1e6)
            if seq >= self.until:
                self.done.set()


async def _subscribe(http: aiohttp.ClientSession, port: int) -> _Subscriber:
    ws = await http.ws_connect(f"ws://127.0.0.1:{port}/ws", compress=0)
    await ws.send_str(json.dumps({"id": 1, "op": "sub", "ch": CH}))
    reply = json.loads(await ws.receive_str())
    if not reply.get("ok"):
        raise BenchmarkFailed(f"labdeck refused the subscription: {reply}")
    sub = _Subscriber(ws)
    sub.next = reply["result"]["seq"] + 1
    return sub


async def _publish(ws: aiohttp.ClientWebSocketResponse, count: int, window: int, pace: float | None) -> None:
    """Send ``count`` pubs with at most ``window`` unanswered (or one every ``pace`` s)."""
    answered = 0
    start = time.perf_counter()

    async def replies() -> None:
        nonlocal answered
        while answered < count:
            frame = json.loads(await ws.receive_str())
            if not frame.get("ok"):
                raise BenchmarkFailed(f"a pub failed: {frame}")
            answered += 1

    reader = asyncio.create_task(replies())
    try:
        for i in range(count):
            while i - answered >= window:
                await asyncio.sleep(0)
                if reader.done():
                    reader.result()
            if pace is not None:
                delay = start + i * pace - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            await ws.send_str(json.dumps({"id": i + 10, "op": "pub", "ch": CH,
                                          "data": {"i": i, "t": time.perf_counter() if pace else None}}))
        await reader
    finally:
        reader.cancel()


async def _measure(ports: list[int], counts: ScaleCounts) -> tuple[float, list[float]]:
    async with aiohttp.ClientSession() as http:
        subs = [await _subscribe(http, ports[i % len(ports)]) for i in range(counts.clients)]
        readers = [asyncio.create_task(s.read()) for s in subs]
        publishers = [await http.ws_connect(f"ws://127.0.0.1:{port}/ws", compress=0) for port in ports]
        publisher = publishers[0]
        try:
            first = subs[0].next
            share = counts.messages // len(ports)
            for s in subs:
                s.until = first + share * len(ports) - 1
            t0 = time.perf_counter()
            await asyncio.gather(*(_publish(p, share, counts.window, None) for p in publishers))
            await asyncio.wait_for(asyncio.gather(*(s.done.wait() for s in subs)), counts.timeout)
            rate = share * len(ports) * counts.clients / (time.perf_counter() - t0)
            paced = int(counts.latency_rate * counts.latency_seconds)
            for s in subs:
                s.done.clear()
                s.until += paced
                s.latencies.clear()
            await _publish(publisher, paced, counts.window, 1 / counts.latency_rate)
            await asyncio.wait_for(asyncio.gather(*(s.done.wait() for s in subs)), counts.timeout)
            for reader in readers:
                if reader.done():
                    reader.result()
            return rate, [lat for s in subs for lat in s.latencies]
        finally:
            for p in publishers:
                await p.close()
            for s in subs:
                await s.ws.close()
            for reader in readers:
                reader.cancel()


async def run_scaleout(
    counts: ScaleCounts, progress: Callable[[str], None]
) -> tuple[list[tuple[str, list[Figure]]], list[str]]:
    """Every configuration's figures, as report sections, and notes."""
    results: dict[str, tuple[float, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="labdeck-bench-") as tmp:
        folder = Path(tmp)
        configs: list[tuple[str, int, str | None]] = [("in-process", 1, None)]
        configs += [(f"redis-{n}", n, REDIS_URL) for n in counts.processes]
        for name, count, redis in configs:
            progress(f"scaleout: {name}: {counts.clients} clients, {counts.messages:,} messages")
            async with _servers(count, redis, folder) as ports:
                results[name] = await _measure(ports, counts)
    base_rate, base_lat = results["in-process"]
    sections = []
    for n in counts.processes:
        rate, lat = results[f"redis-{n}"]
        figures = [
            _rate_figure(f"scaleout-{n}", "labdeck", f"Redis, {n} process{'es' if n > 1 else ''}", rate),
            _rate_figure(f"scaleout-{n}", "in-process", "in-process broker, 1 process", base_rate),
        ]
        sections.append((f"scaleout-{n}: {counts.messages:,} pubs to {counts.clients} clients spread over "
                         f"{n} process(es), delivered msg/s, none lost", figures))
        sections.append((f"scaleout-latency-{n}: publish to client at {counts.latency_rate:,} msg/s, µs", [
            _latency_figure(f"scaleout-latency-{n}", "labdeck", f"Redis, {n} process(es)", lat),
            _latency_figure(f"scaleout-latency-{n}", "in-process", "in-process broker", base_lat),
        ]))
    one = results[f"redis-{counts.processes[0]}"][0]
    growth = ", ".join(f"{n} processes {results[f'redis-{n}'][0] / one:.2f}{TIMES}" for n in counts.processes[1:])
    notes = [f"scaleout: throughput through Redis against {counts.processes[0]} process: {growth} "
             f"(on {os.cpu_count()} cores, clients and publisher in this process)"]
    return sections, notes


def _rate_figure(bench: str, server: str, label: str, rate: float) -> Figure:
    return Figure(bench, server, label, "msg/s", rate, None, rate, 1)


def _latency_figure(bench: str, server: str, label: str, lat: list[float]) -> Figure:
    if not lat:
        raise BenchmarkFailed(f"{bench}: no latency samples")
    return Figure(bench, server, label, "µs", median(lat), percentile(lat, 99), 1e6 / median(lat), len(lat))
