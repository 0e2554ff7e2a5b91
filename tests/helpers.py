"""Test helpers shared by the whole suite: timeouts, and a wire-protocol client."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import socket
from collections import defaultdict
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from labdeck import Deck
from labdeck.runner.runs import Runner

TIMEOUT_FACTOR = float(os.environ.get("LABDECK_TEST_TIMEOUT_FACTOR", "1"))


def scaled(seconds: float) -> float:
    """A timeout scaled by ``LABDECK_TEST_TIMEOUT_FACTOR`` for slow machines."""
    return seconds * TIMEOUT_FACTOR


async def until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``predicate`` until it is true, at most ``timeout`` (scaled) seconds."""
    deadline = asyncio.get_running_loop().time() + scaled(timeout)
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A loopback port nothing listens on now (TCP, or ``socket.SOCK_DGRAM`` for UDP), for a
    server that must be told its port before it starts."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def origin_of(url: str) -> str:
    """The Origin a page at ``url`` sends: ``scheme://host[:port]``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def http_session(url: str, **kwargs: Any) -> aiohttp.ClientSession:
    """An HTTP client that sends the Origin of the server at ``url``, as the dashboard's own
    pages do: the server refuses a POST, PUT, PATCH or DELETE without it."""
    return aiohttp.ClientSession(headers={"Origin": origin_of(url)}, **kwargs)


class RequestFailed(Exception):
    def __init__(self, error: dict[str, str]) -> None:
        super().__init__(f"{error['type']}: {error['message']}")
        self.type = error["type"]
        self.message = error["message"]


class WireClient:
    """A real websocket client speaking labdeck's wire protocol.

    ``pushes[ch]`` collects every push of a channel in arrival order; ``gaps[ch]`` every
    gap notice. ``request`` sends one request and returns its result (or raises
    :class:`RequestFailed`).
    """

    def __init__(self, url: str, **ws_kwargs: Any) -> None:
        self.url = url
        self.ws_kwargs = ws_kwargs
        self.pushes: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.gaps: dict[str, list[dict[str, int]]] = defaultdict(list)
        self.replies: dict[Any, asyncio.Future[dict[str, Any]]] = {}
        self.frames: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._session: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._arrived = asyncio.Event()

    async def __aenter__(self) -> WireClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        self._session = aiohttp.ClientSession()
        self.ws = await self._session.ws_connect(self.url, **self.ws_kwargs)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            self.frames.append(frame)
            if "gap" in frame:
                self.gaps[frame["ch"]].append(frame["gap"])
            elif "seq" in frame:
                self.pushes[frame["ch"]].append(frame)
            elif "ok" in frame:
                fut = self.replies.pop(frame["id"], None)
                if fut is not None and not fut.done():
                    fut.set_result(frame)
            self._arrived.set()

    async def send_raw(self, text: str) -> None:
        assert self.ws is not None
        await self.ws.send_str(text)

    async def reply_to_raw(self, text: str, rid: Any) -> dict[str, Any]:
        """Send a hand-written frame and wait for the reply carrying ``rid``."""
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.replies[rid] = fut
        await self.send_raw(text)
        return await asyncio.wait_for(fut, scaled(5))

    async def request(self, op: str, **fields: Any) -> Any:
        rid = next(self._ids)
        reply = await self.reply_to_raw(json.dumps({"id": rid, "op": op, **fields}), rid)
        if not reply["ok"]:
            raise RequestFailed(reply["error"])
        return reply.get("result")

    async def wait_for(self, ch: str, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait until ``count`` pushes of ``ch`` have arrived; returns them."""
        async def enough() -> None:
            while len(self.pushes[ch]) < count:
                self._arrived.clear()
                await self._arrived.wait()

        await asyncio.wait_for(enough(), scaled(timeout))
        return self.pushes[ch]

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._reader, scaled(5))
        if self._session is not None:
            await self._session.close()


def runner_of(deck: Deck) -> Runner:
    """The deck's script runner, reached through its capability."""
    runner: Runner = deck.capabilities["runner"].runner  # type: ignore[attr-defined]
    return runner


class TcpRelay:
    """A TCP relay on loopback whose connections can be cut at once, with no close frame
    and no FIN from the server: what a client sees when the network between them drops."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port
        self.server: asyncio.Server | None = None
        self.links: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = []
        self.accepted = 0
        self.frozen = asyncio.Event()

    async def start(self, port: int = 0) -> int:
        """Listen on loopback (``port``, or any free one: the same again after a :meth:`close`)."""
        self.server = await asyncio.start_server(self._link, "127.0.0.1", port)
        return int(self.server.sockets[0].getsockname()[1])

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        self.links.append((writer, up_writer))

        frozen = self.frozen

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while chunk := await src.read(65536):
                    if not frozen.is_set():  # frozen: what is sent is lost, nothing says so
                        dst.write(chunk)
                        await dst.drain()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer), return_exceptions=True)

    def freeze(self) -> None:
        """From now on the open connections carry nothing, either way; new ones work."""
        self.frozen.set()
        self.frozen = asyncio.Event()

    def cut(self) -> None:
        for down, up in self.links:
            for w in (down, up):
                w.transport.abort()  # a reset, not a close
        self.links.clear()

    async def close(self) -> None:
        """Cut every connection and stop listening: what a server that went away looks like."""
        self.cut()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
