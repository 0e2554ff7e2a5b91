"""The hub's outlet on an aiohttp websocket: complete frames straight to the transport.

aiohttp's ``send_frame`` builds a header and copies each payload for every connection,
and is a coroutine to await per frame. The hub already holds each message's complete
frame (:mod:`labdeck.protocol.frames`), shared by all subscribers, so this outlet
writes those bytes to the transport itself, and leaves to aiohttp only what it owns:
the handshake, reading, ping/pong and the close handshake. That is sound because

* the websocket is prepared with ``compress=False``: no permessage-deflate, whose
  shared compressor state a frame written past aiohttp would corrupt (refused here);
* every write is whole frames, so aiohttp's own control frames (a heartbeat ping, a
  pong, the close frame) interleave with ours only between frames;
* once aiohttp has begun its close handshake (``ws.closed``), or the transport is
  closing, nothing more is written: RFC 6455 section 5.5.1, no data after Close.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter

__all__ = ["WebSocketOutlet"]


class WebSocketOutlet:
    """Writes a connection's frames to the transport under ``ws``.

    Args:
        ws: a prepared websocket response, without compression.
        transport: the request's transport.
        writer: what ``ws.prepare`` returned; its ``drain`` waits for room.

    Raises:
        ValueError: ``ws`` negotiated per-message compression.
    """

    __slots__ = ("_bound", "_transport", "_writer", "_ws")

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport, writer: AbstractStreamWriter) -> None:
        if ws.compress:
            raise ValueError("frames are written without permessage-deflate: prepare the websocket with compress=False")
        self._ws = ws
        self._transport = transport
        self._writer = writer
        # The transport's high-water mark: above it asyncio (and uvloop) pause the
        # protocol, and aiohttp's drain waits until the buffer is down to the low mark.
        self._bound = transport.get_write_buffer_limits()[1]

    def _check_open(self) -> None:
        if self._ws.closed or self._transport.is_closing():
            raise ConnectionResetError("the websocket is closing")

    def offer(self, frame: bytes) -> bool:
        self._check_open()
        transport = self._transport
        if transport.get_write_buffer_size() > self._bound:
            return False
        transport.write(frame)
        return True

    def write_all(self, frames: list[bytes]) -> None:
        self._check_open()
        self._transport.writelines(frames)

    async def drain(self) -> None:
        await self._writer.drain()
