"""``script-latency``: from a script's ``print`` or ``plot`` to a websocket client.

A labdeck server runs in a process of its own (``python -m labdeck.bench.script_latency
PROJECT/labdeck.toml``) with a generated project of three scripts. The client, in the
benchmark's process, subscribes to ``run/log`` and ``run/data`` and starts each:

* ``lines``: prints lines carrying ``time.time()`` at the print, a few ms apart;
* ``points``: plots points whose y is ``time.time()`` at the ``plot`` call, a few ms apart;
* ``flood``: plots points as fast as it can; the figure is points per second from the
  run's start to the last point received, and every point must arrive, in order.

Latency is the client's ``time.time()`` at arrival minus the script's: one clock, one
machine. The design's target is p99 ≤ 5 ms for both, and 10,000 points/s none lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from labdeck.bench.report import Figure, percentile
from labdeck.exceptions import BenchmarkFailed

__all__ = ["run_script_latency"]

_SCRIPTS = {
    "lines": """
import sys, time
for i in range({n}):
    print(f"{{time.time():.6f}} line {{i}}", flush=True)
    time.sleep({gap})
""",
    "points": """
import time
from labdeck import script
for i in range({n}):
    script.plot(i, time.time(), series="t")
    time.sleep({gap})
""",
    "flood": """
from labdeck import script
plot = script.plot
for i in range({n}):
    plot(i, 0.0, series="flood")
""",
}


def _project(folder: Path, samples: int, flood: int, gap: float) -> Path:
    lines = ["[scripts]"]
    for name, source in _SCRIPTS.items():
        (folder / f"{name}.py").write_text(source.format(n=flood if name == "flood" else samples, gap=gap))
        lines.append(f'{name} = "{name}.py"')
    toml = folder / "labdeck.toml"
    toml.write_text("\n".join(lines) + "\n")
    return toml


class _Client:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.replies: dict[int, asyncio.Future[Any]] = {}
        self.log: list[tuple[float, str]] = []
        self.data: list[tuple[float, list[float], list[float]]] = []
        self.ended = asyncio.Event()
        self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            now = time.time()
            frame = json.loads(msg.data)
            ch = frame.get("ch")
            if ch == "run/log":
                self.log.extend((now, line["text"]) for line in frame["data"]["lines"] if line["stream"] == "stdout")
            elif ch == "run/data":
                self.data.append((now, frame["data"]["x"], frame["data"]["y"]))
            elif ch == "run/status" and frame["data"]["state"] in ("finished", "failed", "stopped"):
                self.ended.set()
            elif "id" in frame and frame["id"] in self.replies:
                self.replies.pop(frame["id"]).set_result(frame)

    async def request(self, op: str, **fields: Any) -> Any:
        rid = next(self.ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.replies[rid] = fut
        await self.ws.send_str(json.dumps({"id": rid, "op": op, **fields}))
        reply = await asyncio.wait_for(fut, 10)
        if not reply["ok"]:
            raise BenchmarkFailed(f"{op}: {reply['error']}")
        return reply.get("result")

    async def run(self, script: str, timeout: float) -> float:
        self.log.clear()
        self.data.clear()
        self.ended.clear()
        started = time.time()
        await self.request("call", path=["runner", "run"], args=[script])
        await asyncio.wait_for(self.ended.wait(), timeout)
        await asyncio.sleep(0.2)  # the last pushes follow the status closely
        return started


def _figure(name: str, label: str, latencies_s: list[float], rate: float) -> Figure:
    us = [v * 1e6 for v in latencies_s]
    return Figure(bench="script-latency", server="labdeck", label=label, unit="µs",
                  median=percentile(us, 50), p99=percentile(us, 99), rate=rate, samples=len(us),
                  extra={"measure": name})


async def run_script_latency(samples: int = 1000, flood: int = 100_000, gap: float = 0.002,
                             timeout: float = 120.0) -> list[Figure]:
    """Measure; returns print-to-client and plot-to-client figures, and the flood's rate.

    Raises:
        BenchmarkFailed: the server did not start, or a line or point was lost.
    """
    with tempfile.TemporaryDirectory(prefix="labdeck-bench-") as tmp:
        toml = _project(Path(tmp), samples, flood, gap)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "labdeck.bench.script_latency", str(toml), str(Path(tmp) / "data"),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        try:
            assert proc.stdout is not None
            port = json.loads(await asyncio.wait_for(proc.stdout.readline(), 20))["port"]
            async with aiohttp.ClientSession() as http, http.ws_connect(f"ws://127.0.0.1:{port}/ws") as ws:
                client = _Client(ws)
                for ch in ("run/log", "run/data", "run/status"):
                    await client.request("sub", ch=ch)
                return await _measure(client, samples, flood, timeout)
        finally:
            if proc.stdin is not None:
                proc.stdin.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 10)
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


def _rate(arrivals: list[tuple[float, Any]]) -> float:
    """Arrivals per second over the run (paced by the script's sleeps, not a throughput)."""
    span = arrivals[-1][0] - arrivals[0][0]
    return len(arrivals) / span if span > 0 else 0.0


async def _measure(client: _Client, samples: int, flood: int, timeout: float) -> list[Figure]:
    await client.run("lines", timeout)
    got = [(now, text) for now, text in client.log if " line " in text]
    if len(got) != samples:
        raise BenchmarkFailed(f"lines: {len(got)} of {samples} arrived")
    lines = _figure("print", "print → client", [now - float(text.split()[0]) for now, text in got], _rate(got))

    await client.run("points", timeout)
    pts = [(now, y) for now, _, ys in client.data for y in ys]
    if len(pts) != samples:
        raise BenchmarkFailed(f"points: {len(pts)} of {samples} arrived")
    points = _figure("plot", "plot → client", [now - y for now, y in pts], _rate(pts))

    started = await client.run("flood", timeout)
    xs = [x for _, batch, _ in client.data for x in batch]
    if xs != [float(i) for i in range(flood)]:
        raise BenchmarkFailed(f"flood: {len(xs)} of {flood} points arrived, or out of order")
    last = client.data[-1][0]
    rate = flood / (last - started)
    flood_fig = Figure(bench="script-latency", server="labdeck", label=f"plot flood, {flood:,} points",
                       unit="msg/s", median=rate, p99=None, rate=rate, samples=flood,
                       extra={"measure": "flood", "messages": len(client.data)})
    return [lines, points, flood_fig]


async def _serve(toml: str, data: str) -> None:
    from labdeck import Deck, load_config

    deck = Deck(load_config(toml, env={}, overrides={"server.port": 0, "server.data": data}))
    await deck.start()
    try:
        print(json.dumps({"port": deck.port}), flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.buffer.read)  # until the benchmark closes stdin
    finally:
        await deck.stop()


if __name__ == "__main__":
    from labdeck.eventloop import loop_factory

    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(_serve(sys.argv[1], sys.argv[2]))
