"""A client whose connection dies mid-stream resumes with ``since`` and loses nothing."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter

from labdeck import Deck
from tests.conftest import ws_url
from tests.helpers import WireClient, scaled

N = 300
CH = "lab/stream"


async def test_reconnecting_with_since_receives_every_seq_exactly_once(deck: Deck) -> None:
    async def produce() -> None:
        for i in range(1, N + 1):
            await deck.hub.publish(CH, {"i": i})
            await asyncio.sleep(0.001)  # a steady stream, so the cut lands mid-way

    first = WireClient(ws_url(deck))
    await first.connect()
    epoch = (await first.request("sub", ch=CH))["epoch"]
    producer = asyncio.create_task(produce())
    try:
        await first.wait_for(CH, 50)
        assert first.ws is not None
        sock: socket.socket = first.ws.get_extra_info("socket")
        sock.shutdown(socket.SHUT_RDWR)  # the network goes away under the client
        await first.close()
        assert not producer.done(), "the stream ended before the cut; raise N"
        seen_first = [p["seq"] for p in first.pushes[CH]]
        last = seen_first[-1]

        async with WireClient(ws_url(deck)) as second:
            await second.request("sub", ch=CH, since=last, epoch=epoch)
            await asyncio.wait_for(producer, scaled(30))
            await second.wait_for(CH, N - last)
            seen_second = [p["seq"] for p in second.pushes[CH]]
    finally:
        producer.cancel()

    assert seen_first == list(range(1, last + 1))
    assert seen_second == list(range(last + 1, N + 1))
    counts = Counter(seen_first + seen_second)
    assert sorted(counts) == list(range(1, N + 1)) and set(counts.values()) == {1}
    assert [p["data"]["i"] for p in second.pushes[CH]] == seen_second
