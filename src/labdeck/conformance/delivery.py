"""Conformance checks of delivery: pushes, retained values, replay and gaps, epochs,
exactly-once across a reconnect, and the close codes of a too-big frame and a slow client."""

from __future__ import annotations

import asyncio
import json
import time

from labdeck.client import Client
from labdeck.conformance.target import Target, check, expect, until
from labdeck.protocol import wire

__all__: list[str] = []


def _seqs(client: Client, ch: str) -> list[int]:
    """The seqs of ``ch`` as the server sent them, duplicates included."""
    assert client.received is not None
    return [m.seq for m in client.received if isinstance(m, wire.Push) and m.ch == ch]


def _gaps(client: Client, ch: str) -> list[tuple[int, int]]:
    assert client.received is not None
    return [(m.first, m.last) for m in client.received if isinstance(m, wire.Gap) and m.ch == ch]


async def _publish(client: Client, ch: str, count: int, start: int = 0) -> list[int]:
    """Publish ``count`` messages ``{"i": start + k}``, pipelined in batches; their seqs."""
    got: list[int] = []
    for first in range(start, start + count, 200):
        batch = range(first, min(first + 200, start + count))
        got += await asyncio.gather(*(client.pub(ch, {"i": i}) for i in batch))
    return got


async def _settle(client: Client, ch: str, seq: int, timeout: float) -> None:
    """Wait until a push of ``ch`` with ``seq`` has arrived, then a little more."""
    await until(lambda: seq in _seqs(client, ch), timeout, f"seq {seq} of {ch}")
    await asyncio.sleep(0.05)  # room for anything sent twice to show up


async def _subscribed(t: Target, i: int, ch: str, **fields: object) -> tuple[Client, dict[str, object]]:
    """A recording client of server ``i`` with a raw ``sub`` sent; returns it and the reply's result."""
    client = await t.client(i, record=True).connect()
    rid = client.next_id()
    reply = await client.expect(rid, json.dumps({"id": rid, "op": "sub", "ch": ch, **fields}))
    expect(reply.ok, f"sub {fields}: {reply.error}")
    expect(
        isinstance(reply.result, dict) and {"seq", "epoch"} <= reply.result.keys(),
        f"a sub reply's result is {{seq, epoch}}, got {reply.result!r}",
    )
    return client, reply.result


@check("push.fields", "a pub's reply is the new seq; every subscriber gets {ch, seq, t, data}, the sender too")
async def _push_fields(t: Target) -> None:
    ch = t.ch("push")
    reader, _ = await _subscribed(t, 1, ch)
    try:
        async with t.client(0) as writer:
            sub = await writer.subscribe(ch)
            seq = await writer.pub(ch, {"text": "é ☃", "n": [1, 2.5, None, True]})
            expect(seq == 1, f"the first pub on a new channel has seq 1, got {seq}")
            await _settle(reader, ch, 1, t.timeout)
            assert reader.received is not None
            push = reader.received[-1]
            assert isinstance(push, wire.Push)
            expect(push.data == {"text": "é ☃", "n": [1, 2.5, None, True]}, f"data changed: {push.data!r}")
            expect(abs(push.t - time.time()) < 60, f"t is not the time of publication: {push.t}")
            own = await sub.get(t.timeout)
            expect(isinstance(own, wire.Push) and own.seq == 1, f"the sender got {own!r}")
    finally:
        await reader.close()


@check("push.order", "seqs of a channel are 1, 2, 3 … with no holes, in order, each once")
async def _push_order(t: Target) -> None:
    ch = t.ch("order")
    reader, _ = await _subscribed(t, 1, ch)
    try:
        async with t.client(0) as writer:
            published = await _publish(writer, ch, 300)
        expect(sorted(published) == list(range(1, 301)), "pub replies are not the seqs 1 to 300")
        await _settle(reader, ch, 300, t.timeout)
        expect(_seqs(reader, ch) == list(range(1, 301)), f"pushes out of order or twice: {_seqs(reader, ch)[:20]}…")
    finally:
        await reader.close()


@check("sub.retained", "sub without since gets the retained last message, then live ones; a new channel answers seq 0")
async def _retained(t: Target) -> None:
    ch = t.ch("retained")
    async with t.client(0) as writer:
        fresh, result = await _subscribed(t, 1, ch)
        await fresh.close()
        expect(result["seq"] == 0 and isinstance(result["epoch"], str), f"a new channel's sub reply: {result}")
        await _publish(writer, ch, 3)
        reader, result = await _subscribed(t, 1, ch)
        try:
            expect(result["seq"] == 3, f"the reply names the last seq, 3: {result}")
            await writer.pub(ch, "live")
            await _settle(reader, ch, 4, t.timeout)
            expect(_seqs(reader, ch) == [3, 4], f"expected the retained 3 then live 4, got {_seqs(reader, ch)}")
        finally:
            await reader.close()


@check(
    "sub.since",
    "sub with since n replays every kept message after n, then live ones; since past the "
    "last seq replays nothing and live ones follow",
)
async def _since(t: Target) -> None:
    async with t.client(0) as writer:
        for start, want in ((4, [5, 6, 7, 8, 9, 10]), (0, list(range(1, 11))), (10, []), (500, [])):
            ch = t.ch(f"since-{start}")
            await _publish(writer, ch, 10)
            reader, result = await _subscribed(t, 1, ch, since=start)
            try:
                expect(result["seq"] == 10, f"the reply names the last seq, 10: {result}")
                live = await writer.pub(ch, "live")
                await _settle(reader, ch, live, t.timeout)
                expect(
                    _seqs(reader, ch) == [*want, live],
                    f"since {start}: expected {[*want, live]}, got {_seqs(reader, ch)}",
                )
            finally:
                await reader.close()


@check("sub.again", "sub on a channel already subscribed, even with since 0, sends nothing twice")
async def _sub_again(t: Target) -> None:
    ch = t.ch("again")
    async with t.client(0) as writer:
        await _publish(writer, ch, 5)
        reader, _ = await _subscribed(t, 1, ch, since=0)
        try:
            await _settle(reader, ch, 5, t.timeout)
            rid = reader.next_id()
            reply = await reader.expect(rid, json.dumps({"id": rid, "op": "sub", "ch": ch, "since": 0}))
            expect(reply.ok and reply.result["seq"] == 5, f"the second sub's reply: {reply}")
            last = await writer.pub(ch, "live")
            await _settle(reader, ch, last, t.timeout)
            expect(_seqs(reader, ch) == [1, 2, 3, 4, 5, 6], f"sent twice: {_seqs(reader, ch)}")
        finally:
            await reader.close()


@check(
    "sub.unsub",
    "after unsub nothing more arrives; a new sub is a new subscription and replays what its "
    "since asks for, even messages the connection had before",
)
async def _unsub_resub(t: Target) -> None:
    ch = t.ch("unsub")
    async with t.client(0) as writer:
        reader, _ = await _subscribed(t, 1, ch)
        try:
            await _publish(writer, ch, 4)
            await _settle(reader, ch, 4, t.timeout)
            rid = reader.next_id()
            reply = await reader.expect(rid, json.dumps({"id": rid, "op": "unsub", "ch": ch}))
            expect(reply.ok and reply.result is None, f"unsub's reply: {reply}")
            await writer.pub(ch, "unseen")
            await asyncio.sleep(0.1)
            expect(_seqs(reader, ch) == [1, 2, 3, 4], f"pushes after unsub: {_seqs(reader, ch)}")
            rid = reader.next_id()
            await reader.expect(rid, json.dumps({"id": rid, "op": "sub", "ch": ch, "since": 2}))
            await _settle(reader, ch, 5, t.timeout)
            expect(_seqs(reader, ch) == [1, 2, 3, 4, 3, 4, 5], f"the replay asked for: {_seqs(reader, ch)}")
        finally:
            await reader.close()


@check("replay.gap", "a replay history cannot reach sends {gap: {from, to}} first, then what is kept")
async def _gap(t: Target) -> None:
    ch = t.ch("gap")
    total = t.history + 5
    async with t.client(0) as writer:
        await _publish(writer, ch, total)
        reader, _ = await _subscribed(t, 1, ch, since=0)
        try:
            await _settle(reader, ch, total, t.timeout)
            expect(_gaps(reader, ch) == [(1, 5)], f"expected one gap 1 to 5, got {_gaps(reader, ch)}")
            assert reader.received is not None
            first = next(i for i, m in enumerate(reader.received) if getattr(m, "ch", None) == ch)
            expect(isinstance(reader.received[first], wire.Gap), "the gap notice must come before the replay")
            expect(_seqs(reader, ch) == list(range(6, total + 1)), "the replay after the gap is not 6 onwards")
        finally:
            await reader.close()


@check("epoch.rules", "one epoch for all subs of a server; a stale epoch replays from 1, epoch null is absent")
async def _epoch(t: Target) -> None:
    ch = t.ch("epoch")
    async with t.client(0) as writer:
        await _publish(writer, ch, 6)
        epochs = []
        for i in range(len(t.urls)):
            probe, result = await _subscribed(t, i, t.ch("epoch-probe"))
            epochs.append(result["epoch"])
            await probe.close()
        expect(len(set(epochs)) == 1, f"servers sharing a broker name different epochs: {epochs}")
        for fields, want in (
            ({"since": 4, "epoch": "no-such-epoch"}, [1, 2, 3, 4, 5, 6]),
            ({"since": 4, "epoch": None}, [5, 6]),
            ({"since": 4, "epoch": epochs[0]}, [5, 6]),
        ):
            reader, _ = await _subscribed(t, 1, ch, **fields)
            try:
                await _settle(reader, ch, 6, t.timeout)
                expect(_seqs(reader, ch) == want, f"{fields}: expected {want}, got {_seqs(reader, ch)}")
            finally:
                await reader.close()


@check(
    "client.exactly_once",
    "a client that drops and resubscribes with since and epoch gets every message once, in order (labdeck.client)",
)
async def _exactly_once(t: Target) -> None:
    ch = t.ch("reconnect")
    n = min(50, t.history // 2)  # all of it still in the history when the client comes back
    async with t.client(0) as writer, t.client(1) as reader:
        sub = await reader.subscribe(ch, since=0)
        await _publish(writer, ch, n)
        got = [await sub.get(t.timeout) for _ in range(n)]
        reader.url = t.url(2)  # with several servers, come back through another one
        await reader.drop()
        await _publish(writer, ch, n, start=n)
        got += [await sub.get(t.timeout) for _ in range(n)]
        expect(reader.close_codes, "the client did not see its connection drop")
        expect(
            [getattr(m, "seq", None) for m in got] == list(range(1, 2 * n + 1)),
            f"not 1 to {2 * n} once each: {[getattr(m, 'seq', m) for m in got][:12]}…",
        )
        expect([m.data for m in got if isinstance(m, wire.Push)] == [{"i": i} for i in range(2 * n)], "data changed")
        with_more = await writer.pub(ch, "after")
        item = await sub.get(t.timeout)
        expect(isinstance(item, wire.Push) and item.seq == with_more, f"live after the reconnect: {item!r}")


@check("close.too_big", "a frame over the server's max_frame closes the connection with 1009")
async def _too_big(t: Target) -> None:
    up = await t.upgrade()
    expect(up.status == 101, f"upgrade refused: {up.status}")
    try:
        # The header announces one byte over the limit; the payload is never all sent, as
        # a server that closes at once would reset a connection with unread bytes in it.
        await up.socket.send_header(t.max_frame + 1, b'{"id": 1, "op": "pub", "ch": "x", "data": "')
        code, _ = await up.socket.read_until_close(t.timeout)
        expect(code == 1009, f"expected close code 1009, got {code}")
    except ConnectionError as exc:
        raise AssertionError(f"expected close code 1009, the connection was cut: {exc}") from None
    finally:
        up.socket.close()


@check(
    "close.slow_client",
    "a client that stops reading is closed with 1013 (a close frame, not a cut); the others keep receiving everything",
)
async def _slow_client(t: Target) -> None:
    ch = t.ch("slow")
    up = await t.upgrade(rcvbuf=4096)
    expect(up.status == 101, f"upgrade refused: {up.status}")
    stalled = up.socket
    try:
        await stalled.send_text(json.dumps({"id": 1, "op": "sub", "ch": ch}).encode())
        await stalled.read_frame(t.timeout)  # the sub reply; after it, nothing is read
        # Frames well under the bound, sent in batches the reading client's queue holds
        # easily, until the total is past the bound and any socket buffers in between.
        pad = "x" * min(64 << 10, t.send_queue_bytes // 4)
        batch = max(1, t.send_queue_bytes // (4 * len(pad)))
        count = 0
        async with t.client(0) as writer, t.client(1) as normal:
            sub = await normal.subscribe(ch)
            while count * len(pad) < t.send_queue_bytes + (8 << 20):
                await asyncio.gather(*(writer.pub(ch, {"i": count + i, "pad": pad}) for i in range(batch)))
                for _ in range(batch):
                    count += 1
                    item = await sub.get(t.timeout)
                    expect(isinstance(item, wire.Push) and item.seq == count, f"the reading client missed {count}")
        try:
            code, _ = await stalled.read_until_close(t.timeout)
        except ConnectionError:
            raise AssertionError(
                "the stalled client was cut without a close frame (1006), not closed with 1013"
            ) from None
        except TimeoutError:
            raise AssertionError(f"a client {count * len(pad) >> 20} MiB behind was never dropped") from None
        expect(code == 1013, f"expected close code 1013, got {code}")
    finally:
        stalled.close()
