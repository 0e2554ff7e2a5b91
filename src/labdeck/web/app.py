"""The HTTP application: dashboard, websocket endpoint, health and metrics.

Routes (all under the optional ``[server] base_path``):

* ``/`` — the dashboard; ``/static/...`` its files and the JavaScript client ``deck.js``
* ``/ws`` — the websocket of the wire protocol
* ``/healthz`` — JSON, 200 while serving
* ``/metrics`` — Prometheus text format

Every request first passes the checks of :mod:`labdeck.web.guard` (Host, Origin,
security headers), installed on the outermost application.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from labdeck import __version__
from labdeck.exceptions import BadRequest, FrameTooLarge
from labdeck.hub.connection import Client
from labdeck.protocol import wire
from labdeck.web.guard import Guard, add_security_headers, same_server
from labdeck.web.metrics import RequestStats, render_metrics
from labdeck.web.openapi import api_error_middleware

if TYPE_CHECKING:
    from labdeck.deck import Deck

__all__ = ["DECK_KEY", "STATIC_DIR", "healthz", "index", "make_app", "metrics", "origin_allowed", "websocket"]

log = logging.getLogger(__name__)

DECK_KEY: web.AppKey[Deck] = web.AppKey("deck")
STATS_KEY = web.AppKey("stats", RequestStats)
STATIC_DIR = Path(str(resources.files("labdeck.ui").joinpath("static")))


def make_app(deck: Deck) -> web.Application:
    """The aiohttp application serving ``deck``, mounted at its base path."""
    stats = RequestStats()
    base = deck.config.server.base_path
    guard = Guard(deck.config.server)
    own = [stats.middleware, api_error_middleware(base + "/api/")]
    inner = web.Application(middlewares=own if base else [guard.middleware, *own])
    inner[DECK_KEY] = deck
    inner[STATS_KEY] = stats
    inner.router.add_get("/", index)
    inner.router.add_get("/ws", websocket)
    inner.router.add_get("/healthz", healthz)
    inner.router.add_get("/metrics", metrics)
    inner.router.add_static("/static/", STATIC_DIR, follow_symlinks=False)
    for extend in deck.routes:
        extend(inner)
    if not base:
        inner.on_response_prepare.append(add_security_headers)
        return inner
    outer = web.Application(middlewares=[guard.middleware])
    outer.on_response_prepare.append(add_security_headers)
    outer[DECK_KEY] = deck
    outer.router.add_get(base, _redirect_to(base + "/"))
    outer.add_subapp(base, inner)
    return outer


def _redirect_to(location: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def redirect(request: web.Request) -> web.StreamResponse:
        raise web.HTTPPermanentRedirect(location)

    return redirect


async def index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


async def healthz(request: web.Request) -> web.StreamResponse:
    deck = request.app[DECK_KEY]
    return web.json_response({
        "status": "ok",
        "version": __version__,
        "uptime": round(time.time() - deck.started_at, 3),
        "connections": len(deck.hub.connections),
    })


async def metrics(request: web.Request) -> web.StreamResponse:
    deck = request.app[DECK_KEY]
    text = render_metrics(deck.hub, request.app[STATS_KEY], deck.started_at)
    return web.Response(text=text, content_type="text/plain", headers={"X-Content-Type-Options": "nosniff"},
                        charset="utf-8")


def origin_allowed(request: web.Request, extra: list[str]) -> bool:
    """A browser's websocket Origin must be this server itself (:func:`same_server`: any
    loopback name of the same port counts when the Host is loopback) or be in ``extra``.

    Clients that send no Origin (scripts, agents, other servers) are not browsers and
    are not subject to the cross-site check.
    """
    origin = request.headers.get("Origin")
    if origin is None or origin in extra:
        return True
    return same_server(origin, request.headers.get("Host", ""), request.scheme)


async def websocket(request: web.Request) -> web.StreamResponse:
    deck = request.app[DECK_KEY]
    server = deck.config.server
    if not origin_allowed(request, server.allowed_origins):
        log.warning("websocket from %s refused: Origin %r", request.remote, request.headers.get("Origin"))
        raise web.HTTPForbidden(text="websocket Origin not allowed\n")
    # aiohttp refuses a message of exactly max_msg_size bytes; max_frame is the largest accepted.
    ws = web.WebSocketResponse(compress=False, max_msg_size=server.max_frame + 1, heartbeat=30.0, decode_text=False)
    await ws.prepare(request)

    # The connection's sender awaits this once per frame: the bound method itself, with
    # no coroutine of our own around it.
    send = functools.partial(ws.send_frame, opcode=WSMsgType.TEXT)

    async def close(code: int, reason: str) -> None:
        # A client that stopped reading cannot take a close frame. Its sender was then
        # cancelled mid-drain, which leaves aiohttp's drain waiter cancelled, so ws.close()
        # raises CancelledError at once: abort the transport instead, re-raising only a
        # cancellation aimed at this task.
        try:
            await asyncio.wait_for(ws.close(code=code, message=reason.encode()), 2.0)
        except (TimeoutError, ConnectionError, asyncio.CancelledError):
            if request.transport is not None:
                request.transport.abort()
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise

    conn = deck.hub.connect(send, close, Client(peer=request.remote or ""), max_bytes=server.send_queue_bytes)
    try:
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                conn.direct = True  # the reply is written below, by this task
                try:
                    await deck.hub.handle(conn, msg.data)
                finally:
                    await conn.flush()
            elif msg.type is WSMsgType.BINARY:
                conn.send(wire.encode_error(None, BadRequest.wire_type, "binary frames are not part of the protocol"))
            elif msg.type is WSMsgType.ERROR:
                exc = ws.exception()
                if ws.close_code == FrameTooLarge.close_code:
                    log.info("connection %s closed: frame over %d bytes", conn.id, server.max_frame)
                else:
                    log.info("connection %s closed: %s", conn.id, exc)
                break
    finally:
        await deck.hub.disconnect(conn)
    return ws
