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

from labdeck.admin.stats import RequestStats

__all__ = ["Flusher", "WebSocketOutlet"]


class Flusher:
    """Writes every outlet's pushes of one loop turn at the turn's end: one callback per
    turn for all connections, and one ``writelines`` (one system call) per connection,
    however many messages the turn published."""

    __slots__ = ("_dirty", "_loop")

    def __init__(self) -> None:
        self._dirty: list[WebSocketOutlet] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def add(self, outlet: WebSocketOutlet) -> None:
        if not self._dirty:
            loop = self._loop
            if loop is None:
                loop = self._loop = asyncio.get_running_loop()
            loop.call_soon(self.flush)
        self._dirty.append(outlet)

    def flush(self) -> None:
        dirty, self._dirty = self._dirty, []
        for outlet in dirty:
            outlet.flush()


class WebSocketOutlet:
    """Writes a connection's frames to the transport under ``ws``.

    Replies go out at once; pushes are gathered until the end of the loop turn (by
    ``flusher``), so a burst costs one system call per connection, not one per message.
    A reply first writes what was gathered before it, so the order never changes.

    Args:
        ws: a prepared websocket response, without compression.
        transport: the request's transport.
        writer: what ``ws.prepare`` returned; its ``drain`` waits for room.
        flusher: shared by every connection of the server.
        stats: counts every frame taken, and its bytes, as it is taken.

    Raises:
        ValueError: ``ws`` negotiated per-message compression.
    """

    __slots__ = ("_bound", "_flusher", "_gathered", "_gathered_bytes", "_stats", "_transport", "_writer", "_ws")

    def __init__(
        self, ws: web.WebSocketResponse, transport: asyncio.Transport, writer: AbstractStreamWriter, flusher: Flusher,
        stats: RequestStats,
    ) -> None:
        if ws.compress:
            raise ValueError("frames are written without permessage-deflate: prepare the websocket with compress=False")
        self._ws = ws
        self._transport = transport
        self._writer = writer
        self._flusher = flusher
        self._stats = stats
        self._gathered: list[bytes] = []
        self._gathered_bytes = 0
        # The transport's high-water mark: above it asyncio (and uvloop) pause the
        # protocol, and aiohttp's drain waits until the buffer is down to the low mark.
        self._bound = transport.get_write_buffer_limits()[1]

    def _check_open(self) -> None:
        if self._ws.closed or self._transport.is_closing():
            raise ConnectionResetError("the websocket is closing")

    def offer(self, frame: bytes, now: bool = False) -> bool:
        self._check_open()
        transport = self._transport
        if self._gathered_bytes + transport.get_write_buffer_size() > self._bound:
            self.flush()  # what was taken goes first, then there may be room again
            if transport.get_write_buffer_size() > self._bound:
                return False  # the caller queues it
        gathered = self._gathered
        gathered.append(frame)
        stats = self._stats
        stats.websocket_frames_out += 1
        stats.websocket_bytes_out += len(frame)
        if now:
            self.flush()
            return True
        if len(gathered) == 1:
            self._flusher.add(self)
        self._gathered_bytes += len(frame)
        return True

    def flush(self) -> None:
        """Write what was gathered (nothing once the websocket is closing)."""
        gathered = self._gathered
        if not gathered:
            return
        self._gathered, self._gathered_bytes = [], 0
        if self._ws.closed or self._transport.is_closing():
            return
        if len(gathered) == 1:
            self._transport.write(gathered[0])
        else:
            self._transport.writelines(gathered)

    def write_all(self, frames: list[bytes]) -> None:
        self._check_open()
        self.flush()
        self._transport.writelines(frames)
        self._stats.websocket_frames_out += len(frames)
        self._stats.websocket_bytes_out += sum(map(len, frames))

    async def drain(self) -> None:
        await self._writer.drain()
