"""``static``: static file GETs with login on, beside Tornado's ``StaticFileHandler``.

Each server runs in a process of its own (``python -m labdeck.bench.static KIND``) and
serves the same folder of 10 KB files behind a login:

* **labdeck** — a ``[pages.files]`` site (``role = "viewer"``) in ``[auth] mode =
  "login"``: every request passes the Host and Origin checks, the crawler check, the
  identity layer (the session cookie verified and looked up in the store) and the path
  rules; the client logs in through the login form first.
* **tornado** — a ``StaticFileHandler`` whose ``get_current_user`` reads a signed cookie,
  as Tornado's documentation does authentication, refusing a request without it; the
  client gets the cookie from a login handler first.

The client (this process, on uvloop where installed) keeps :data:`CONCURRENCY`
keep-alive connections busy with GETs of the files in turn, and checks every reply is a
200 with the file's size. Rounds alternate between the servers; the figure is the median
rate in requests per second.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from labdeck.bench.report import Figure, median
from labdeck.bench.servers import spawn, stop_server
from labdeck.exceptions import BenchmarkFailed

__all__ = ["CONCURRENCY", "FILES", "FILE_SIZE", "KINDS", "PASSWORD", "USER", "StaticCounts", "main", "run_static",
           "write_files"]

CONCURRENCY = 16
FILE_SIZE = 10 * 1024
FILES = 20
USER, PASSWORD = "bench", "static file benchmark"
KINDS = ("labdeck", "tornado")


class StaticCounts:
    """How much the benchmark does."""

    def __init__(self, requests: int = 8_000, rounds: int = 3) -> None:
        self.requests = requests
        self.rounds = rounds


def write_files(folder: Path) -> list[str]:
    """:data:`FILES` files of :data:`FILE_SIZE` bytes in ``folder``; their names."""
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(FILES):
        name = f"file{i:02d}.bin"
        (folder / name).write_bytes(bytes([i]) * FILE_SIZE)
        names.append(name)
    return names


# -- the servers, each in its own process ----------------------------------------------


async def _serve_labdeck(folder: Path, data: Path) -> tuple[int, Any]:
    from labdeck import Deck, load_config

    toml = folder.parent / "labdeck.toml"
    toml.write_text(f'[auth]\nmode = "login"\n[pages.files]\nfolder = "{folder.name}"\n', encoding="utf-8")
    deck = Deck(load_config(toml, env={}, overrides={"server.port": 0, "server.data": str(data),
                                                      "server.rate_limit": 0}))
    await deck.start()
    assert deck.gate is not None and deck.port is not None
    await deck.gate.users.add(USER, "viewer", PASSWORD)
    return deck.port, deck


async def _serve_tornado(folder: Path) -> tuple[int, Any]:
    import tornado.web

    class Files(tornado.web.StaticFileHandler):
        def get_current_user(self) -> bytes | None:
            return self.get_signed_cookie("user")

        def prepare(self) -> None:
            if not self.current_user:
                raise tornado.web.HTTPError(403)

    class Login(tornado.web.RequestHandler):
        def post(self) -> None:
            if self.get_body_argument("username") == USER and self.get_body_argument("password") == PASSWORD:
                self.set_signed_cookie("user", USER, httponly=True, samesite="Lax")
                self.redirect("/files/")
            else:
                raise tornado.web.HTTPError(401)

    app = tornado.web.Application([(r"/login", Login), (r"/files/(.*)", Files, {"path": str(folder)})],
                                  cookie_secret="bench-" * 8, xsrf_cookies=False)
    server = app.listen(0, "127.0.0.1")
    port = next(iter(server._sockets.values())).getsockname()[1]
    return port, server


async def _serve(kind: str) -> None:
    from labdeck.bench.serve import until_stopped

    logging.getLogger("labdeck").setLevel(logging.ERROR)  # the log would only slow the server down
    logging.getLogger("tornado.access").setLevel(logging.ERROR)

    with tempfile.TemporaryDirectory(prefix="labdeck-bench-static-") as tmp:
        folder = Path(tmp) / "files"
        write_files(folder)
        async with until_stopped() as stop:
            if kind == "labdeck":
                port, deck = await _serve_labdeck(folder, Path(tmp) / "data")
            else:
                port, server = await _serve_tornado(folder)
            print(json.dumps({"port": port}), flush=True)
            try:
                await stop.wait()
            finally:
                if kind == "labdeck":
                    await deck.stop()
                else:
                    server.stop()


def main(argv: list[str]) -> int:
    """``python -m labdeck.bench.static KIND``: serve until stdin ends."""
    from labdeck.eventloop import loop_factory

    kind = argv[0] if argv else ""
    if kind not in KINDS:
        print(f"usage: python -m labdeck.bench.static {'|'.join(KINDS)}", file=sys.stderr)
        return 2
    with asyncio.Runner(loop_factory=None if kind == "tornado" else loop_factory()) as runner:
        runner.run(_serve(kind))
    return 0


# -- the client ---------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _server(kind: str, timeout: float = 20.0) -> AsyncIterator[int]:
    proc, info = await spawn("labdeck.bench.static", kind, what=f"the {kind} static server", timeout=timeout)
    try:
        yield int(info["port"])
    finally:
        await stop_server(proc)


async def _log_in(http: aiohttp.ClientSession, kind: str, base: str) -> None:
    form = {"username": USER, "password": PASSWORD}
    if kind == "labdeck":
        async with http.get(f"{base}/login") as reply:
            found = re.search(r'name="csrf" value="([^"]+)"', await reply.text())
        if found is None:
            raise BenchmarkFailed("labdeck's login form has no csrf field")
        form["csrf"] = found[1]
    async with http.post(f"{base}/login", data=form, allow_redirects=False, headers={"Origin": base}) as reply:
        if reply.status not in (302, 303):
            raise BenchmarkFailed(f"logging in to {kind} failed: {reply.status}")


async def _round(http: aiohttp.ClientSession, urls: list[str], requests: int) -> float:
    left = requests

    async def worker() -> None:
        nonlocal left
        i = 0
        while left > 0:
            left -= 1
            async with http.get(urls[i % len(urls)]) as reply:
                body = await reply.read()
                if reply.status != 200 or len(body) != FILE_SIZE:
                    raise BenchmarkFailed(f"GET {reply.url.path}: {reply.status}, {len(body)} bytes")
            i += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return requests / (time.perf_counter() - start)


async def run_static(counts: StaticCounts) -> list[Figure]:
    """Run the benchmark; one figure per server (see the module docstring).

    Raises:
        BenchmarkFailed: a server did not start, a login failed, or a reply was not the file.
    """
    names = [f"file{i:02d}.bin" for i in range(FILES)]
    rates: dict[str, list[float]] = {kind: [] for kind in KINDS}
    async with contextlib.AsyncExitStack() as stack:
        sessions = {}
        for kind in KINDS:
            port = await stack.enter_async_context(_server(kind))
            base = f"http://127.0.0.1:{port}"
            http = await stack.enter_async_context(aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=CONCURRENCY), cookie_jar=aiohttp.CookieJar(unsafe=True)))
            await _log_in(http, kind, base)
            sessions[kind] = (http, [f"{base}/files/{name}" for name in names])
        for http, urls in sessions.values():  # warm up: connections, caches
            await _round(http, urls, max(200, counts.requests // 10))
        for _ in range(counts.rounds):
            for kind, (http, urls) in sessions.items():
                rates[kind].append(await _round(http, urls, counts.requests))
    return [Figure("static", kind, f"{kind} {'[pages] site' if kind == 'labdeck' else 'StaticFileHandler'}",
                   "req/s", median(rates[kind]), None, median(rates[kind]), counts.requests * counts.rounds,
                   {"best": max(rates[kind]), "rounds": rates[kind]})
            for kind in KINDS]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
