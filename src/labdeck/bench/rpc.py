"""``rpc``, ``rpc-call``: one client, sequential requests, each waiting for its reply.

* ``rpc`` — labdeck's ``pub`` on a channel nobody subscribes to: a whole request →
  hub → broker → reply path, with no delivery.
* ``rpc-call`` — labdeck's ``call`` of a trivial exposed method, once as a plain method
  (run in the object space's thread pool) and once marked ``@inline`` (on the event loop).
* the baselines echo a frame of the same size back.

Each case has its own connection; after a warm-up, cases take turns in blocks, so a
change in the machine's load touches every server alike. The figure is the median and
99th percentile of the round trip as the client sees it (send to reply read), and the
requests per second over the timed blocks, with the server's CPU time per request read
from ``/proc`` over the same blocks (:mod:`labdeck.bench.cpu`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
import msgspec

from labdeck.bench.cpu import cpu_ns
from labdeck.bench.report import Figure, median, percentile
from labdeck.bench.servers import Server
from labdeck.exceptions import BenchmarkFailed

__all__ = ["RpcCase", "rpc_cases", "run_rpc"]

BLOCKS = 20
"""Timed requests are split into this many turns per case: on a busy machine, a burst of
someone else's load then lands on every case alike instead of on one."""


class _Reply(msgspec.Struct):
    id: int
    ok: bool
    error: dict[str, str] | None = None


_reply = msgspec.json.Decoder(_Reply)


def _pub(i: int) -> str:
    return f'{{"id":{i},"op":"pub","ch":"bench/rpc","data":{i}}}'


def _call(method: str) -> Callable[[int], str]:
    def frame(i: int) -> str:
        return f'{{"id":{i},"op":"call","path":["bench","{method}"],"args":[{i}]}}'

    return frame


@dataclass
class RpcCase:
    """One server answering one kind of request."""

    bench: str
    server: Server
    label: str
    frame: Callable[[int], str]
    echo: bool
    samples: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    cpu: float | None = 0.0
    """Server CPU ns over the timed blocks; ``None`` where ``/proc`` does not say."""

    def check(self, i: int, sent: str, text: str) -> None:
        """Raise unless ``text`` is the right reply to request ``i``."""
        if self.echo:
            if text != sent:
                raise BenchmarkFailed(f"{self.label}: echo of request {i} differs from what was sent")
            return
        reply = _reply.decode(text)
        if reply.id != i or not reply.ok:
            raise BenchmarkFailed(f"{self.label}: request {i} got {text[:200]}")

    def figure(self, bench: str) -> Figure:
        extra = {} if self.cpu is None else {"cpu_us": self.cpu / 1000 / len(self.samples)}
        return Figure(bench, self.server.kind, self.label, "µs", median(self.samples),
                      percentile(self.samples, 99), len(self.samples) / self.elapsed, len(self.samples), extra)


def rpc_cases(servers: dict[str, Server], benches: list[str]) -> list[RpcCase]:
    """The cases that ``benches`` (``rpc``, ``rpc-call``) need, baselines last."""
    lab = servers["labdeck"]
    cases = []
    if "rpc" in benches:
        cases.append(RpcCase("rpc", lab, "labdeck pub", _pub, echo=False))
    if "rpc-call" in benches and "call" in lab.features:
        cases.append(RpcCase("rpc-call", lab, "labdeck call (thread pool)", _call("ping"), echo=False))
        cases.append(RpcCase("rpc-call-inline", lab, "labdeck call (@inline)", _call("ping_inline"), echo=False))
    for kind in ("aiohttp", "tornado"):
        cases.append(RpcCase("echo", servers[kind], f"{kind} echo", _pub, echo=True))
    return cases


async def run_rpc(cases: list[RpcCase], warmup: int, count: int) -> None:
    """Measure every case: ``warmup`` untimed requests, then ``count`` timed ones.

    Raises:
        BenchmarkFailed: a reply was wrong or a connection closed.
    """
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        sockets = [await session.ws_connect(c.server.ws_url, compress=0) for c in cases]
        try:
            for case, ws in zip(cases, sockets, strict=True):
                await _block(case, ws, 0, warmup, timed=False)
            per_block = max(1, count // BLOCKS)
            for block in range(BLOCKS):
                for case, ws in zip(cases, sockets, strict=True):
                    await _block(case, ws, warmup + block * per_block, per_block, timed=True)
        finally:
            for ws in sockets:
                await ws.close()


async def _block(case: RpcCase, ws: aiohttp.ClientWebSocketResponse, first: int, count: int, *, timed: bool) -> None:
    perf = time.perf_counter_ns
    samples = case.samples
    cpu_before = cpu_ns(case.server.process.pid) if timed else None
    started = perf()
    for i in range(first, first + count):
        frame = case.frame(i)
        t0 = perf()
        await ws.send_str(frame)
        msg = await ws.receive()
        t1 = perf()
        if msg.type is not aiohttp.WSMsgType.TEXT:
            raise BenchmarkFailed(f"{case.label}: connection ended ({msg.type.name}) at request {i}")
        case.check(i, frame, msg.data)
        if timed:
            samples.append((t1 - t0) / 1000)
    if timed:
        case.elapsed += (perf() - started) / 1e9
        cpu_after = cpu_ns(case.server.process.pid)
        if case.cpu is not None and cpu_before is not None and cpu_after is not None:
            case.cpu += cpu_after - cpu_before
        else:
            case.cpu = None
