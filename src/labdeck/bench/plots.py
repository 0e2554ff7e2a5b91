"""``plots``: frames per second while a run of 1,000,000 points streams into the dashboard.

A labdeck server runs in a process of its own (as for ``script-latency``) with one script
that plots 1,000,000 points in chunks, paced so that the stream lasts a few seconds. The
system's Chromium, driven by Playwright, opens the dashboard on the Plots panel, then on
the Overview, and records every ``requestAnimationFrame`` from the run's start until every
point has arrived. The baseline is the same page with no run: what the browser's frame
clock gives when nothing is drawn.

Figures: frames per second (the ratio against the idle page is the one that matters: 1.0
is no frame lost), the p50 and p95 frame time, how many draws the charts made against how
many frames passed, and the most points handed to uPlot in one draw (a few per pixel
column, not the run's million).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from labdeck.bench.report import Figure, percentile
from labdeck.exceptions import BenchmarkFailed

__all__ = ["CHROMIUM", "PlotCounts", "run_plots"]

CHROMIUM = Path("/usr/bin/chromium")
PANELS = ("plots", "overview")

_SCRIPT = """
import math, time
from labdeck import script
for start in range(0, {points}, {chunk}):
    xs = list(range(start, min(start + {chunk}, {points})))
    script.plot(xs, [math.sin(x / 5000) + (x % 97) / 970 for x in xs], series="signal", unit="V", xlabel="sample")
    time.sleep({gap})
"""

_RECORD = """() => {
  const frames = window.benchFrames = [];
  const tick = (t) => { if (window.benchFrames === frames) { frames.push(t); requestAnimationFrame(tick); } };
  requestAnimationFrame(tick);
}"""

_STOP = """() => { const frames = window.benchFrames; window.benchFrames = null; return frames; }"""

_CHARTS = """() => [...document.querySelectorAll('.panel:not([hidden]) [data-testid="plot-chart"]')].map((c) => ({
  points: +c.dataset.points, drawn: +c.dataset.drawn, draws: +c.dataset.draws }))"""


@dataclass(frozen=True)
class PlotCounts:
    """The run streamed: ``points`` in chunks of ``chunk``, ``gap`` seconds apart."""

    points: int = 1_000_000
    chunk: int = 5_000
    gap: float = 0.02
    idle_seconds: float = 3.0
    timeout: float = 180.0

    @classmethod
    def quick(cls) -> PlotCounts:
        return cls(points=200_000, chunk=5_000, gap=0.02, idle_seconds=1.5)


@dataclass
class _Watch:
    """What one panel's page showed while the run streamed in."""

    frames: list[float]
    draws: int
    drawn_max: int
    points: int


async def run_plots(counts: PlotCounts) -> tuple[list[tuple[str, list[Figure]]], list[str]]:
    """Measure each panel; returns ``(title, figures)`` sections and notes.

    Raises:
        BenchmarkFailed: the server did not start, or the points did not all arrive in time.
    """
    if not CHROMIUM.exists():
        return [], [f"plots skipped: no Chromium at {CHROMIUM}"]
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        return [], ["plots skipped: Playwright is not installed (pip install 'labdeck[test]')"]
    sections: list[tuple[str, list[Figure]]] = []
    notes: list[str] = []
    async with _server(counts) as port, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                           args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        try:
            for panel in PANELS:
                page = await browser.new_page(viewport={"width": 1440, "height": 900})
                try:
                    idle = await _idle(page, port, panel, counts.idle_seconds)
                    watch = await _stream(page, port, panel, counts)
                finally:
                    await page.close()
                figures = [_figure(panel, "labdeck", f"{panel}, {counts.points:,} points", watch.frames, watch),
                           _figure(panel, "idle page", f"{panel}, no run", idle, None)]
                sections.append((f"plots-{panel}: frames per second in the {panel.title()} panel while "
                                 f"{counts.points:,} points stream in (target: no frame lost beside the idle page)",
                                 figures))
                notes.append(_note(panel, figures[0], figures[1]))
        finally:
            await browser.close()
    return sections, notes


@contextlib.asynccontextmanager
async def _server(counts: PlotCounts) -> AsyncIterator[int]:
    with tempfile.TemporaryDirectory(prefix="labdeck-bench-") as tmp:
        folder = Path(tmp)
        (folder / "million.py").write_text(_SCRIPT.format(points=counts.points, chunk=counts.chunk, gap=counts.gap))
        (folder / "labdeck.toml").write_text('[scripts]\nmillion = "million.py"\n')
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "labdeck.bench.script_latency", str(folder / "labdeck.toml"), str(folder / "data"),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        try:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), 20)
            if not line:
                raise BenchmarkFailed("plots: the labdeck server did not start")
            yield int(json.loads(line)["port"])
        finally:
            if proc.stdin is not None:
                proc.stdin.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 10)
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


async def _open(page: Any, port: int, panel: str) -> None:
    await page.goto(f"http://127.0.0.1:{port}/#{panel}")
    await page.get_by_test_id("conn").filter(has_text="live").wait_for(timeout=20_000)


async def _idle(page: Any, port: int, panel: str, seconds: float) -> list[float]:
    await _open(page, port, panel)
    await page.evaluate(_RECORD)
    await asyncio.sleep(seconds)
    frames: list[float] = await page.evaluate(_STOP)
    return frames


async def _stream(page: Any, port: int, panel: str, counts: PlotCounts) -> _Watch:
    await page.evaluate(_RECORD)
    await _start_run(port)
    deadline = time.monotonic() + counts.timeout
    drawn_max = points = draws = 0
    while points < counts.points:
        if time.monotonic() > deadline:
            raise BenchmarkFailed(f"plots: {points:,} of {counts.points:,} points reached the {panel} panel in time")
        await asyncio.sleep(0.1)
        charts = await page.evaluate(_CHARTS)
        points = sum(c["points"] for c in charts)
        drawn_max = max([drawn_max, *(c["drawn"] for c in charts)])
        draws = sum(c["draws"] for c in charts)
    await asyncio.sleep(0.2)  # the frame that draws the last points
    frames: list[float] = await page.evaluate(_STOP)
    charts = await page.evaluate(_CHARTS)
    draws = sum(c["draws"] for c in charts)
    drawn_max = max([drawn_max, *(c["drawn"] for c in charts)])
    return _Watch(frames, draws, drawn_max, points)


async def _start_run(port: int) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(f"ws://127.0.0.1:{port}/ws") as ws:
        await ws.send_str(json.dumps({"id": 1, "op": "call", "path": ["runner", "run"], "args": ["million"]}))
        reply = json.loads((await ws.receive(timeout=10)).data)
        if not reply.get("ok"):
            raise BenchmarkFailed(f"plots: the run did not start: {reply.get('error')}")


def _figure(panel: str, server: str, label: str, frames: list[float], watch: _Watch | None) -> Figure:
    if len(frames) < 3:
        raise BenchmarkFailed(f"plots: the {panel} page drew {len(frames)} frames")
    gaps = [b - a for a, b in itertools.pairwise(frames)]
    fps = len(gaps) / ((frames[-1] - frames[0]) / 1000)
    extra: dict[str, Any] = {"frames": len(frames), "p50_ms": percentile(gaps, 50), "p95_ms": percentile(gaps, 95)}
    if watch is not None:
        extra.update(draws=watch.draws, drawn_max=watch.drawn_max, points=watch.points)
    return Figure(bench=f"plots-{panel}", server=server, label=label, unit="fps", median=fps, p99=None, rate=fps,
                  samples=len(gaps), extra=extra)


def _note(panel: str, ours: Figure, idle: Figure) -> str:
    e = ours.extra
    verdict = "met" if ours.median >= 0.95 * idle.median else "MISSED"
    return (f"plots-{panel}: {ours.median:.1f} fps (idle page {idle.median:.1f}), frame time p50 {e['p50_ms']:.1f} ms, "
            f"p95 {e['p95_ms']:.1f} ms; {e['points']:,} points arrived, {e['draws']} draws in {e['frames']} frames, "
            f"at most {e['drawn_max']:,} points handed to uPlot in one draw; 60 fps {verdict}")
