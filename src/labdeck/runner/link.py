"""The runner's end of the socket a script's ``labdeck.script`` talks to.

Per run, the runner listens on a fresh loopback TCP port and hands the script its
address and a per-run token (``LABDECK_RUN_URL=tcp://127.0.0.1:PORT``,
``LABDECK_RUN_TOKEN``). The messages and their framing are
:mod:`labdeck.protocol.link`; this adapter only reads bytes into its
:class:`~labdeck.protocol.link.LinkReader` and hands on what comes out. A connection
without the run's token, or one that sends a message over
:data:`~labdeck.protocol.link.MAX_MESSAGE` bytes, is closed; any other refused message
is reported and skipped.

Each message is awaited by ``on_message`` before the next is read, so a runner that
cannot keep up slows the script down through TCP instead of buffering without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from labdeck.exceptions import AccessDenied, BadRequest, FrameTooLarge, UnknownOp
from labdeck.protocol.link import MAX_MESSAGE, LinkReader, ScriptMessage

__all__ = ["MAX_MESSAGE", "ScriptLink"]

log = logging.getLogger(__name__)

CHUNK = 1 << 16
"""Bytes asked of the socket per read."""

OnMessage = Callable[[ScriptMessage], Awaitable[None]]
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
            await self._read(reader, LinkReader(self.token))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except AccessDenied as exc:
            self.on_problem(exc.message)
        except FrameTooLarge as exc:
            self.on_problem(f"{exc.message}; script link closed")
        finally:
            self._readers.discard(task)
            writer.close()

    async def _read(self, reader: asyncio.StreamReader, link: LinkReader) -> None:
        """Feed ``link`` until the script closes; raises what ends the connection early."""
        while True:
            data = await reader.read(CHUNK)
            if data:
                self._last_message = asyncio.get_running_loop().time()
                link.receive_data(data)
            else:
                link.receive_eof()
            await self._deliver(link)
            if not data:
                return

    async def _deliver(self, link: LinkReader) -> None:
        while True:
            try:
                message = link.next_message()
            except (BadRequest, UnknownOp) as exc:
                self.on_problem(exc.message)
                continue
            if message is None:
                return
            await self.on_message(message)
