"""Conformance checks made through :mod:`labdeck.client`'s own API, not hand-written
frames: the client is a second implementation of the protocol page, and each of these
holds only when it and the server agree on a rule (see also ``client.exactly_once``)."""

from __future__ import annotations

import asyncio

from labdeck.client import DeckError, Gap, Push
from labdeck.conformance.target import Target, check, expect

__all__: list[str] = []


@check("client.requests", "labdeck.client's ops return the reply's result; a server error raises its type")
async def _requests(t: Target) -> None:
    ch = t.ch("client-requests")
    async with t.client() as c:
        first, second = await c.pub(ch, {"n": 1}), await c.pub(ch, [1, "two"])
        expect((first, second) == (1, 2), f"pub returns the new seqs 1 and 2, got {first}, {second}")
        expect(await c.channels(prefix=ch) == {ch: 2}, "channels lists the channel with its last seq")
        expect(isinstance(await c.dir(), dict), "dir of [] returns the documented object")
        refused = (
            (lambda: c.pub("run/log", 1), "AccessDenied"),
            (lambda: c.get(["no_such_object_anywhere", "x"]), "NotFound"),
        )
        for op, error in refused:
            try:
                await op()
            except DeckError as exc:
                expect(exc.type == error, f"expected {error}, the client raised {exc.type}: {exc.message}")
            else:
                raise AssertionError(f"expected {error}, the client returned a result")


@check("client.subscribe", "labdeck.client's subscription yields the retained message, then live ones; with "
                           "since, the replay; each once, in order")
async def _subscribe(t: Target) -> None:
    ch = t.ch("client-subscribe")
    async with t.client(0) as writer, t.client(1) as reader:
        for i in range(3):
            await writer.pub(ch, i)
        async with await reader.subscribe(ch) as latest:
            await writer.pub(ch, 3)
            got = [await latest.get(t.timeout) for _ in range(2)]
            expect([(m.seq, m.data) for m in got if isinstance(m, Push)] == [(3, 2), (4, 3)],
                   f"retained 3 then live 4 expected, got {got}")
            expect(latest.epoch is not None, "the subscription knows the sub reply's epoch")
        async with await reader.subscribe(ch, since=1) as replay:
            got = [await replay.get(t.timeout) for _ in range(3)]
            expect([m.seq for m in got if isinstance(m, Push)] == [2, 3, 4], f"since 1 replays 2 to 4, got {got}")


@check("client.gap", "labdeck.client hands a gap notice over as a Gap item before the replay that follows it")
async def _gap(t: Target) -> None:
    ch = t.ch("client-gap")
    total = t.history + 3
    async with t.client(0) as writer, t.client(1) as reader:
        for first in range(0, total, 200):
            await asyncio.gather(*(writer.pub(ch, i) for i in range(first, min(first + 200, total))))
        async with await reader.subscribe(ch, since=0) as feed:
            gap = await feed.get(t.timeout)
            expect(isinstance(gap, Gap) and (gap.first, gap.last) == (1, 3), f"expected Gap 1 to 3 first, got {gap!r}")
            after = await feed.get(t.timeout)
            expect(isinstance(after, Push) and after.seq == 4, f"the replay after the gap starts at 4, got {after!r}")
