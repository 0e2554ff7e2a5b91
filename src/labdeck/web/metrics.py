"""The Prometheus text exposition served at ``/metrics``.

Since this start: websocket connections, subscriptions, messages, frames in and out
(counted while the connection is open), and HTTP requests by
method, route pattern and status with their latency histogram. Since the first start
(kept in the store, see :mod:`labdeck.admin.stats`): requests by method, status class and
route group, bytes out, files served, invalid and not-found requests. The route label is
the matched route's pattern (``/static/{filename}``), never the raw path, so a scan of
random URLs cannot blow up the number of series.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable

from labdeck.admin.maintenance import Maintenance
from labdeck.admin.stats import BUCKETS, FIELDS, RequestStats
from labdeck.hub.hub import Hub, channel_group

__all__ = ["RequestStats", "render_metrics"]


def _labels(**labels: object) -> str:
    inner = ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items())
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _family(name: str, kind: str, help_: str, samples: Iterable[str]) -> list[str]:
    return [f"# HELP {name} {help_}", f"# TYPE {name} {kind}", *samples]


_SINCE_FIRST = {
    "requests": ("labdeck_requests_total", "HTTP requests since the first start, by method, status class and group."),
    "bytes_out": ("labdeck_response_bytes_total", "Bytes of response bodies sent since the first start."),
    "files": ("labdeck_files_served_total", "Files served since the first start."),
    "invalid": ("labdeck_invalid_requests_total", "Malformed requests since the first start (4xx but 401, 403, "
                                                  "404, 409, 429)."),
    "not_found": ("labdeck_not_found_requests_total", "Requests for what is not there (404) since the first start."),
}


def render_metrics(hub: Hub, stats: RequestStats, started: float, maintenance: Maintenance | None = None) -> str:
    """Everything ``/metrics`` reports, in Prometheus text format 0.0.4."""
    lines: list[str] = []
    lines += _family("labdeck_uptime_seconds", "gauge", "Seconds since the server started.",
                     [f"labdeck_uptime_seconds {time.time() - started:.3f}"])
    lines += _family("labdeck_websocket_connections", "gauge", "Open websocket connections.",
                     [f"labdeck_websocket_connections {len(hub.connections)}"])
    lines += _family("labdeck_websocket_slow_disconnects_total", "counter",
                     "Connections dropped for falling behind their send-queue bound.",
                     [f"labdeck_websocket_slow_disconnects_total {hub.slow_disconnects}"])
    lines += _family("labdeck_websocket_frames_in_total", "counter", "Websocket frames received, counted on arrival.",
                     [f"labdeck_websocket_frames_in_total {stats.websocket_frames_in}"])
    lines += _family("labdeck_websocket_bytes_in_total", "counter", "Bytes of websocket frames received.",
                     [f"labdeck_websocket_bytes_in_total {stats.websocket_bytes_in}"])
    lines += _family("labdeck_websocket_frames_out_total", "counter", "Websocket frames sent (replies, pushes, "
                     "notices), counted as they are written.",
                     [f"labdeck_websocket_frames_out_total {stats.websocket_frames_out}"])
    lines += _family("labdeck_websocket_bytes_out_total", "counter", "Bytes of websocket frames sent, headers "
                     "included.", [f"labdeck_websocket_bytes_out_total {stats.websocket_bytes_out}"])
    lines += _family("labdeck_channel_subscriptions", "gauge", "Subscriptions per channel group.",
                     [f"labdeck_channel_subscriptions{_labels(group=g)} {n}"
                      for g, n in sorted(_subscriptions(hub).items())])
    lines += _family("labdeck_messages_in_total", "counter", "Messages published by clients, per channel group.",
                     [f"labdeck_messages_in_total{_labels(group=g)} {n}" for g, n in sorted(hub.messages_in.items())])
    lines += _family("labdeck_messages_out_total", "counter", "Messages queued to subscribers, per channel group.",
                     [f"labdeck_messages_out_total{_labels(group=g)} {n}" for g, n in sorted(hub.messages_out.items())])
    lines += _family("labdeck_http_requests_total", "counter", "HTTP requests since this start by method, route "
                     "and status.", [f"labdeck_http_requests_total{_labels(method=m, route=r, status=s)} {n}"
                                     for (m, r, s), n in sorted(stats.counts.items())])
    lines += _histogram(stats)
    lines += _since_first_start(stats)
    if maintenance is not None:
        lines += _family("labdeck_maintenance", "gauge", "1 while the server is in maintenance mode.",
                         [f"labdeck_maintenance {int(maintenance.current() is not None)}"])
    return "\n".join(lines) + "\n"


def _histogram(stats: RequestStats) -> list[str]:
    samples = []
    for route, counts in sorted(stats.buckets.items()):
        running = 0
        for bound, n in zip((*BUCKETS, float("inf")), counts, strict=True):
            running += n
            le = "+Inf" if bound == float("inf") else repr(bound)
            samples.append(f"labdeck_http_request_duration_seconds_bucket{_labels(route=route, le=le)} {running}")
        samples.append(f"labdeck_http_request_duration_seconds_sum{_labels(route=route)} "
                       f"{stats.timing[route].seconds:.6f}")
        samples.append(f"labdeck_http_request_duration_seconds_count{_labels(route=route)} {running}")
    return _family("labdeck_http_request_duration_seconds", "histogram", "HTTP request latency by route.", samples)


def _since_first_start(stats: RequestStats) -> list[str]:
    lines: list[str] = []
    if stats.first_start is not None:
        lines += _family("labdeck_first_start_timestamp_seconds", "gauge", "When this data folder was first served.",
                         [f"labdeck_first_start_timestamp_seconds {stats.first_start:.3f}"])
    rows = sorted(stats.totals.items())
    for i, field in enumerate(FIELDS[:-1]):
        name, help_ = _SINCE_FIRST[field]
        lines += _family(name, "counter", help_, [
            f"{name}{_labels(method=m, status_class=c, group=g)} {int(counts[i])}"
            for (m, c, g), counts in rows if counts[i] or field == "requests"])
    return lines


def _subscriptions(hub: Hub) -> Counter[str]:
    groups: Counter[str] = Counter()
    for ch, subs in hub.subscribers.items():
        groups[channel_group(ch)] += len(subs)
    return groups
