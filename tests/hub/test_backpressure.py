"""Delivery under back-pressure: frames written straight to the transport while it has
room, queued while it has none, and handed over in order once it drains."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from collections.abc import Callable

import pytest

from labdeck import Deck
from labdeck.hub import Connection
from tests.conftest import ws_url
from tests.helpers import WireClient, scaled, until
from tests.hub.raw import open_raw, send_text

PAD = "y" * 8 * 1024


async def read_frames(sock: socket.socket, count: int | None = None) -> list[tuple[int, bytes]]:
    """``(opcode, payload)`` of server frames: ``count`` of them, or all until the end."""
    loop = asyncio.get_running_loop()
    buf, frames = b"", []
    while count is None or len(frames) < count:
        while True:
            if len(buf) >= 2:
                n = buf[1] & 0x7F
                head = 2 + {126: 2, 127: 8}.get(n, 0)
                if len(buf) >= head:
                    if n == 126:
                        n = struct.unpack("!H", buf[2:4])[0]
                    elif n == 127:
                        n = struct.unpack("!Q", buf[2:10])[0]
                    if len(buf) >= head + n:
                        break
            chunk = await asyncio.wait_for(loop.sock_recv(sock, 1 << 16), scaled(10))
            if not chunk:
                return frames
            buf += chunk
        frames.append((buf[0] & 0x0F, buf[head : head + n]))
        buf = buf[head + n :]
    return frames


async def test_a_client_that_pauses_reading_gets_everything_in_order_once_it_reads(
    make_deck: Callable[..., Deck],
) -> None:
    deck = make_deck(server_send_queue_bytes=64 << 20, server_history=5)
    await deck.start()
    sock = await open_raw("127.0.0.1", deck.port or 0, "/ws")
    try:
        await send_text(sock, b'{"id":1,"op":"sub","ch":"lab/wave"}')
        assert (await read_frames(sock, 1))[0][1].startswith(b'{"id":1,"ok":true')
        (conn,) = deck.hub.subscribers["lab/wave"]
        assert isinstance(conn, Connection)
        count = 0
        while conn.queued_bytes == 0 or count < 50:  # until the transport is full and frames wait
            count += 1
            await deck.hub.publish("lab/wave", {"i": count, "pad": PAD})
            await asyncio.sleep(0)
            assert count < 5000, "the transport never pushed back"
        for _ in range(20):  # more while frames wait: they queue behind, never overtake
            count += 1
            await deck.hub.publish("lab/wave", {"i": count, "pad": PAD})
        frames = await read_frames(sock, count)
        assert [op for op, _ in frames] == [1] * count
        seqs = [int(p.split(b'"seq":')[1].split(b",")[0]) for _, p in frames]
        assert seqs == list(range(1, count + 1))
        assert all(PAD.encode() in p for _, p in frames)
        await until(lambda: conn.queued_bytes == 0, what="the queue drained")
        assert not conn.dropped_slow
    finally:
        sock.close()
        await deck.stop()


async def test_frames_of_every_header_length_reach_a_client_intact(deck: Deck) -> None:
    async with WireClient(ws_url(deck), max_msg_size=1 << 20) as client:
        await client.request("sub", ch="lab/sizes")
        sizes = [*range(40, 140), *range(65_440, 65_560), 200_000]
        for size in sizes:  # push frames of about 60 bytes plus the data: every length form
            deck.publish("lab/sizes", "z" * size)
        pushes = await client.wait_for("lab/sizes", len(sizes))
        assert [len(p["data"]) for p in pushes] == sizes
        assert [p["seq"] for p in pushes] == list(range(1, len(sizes) + 1))


def _masked_close() -> bytes:
    mask = os.urandom(4)
    payload = struct.pack("!H", 1000)
    return bytes([0x88, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


@pytest.mark.parametrize("closing", ["client closes", "server refuses a frame"])
async def test_nothing_follows_the_servers_close_frame(make_deck: Callable[..., Deck], closing: str) -> None:
    deck = make_deck(server_history=5, server_max_frame=4096)
    await deck.start()
    sock = await open_raw("127.0.0.1", deck.port or 0, "/ws", rcvbuf=1 << 20)
    stop = asyncio.Event()

    async def publish() -> None:
        i = 0
        while not stop.is_set():  # one message per loop turn, all through the close handshake
            i += 1
            deck.publish("lab/tick", i)
            await asyncio.sleep(0)

    publisher = asyncio.get_running_loop().create_task(publish())
    try:
        await send_text(sock, b'{"id":1,"op":"sub","ch":"lab/tick"}')
        await read_frames(sock, 20)
        if closing == "client closes":
            await asyncio.get_running_loop().sock_sendall(sock, _masked_close())
        else:  # aiohttp sends 1009 and waits for the client's close: the hub must stop at once
            await send_text(sock, b'"' + b"x" * 5000 + b'"')
        frames = await read_frames(sock)  # until the server closes the connection
        opcodes = [op for op, _ in frames]
        assert 0x8 in opcodes, "no close frame"
        assert opcodes.index(0x8) == len(opcodes) - 1, "frames after the close frame"
    finally:
        stop.set()
        await publisher
        sock.close()
        await deck.stop()
