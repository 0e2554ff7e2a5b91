"""Request statistics and the Prometheus text exposition served at ``/metrics``."""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web

from labdeck.hub.hub import Hub

__all__ = ["RequestStats", "render_metrics"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RequestStats:
    """Counts and latency histograms of HTTP requests, by method, route and status.

    The route label is the matched route's pattern (``/static/{filename}``), never the raw
    path, so a scan of random URLs cannot blow up the number of series.
    """

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str, int]] = Counter()
        self.buckets: dict[str, list[int]] = {}
        self.sums: dict[str, float] = {}
        self.bytes_out: Counter[str] = Counter()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        start = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            self.observe(request, status, time.perf_counter() - start)

    def observe(self, request: web.Request, status: int, seconds: float) -> None:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        self.counts[(request.method, route, status)] += 1
        counts = self.buckets.setdefault(route, [0] * (len(BUCKETS) + 1))
        counts[bisect_left(BUCKETS, seconds)] += 1
        self.sums[route] = self.sums.get(route, 0.0) + seconds


def _labels(**labels: object) -> str:
    inner = ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items())
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _family(name: str, kind: str, help_: str, samples: Iterable[str]) -> list[str]:
    return [f"# HELP {name} {help_}", f"# TYPE {name} {kind}", *samples]


def render_metrics(hub: Hub, stats: RequestStats, started: float) -> str:
    """Everything ``/metrics`` reports, in Prometheus text format 0.0.4."""
    lines: list[str] = []
    lines += _family("labdeck_uptime_seconds", "gauge", "Seconds since the server started.",
                     [f"labdeck_uptime_seconds {time.time() - started:.3f}"])
    lines += _family("labdeck_websocket_connections", "gauge", "Open websocket connections.",
                     [f"labdeck_websocket_connections {len(hub.connections)}"])
    lines += _family("labdeck_websocket_slow_disconnects_total", "counter",
                     "Connections dropped for falling behind their send-queue bound.",
                     [f"labdeck_websocket_slow_disconnects_total {hub.slow_disconnects}"])
    lines += _family("labdeck_channel_subscriptions", "gauge", "Subscriptions per channel group.",
                     [f"labdeck_channel_subscriptions{_labels(group=g)} {n}"
                      for g, n in sorted(_subscriptions(hub).items())])
    lines += _family("labdeck_messages_in_total", "counter", "Messages published by clients, per channel group.",
                     [f"labdeck_messages_in_total{_labels(group=g)} {n}" for g, n in sorted(hub.messages_in.items())])
    lines += _family("labdeck_messages_out_total", "counter", "Messages queued to subscribers, per channel group.",
                     [f"labdeck_messages_out_total{_labels(group=g)} {n}" for g, n in sorted(hub.messages_out.items())])
    lines += _family("labdeck_http_requests_total", "counter", "HTTP requests by method, route and status.",
                     [f"labdeck_http_requests_total{_labels(method=m, route=r, status=s)} {n}"
                      for (m, r, s), n in sorted(stats.counts.items())])
    samples = []
    for route, counts in sorted(stats.buckets.items()):
        running = 0
        for bound, n in zip((*BUCKETS, float("inf")), counts, strict=True):
            running += n
            le = "+Inf" if bound == float("inf") else repr(bound)
            samples.append(f"labdeck_http_request_duration_seconds_bucket{_labels(route=route, le=le)} {running}")
        samples.append(f"labdeck_http_request_duration_seconds_sum{_labels(route=route)} {stats.sums[route]:.6f}")
        samples.append(f"labdeck_http_request_duration_seconds_count{_labels(route=route)} {running}")
    lines += _family("labdeck_http_request_duration_seconds", "histogram", "HTTP request latency by route.", samples)
    return "\n".join(lines) + "\n"


def _subscriptions(hub: Hub) -> Counter[str]:
    from labdeck.hub.hub import channel_group

    groups: Counter[str] = Counter()
    for ch, subs in hub.subscribers.items():
        groups[channel_group(ch)] += len(subs)
    return groups
