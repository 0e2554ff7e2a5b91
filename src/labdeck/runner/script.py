"""What an experiment script imports (as ``labdeck.script``) to talk to the dashboard.

::

    from labdeck import script

    cfg = script.config()
    for tr in range(cfg.get("trs", 60)):
        script.plot(tr, value, series="classifier")
        script.progress((tr + 1) / 60, f"TR {tr + 1}")
    script.result("accuracy", 0.91)

Started by labdeck, the script finds the runner through environment variables
(``LABDECK_RUN_URL``, ``LABDECK_RUN_TOKEN``, ``LABDECK_RUN_CONFIG``) and sends to it over
a loopback socket. Points are batched: the first after a quiet spell goes at once, then
at most every :data:`FLUSH_INTERVAL` seconds or :data:`FLUSH_POINTS` points, and
whatever is left goes at exit. Every call returns without waiting for the network.

Run by hand (no ``LABDECK_RUN_URL``), every call prints what it would have sent, and
:func:`config` reads the project's default configuration: ``[run] default_config`` of
the nearest ``labdeck.toml`` in the current folder or above, else ``{}``.

What goes over the socket is :mod:`labdeck.protocol.link`; this module only queues
its messages and writes the bytes it encodes. It imports nothing of the server.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import socket
import sys
import threading
import time
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

from labdeck.exceptions import NotSerializable
from labdeck.protocol.link import Hello, Message, Plot, Progress, Result, RigReport, encode_message, encode_messages

__all__ = ["FLUSH_INTERVAL", "FLUSH_POINTS", "config", "log", "plot", "progress", "report_rig", "result", "send"]

FLUSH_INTERVAL = 0.002
FLUSH_POINTS = 500


def plot(x: float | Iterable[float], y: float | Iterable[float], series: str | None = None, *,
         unit: str = "", xlabel: str = "", chart: str = "") -> None:
    """Add a point (or equal-length sequences of points) to ``series`` (default ``"default"``).

    Args:
        unit: the unit of ``y`` (``"mm"``), shown on the axis and beside the live value.
        xlabel: what ``x`` is (``"TR"``, ``"time (s)"``), the x axis' label.
        chart: draw this series on the chart of that name, together with the other series
            given the same one; by default each series has a chart of its own.

    The labels are the series' from the first call that gives them; later calls may leave
    them out.
    """
    name = series or "default"
    if isinstance(x, Iterable) and isinstance(y, Iterable):
        xs, ys = [_num(v) for v in x], [_num(v) for v in y]
        if len(xs) != len(ys):
            raise ValueError(f"plot: {len(xs)} x values but {len(ys)} y values")
    else:
        xs, ys = [_num(x)], [_num(y)]
    link = _link()
    if link is None:
        for a, b in zip(xs, ys, strict=True):
            print(f"[plot {name}] x={a} y={b}{' ' + unit if unit else ''}", flush=True)
    else:
        link.points(name, xs, ys, _Labels(str(unit), str(xlabel), str(chart)))


def log(*args: Any, sep: str = " ") -> None:
    """A line in the run's log, in order with everything else the script prints."""
    print(*args, sep=sep, flush=True)


def progress(fraction: float, message: str = "") -> None:
    """How far the run is, from 0.0 to 1.0, with an optional message."""
    f = min(max(_num(fraction) or 0.0, 0.0), 1.0)
    link = _link()
    if link is None:
        print(f"[progress {f:.0%}] {message}".rstrip(), flush=True)
    else:
        link.send(Progress(f, str(message)))


def result(key: str, value: Any) -> None:
    """Record a result of the run (a JSON value) under ``key``; a later call replaces it.

    Non-finite floats in ``value`` are sent as ``null``.

    Raises:
        ValueError: ``value`` holds something JSON cannot carry.
    """
    message = Result(str(key), value)
    try:
        encode_message(message)  # refused here, in the script's own traceback, not on the writer thread
    except NotSerializable as exc:
        raise ValueError(f"result {key!r}: the value cannot be sent as JSON: {exc}") from None
    link = _link()
    if link is None:
        print(f"[result] {key} = {value!r}", flush=True)
    else:
        link.send(message)


def report_rig(report: RigReport) -> None:
    """Tell the runner of a request the script sent a rig itself (what
    ``labdeck.script.rigs()`` does after each), for the server's Rigs panel; run by hand,
    nothing (the script's own answers already say it)."""
    link = _link()
    if link is not None:
        link.send(report)


def config() -> dict[str, Any]:
    """The configuration of this run (or, run by hand, the project's default)."""
    path = os.environ.get("LABDECK_RUN_CONFIG")
    if path:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    return _default_config(Path.cwd())


def _num(v: Any) -> float | None:
    """A float JSON can carry; NaN and infinities become ``None`` (a gap in the plot)."""
    if v is None:
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _default_config(start: Path) -> dict[str, Any]:
    for folder in (start, *start.parents):
        toml = folder / "labdeck.toml"
        if toml.is_file():
            with toml.open("rb") as f:
                name = tomllib.load(f).get("run", {}).get("default_config")
            if not name:
                return {}
            with (folder / name).open("rb") as f:
                return tomllib.load(f)
    return {}


class _Labels(NamedTuple):
    """How a series is drawn: the unit of y, the x axis' label, the chart it shares."""

    unit: str
    xlabel: str
    chart: str


def _labels_of(msg: Plot) -> _Labels:
    return _Labels(msg.unit, msg.xlabel, msg.chart)


class _Link:
    """The socket to the runner and the thread that writes to it."""

    def __init__(self, url: str, token: str) -> None:
        host, _, port = url.removeprefix("tcp://").rpartition(":")
        self.sock = socket.create_connection((host, int(port)))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(encode_message(Hello(token)))
        self.cond = threading.Condition()
        self.pending: list[Message] = []
        self.npoints = 0
        self.closed = False
        self.thread = threading.Thread(target=self._write, name="labdeck-script", daemon=True)
        self.thread.start()

    def points(self, series: str, xs: list[float | None], ys: list[float | None], labels: _Labels) -> None:
        with self.cond:
            last = self.pending[-1] if self.pending else None
            if isinstance(last, Plot) and last.series == series and labels == _labels_of(last):
                last.x.extend(xs)
                last.y.extend(ys)
            else:
                self.pending.append(Plot(series, xs, ys, *labels))
            self.npoints += len(xs)
            self.cond.notify()

    def send(self, msg: Message) -> None:
        with self.cond:
            self.pending.append(msg)
            self.cond.notify()

    def _write(self) -> None:
        last = 0.0
        while True:
            with self.cond:
                while not self.pending and not self.closed:
                    self.cond.wait()
                # A burst is batched: wait out the rest of the interval unless it is full.
                wait = last + FLUSH_INTERVAL - time.monotonic()
                if wait > 0 and not self.closed and self.npoints < FLUSH_POINTS:
                    self.cond.wait_for(lambda: self.closed or self.npoints >= FLUSH_POINTS, wait)
                batch, self.pending, self.npoints = self.pending, [], 0
                done = self.closed
            if batch:
                last = time.monotonic()
                try:
                    self.sock.sendall(encode_messages(batch))
                except NotSerializable as exc:  # a result's value changed after result() checked it
                    print(f"labdeck.script: messages not sent: {exc}", file=sys.stderr, flush=True)
                except OSError as exc:
                    print(f"labdeck.script: lost the connection to labdeck: {exc}", file=sys.stderr, flush=True)
                    return
            if done:
                return

    def close(self) -> None:
        """Send what is pending, then close (called at exit)."""
        with self.cond:
            self.closed = True
            self.cond.notify()
        self.thread.join(10.0)
        try:
            self.sock.shutdown(socket.SHUT_WR)
            self.sock.close()
        except OSError:
            pass


_state: dict[str, _Link | None] = {}
_lock = threading.Lock()


def _link() -> _Link | None:
    """The connection to the runner, opened on first use; ``None`` when run by hand."""
    try:
        return _state["link"]
    except KeyError:
        pass
    with _lock:
        if "link" not in _state:
            url, token = os.environ.get("LABDECK_RUN_URL"), os.environ.get("LABDECK_RUN_TOKEN", "")
            link = None
            if url:
                try:
                    link = _Link(url, token)
                    atexit.register(link.close)
                except OSError as exc:
                    print(f"labdeck.script: cannot reach labdeck at {url}: {exc}; printing instead",
                          file=sys.stderr, flush=True)
            _state["link"] = link
        return _state["link"]


def send(message: Message) -> bool:
    """Send ``message`` to the runner as it is; ``False`` (nothing sent) when run by hand.

    For layers over this API (:mod:`labdeck.compat.rtcloud`) that speak link messages of
    their own; a script calls :func:`plot`, :func:`result` and the others instead.
    """
    link = _link()
    if link is None:
        return False
    link.send(message)
    return True
