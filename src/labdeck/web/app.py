"""The HTTP application: dashboard, websocket endpoint, health and metrics.

Routes (all under the optional ``[server] base_path``):

* ``/`` — the dashboard; ``/static/...`` its files and the JavaScript client ``deck.js``
* ``/ws`` — the websocket of the wire protocol
* ``/healthz`` — JSON, 200 while serving
* ``/metrics`` — Prometheus text format
* ``/admin`` and ``/api/admin/...`` — the admin page and its API (:mod:`labdeck.web.admin`)
* ``/api/panels`` — the dashboard panels this client may see, from every capability
* ``/api/prefs`` — the requesting user's dashboard preferences (:mod:`labdeck.web.prefs`)
* ``/robots.txt`` — ``[server] robots`` (:mod:`labdeck.web.crawlers`)
* each ``[pages.<name>]`` site at its route (:mod:`labdeck.pages.site`)
* every capability's routes, each behind the role it declares, and its static folder
  at ``/static/cap/<name>/``

Every request first gets its client's address (behind a trusted reverse proxy, from
``X-Forwarded-For``: :mod:`labdeck.web.proxies`), then passes the checks of
:mod:`labdeck.web.guard` (Host, Origin, security headers) and the error pages of
:mod:`labdeck.web.errorpages`, installed on the outermost application; then, inside,
the API's JSON errors, maintenance mode (:mod:`labdeck.web.maintenance`), the crawler
check (:mod:`labdeck.web.crawlers`), the rate limit (:mod:`labdeck.web.ratelimit`) and the
identity layer (:mod:`labdeck.web.auth`).
Every answered request is counted by :mod:`labdeck.web.stats`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, hdrs, web

from labdeck import __version__
from labdeck.capability import Capability, Handler, Panel, Route
from labdeck.exceptions import BadRequest, FrameTooLarge, LabdeckError
from labdeck.hub.connection import SLOW_CLIENT_CLOSE_CODE
from labdeck.pages.site import add_pages
from labdeck.protocol import wire
from labdeck.types import has_role
from labdeck.web import access, crawlers, errorpages, prefs, proxies, ratelimit
from labdeck.web import maintenance as maintenance_mode
from labdeck.web.admin import add_admin_routes
from labdeck.web.auth import CLIENT_KEY, add_auth_routes, client_of
from labdeck.web.auth import middleware as identify
from labdeck.web.closing import close_stalled
from labdeck.web.guard import Guard, add_security_headers, same_server
from labdeck.web.metrics import render_metrics
from labdeck.web.openapi import add_openapi_paths, api_error_middleware, error_response
from labdeck.web.outlet import Flusher, WebSocketOutlet
from labdeck.web.stats import count_websocket

if TYPE_CHECKING:
    from labdeck.admin.stats import RequestStats
    from labdeck.deck import Deck
    from labdeck.hub.connection import Connection

__all__ = [
    "CLIENT_KEY",
    "CORE_PANELS",
    "DECK_KEY",
    "STATIC_DIR",
    "client_of",
    "healthz",
    "index",
    "make_app",
    "metrics",
    "origin_allowed",
    "panels",
    "websocket",
]

log = logging.getLogger(__name__)

DECK_KEY: web.AppKey[Deck] = web.AppKey("deck")
FLUSHER_KEY = web.AppKey("flusher", Flusher)
_STALLED_CLOSE_TIMEOUT = 1.0
"""Seconds a stalled client has to read up to its close frame before the connection is cut."""
_SLOW_CLOSE_GRACE = 10.0
"""The same for a client dropped as slow: it stalled, so it may stay asleep a while
(a background tab, a busy machine) and should still find why it was dropped. Its
queue and subscriptions are gone at once; only the transport's buffer waits."""
STATIC_DIR = Path(str(resources.files("labdeck.ui").joinpath("static")))

CORE_PANELS = (
    Panel("objects", "Objects", "static/panels/objects.js", order=60, css="static/panels/objects.css"),
    Panel("channels", "Channels", "static/panels/channels.js", order=90, css="static/panels/channels.css"),
    Panel("admin", "Admin", "static/panels/admin.js", order=95, css="static/panels/admin.css", role="admin"),
)
"""The panels of the hub itself, beside those of the capabilities."""


def make_app(deck: Deck) -> web.Application:
    """The aiohttp application serving ``deck``, mounted at its base path."""
    gate, admin = deck.gate, deck.admin
    assert gate is not None and admin is not None, "the app is made once the deck's store is open"
    base = deck.config.server.base_path
    guard = Guard(deck.config.server)
    outermost = [guard.middleware, errorpages.middleware(base, lambda: admin.switches.debug)]
    if deck.config.server.trusted_proxies:
        outermost.insert(0, proxies.middleware(proxies.networks(deck.config.server.trusted_proxies)))
    inner = web.Application()
    limit = ratelimit.RateLimit(deck.config.server.rate_limit)
    own = [api_error_middleware(base + "/api/"), maintenance_mode.middleware(admin.maintenance, base),
           crawlers.middleware(inner.setdefault(access.RULES_KEY, {})),
           ratelimit.middleware(inner, limit, base + "/api/"), identify(gate)]
    inner.middlewares.extend(own if base else [*outermost, *own])
    add_auth_routes(inner, gate, admin.audit)
    add_admin_routes(inner, admin)
    ratelimit.expensive(inner, "POST", "/login")
    ratelimit.expensive(inner, "POST", "/api/uploads/{dir}")
    inner[DECK_KEY] = deck
    inner[FLUSHER_KEY] = Flusher()
    access.add(inner, "GET", "/", index, "viewer")
    access.add(inner, "GET", "/ws", websocket, "viewer")  # and each op its own rule
    access.add(inner, "GET", "/healthz", healthz, access.PUBLIC)
    access.add(inner, "GET", "/metrics", metrics, "viewer")
    access.add(inner, "GET", "/api/panels", panels, "viewer")
    assert deck.store is not None
    prefs.add_routes(inner, deck.store)
    access.add(inner, "GET", crawlers.ROBOTS_PATH, crawlers.robots(deck.config.server.robots), access.PUBLIC)
    add_pages(inner, deck.config)
    for cap in deck.capabilities.values():
        if cap.static is not None:
            access.add_static(inner, f"/static/cap/{cap.name}/", cap.static)
        add_openapi_paths(inner, {}, dict(cap.openapi_schemas))
    access.add_static(inner, "/static/", STATIC_DIR)
    add_openapi_paths(inner, {"/api/panels": _PANELS_SPEC})
    for cap, route in deck.cap_routes:
        access.add(inner, route.method, route.path, _guard(route, cap.bind(route)), route.needs)
        if route.openapi:
            add_openapi_paths(inner, {path: {method: {**spec, "x-labdeck-role": route.needs}
                                             for method, spec in item.items()}
                                      for path, item in route.openapi.items()})
    for extend in deck.routes:
        extend(inner)
    if not base:
        inner.on_response_prepare.extend((add_security_headers, _revalidate_static))
        return inner
    outer = web.Application(middlewares=outermost)
    outer.on_response_prepare.extend((add_security_headers, _revalidate_static))
    outer[DECK_KEY] = deck
    outer.router.add_get(base, _redirect_to(base + "/"))
    outer.add_subapp(base, inner)
    return outer


async def _revalidate_static(request: web.Request, response: web.StreamResponse) -> None:
    """The dashboard's own files carry no version in their names: a browser asks again
    (a 304 when unchanged, by ETag) rather than keep yesterday's script after an upgrade."""
    resource = request.match_info.route.resource
    if isinstance(resource, web.StaticResource):
        response.headers.setdefault(hdrs.CACHE_CONTROL, "no-cache")


def _redirect_to(location: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def redirect(request: web.Request) -> web.StreamResponse:
        raise web.HTTPPermanentRedirect(location)

    return redirect


def _guard(route: Route, handler: Handler) -> Handler:
    """``handler`` behind the role ``route`` needs: 403 with the JSON error body otherwise.

    A :class:`LabdeckError` the handler raises becomes the JSON error body with the status
    the error carries, so a capability's handlers just raise.
    """
    need = route.needs

    async def guarded(request: web.Request) -> web.StreamResponse:
        if not has_role(client_of(request).role, need):
            return error_response(403, "AccessDenied", f"{request.method} {request.path} needs the {need} role")
        try:
            return await handler(request)
        except LabdeckError as exc:
            return error_response(exc.http_status, exc.wire_type, exc.message)

    return guarded


def _panel_info(panel: Panel, cap: Capability | None) -> dict[str, object]:
    def url(path: str | None) -> str | None:
        if path is None or path.startswith("static/") or cap is None:
            return path
        return f"static/cap/{cap.name}/{path}"

    return {"id": panel.id, "title": panel.title, "module": url(panel.module), "css": url(panel.css),
            "order": panel.order, "capability": cap.name if cap else None, "summary": url(panel.summary)}


async def panels(request: web.Request) -> web.StreamResponse:
    """The panels the client may see, by order:
    ``{"panels": [{id, title, module, css, order, capability, summary}]}``."""
    deck = request.app[DECK_KEY]
    role = client_of(request).role
    found = [_panel_info(p, None) for p in CORE_PANELS if has_role(role, p.role)]
    found += [_panel_info(p, cap) for cap in deck.capabilities.values() for p in cap.panels if has_role(role, p.role)]
    found.sort(key=lambda p: (p["order"], p["id"]))
    return web.json_response({"panels": found}, headers={"Cache-Control": "no-cache"})


_PANEL_SCHEMA = {
    "type": "object",
    "required": ["id", "title", "module", "css", "order", "capability", "summary"],
    "properties": {"id": {"type": "string"}, "title": {"type": "string"}, "module": {"type": "string"},
                   "css": {"type": ["string", "null"]}, "order": {"type": "integer"},
                   "capability": {"type": ["string", "null"]},
                   "summary": {"type": ["string", "null"],
                               "description": "the module of the panel's card on the Overview, if it has one"}},
}
_PANELS_SPEC = {"get": {
    "summary": "The dashboard panels this client may see, lowest order first",
    "responses": {"200": {"description": "success", "content": {"application/json": {"schema": {
        "type": "object", "required": ["panels"],
        "properties": {"panels": {"type": "array", "items": _PANEL_SCHEMA}}}}}}},
}}


async def index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


async def healthz(request: web.Request) -> web.StreamResponse:
    deck = request.app[DECK_KEY]
    checks = {name: dict(found) for name, cap in deck.capabilities.items() if (found := cap.health())}
    if broker := deck.broker.health():
        checks["broker"] = broker
    if deck.store is not None and (store := await deck.store.health()):
        checks["store"] = store
    for name, owned in deck.owned.items():
        if owned.standby is not None:
            checks[name] = {"standby": f"run by {owned.standby}"}
    return web.json_response({
        "status": "degraded" if any(c.get("ok") is False for c in checks.values()) else "ok",
        "version": __version__,
        "uptime": round(time.time() - deck.started_at, 3),
        "pid": os.getpid(),
        "connections": len(deck.hub.connections),
        "capabilities": list(deck.capabilities),
        "checks": checks,
        "maintenance": deck.admin is not None and deck.admin.maintenance.current() is not None,
    })


async def metrics(request: web.Request) -> web.StreamResponse:
    deck = request.app[DECK_KEY]
    admin = deck.admin
    assert admin is not None
    text = render_metrics(deck.hub, admin.stats, deck.started_at, admin.maintenance)
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
    writer = await ws.prepare(request)
    assert request.transport is not None  # prepared: the connection is up
    assert deck.admin is not None  # the app is made once the store is open
    stats = deck.admin.stats
    outlet = WebSocketOutlet(ws, request.transport, writer, request.app[FLUSHER_KEY], stats)
    count_websocket(stats, request)

    async def close(code: int, reason: str) -> None:
        transport = request.transport
        slow = code == SLOW_CLIENT_CLOSE_CODE
        if transport is not None and (slow or transport.get_write_buffer_size()):
            # A client that stopped reading: its close frame must not wait behind what it
            # has not read, and aiohttp's close cannot send once the sender was cancelled.
            close_stalled(transport, code, reason, _SLOW_CLOSE_GRACE if slow else _STALLED_CLOSE_TIMEOUT)
            if slow:
                await deck.hub.disconnect(conn)
            return
        # Should ws.close() still fail (CancelledError from a drain waiter cancelled
        # mid-write), abort the transport, re-raising only a cancellation aimed at this task.
        try:
            await asyncio.wait_for(ws.close(code=code, message=reason.encode()), 2.0)
        except (TimeoutError, ConnectionError, asyncio.CancelledError):
            if request.transport is not None:
                request.transport.abort()
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise

    conn = deck.hub.connect(
        outlet, close, client_of(request), max_bytes=server.send_queue_bytes, max_in_flight=server.max_in_flight
    )
    try:
        # A task of its own: each frame read then resumes the few coroutines of the read
        # loop, not every middleware this handler runs inside (cancelling this handler
        # cancels the task it awaits).
        await asyncio.get_running_loop().create_task(_read_frames(ws, deck, conn, stats))
    finally:
        await deck.hub.disconnect(conn)
    return ws


async def _read_frames(ws: web.WebSocketResponse, deck: Deck, conn: Connection, stats: RequestStats | None) -> None:
    """Hand every text frame of ``ws`` to the hub until the websocket ends."""
    async for msg in ws:
        if msg.type is WSMsgType.TEXT:
            if stats is not None:
                stats.websocket_frames_in += 1
                stats.websocket_bytes_in += len(msg.data)
            await deck.hub.handle(conn, msg.data)  # a reply is written as it is sent
        elif msg.type is WSMsgType.BINARY:
            conn.send(wire.encode_error(None, BadRequest.wire_type, "binary frames are not part of the protocol"))
        elif msg.type is WSMsgType.ERROR:
            exc = ws.exception()
            if ws.close_code == FrameTooLarge.close_code:
                log.info("connection %s closed: frame over %d bytes", conn.id, deck.config.server.max_frame)
            else:
                log.info("connection %s closed: %s", conn.id, exc)
            break
