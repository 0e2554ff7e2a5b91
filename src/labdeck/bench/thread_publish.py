"""``publish-thread``: :meth:`Deck.publish` from a thread of its own, into the hub.

A lab's instrument driver or a notebook publishes from its own thread. The labdeck
server (``POST /bench/thread``, see :mod:`labdeck.bench.target`) starts a thread that
publishes ``count`` messages of about 40 bytes on a channel nobody subscribes to, and
measures from the thread's start until the broker holds the last message: messages per
second into the hub, and the process's CPU time per message. The baseline, in the same
server and the same run, is the hand-over it replaced: one ``call_soon_threadsafe`` per
message, each waking the loop. The design's target is absolute: at least
:data:`TARGET_RATE` messages per second.
"""

from __future__ import annotations

import aiohttp

from labdeck.bench.broadcast import DATA_SIZE
from labdeck.bench.report import Figure, median
from labdeck.bench.servers import Server
from labdeck.exceptions import BenchmarkFailed

__all__ = ["TARGET_RATE", "run_thread_publish"]

TARGET_RATE = 500_000.0

_HOW = {"publish": "labdeck Deck.publish", "call_soon": "call_soon_threadsafe each"}


async def run_thread_publish(server: Server, count: int, rounds: int) -> list[Figure]:
    """Both hand-overs, ``rounds`` times each, taking turns; one untimed round first.

    Raises:
        BenchmarkFailed: the server refused or failed a round.
    """
    results: dict[str, list[tuple[float, int | None]]] = {how: [] for how in _HOW}
    async with aiohttp.ClientSession() as session:
        for timed in [False] + [True] * rounds:
            for how in _HOW:
                outcome = await _round(session, server, how, count)
                if timed:
                    results[how].append(outcome)
    return [_figure(how, count, results[how]) for how in _HOW]


async def _round(session: aiohttp.ClientSession, server: Server, how: str, count: int) -> tuple[float, int | None]:
    body = {"ch": f"bench/thread-{how}", "count": count, "size": DATA_SIZE, "how": how}
    headers = {"Origin": server.http_url}  # the bench is a page of the server it measures
    async with session.post(server.http_url + "/bench/thread", json=body, headers=headers) as resp:
        if resp.status != 200:
            raise BenchmarkFailed(f"labdeck thread publish ({how}) failed: HTTP {resp.status}")
        answer = await resp.json()
    return count / float(answer["seconds"]), answer["cpu_ns"]


def _figure(how: str, count: int, outcomes: list[tuple[float, int | None]]) -> Figure:
    rates = [rate for rate, _ in outcomes]
    cpus = [cpu for _, cpu in outcomes if cpu is not None]
    extra: dict[str, object] = {"best": max(rates), "messages": count}
    if cpus:
        extra["cpu_us"] = median(cpus) / 1000 / count
    server = "labdeck" if how == "publish" else "call_soon"
    return Figure("publish-thread", server, _HOW[how], "msg/s", median(rates), None, median(rates), len(rates), extra)
