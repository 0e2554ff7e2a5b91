"""Maintenance mode on the web side: who still gets through, and what the others get.

While :class:`~labdeck.admin.maintenance.Maintenance` has a notice in force:

* the login page, logout, static files, ``/healthz``, ``/metrics``, ``/robots.txt``,
  the admin page and the admin's API (``/api/admin/...``, ``/api/session(s)``) work as ever;
* the rest of the API and *new* websocket connections get ``503`` with the REST error
  body (type ``Maintenance``, the notice as message) and ``Retry-After``;
* every other page gets the notice as a ``503`` page with ``Retry-After``.

Websockets already open stay open and scripts already running go on: nothing running
is disturbed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import hdrs, web
from aiohttp.typedefs import Middleware

from labdeck.admin.maintenance import Maintenance
from labdeck.web.errorpages import error_page, new_error_id
from labdeck.web.openapi import error_response

__all__ = ["EXEMPT", "EXEMPT_PREFIXES", "middleware"]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

EXEMPT: Final = frozenset({"/login", "/logout", "/healthz", "/metrics", "/robots.txt", "/admin", "/api/session",
                           "/api/sessions"})
"""Paths (below the base path) served in maintenance mode."""
EXEMPT_PREFIXES: Final = ("/static/", "/api/admin/", "/api/sessions/")


def middleware(maintenance: Maintenance, base: str) -> Middleware:
    """The middleware that answers for the server while it is in maintenance."""

    @web.middleware
    async def in_maintenance(request: web.Request, handler: Handler) -> web.StreamResponse:
        notice = maintenance.current()
        if notice is None:
            return await handler(request)
        path = request.path.removeprefix(base) or "/"
        if path in EXEMPT or path.startswith(EXEMPT_PREFIXES):
            return await handler(request)
        retry = {str(hdrs.RETRY_AFTER): str(notice.retry_after(time.time()))}
        if path.startswith("/api/") or path == "/ws":
            response = error_response(503, "Maintenance", notice.message)
            response.headers.update(retry)
            return response
        error_id = new_error_id()
        log.info("error %s: 503 %s %s from %s: in maintenance", error_id, request.method, request.raw_path[:300],
                 request.remote, extra={"error_id": error_id})
        return error_page(base, 503, error_id, message=notice.message, headers=retry)

    return in_maintenance
