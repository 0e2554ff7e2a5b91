"""``labdeck bench``: labdeck measured against bare aiohttp and Tornado, in one run.

Each server (labdeck, a bare aiohttp websocket server, a Tornado websocket server)
runs in a process of its own on a loopback port; the clients run in this process, on
uvloop when it is installed. Every figure is printed beside the baselines' with the
ratio and, where the design sets one, the target. ``bench/README.md`` in the source
tree explains each figure.

Benchmarks (``--only NAME``): ``rpc``, ``rpc-call``, ``broadcast`` (bursts, and one
message per loop turn), ``publish-thread``, ``memory``, ``script-latency``, ``watch``,
``rigs`` (rig messaging beside a bare UDP echo and iblutil, with rig processes of its own
instead of the three servers), ``static`` (static file GETs with login on beside Tornado's
StaticFileHandler, with servers of its own), ``scaleout`` (Redis with 1, 2 and 4 server
processes beside the in-process broker), ``plots`` (frames per second in the Plots panel
and the Overview of the system's Chromium while a run of 1,000,000 points streams in).
Beside wall time, the server's CPU time per message is read from ``/proc`` where there is
one.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from labdeck.bench.baselines import YIELD_EVERY
from labdeck.bench.broadcast import run_broadcast
from labdeck.bench.report import Figure, Report
from labdeck.bench.rpc import rpc_cases, run_rpc
from labdeck.bench.servers import KINDS, Server, running_servers
from labdeck.eventloop import loop_factory
from labdeck.exceptions import BenchmarkFailed

__all__ = ["BENCHMARKS", "Counts", "run_benchmarks"]

BENCHMARKS = ("rpc", "rpc-call", "broadcast", "publish-thread", "memory", "script-latency", "watch", "rigs", "static",
              "scaleout", "plots")
_ON_SERVERS = ("rpc", "rpc-call", "broadcast", "publish-thread", "memory")


@dataclass(frozen=True)
class Counts:
    """How much each benchmark does; ``--quick`` divides the counts by ten."""

    rpc_warmup: int = 2_000
    rpc_requests: int = 20_000
    broadcast_rounds: int = 5
    broadcast_messages: tuple[tuple[int, int], ...] = ((1, 50_000), (10, 10_000), (100, 2_000))
    """``(clients, messages per burst)``: about the same number of deliveries per round."""
    broadcast_turn_messages: tuple[tuple[int, int], ...] = ((1, 20_000), (10, 4_000), (100, 800))
    """The same for a publisher that yields after every message."""
    thread_messages: int = 200_000
    thread_rounds: int = 5
    memory_clients: int = 1000
    round_timeout: float = 30.0
    overall_timeout: float = 600.0

    @classmethod
    def quick(cls) -> Counts:
        return cls(rpc_warmup=200, rpc_requests=2_000, broadcast_rounds=2,
                   broadcast_messages=((1, 5_000), (10, 1_000), (100, 200)),
                   broadcast_turn_messages=((1, 2_000), (10, 400), (100, 80)),
                   thread_messages=20_000, thread_rounds=2, memory_clients=100, overall_timeout=180.0)


def run_benchmarks(quick: bool = False, only: Sequence[str] | None = None, json_path: str | None = None) -> int:
    """Run the benchmarks, print the table, and write ``json_path`` when given.

    Returns:
        0 when every benchmark ran (targets missed included), 2 for an unknown name,
        130 when interrupted (Ctrl-C).

    Raises:
        BenchmarkFailed: a server did not start, a message was lost or out of order,
            or the run went past its time limit.
    """
    names = list(dict.fromkeys(only or BENCHMARKS))
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"labdeck bench: unknown benchmark {', '.join(map(repr, unknown))}; "
              f"choose from {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    counts = Counts.quick() if quick else Counts()
    report = Report(quick=quick)
    try:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(_run(names, counts, report))
    except KeyboardInterrupt:  # the servers were already stopped on the way out
        print("labdeck bench: interrupted", file=sys.stderr)
        return 130
    print(report.render(), flush=True)
    if json_path:
        report.write_json(json_path)
        print(f"figures written to {os.fspath(json_path)}")
    return 0


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def _run(names: list[str], counts: Counts, report: Report) -> None:
    try:
        async with asyncio.timeout(counts.overall_timeout):
            if any(n in _ON_SERVERS for n in names):
                await _on_servers(names, counts, report)
            if "script-latency" in names:
                await _script_latency(counts, report)
            if "watch" in names:
                await _watch(counts, report)
            if "rigs" in names:
                await _rigs(counts, report)
            if "static" in names:
                await _static(counts, report)
            if "scaleout" in names:
                await _scaleout(counts, report)
            if "plots" in names:
                await _plots(counts, report)
    except TimeoutError:
        raise BenchmarkFailed(f"the benchmarks ran past their {counts.overall_timeout:g} s limit") from None


async def _on_servers(names: list[str], counts: Counts, report: Report) -> None:
    _progress("starting servers: " + ", ".join(KINDS))
    async with running_servers(KINDS) as servers:
        if "rpc" in names or "rpc-call" in names:
            await _rpc(names, servers, counts, report)
        if "broadcast" in names:
            await _broadcast(servers, counts, report)
        if "publish-thread" in names:
            await _thread_publish(servers["labdeck"], counts, report)
        if "memory" in names:
            await _memory(servers, counts, report)


async def _scaleout(counts: Counts, report: Report) -> None:
    from labdeck.bench.scaleout import ScaleCounts, run_scaleout

    quick = counts.rpc_requests < Counts().rpc_requests
    sections, notes = await run_scaleout(ScaleCounts.quick() if quick else ScaleCounts(), _progress)
    for title, figures in sections:
        report.add(title, figures)
    report.notes.extend(notes)


async def _plots(counts: Counts, report: Report) -> None:
    from labdeck.bench.plots import PlotCounts, run_plots

    quick = counts.rpc_requests < Counts().rpc_requests
    plots = PlotCounts.quick() if quick else PlotCounts()
    _progress(f"plots: {plots.points:,} points streamed into the Plots panel, then the Overview, in Chromium")
    sections, notes = await run_plots(plots)
    for title, figures in sections:
        report.add(title, figures)
    report.notes.extend(notes)


async def _rigs(counts: Counts, report: Report) -> None:
    from labdeck.bench.rigs import RigCounts, run_rig_benchmarks

    quick = counts.rpc_requests < Counts().rpc_requests
    sections, notes = await run_rig_benchmarks(RigCounts.quick() if quick else RigCounts(), _progress)
    for title, figures in sections:
        report.add(title, figures)
    report.notes.extend(notes)


async def _static(counts: Counts, report: Report) -> None:
    from labdeck.bench.static import CONCURRENCY, FILE_SIZE, StaticCounts, run_static

    quick = counts.rpc_requests < Counts().rpc_requests
    static = StaticCounts(requests=2_000, rounds=2) if quick else StaticCounts()
    _progress(f"static: {static.rounds} rounds of {static.requests:,} GETs per server")
    report.add(f"static: GET of {FILE_SIZE // 1024} KB files with login on, {CONCURRENCY} keep-alive connections, "
               f"{static.rounds} rounds of {static.requests:,}", await run_static(static))


async def _rpc(names: list[str], servers: dict[str, Server], counts: Counts, report: Report) -> None:
    cases = rpc_cases(servers, names)
    if "rpc-call" in names and not any(c.bench == "rpc-call" for c in cases):
        report.notes.append("rpc-call skipped: this labdeck cannot expose objects (no Deck.expose)")
    _progress(f"rpc: {len(cases)} cases, {counts.rpc_requests:,} requests each after {counts.rpc_warmup:,} warm-up")
    await run_rpc(cases, counts.rpc_warmup, counts.rpc_requests)
    baselines = [c for c in cases if c.echo]
    for case in cases:
        if case.echo:
            continue
        figures = [case.figure(case.bench)] + [b.figure(case.bench) for b in baselines]
        report.add(f"{case.bench}: request/reply round trip, 1 client, {counts.rpc_requests:,} sequential "
                   f"requests after {counts.rpc_warmup:,} warm-up", figures)


async def _script_latency(counts: Counts, report: Report) -> None:
    from labdeck.bench.script_latency import run_script_latency

    samples, flood = (200, 20_000) if counts.rpc_requests < Counts().rpc_requests else (1000, 100_000)
    _progress(f"script-latency: {samples} lines, {samples} points, then a flood of {flood:,} points")
    report.add(f"script-latency: print and plot from a script to a websocket client (target p99 <= 5 ms), "
               f"and a flood of {flood:,} points none lost", await run_script_latency(samples, flood))


async def _watch(counts: Counts, report: Report) -> None:
    from labdeck.bench.watch import run_watch

    samples = 100 if counts.rpc_requests < Counts().rpc_requests else 500
    limits = {"watch-file": 2000.0, "watch-dicom": 5000.0}  # µs, the design's medians
    for title, figures in await run_watch(samples, 1000, _progress):
        report.add(title, figures)
        ours = figures[0]
        if ours.bench in limits:
            verdict = "met" if ours.median <= limits[ours.bench] else "MISSED"
            report.notes.append(f"{ours.bench}: labdeck median {ours.median / 1000:.2f} ms, "
                                f"target ≤ {limits[ours.bench] / 1000:g} ms  {verdict}")
        else:
            verdict = "met" if ours.median >= 500 else "MISSED"
            report.notes.append(f"watch-burst: {ours.median:.0f} files/s, target ≥ 500 files/s  {verdict}")


async def _memory(servers: dict[str, Server], counts: Counts, report: Report) -> None:
    from labdeck.bench.memory import MEMORY_TARGET_MB, run_memory

    _progress(f"memory: idle, then {counts.memory_clients:,} idle websocket clients per server")
    result = await run_memory(servers, counts.memory_clients, counts.round_timeout)
    if result is None:
        report.notes.append("memory skipped: no /proc on this system to read resident memory from")
        return
    idle, added = result
    report.add("memory-idle: resident memory of the idle server", idle)
    report.add(f"memory-{counts.memory_clients}: resident memory added by {counts.memory_clients:,} idle websocket "
               "clients (labdeck's each subscribed to a channel)", added)
    ours_idle = next(f.median for f in idle if f.server == "labdeck")
    ours_added = next(f.median for f in added if f.server == "labdeck")
    for what, value in (("idle server", ours_idle), (f"{counts.memory_clients:,} idle clients add", ours_added)):
        verdict = "met" if value <= MEMORY_TARGET_MB else "MISSED"
        report.notes.append(f"memory: labdeck {what} {value:.1f} MB, target ≤ {MEMORY_TARGET_MB:g} MB  {verdict}")


async def _broadcast(servers: dict[str, Server], counts: Counts, report: Report) -> None:
    for turn, plan in ((False, counts.broadcast_messages), (True, counts.broadcast_turn_messages)):
        for clients, messages in plan:
            how = "one message per loop turn" if turn else "bursts"
            _progress(f"broadcast: {clients} clients, {messages:,} messages, {how}, {counts.broadcast_rounds} rounds")
            figures: list[Figure] = await run_broadcast(
                servers, clients, messages, counts.broadcast_rounds, counts.round_timeout, 1 if turn else YIELD_EVERY
            )
            size = max(f.extra["frame_bytes"] for f in figures)
            report.add(f"{figures[0].bench}: {messages:,} messages of ~{size} bytes to each of {clients} client(s), "
                       f"{how}, median of {counts.broadcast_rounds} rounds, none lost", figures)


async def _thread_publish(server: Server, counts: Counts, report: Report) -> None:
    from labdeck.bench.thread_publish import TARGET_RATE, run_thread_publish

    _progress(f"publish-thread: {counts.thread_messages:,} messages from a thread, {counts.thread_rounds} rounds")
    figures = await run_thread_publish(server, counts.thread_messages, counts.thread_rounds)
    report.add(f"publish-thread: {counts.thread_messages:,} messages published from a thread into the hub, "
               f"median of {counts.thread_rounds} rounds", figures)
    rate = figures[0].median
    verdict = "met" if rate >= TARGET_RATE else "MISSED"
    report.notes.append(f"publish-thread: {rate / 1000:.0f}k msg/s, "
                        f"target ≥ {TARGET_RATE / 1000:.0f}k msg/s  {verdict}")
