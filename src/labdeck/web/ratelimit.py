"""A per-address rate limit on the login form and the expensive routes: 429 with ``Retry-After``.

Each address has a bucket of ``[server] rate_limit`` requests that refills at that many
per minute; a request the bucket cannot pay for gets ``429 Too Many Requests`` with the
whole seconds until it could, and costs nothing. Cheap routes (static files, the
websocket, the API reads) never touch the buckets. The buckets are bounded: past
``max_entries`` addresses the stalest are forgotten (an attacker spraying addresses then
loses its own limit, never the server its memory).

The expensive routes are marked where they are added (:func:`expensive`); a handler whose
cost depends on what it serves (a template rather than a file) calls :func:`charge` itself.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from labdeck.web.openapi import error_response

__all__ = ["LIMIT_KEY", "RateLimit", "TooMany", "charge", "expensive", "middleware"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class RateLimit:
    """Token buckets by address; pure bookkeeping, the caller passes the time."""

    per_minute: int
    max_entries: int = 10_000
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict, repr=False)

    def take(self, address: str, now: float) -> float:
        """Spend one request of ``address`` at ``now``: 0 when allowed, else seconds until it would be."""
        if self.per_minute <= 0:
            return 0.0
        rate = self.per_minute / 60.0
        tokens, last = self._buckets.pop(address, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - last) * rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / rate
        self._buckets[address] = (tokens, now)  # re-inserted: dict order is staleness order
        while len(self._buckets) > self.max_entries:
            del self._buckets[next(iter(self._buckets))]
        return wait


class TooMany(web.HTTPTooManyRequests):
    """Raised by :func:`charge`; the middleware turns it into the 429 response."""

    def __init__(self, wait: float) -> None:
        super().__init__(headers={"Retry-After": str(max(1, int(wait + 0.999)))},
                         text=f"too many requests from this address; try again in {wait:.0f} s\n")


LIMIT_KEY: web.AppKey[RateLimit] = web.AppKey("labdeck.ratelimit", RateLimit)
_EXPENSIVE_KEY: web.AppKey[set[tuple[str, str]]] = web.AppKey("labdeck.expensive", set)


def expensive(app: web.Application, method: str, path: str) -> None:
    """Mark the route ``method path`` (its pattern, as added) as counting against the limit."""
    app.setdefault(_EXPENSIVE_KEY, set()).add((method, path))


def charge(request: web.Request) -> None:
    """Spend one request of the sender's address.

    Raises:
        TooMany: the address is over the limit.
    """
    limit = request.config_dict.get(LIMIT_KEY)
    if limit is None:
        return
    wait = limit.take(request.remote or "", time.monotonic())
    if wait > 0:
        raise TooMany(wait)


def middleware(app: web.Application, limit: RateLimit, api_prefix: str) -> Callable[..., Awaitable[web.StreamResponse]]:
    """The middleware of ``app``: charges the marked routes; every 429 (also from :func:`charge`)
    gets ``Retry-After``, and the JSON error body under ``api_prefix``."""
    app[LIMIT_KEY] = limit
    marked = app.setdefault(_EXPENSIVE_KEY, set())

    @web.middleware
    async def limited(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            if marked:
                resource = request.match_info.route.resource
                if resource is not None and (request.method, resource.canonical) in marked:
                    charge(request)
            return await handler(request)
        except TooMany as exc:
            if request.path.startswith(api_prefix):
                reply = error_response(429, "TooManyRequests", exc.text or "too many requests")
                reply.headers["Retry-After"] = exc.headers["Retry-After"]
                return reply
            return web.Response(status=429, text=exc.text, headers={"Retry-After": exc.headers["Retry-After"]})

    return limited
