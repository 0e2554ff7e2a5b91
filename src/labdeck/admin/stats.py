"""Request statistics: counted in memory per request, rolled up into SQLite per UTC day.

What is counted, for every HTTP request the server answers (the Host check's refusals
and malformed requests included):

* the request, by method (unknown methods as ``OTHER``, so a scan cannot grow the
  table), status class (``2xx``) and route group (:func:`route_group`);
* the bytes of the response, whether it was a file, whether it was *invalid* (a request
  the server could not make sense of: any 4xx but 401, 403, 404, 409 and 429, which are
  answers to well-formed requests) or *not found* (404), and the time spent.

A websocket counts as one request when it opens (not when it closes); its frames are
counted as they arrive, and as they are handed to the transport (replies and pushes alike),
while the connection is open.

:meth:`RequestStats.rollup` adds what was counted since the last roll-up to the day's
row and to the totals since the first start, in one transaction, and deletes the days
older than the retention: the tables stay bounded by days, methods, classes and groups.
"""

from __future__ import annotations

import sqlite3
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["BUCKETS", "FIELDS", "METHODS", "RequestStats", "RouteTiming", "days", "is_invalid", "route_group"]

METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
FIELDS: Final = ("requests", "bytes_out", "files", "invalid", "not_found", "seconds")
"""The counts of every row, in the order of :data:`RequestStats.pending`'s lists."""
BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds (seconds) of the latency histogram buckets."""
_ANSWERS: Final = frozenset({401, 403, 404, 409, 429})
_DAY: Final = 86400

Key = tuple[str, str, str, str]
"""(day, method, status class, route group)"""


def is_invalid(status: int) -> bool:
    """A 4xx that says the request itself was malformed, not an answer to a good one."""
    return 400 <= status < 500 and status not in _ANSWERS


def route_group(canonical: str | None, base: str = "") -> str:
    """The group a matched route's pattern belongs to, for the statistics.

    ``/`` is ``dashboard``, ``/static/...`` is ``static``, ``/api/<name>/...`` is
    ``api/<name>``, ``/ws`` is ``websocket``, anything else its first path segment; a
    request that matched no route is ``unmatched``. Route patterns are finite, so groups are.
    """
    if canonical is None:
        return "unmatched"
    parts = canonical.removeprefix(base).strip("/").split("/")
    first = parts[0]
    if not first:
        return "dashboard"
    if first == "ws":
        return "websocket"
    if first == "api" and len(parts) > 1 and "{" not in parts[1]:
        return f"api/{parts[1]}"
    return first if "{" not in first else "unmatched"


@dataclass
class RouteTiming:
    """How long one route took since the server started."""

    count: int = 0
    seconds: float = 0.0
    slowest: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))


class RequestStats:
    """The request counts of one server.

    Args:
        base: the base path, stripped before grouping.
    """

    def __init__(self, base: str = "") -> None:
        self.base = base
        self.pending: dict[Key, list[float]] = {}
        """Counts not yet rolled up, by key: values in :data:`FIELDS` order."""
        self.stored: dict[tuple[str, str, str], list[float]] = {}
        """Counts since the first start that are in the store, by (method, class, group)."""
        self.first_start: float | None = None
        self.counts: Counter[tuple[str, str, int]] = Counter()
        """Since this start: requests by (method, route pattern, status), for ``/metrics``."""
        self.buckets: dict[str, list[int]] = {}
        self.timing: dict[str, RouteTiming] = {}
        self.websocket_frames_in = 0
        self.websocket_bytes_in = 0
        self.websocket_frames_out = 0
        """Frames written to websockets (replies, pushes, notices), counted by the outlet."""
        self.websocket_bytes_out = 0
        """Their bytes, frame headers included."""
        self._day = ""
        self._day_ends = 0.0
        self._groups: dict[str | None, str] = {}
        self._classes: dict[int, str] = {}
        self._writing: list[dict[Key, list[float]]] = []  # taken, neither written nor restored yet

    @property
    def totals(self) -> dict[tuple[str, str, str], list[float]]:
        """Counts since the first start, stored and pending, by (method, class, group)."""
        merged = {key: list(counts) for key, counts in self.stored.items()}
        for pending in (*self._writing, self.pending):
            _merge(merged, ((key[1:], counts) for key, counts in pending.items()))
        return merged

    def day(self, now: float) -> str:
        """The UTC day of ``now`` as ``YYYY-MM-DD`` (computed once a day)."""
        if now >= self._day_ends or now < self._day_ends - _DAY:
            self._day = time.strftime("%Y-%m-%d", time.gmtime(now))
            self._day_ends = (now // _DAY + 1) * _DAY
        return self._day

    def group(self, canonical: str | None) -> str:
        found = self._groups.get(canonical)
        if found is None:
            found = self._groups[canonical] = route_group(canonical, self.base)
        return found

    def count(self, method: str, route: str | None, status: int, size: int, is_file: bool, seconds: float,
              now: float) -> None:
        """Count one answered request (on the loop's thread; a few dictionary updates).

        Args:
            method: the request's method.
            route: the pattern of the route it matched, ``None`` for none.
            status: the response's status.
            size: bytes of the response body sent.
            is_file: the response was a file.
            seconds: time spent answering.
            now: Unix time of the answer.
        """
        if method not in METHODS:
            method = "OTHER"
        status_class = self._classes.get(status)
        if status_class is None:
            status_class = self._classes[status] = f"{status // 100}xx"
        key = (self._day if now < self._day_ends and now >= self._day_ends - _DAY else self.day(now),
               method, status_class, self.group(route))
        row = self.pending.get(key)
        if row is None:
            row = self.pending[key] = [0, 0, 0, 0, 0, 0.0]
        row[0] += 1
        row[1] += size
        row[5] += seconds
        if is_file:
            row[2] += 1
        if 400 <= status < 500:
            if status == 404:
                row[4] += 1
            elif status not in _ANSWERS:
                row[3] += 1
        pattern = route or "unmatched"
        self.counts[(method, pattern, status)] += 1
        timing = self.timing.get(pattern)
        if timing is None:
            timing = self.timing[pattern] = RouteTiming()
            self.buckets[pattern] = timing.buckets
        timing.buckets[bisect_left(BUCKETS, seconds)] += 1
        timing.count += 1
        timing.seconds += seconds
        if seconds > timing.slowest:
            timing.slowest = seconds

    def slowest(self, n: int = 10) -> list[dict[str, float | str | int]]:
        """The ``n`` routes with the longest mean time since this start."""
        ranked = sorted(self.timing.items(), key=lambda kv: kv[1].seconds / kv[1].count, reverse=True)[:n]
        return [{"route": route, "count": t.count, "mean": t.seconds / t.count, "max": t.slowest}
                for route, t in ranked]

    # -- the store ------------------------------------------------------------------

    def load(self, db: sqlite3.Connection, now: float) -> None:
        """Read the totals since the first start (recording this start as the first if it is)."""
        db.execute("INSERT INTO admin_meta (key, value) VALUES ('first_start', ?) ON CONFLICT (key) DO NOTHING",
                   (repr(now),))
        self.first_start = float(db.execute("SELECT value FROM admin_meta WHERE key = 'first_start'").fetchone()[0])
        rows = db.execute(f"SELECT method, status_class, route_group, {', '.join(FIELDS)} FROM request_totals")
        self.stored = {}
        _merge(self.stored, (((row[0], row[1], row[2]), [float(v) for v in row[3:]]) for row in rows))

    def take(self) -> dict[Key, list[float]]:
        """The counts not yet rolled up, which are no longer pending (on the loop's thread):
        hand them to :meth:`write`, and to :meth:`restore` should that fail."""
        pending, self.pending = self.pending, {}
        self._writing.append(pending)
        return pending

    @staticmethod
    def write(db: sqlite3.Connection, pending: dict[Key, list[float]], keep_days: int, now: float) -> int:
        """Add ``pending`` to the store and delete days older than ``keep_days``, in one
        transaction; returns how many rows were written. Runs on the store's thread."""
        names = ", ".join(FIELDS)
        marks = ", ".join("?" * len(FIELDS))
        def adds(table: str) -> str:  # qualified: PostgreSQL finds a bare name ambiguous here
            return ", ".join(f"{f} = {table}.{f} + excluded.{f}" for f in FIELDS)

        try:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                f"INSERT INTO request_days (day, method, status_class, route_group, {names}) "
                f"VALUES (?, ?, ?, ?, {marks}) "
                f"ON CONFLICT (day, method, status_class, route_group) DO UPDATE SET {adds('request_days')}",
                [(*key, *_ints(counts)) for key, counts in pending.items()])
            db.executemany(
                f"INSERT INTO request_totals (method, status_class, route_group, {names}) "
                f"VALUES (?, ?, ?, {marks}) ON CONFLICT (method, status_class, route_group) "
                f"DO UPDATE SET {adds('request_totals')}",
                [(*key[1:], *_ints(counts)) for key, counts in pending.items()])
            oldest = time.strftime("%Y-%m-%d", time.gmtime(now - keep_days * _DAY))
            db.execute("DELETE FROM request_days WHERE day <= ?", (oldest,))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return len(pending)

    def restore(self, pending: dict[Key, list[float]]) -> None:
        """Put counts a failed roll-up did not write back, so none is lost."""
        self._writing.remove(pending)
        _merge(self.pending, pending.items())

    def written(self, pending: dict[Key, list[float]]) -> None:
        """Note that :meth:`write` stored ``pending``: they now count among the stored totals."""
        self._writing.remove(pending)
        _merge(self.stored, ((key[1:], counts) for key, counts in pending.items()))


def _merge(table: dict[Any, list[float]], rows: Iterable[tuple[Any, list[float]]]) -> None:
    """Add each ``(key, counts)`` of ``rows`` to ``table``."""
    for key, counts in rows:
        mine = table.get(key)
        if mine is None:
            table[key] = list(counts)
        else:
            for i, value in enumerate(counts):
                mine[i] += value


def _ints(counts: Iterable[float]) -> list[float | int]:
    values = list(counts)
    return [*(int(v) for v in values[:-1]), values[-1]]


def days(db: sqlite3.Connection, since: str) -> list[dict[str, object]]:
    """Per day from ``since`` (inclusive): the sums of every count, and requests per status class."""
    sums = ", ".join(f"SUM({f}) AS {f}" for f in FIELDS)
    found: dict[str, dict[str, object]] = {}
    for row in db.execute(f"SELECT day, {sums} FROM request_days WHERE day >= ? GROUP BY day ORDER BY day",
                          (since,)):
        found[row[0]] = {"day": row[0], **{f: row[i + 1] for i, f in enumerate(FIELDS)}, "by_class": {}}
    for row in db.execute("SELECT day, status_class, SUM(requests) FROM request_days WHERE day >= ? "
                          "GROUP BY day, status_class", (since,)):
        by_class = found[row[0]]["by_class"]
        assert isinstance(by_class, dict)
        by_class[row[1]] = row[2]
    return list(found.values())
