"""Counting every answered request: aiohttp's access-log hook feeds :class:`RequestStats`.

The hook runs once the response has been sent, so it knows the bytes that went out, and
it sees every request the server answers, the Host check's refusals and malformed
requests included, which no middleware would. With the ``timing`` switch on it also
writes one line per request to the logger ``labdeck.web.timing``.
"""

from __future__ import annotations

import logging
import time

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest

from labdeck.admin.stats import RequestStats
from labdeck.admin.switches import Switches
from labdeck.pages.filecache import CachedFile

__all__ = ["TIMING_LOG", "access_logger", "count_websocket"]

TIMING_LOG = logging.getLogger("labdeck.web.timing")
_WEBSOCKET = 101


def access_logger(stats: RequestStats, switches: Switches) -> type[AbstractAccessLogger]:
    """The ``access_log_class`` to give aiohttp's runner (with any ``access_log`` logger)."""

    class Counting(AbstractAccessLogger):
        def log(self, request: BaseRequest, response: web.StreamResponse, time_: float) -> None:
            status = response.status
            if status == _WEBSOCKET:
                return  # counted when it opened (count_websocket)
            route = _route_of(request)
            is_file = isinstance(response, (web.FileResponse, CachedFile)) and status in (200, 206)
            size = _body_bytes(request, response)
            stats.count(request.method, route, status, size, is_file, time_, time.time())
            if switches.timing:
                TIMING_LOG.info("%s %s %d %d B %.2f ms", request.method, request.raw_path[:300], status, size,
                                time_ * 1000)

        @property
        def enabled(self) -> bool:
            return True

    return Counting


def count_websocket(stats: RequestStats, request: web.Request) -> None:
    """Count a websocket as a request when it opens (the access log sees it only when it closes)."""
    stats.count(request.method, _route_of(request), _WEBSOCKET, 0, False, 0.0, time.time())


def _body_bytes(request: BaseRequest, response: web.StreamResponse) -> int:
    """Bytes of the body sent: its length when known (the writer's count includes the
    headers, and misses what sendfile() sent), else what the writer counted."""
    if request.method == "HEAD":
        return 0
    length = response.content_length
    return length if length is not None else response.body_length


def _route_of(request: BaseRequest) -> str | None:
    match = getattr(request, "_match_info", None)  # a request the parser refused has none
    if match is None:
        return None
    resource = match.route.resource
    return resource.canonical if resource is not None else None
