"""``broadcast``: one publisher, 1, 10 and 100 subscribed clients, every message to all.

The server publishes ``count`` messages of about 100 bytes as fast as it can: labdeck
with :meth:`Deck.publish` inside its own process (triggered by an HTTP request), the
baselines by looping over their connections (triggered by a websocket message). Two
publishers: a *burst* yields to the event loop every
:data:`~labdeck.bench.baselines.YIELD_EVERY` messages; a *turn* publisher
(``broadcast-N-turn``) yields after every message, as a script's data points or a
watch's file events arrive one per loop turn, where a fan-out cannot share any cost
between messages. The clock runs from the trigger until the last client has the last
message; the figure is delivered messages per second across all clients, the median
(and the best) over the rounds, with the server's CPU time per delivered message read
from ``/proc`` (:mod:`labdeck.bench.cpu`), which a loaded machine moves far less.

Every client checks every message's seq: exactly ``first, first + 1, …`` with nothing
missing, repeated or out of order, or the benchmark fails. For labdeck the seqs are the
channel's own, so this checks the hub's delivery guarantee under load.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import aiohttp
import msgspec

from labdeck.bench.baselines import YIELD_EVERY
from labdeck.bench.cpu import cpu_ns
from labdeck.bench.report import Figure, median
from labdeck.bench.servers import Server
from labdeck.exceptions import BenchmarkFailed

__all__ = ["DATA_SIZE", "Fanout", "run_broadcast"]

DATA_SIZE = 40
"""Characters of data per message: a push frame of about 100 bytes."""


class _Push(msgspec.Struct):
    seq: int


_push = msgspec.json.Decoder(_Push)


@dataclass
class Fanout:
    """One server's clients in one broadcast benchmark."""

    server: Server
    clients: int
    every: int = YIELD_EVERY
    """The publisher yields to the event loop after this many messages."""
    sockets: list[aiohttp.ClientWebSocketResponse] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    """Server CPU µs per delivered message, per round."""
    sent: int = 0
    frame_bytes: int = 0

    @property
    def bench(self) -> str:
        return f"broadcast-{self.clients}" + ("-turn" if self.every == 1 else "")

    @property
    def channel(self) -> str:
        return f"bench/fanout-{self.clients}-{self.every}"

    async def open(self, session: aiohttp.ClientSession) -> None:
        """Connect and subscribe every client."""
        self.sockets = list(await asyncio.gather(
            *(session.ws_connect(self.server.ws_url, compress=0) for _ in range(self.clients))
        ))
        await asyncio.gather(*(self._subscribe(ws) for ws in self.sockets))

    async def _subscribe(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        if self.server.kind == "labdeck":
            await ws.send_str(f'{{"id":1,"op":"sub","ch":"{self.channel}"}}')
            reply = await ws.receive_str()
            if '"ok":true' not in reply:
                raise BenchmarkFailed(f"labdeck refused the subscription: {reply[:200]}")
        else:
            await ws.send_str("sub")
            if await ws.receive_str() != "ok":
                raise BenchmarkFailed(f"the {self.server.kind} server refused the subscription")

    async def close(self) -> None:
        await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)

    async def round(self, session: aiohttp.ClientSession, trigger: aiohttp.ClientWebSocketResponse | None,
                    count: int, timeout: float) -> float:
        """One burst of ``count`` messages; returns delivered messages per second.

        Raises:
            BenchmarkFailed: a message was lost, repeated or out of order, a client's
                connection ended, or the burst took over ``timeout`` seconds.
        """
        # labdeck's seqs continue from burst to burst; the baselines count from 1 each time.
        first = self.sent + 1 if self.server.kind == "labdeck" else 1
        readers = [asyncio.ensure_future(self._receive(ws, first, count)) for ws in self.sockets]
        try:
            async with asyncio.timeout(timeout):
                cpu_before = cpu_ns(self.server.process.pid)
                started = time.perf_counter()
                await self._trigger(session, trigger, count)
                ends = await asyncio.gather(*readers)
                cpu_after = cpu_ns(self.server.process.pid)
        except TimeoutError:
            raise BenchmarkFailed(
                f"broadcast to {self.clients} on {self.server.kind}: not every message arrived within {timeout:g} s"
            ) from None
        finally:
            for reader in readers:
                reader.cancel()
        self.sent += count
        if cpu_before is not None and cpu_after is not None:
            self.cpu.append((cpu_after - cpu_before) / 1000 / (self.clients * count))
        rate = self.clients * count / (max(ends) - started)
        return rate

    async def _trigger(self, session: aiohttp.ClientSession, trigger: aiohttp.ClientWebSocketResponse | None,
                       count: int) -> None:
        if self.server.kind == "labdeck":
            body = {"ch": self.channel, "count": count, "size": DATA_SIZE, "every": self.every}
            # the bench is a page of the server it measures: state changes need its Origin
            headers = {"Origin": self.server.http_url}
            async with session.post(self.server.http_url + "/bench/burst", json=body, headers=headers) as resp:
                if resp.status != 200:
                    raise BenchmarkFailed(f"labdeck burst failed: HTTP {resp.status}")
            return
        assert trigger is not None
        await trigger.send_str(f"burst {count} {DATA_SIZE} {self.channel} {self.every}")
        if await trigger.receive_str() != "done":
            raise BenchmarkFailed(f"the {self.server.kind} burst did not finish")

    async def _receive(self, ws: aiohttp.ClientWebSocketResponse, first: int, count: int) -> float:
        """Read ``count`` pushes with seqs from ``first``; returns when the last arrived."""
        decode = _push.decode
        expect, end = first, first + count
        while expect < end:
            msg = await ws.receive()
            if msg.type is not aiohttp.WSMsgType.TEXT:
                raise BenchmarkFailed(
                    f"{self.server.kind}: a client's connection ended ({msg.type.name}) after seq {expect - 1}"
                )
            seq = decode(msg.data).seq
            if seq != expect:
                raise BenchmarkFailed(
                    f"{self.server.kind}, {self.clients} clients: expected seq {expect}, got {seq} "
                    f"({'lost' if seq > expect else 'repeated or out of order'})"
                )
            if not self.frame_bytes:
                self.frame_bytes = len(msg.data.encode())
            expect += 1
        return time.perf_counter()

    def figure(self, count: int) -> Figure:
        label = {"labdeck": "labdeck Deck.publish"}.get(self.server.kind, f"{self.server.kind} loop")
        extra: dict[str, object] = {"best": max(self.rates), "clients": self.clients, "messages": count,
                                    "frame_bytes": self.frame_bytes, "lost": 0, "yield_every": self.every}
        if self.cpu:
            extra["cpu_us"] = median(self.cpu)
        return Figure(self.bench, self.server.kind, label, "msg/s", median(self.rates), None,
                      median(self.rates), len(self.rates), extra)


async def run_broadcast(servers: dict[str, Server], clients: int, count: int, rounds: int,
                        timeout: float, every: int = YIELD_EVERY) -> list[Figure]:
    """Broadcast ``count`` messages to ``clients`` clients of each server, ``rounds`` times,
    the publisher yielding every ``every`` messages.

    One untimed round per server first; then servers take turns round by round.
    """
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        fanouts = [Fanout(s, clients, every) for s in servers.values()]
        triggers: dict[str, aiohttp.ClientWebSocketResponse] = {}
        try:
            for fanout in fanouts:
                await fanout.open(session)
                if fanout.server.kind != "labdeck":
                    triggers[fanout.server.kind] = await session.ws_connect(fanout.server.ws_url, compress=0)
            for fanout in fanouts:
                await fanout.round(session, triggers.get(fanout.server.kind), count, timeout)
            for _ in range(rounds):
                for fanout in fanouts:
                    fanout.rates.append(await fanout.round(session, triggers.get(fanout.server.kind), count, timeout))
        finally:
            for fanout in fanouts:
                await fanout.close()
            for ws in triggers.values():
                await ws.close()
        return [f.figure(count) for f in fanouts]
