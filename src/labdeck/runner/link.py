"""The runner's end of the socket a script's ``labdeck.script`` talks to.

Per run, the runner listens on a fresh loopback TCP port and hands the script its
address and a per-run token (``LABDECK_RUN_URL=tcp://127.0.0.1:PORT``,
``LABDECK_RUN_TOKEN``). The stream is newline-delimited JSON objects:

* first ``{"token": "..."}``; anything else, or a wrong token, closes the connection;
* then any number of ``{"op": "plot", "series": s, "x": [...], "y": [...]}``,
  ``{"op": "progress", "fraction": f, "message": m}``, ``{"op": "result", "key": k,
  "value": v}``.

Each message is awaited by ``on_message`` before the next is read, so a runner that
cannot keep up slows the script down through TCP instead of buffering without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

__all__ = ["MAX_MESSAGE", "ScriptLink"]

log = logging.getLogger(__name__)

MAX_MESSAGE = 16 << 20
"""Longest message line a script may send, in bytes."""

OnMessage = Callable[[dict[str, Any]], Awaitable[None]]
OnProblem = Callable[[str], None]


class ScriptLink:
    """A per-run listener.

    Args:
        token: the secret the script must present first.
        on_message: awaited for every message, in order.
        on_problem: told (in words) about messages that were refused.
    """

    def __init__(self, token: str, on_message: OnMessage, on_problem: OnProblem) -> None:
        self.token = token
        self.on_message = on_message
        self.on_problem = on_problem
        self.url = ""
        self._server: asyncio.Server | None = None
        self._readers: set[asyncio.Task[None]] = set()
        self._last_message = 0.0

    async def open(self) -> str:
        """Start listening; returns the URL for ``LABDECK_RUN_URL``."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, limit=MAX_MESSAGE)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"tcp://127.0.0.1:{port}"
        return self.url

    async def close(self, drain: float) -> None:
        """Stop listening; read open connections to their end, then close.

        A connection that stays open with nothing arriving for ``drain`` seconds (a child
        of the script that inherited it) is cut; one still delivering is read to the end,
        so nothing a script sent before it exited is lost.
        """
        if self._server is not None:
            self._server.close()
        late = set(self._readers)
        while late:
            _, late = await asyncio.wait(late, timeout=drain)
            if late and asyncio.get_running_loop().time() - self._last_message > drain:
                for task in late:
                    task.cancel()
                for task in late:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                break
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._readers.add(task)
        try:
            if await self._authenticated(reader):
                await self._read(reader)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._readers.discard(task)
            writer.close()

    async def _authenticated(self, reader: asyncio.StreamReader) -> bool:
        try:
            first = msgspec.json.decode(await reader.readline())
        except (msgspec.DecodeError, ValueError):
            first = None
        token = first.get("token") if isinstance(first, dict) else None
        if isinstance(token, str) and hmac.compare_digest(token.encode(), self.token.encode()):
            return True
        self.on_problem("a connection to the script socket without the run's token was refused")
        return False

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while True:
            try:
                line = await reader.readline()
            except ValueError:  # over MAX_MESSAGE: the rest of the stream cannot be trusted
                self.on_problem(f"a message from the script was over {MAX_MESSAGE} bytes; script link closed")
                return
            if not line:
                return
            self._last_message = asyncio.get_running_loop().time()
            try:
                msg = msgspec.json.decode(line)
            except msgspec.DecodeError:
                self.on_problem(f"a message from the script is not JSON: {line[:80]!r}")
                continue
            if not isinstance(msg, dict):
                self.on_problem("a message from the script is not a JSON object")
                continue
            await self.on_message(msg)
