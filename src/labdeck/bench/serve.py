"""Entry point of a benchmark server process: ``python -m labdeck.bench.serve KIND``.

KIND is ``labdeck``, ``aiohttp`` or ``tornado``. Once listening on 127.0.0.1, the
process writes one line of JSON to stdout, ``{"port": ..., "features": [...]}``, and
serves until its stdin ends (the benchmark closes it, or dies) or it gets SIGINT or
SIGTERM. labdeck and aiohttp run on uvloop when it is installed; Tornado on the
standard asyncio loop, its default.

This module is run, and imported only by the rig benchmark's own server process
(:mod:`labdeck.bench.rig_side`) for :func:`until_stopped`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from labdeck.eventloop import loop_factory

__all__ = ["main", "until_stopped"]

Serve = Callable[[], contextlib.AbstractAsyncContextManager[tuple[int, frozenset[str]]]]


def _servers() -> dict[str, Serve]:
    from labdeck.bench.baselines import serve_aiohttp, serve_tornado
    from labdeck.bench.target import serve_labdeck

    return {"labdeck": serve_labdeck, "aiohttp": serve_aiohttp, "tornado": serve_tornado}


def _loop_factory(kind: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    return None if kind == "tornado" else loop_factory()


def _watch_stdin(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Set ``stop`` when stdin ends, so the server never outlives its benchmark."""
    with contextlib.suppress(OSError, ValueError):
        while sys.stdin.buffer.read(4096):
            pass
    with contextlib.suppress(RuntimeError):  # the loop already closed
        loop.call_soon_threadsafe(stop.set)


@contextlib.asynccontextmanager
async def until_stopped() -> AsyncIterator[asyncio.Event]:
    """An event set when stdin ends or on SIGINT/SIGTERM: serve until it is set."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    threading.Thread(target=_watch_stdin, args=(loop, stop), name="stdin-watch", daemon=True).start()
    try:
        yield stop
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _serve(serve: Serve, out: Any) -> None:
    async with until_stopped() as stop, serve() as (port, features):
        out.write(json.dumps({"port": port, "features": sorted(features)}) + "\n")
        out.flush()
        await stop.wait()


def main(argv: list[str]) -> int:
    """Serve KIND (``argv[0]``) until stopped; 2 for an unknown KIND."""
    servers = _servers()
    if len(argv) != 1 or argv[0] not in servers:
        print(f"usage: python -m labdeck.bench.serve {{{','.join(servers)}}}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format=f"{argv[0]} server: %(levelname)s %(name)s: %(message)s")
    # The handshake line is the only thing on stdout; anything else printed goes to stderr.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout = sys.stderr
    with asyncio.Runner(loop_factory=_loop_factory(argv[0])) as runner:
        runner.run(_serve(servers[argv[0]], out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
