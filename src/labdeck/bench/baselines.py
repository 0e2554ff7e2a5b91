"""The baseline servers labdeck is measured against, as they run in their own process.

Both speak the same tiny protocol over text frames on ``/ws``, so one client drives
all of them:

* ``sub`` — add this connection to the broadcast set; the reply is ``ok``.
* ``burst COUNT SIZE CH [EVERY]`` — send COUNT push-shaped frames
  (``{"ch": CH, "seq": 1..COUNT, "t": ..., "data": "xx…"}``, SIZE characters of data) to
  every connection in the broadcast set, as fast as the server can, yielding to the
  event loop after every EVERY messages (default :data:`YIELD_EVERY`), then reply ``done``.
* anything else — echoed back unchanged.

Each is written the way its framework's documentation writes a server: no tuning
beyond turning per-message compression off where it is on by default (aiohttp's
server accepts it; Tornado's is off unless asked for).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import WSMsgType, web

__all__ = ["YIELD_EVERY", "parse_burst", "push_frame", "serve_aiohttp", "serve_tornado"]

YIELD_EVERY = 100
"""A burst yields to the event loop after this many messages, so senders can drain."""


def push_frame(ch: str, seq: int, pad: str) -> str:
    """A frame the shape and size of a labdeck push."""
    return f'{{"ch":"{ch}","seq":{seq},"t":{time.time()!r},"data":"{pad}"}}'


def parse_burst(text: str) -> tuple[int, str, str, int]:
    """``burst COUNT SIZE CH [EVERY]`` as ``(count, pad, ch, every)``."""
    _, count, size, ch, *every = text.split(" ")
    return int(count), "x" * int(size), ch, max(1, int(every[0])) if every else YIELD_EVERY


# -- aiohttp ----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def serve_aiohttp() -> AsyncIterator[tuple[int, frozenset[str]]]:
    """A bare aiohttp websocket server on 127.0.0.1; yields ``(port, features)``."""
    subscribers: set[web.WebSocketResponse] = set()

    async def burst(text: str) -> None:
        count, pad, ch, every = parse_burst(text)
        for seq in range(1, count + 1):
            frame = push_frame(ch, seq, pad)
            for ws in list(subscribers):
                await ws.send_str(frame)
            if seq % every == 0:
                await asyncio.sleep(0)

    async def handler(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                text = msg.data
                if text == "sub":
                    subscribers.add(ws)
                    await ws.send_str("ok")
                elif text.startswith("burst "):
                    await burst(text)
                    await ws.send_str("done")
                else:
                    await ws.send_str(text)
        finally:
            subscribers.discard(ws)
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        server: Any = site._server
        yield server.sockets[0].getsockname()[1], frozenset()
    finally:
        await runner.cleanup()


# -- Tornado ----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def serve_tornado() -> AsyncIterator[tuple[int, frozenset[str]]]:
    """A Tornado websocket server on 127.0.0.1; yields ``(port, features)``.

    Raises:
        ImportError: Tornado is not installed (it is in the ``bench`` extra).
    """
    from tornado.httpserver import HTTPServer
    from tornado.netutil import bind_sockets
    from tornado.web import Application
    from tornado.websocket import WebSocketClosedError, WebSocketHandler

    subscribers: set[Any] = set()
    tasks: set[asyncio.Task[None]] = set()

    async def burst(text: str) -> None:
        count, pad, ch, every = parse_burst(text)
        for seq in range(1, count + 1):
            frame = push_frame(ch, seq, pad)
            for handler in list(subscribers):
                # Tornado buffers the write; a Tornado server does not await each frame.
                with contextlib.suppress(WebSocketClosedError):
                    handler.write_message(frame)
            if seq % every == 0:
                await asyncio.sleep(0)

    class Handler(WebSocketHandler):
        def check_origin(self, origin: str) -> bool:
            return True

        def on_message(self, message: str | bytes) -> None:
            if not isinstance(message, str):
                return
            if message == "sub":
                subscribers.add(self)
                self.write_message("ok")
            elif message.startswith("burst "):
                task = asyncio.get_running_loop().create_task(self._burst(message))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            else:
                self.write_message(message)

        async def _burst(self, message: str) -> None:
            await burst(message)
            with contextlib.suppress(WebSocketClosedError):
                self.write_message("done")

        def on_close(self) -> None:
            subscribers.discard(self)

    sockets = bind_sockets(0, "127.0.0.1")
    server = HTTPServer(Application([(r"/ws", Handler)]))
    server.add_sockets(sockets)
    try:
        yield sockets[0].getsockname()[1], frozenset()
    finally:
        server.stop()
        for task in list(tasks):
            task.cancel()
