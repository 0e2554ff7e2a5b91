"""``watch``: a file written to a browser notified, beside raw inotify and watchfiles.

labdeck serves from a process of its own with a ``files`` and a ``dicom`` watch; the
client (a websocket subscriber) and the writer run in the benchmark's process, one file
at a time, and the latency is the client's ``time.time()`` at the push minus the
writer's just before it opened the file. Baselines, in the benchmark's process:

* ``raw inotify``: an inotify descriptor on the loop, the close-after-write event seen
  (for DICOM: and the header read with pydicom) - the floor labdeck adds its work to;
* ``watchfiles``: ``watchfiles.awatch`` with its defaults (a debounce of 1.6 s, a
  50 ms step), the usual way to watch a folder in Python.

``watch-burst``: 1,000 DICOM files written as fast as possible; the figure is files per
second from the first write to the last finding published, every one of them received.
Targets (design.md): plain median <= 2 ms, DICOM with its check <= 5 ms, >= 500 files/s.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp

from labdeck.bench.report import Figure, median, percentile
from labdeck.exceptions import BenchmarkFailed

__all__ = ["run_watch"]

_TOML = """\
[server]
port = 0
data = "data"

[watch.plain]
path = "plain"

[watch.scanner]
path = "dicom"
kind = "dicom"
"""


def _figure(bench: str, server: str, label: str, samples: list[float]) -> Figure:
    us = [s * 1e6 for s in samples]
    return Figure(bench, server, label, "µs", median(us), percentile(us, 99), 1e6 / median(us), len(us))


@contextlib.asynccontextmanager
async def _labdeck(folder: Path) -> AsyncIterator[str]:
    (folder / "plain").mkdir()
    (folder / "dicom").mkdir()
    (folder / "labdeck.toml").write_text(_TOML)
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "labdeck", "serve", "--config",
                                                str(folder / "labdeck.toml"), stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stderr is not None
        url = None
        async with asyncio.timeout(30):
            while url is None:
                line = (await proc.stderr.readline()).decode()
                if not line:
                    raise BenchmarkFailed("the labdeck server exited before it served")
                if m := re.search(r"labdeck serving (http://\S+)", line):
                    url = m[1]
        drain = asyncio.get_running_loop().create_task(proc.stderr.read())
        yield url
        drain.cancel()
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()


def _dicom_bytes(folder: Path) -> bytes:
    from labdeck.demo.dicom_series import Protocol, SeriesWriter

    return SeriesWriter(folder, Protocol("bold")).write().read_bytes()


def _write(path: Path, data: bytes) -> float:
    t0 = time.time()
    with path.open("wb") as f:
        f.write(data)
    return t0


async def _labdeck_latency(url: str, folder: Path, ch: str, data: bytes, n: int) -> list[float]:
    samples: list[float] = []
    async with aiohttp.ClientSession() as http, http.ws_connect(url.replace("http", "ws", 1) + "ws") as ws:
        await ws.send_json({"id": 1, "op": "sub", "ch": ch})
        await ws.receive_json()
        await asyncio.sleep(0.5)  # the watch is up
        for i in range(n):
            t0 = _write(folder / f"f{i:05}.dcm", data)
            async with asyncio.timeout(10):
                while True:
                    msg = await ws.receive_json()
                    if msg.get("ch") == ch and msg["data"].get("event", "file") == "file":
                        break
            samples.append(time.time() - t0)
            await asyncio.sleep(0.005)
    return samples


async def _inotify_latency(folder: Path, data: bytes, n: int, parse: bool) -> list[float]:
    from labdeck.watch import inotify
    from labdeck.watch.dicom.headers import read_header

    loop = asyncio.get_running_loop()
    ino = inotify.Inotify()
    ino.add_watch(str(folder), inotify.IN_CLOSE_WRITE)
    arrived: asyncio.Queue[float] = asyncio.Queue()

    def readable() -> None:
        for event in ino.read():
            if parse:
                read_header(folder / event.name)
            arrived.put_nowait(time.time())

    ino.on_readable(loop, readable)
    try:
        samples = []
        for i in range(n):
            t0 = _write(folder / f"r{i:05}.dcm", data)
            samples.append(await asyncio.wait_for(arrived.get(), 10) - t0)
            await asyncio.sleep(0.005)
        return samples
    finally:
        ino.close(loop)


async def _watchfiles_latency(folder: Path, data: bytes, n: int) -> list[float]:
    import watchfiles

    stop = asyncio.Event()
    arrived: asyncio.Queue[float] = asyncio.Queue()

    async def watch() -> None:
        async for _ in watchfiles.awatch(folder, stop_event=stop):
            arrived.put_nowait(time.time())

    task = asyncio.get_running_loop().create_task(watch())
    await asyncio.sleep(0.3)
    samples = []
    try:
        for i in range(n):
            t0 = _write(folder / f"w{i:05}.dcm", data)
            samples.append(await asyncio.wait_for(arrived.get(), 10) - t0)
            await asyncio.sleep(0.005)
    finally:
        stop.set()
        await task
    return samples


async def _burst(url: str, folder: Path, data: bytes, n: int) -> float:
    async with aiohttp.ClientSession() as http, http.ws_connect(url.replace("http", "ws", 1) + "ws") as ws:
        await ws.send_json({"id": 1, "op": "sub", "ch": "dicom/AWP167046"})
        await ws.receive_json()
        burst = folder / "burst"
        burst.mkdir()
        await asyncio.sleep(0.2)
        t0 = time.time()
        for i in range(n):
            _write(burst / f"b{i:05}.dcm", data)
        got = 0
        async with asyncio.timeout(60):
            while got < n:
                msg = await ws.receive_json()
                if msg.get("ch") == "dicom/AWP167046" and msg["data"]["path"].startswith("burst/"):
                    got += 1
        return n / (time.time() - t0)


async def run_watch(samples: int, burst: int, progress: Callable[[str], None]) -> list[tuple[str, list[Figure]]]:
    """The watch benchmarks' sections: plain, DICOM, burst."""
    out: list[tuple[str, list[Figure]]] = []
    with tempfile.TemporaryDirectory(prefix="labdeck-bench-watch-") as tmp:
        folder = Path(tmp)
        dicom = _dicom_bytes(folder / "gen")
        for name in ("raw", "wf", "rawd"):
            (folder / name).mkdir()
        async with _labdeck(folder) as url:
            # A first DICOM file: the station appears; a reference is learned from the next series.
            progress(f"watch: {samples} plain files, {samples} DICOM files, one at a time")
            plain = _figure("watch-file", "labdeck", "labdeck files/<name>",
                            await _labdeck_latency(url, folder / "plain", "files/plain", b"x" * 1000, samples))
            dcm = _figure("watch-dicom", "labdeck", "labdeck dicom/<station>",
                          await _labdeck_latency(url, folder / "dicom", "dicom/AWP167046", dicom, samples))
            progress(f"watch: a burst of {burst:,} DICOM files")
            rate = await _burst(url, folder / "dicom", dicom, burst)
        raw = _figure("watch-file", "inotify", "raw inotify", await _inotify_latency(folder / "raw", b"x" * 1000,
                                                                                      samples, False))
        rawd = _figure("watch-dicom", "inotify", "raw inotify + pydicom",
                       await _inotify_latency(folder / "rawd", dicom, samples, True))
        progress("watch: watchfiles with its defaults (slow by design: a 1.6 s debounce)")
        wf = await _watchfiles_latency(folder / "wf", b"x" * 1000, max(5, samples // 20))
        out.append(("watch-file: a 1 kB file written to the client notified (target median <= 2 ms)",
                    [plain, raw, _figure("watch-file", "watchfiles", "watchfiles defaults", wf)]))
        out.append(("watch-dicom: a DICOM file written to its protocol check received (target median <= 5 ms)",
                    [dcm, rawd]))
        out.append((f"watch-burst: {burst:,} DICOM files, first write to last finding (target >= 500 files/s)",
                    [Figure("watch-burst", "labdeck", "labdeck files/s", "msg/s", rate, None, rate, burst)]))
    return out


def _main(argv: list[str]) -> Any:  # pragma: no cover - for a quick look: python -m labdeck.bench.watch
    async def go() -> None:
        for title, figures in await run_watch(int(argv[0]) if argv else 100, 1000, print):
            print(title)
            for f in figures:
                print(f"  {f.label:<28} median {f.median / 1000:8.3f} ms  p99 {(f.p99 or 0) / 1000:8.3f} ms"
                      if f.unit == "µs" else f"  {f.label:<28} {f.median:8.0f} files/s")

    asyncio.run(go())


if __name__ == "__main__":  # pragma: no cover
    _main(sys.argv[1:])
