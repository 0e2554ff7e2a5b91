"""``rigs``: rig messaging across processes, beside a bare UDP echo and iblutil.

The rigs run in a process of their own (:mod:`labdeck.bench.rig_side`); the controller
runs here. Three measures:

* **round trip** of one confirmed message, sequential requests: labdeck's ``status``
  over UDP and over TCP (request → acknowledgement and answer, the answer ending the
  round trip), a bare asyncio UDP echo of a datagram of the same size, and iblutil's
  ``EchoProtocol.confirmed_send`` (send → echo). Cases take turns in blocks of
  ``requests / BLOCKS`` (50 by default), short enough that a change in the machine's load
  (on 2 shared cores, wake-up latency more than doubles between busy and idle) falls on
  every case alike instead of on whichever was running.
* **group init** of 1, 2 and 8 rigs at once (:class:`~labdeck.rigs.group.RigGroup`):
  from the call until every rig has answered.
* **delivery under loss**: ``init`` requests through a relay that drops 5 % and 20 % of
  the datagrams each way; every request must be answered and every one handled exactly
  once on the rig, or the run fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from labdeck.bench.report import Figure, median, percentile
from labdeck.bench.rig_side import GROUP_SIZE, LOSSES
from labdeck.bench.servers import spawn, stop_server
from labdeck.exceptions import BenchmarkFailed, LabdeckError
from labdeck.protocol import rig as wire
from labdeck.protocol.rig import Event, Request
from labdeck.rigs.group import RigGroup
from labdeck.rigs.link import Rig

__all__ = ["RigCounts", "rig_side", "run_rig_benchmarks"]

BLOCKS = 100
GROUP_SIZES = (1, 2, GROUP_SIZE)

RoundTrip = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class RigCounts:
    """How much the rig benchmark does."""

    warmup: int = 500
    requests: int = 5_000
    group_rounds: int = 500
    lossy_messages: int = 500

    @classmethod
    def quick(cls) -> RigCounts:
        return cls(warmup=50, requests=500, group_rounds=50, lossy_messages=100)


@contextlib.asynccontextmanager
async def rig_side(timeout: float = 20.0) -> AsyncIterator[dict[str, int]]:
    """The rig process running; ``{rig: port}``; stopped on leaving.

    Raises:
        BenchmarkFailed: it did not start within ``timeout`` seconds.
    """
    proc, info = await spawn("labdeck.bench.rig_side", what="the rig process", timeout=timeout)
    try:
        ports: dict[str, int] = info["ports"]
        yield ports
    finally:
        await stop_server(proc)


# -- round trip ---------------------------------------------------------------------


class _EchoClient(asyncio.DatagramProtocol):
    """The bare baseline: send a datagram, wait for it to come back."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.waiting: asyncio.Future[bytes] | None = None
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio's: a cast, not an isinstance check
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.waiting is not None and not self.waiting.done():
            self.waiting.set_result(data)

    async def round_trip(self) -> bytes:
        assert self.transport is not None
        self.waiting = asyncio.get_running_loop().create_future()
        self.transport.sendto(self.payload)
        return await asyncio.wait_for(self.waiting, 5)


@dataclass
class _Case:
    name: str
    label: str
    call: RoundTrip
    samples: list[float] = field(default_factory=list)
    elapsed: float = 0.0

    async def block(self, n: int, record: bool = True) -> None:
        call, samples, clock = self.call, self.samples, time.perf_counter
        began = clock()
        for _ in range(n):
            t0 = clock()
            await call()
            if record:
                samples.append((clock() - t0) * 1e6)
        if record:
            self.elapsed += clock() - began

    def figure(self, bench: str) -> Figure:
        return Figure(bench=bench, server=self.name, label=self.label, unit="µs", median=median(self.samples),
                      p99=percentile(self.samples, 99), rate=len(self.samples) / self.elapsed,
                      samples=len(self.samples))


async def _round_trip_cases(ports: dict[str, int], stack: contextlib.AsyncExitStack) -> list[_Case]:
    loop = asyncio.get_running_loop()
    udp = await stack.enter_async_context(Rig(f"udp://127.0.0.1:{ports['labdeck-udp']}", "udp"))
    tcp = await stack.enter_async_context(Rig(f"tcp://127.0.0.1:{ports['labdeck-tcp']}", "tcp"))
    same_size = wire.encode(Request(1 << 30, Event.STATUS, time.time(), [0]))
    transport, echo = await loop.create_datagram_endpoint(lambda: _EchoClient(same_size),
                                                          remote_addr=("127.0.0.1", ports["udp-echo"]))
    echo.transport = transport  # uvloop may call connection_made a turn later
    stack.callback(transport.close)
    cases = [_Case("labdeck", "labdeck status, UDP", udp.status),
             _Case("labdeck-tcp", "labdeck status, TCP", tcp.status),
             _Case("udp-echo", f"bare UDP echo, {len(same_size)} B", echo.round_trip)]
    if "iblutil" in ports:
        cases.append(await _iblutil_case(ports["iblutil"], stack))
    return cases


async def _iblutil_case(port: int, stack: contextlib.AsyncExitStack) -> _Case:
    import logging

    from iblutil.io.net.app import EchoProtocol  # type: ignore[import-untyped]

    quiet = logging.getLogger("iblutil-bench")
    quiet.setLevel(logging.WARNING)  # as on the rig side: no per-message DEBUG lines
    client = await EchoProtocol.client(f"udp://127.0.0.1:{port}", name="bench", log=quiet)
    stack.callback(client.close)
    message = [32, 0]  # EXPSTATUS, as labdeck's status sends

    async def confirmed() -> None:
        await client.confirmed_send(message)

    return _Case("iblutil", "iblutil confirmed_send, UDP", confirmed)


async def _round_trips(ports: dict[str, int], counts: RigCounts) -> list[list[Figure]]:
    async with contextlib.AsyncExitStack() as stack:
        cases = await _round_trip_cases(ports, stack)
        for case in cases:
            await case.block(counts.warmup, record=False)
        per_block = max(1, counts.requests // BLOCKS)
        for _ in range(BLOCKS):
            for case in cases:
                await case.block(per_block)
    udp, tcp, *baselines = cases
    as_ours = _Case("labdeck", tcp.label, tcp.call, tcp.samples, tcp.elapsed)
    return [[udp.figure("rig-rtt-udp")] + [b.figure("rig-rtt-udp") for b in baselines],
            [as_ours.figure("rig-rtt-tcp")] + [b.figure("rig-rtt-tcp") for b in baselines]]


# -- group init ---------------------------------------------------------------------


async def _group_init(ports: dict[str, int], size: int, rounds: int) -> Figure:
    group = RigGroup(Rig(f"udp://127.0.0.1:{ports[f'group-{i}']}", f"rig{i}") for i in range(size))
    case = _Case("labdeck", f"init of {size} rig{'s' if size > 1 else ''}", lambda: _init_all(group))
    try:
        await case.block(max(1, rounds // 10), record=False)
        await case.block(rounds)
    finally:
        await group.close()
    return case.figure(f"rig-group-{size}")


async def _init_all(group: RigGroup) -> None:
    result = await group.send(Event.INIT, [None])
    if not result.ok:
        raise BenchmarkFailed(f"group init: {', '.join(sorted(result.failures))} did not answer")


# -- delivery under loss --------------------------------------------------------------


async def _lossy(ports: dict[str, int], loss: int, messages: int) -> Figure:
    """``messages`` inits through the ``loss`` % relay, each checked to arrive once."""
    async with Rig(f"udp://127.0.0.1:{ports[f'loss-{loss}']}", f"loss-{loss}", timeout=10.0) as rig:
        samples: list[float] = []
        began = time.perf_counter()
        for i in range(messages):
            t0 = time.perf_counter()
            try:
                await rig.init(i)
            except LabdeckError as exc:
                raise BenchmarkFailed(f"{loss} % loss: message {i} was not delivered: {exc.message}") from None
            samples.append((time.perf_counter() - t0) * 1e6)
        elapsed = time.perf_counter() - began
        handled = await _handled(rig)
    if handled != list(range(messages)):
        twice = len(handled) - len(set(handled))
        raise BenchmarkFailed(f"{loss} % loss: the rig handled {len(handled)} inits for {messages} sent "
                              f"({twice} twice)")
    return Figure(bench=f"rig-loss-{loss}", server="labdeck", label=f"init, {loss} % lost each way", unit="µs",
                  median=median(samples), p99=percentile(samples, 99), rate=messages / elapsed,
                  samples=messages, extra={"delivered": messages, "handled_once": len(set(handled))})


async def _handled(rig: Rig) -> list[Any]:
    for _ in range(5):  # the relay may drop this too; labdeck resends, but the deadline is per call
        with contextlib.suppress(LabdeckError):
            handled = await rig.info()
            return list(handled) if isinstance(handled, list) else []
    raise BenchmarkFailed(f"rig {rig.name!r}: could not read back what it handled")


# -- the whole run ------------------------------------------------------------------


Section = tuple[str, list[Figure]]


async def run_rig_benchmarks(counts: RigCounts, progress: Callable[[str], None]) -> tuple[list[Section], list[str]]:
    """Run every rig measure; returns the report's sections and notes.

    Raises:
        BenchmarkFailed: the rig process did not start, or a message was lost or handled twice.
    """
    sections: list[Section] = []
    notes: list[str] = []
    async with rig_side() as ports:
        if "iblutil" not in ports:
            notes.append("rigs: iblutil is not installed, its baseline is left out (pip install iblutil)")
        progress(f"rigs: round trip, {counts.requests:,} requests per case after {counts.warmup:,} warm-up")
        udp, tcp = await _round_trips(ports, counts)
        sections.append((f"rig-rtt-udp: confirmed message round trip across processes, labdeck mode over UDP, "
                         f"{counts.requests:,} sequential requests", udp))
        sections.append(("rig-rtt-tcp: the same, labdeck mode over TCP (the baselines are the UDP ones)", tcp))
        progress(f"rigs: group init of {', '.join(map(str, GROUP_SIZES))} rigs, {counts.group_rounds} rounds")
        for size in GROUP_SIZES:
            figure = await _group_init(ports, size, counts.group_rounds)
            sections.append((f"rig-group-{size}: init sent to {size} rig(s) at once, until all answered", [figure]))
        for loss in LOSSES:
            progress(f"rigs: {counts.lossy_messages} inits through a relay losing {loss} % each way")
            figure = await _lossy(ports, loss, counts.lossy_messages)
            sections.append((f"rig-loss-{loss}: {counts.lossy_messages} inits with {loss} % of datagrams lost "
                             f"each way, every one delivered and handled once", [figure]))
            notes.append(f"rigs: {loss} % loss: {figure.samples} of {figure.samples} delivered, each handled once")
    return sections, notes
