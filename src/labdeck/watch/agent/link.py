"""The agent's connection to the server: the wire protocol on ``/ws``, with an API token.

Deliberately small: requests matched to replies by ``id``, pushes handed to one handler
per channel. It does not reconnect: the agent (:mod:`~labdeck.watch.agent.runner`) owns
reconnection, because after each connection it must say hello and resend its queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import ssl
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import msgspec

from labdeck.exceptions import ConfigError

__all__ = ["Link", "LinkError", "ws_url"]

MAX_FRAME = 1 << 20
CONNECT = 5.0
"""Seconds to open a connection and upgrade it to a websocket."""


class LinkError(Exception):
    """The server refused a request (``type`` is its error type), or the connection is gone
    (``Disconnected``) or did not answer in time (``Timeout``)."""

    def __init__(self, type_: str, message: str) -> None:
        super().__init__(f"{type_}: {message}")
        self.type, self.message = type_, message


def ws_url(server: str) -> str:
    """The websocket URL of a server given as ``http(s)://host:port/base`` or ``ws(s)://...``.

    Raises:
        ConfigError: not an http, https, ws or wss URL.
    """
    parts = urlsplit(server)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.hostname:
        raise ConfigError(f"--server {server!r}: expected http://, https://, ws:// or wss:// and a host")
    path = parts.path if parts.path.endswith("/ws") else parts.path.rstrip("/") + "/ws"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


class Link:
    """One connection; :meth:`open` it, then :meth:`call` and :meth:`subscribe`.

    Args:
        url: the ``ws://`` or ``wss://`` URL of ``/ws``.
        token: the API token (``Authorization: Bearer``).
        ca: a CA file to trust beyond the system's (a lab's own certificate).
    """

    def __init__(self, url: str, token: str, ca: Path | None = None) -> None:
        self.url, self.token = url, token
        self._ssl: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca)) if ca else True
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._handlers: dict[str, Callable[[Any], None]] = {}
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Connect. Raises ``aiohttp.ClientError``, ``OSError`` or ``TimeoutError`` when the
        server cannot be reached."""
        self._http = aiohttp.ClientSession()
        try:
            # a server that accepts the connection but never answers the upgrade (one
            # stopping) must not hold the agent: it tries again
            self._ws = await asyncio.wait_for(
                self._http.ws_connect(
                    self.url,
                    headers={"Authorization": f"Bearer {self.token}"},
                    heartbeat=20.0,
                    max_msg_size=MAX_FRAME,
                    ssl=self._ssl if self.url.startswith("wss:") else False,
                ),
                CONNECT,
            )
        except BaseException:
            await self._http.close()
            raise
        self._reader = asyncio.get_running_loop().create_task(self._read(), name="agent-link")

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for msg in self._ws:
                if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    self._dispatch(msgspec.json.decode(msg.data))
        finally:
            for fut in self._waiting.values():
                if not fut.done():
                    fut.set_exception(LinkError("Disconnected", "the connection closed"))
            self._waiting.clear()

    def _dispatch(self, frame: Any) -> None:
        if not isinstance(frame, dict):
            return
        if "id" in frame:
            fut = self._waiting.pop(frame["id"], None)
            if fut is None or fut.done():
                return
            if frame.get("ok"):
                fut.set_result(frame.get("result"))
            else:
                error = frame.get("error") or {}
                fut.set_exception(LinkError(str(error.get("type", "Error")), str(error.get("message", ""))))
        elif "ch" in frame and "data" in frame:
            handler = self._handlers.get(frame["ch"])
            if handler is not None:
                handler(frame["data"])

    async def request(self, op: str, timeout: float = 30.0, **fields: Any) -> Any:
        """Send one request; its result. Raises :class:`LinkError`."""
        if self._ws is None or self._ws.closed:
            raise LinkError("Disconnected", "not connected")
        rid = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[rid] = fut
        try:
            await self._ws.send_str(msgspec.json.encode({"id": rid, "op": op, **fields}).decode())
            return await asyncio.wait_for(fut, timeout)
        except (ConnectionError, aiohttp.ClientError) as exc:
            raise LinkError("Disconnected", str(exc)) from None
        except TimeoutError:
            raise LinkError("Timeout", f"no reply to {op} within {timeout:g} s") from None
        finally:
            self._waiting.pop(rid, None)

    async def call(self, path: Sequence[str], *args: Any, timeout: float = 30.0) -> Any:
        return await self.request("call", timeout, path=list(path), args=list(args), kwargs={})

    async def subscribe(self, ch: str, handler: Callable[[Any], None]) -> None:
        """Hand every push of ``ch`` to ``handler``, the retained one first."""
        self._handlers[ch] = handler
        await self.request("sub", ch=ch)

    async def wait_closed(self) -> None:
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await self._reader

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(BaseException):
                await self._reader
        if self._http is not None:
            await self._http.close()
