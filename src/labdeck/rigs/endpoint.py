"""The rig side: listens on a URI and answers each request with its handler.

labdeck mode: every request is acknowledged on the loop turn it arrives (unless its
handler answered within that turn: the reply is the acknowledgement), its handler runs
once per id, and a repeated id is answered from the :class:`~labdeck.protocol.rigflow.Inbox` cache.
iblutil mode: every message is echoed byte for byte, the handler runs, and its answer
goes back as the rig's own message of the same event; a copy of a message within the
de-duplication window is dropped without echo, so neither side can start an echo loop.
A handler's exception becomes an error reply; the endpoint keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Hashable
from typing import Any

from labdeck.exceptions import BadRequest, NotSerializable
from labdeck.protocol import rig, rigibl
from labdeck.protocol.rig import Ack, Event, Reply, Request
from labdeck.protocol.rigflow import Inbox, RecentMessages, Seen
from labdeck.rigs import tcp
from labdeck.rigs.address import Mode, parse_uri
from labdeck.rigs.handlers import SimulatedRig, call_handler
from labdeck.rigs.udp import open_udp

__all__ = ["RigEndpoint", "answer_args"]

log = logging.getLogger(__name__)


def answer_args(result: Any) -> list[Any]:
    """A handler's result as an iblutil answer's arguments: a tuple is spread, else one item."""
    return list(result) if isinstance(result, tuple) else [result]


class RigEndpoint:
    """A rig listening on ``uri``.

    Args:
        uri: ``udp://host:port``, ``tcp://``, ``tls://`` (labdeck mode) or ``ws://``
            (iblutil mode); port 0 picks a free one (see :attr:`port`).
        handlers: the handlers object or mapping (see :mod:`labdeck.rigs.handlers`).
        mode: ``"labdeck"`` or ``"iblutil"``.
        key: labdeck mode's shared key; requests not signed with it are dropped.
        ssl_context: the server context for ``tls://``.
    """

    def __init__(self, uri: str, handlers: object | None = None, *, mode: Mode = "labdeck",
                 key: bytes | None = None, ssl_context: ssl.SSLContext | None = None) -> None:
        self.address = parse_uri(uri, mode)
        self.handlers = handlers if handlers is not None else SimulatedRig()
        self.mode, self.key, self.ssl_context = mode, key, ssl_context
        self.inbox = Inbox()
        self.recent = RecentMessages()
        self.handled = 0
        """Handler runs so far (each request once, whatever the network repeated)."""
        self._wire: Any = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._awaiting_echo: dict[tuple[Hashable, bytes], float] = {}

    @property
    def port(self) -> int:
        return int(self._wire.port)

    @property
    def uri(self) -> str:
        host = f"[{self.address.host}]" if ":" in self.address.host else self.address.host
        return f"{self.address.scheme}://{host}:{self.port}"

    async def start(self) -> None:
        """Listen. Raises :class:`OSError` when the address is taken."""
        a = self.address
        if a.stream:
            framing = tcp.IBLUTIL if self.mode == "iblutil" else tcp.LABDECK
            if a.tls and self.ssl_context is None:
                raise ValueError(f"{a}: a tls:// rig needs an ssl_context with its certificate")
            self._wire = await tcp.serve_tcp(self._received, framing, a.host, a.port, self.ssl_context)
        else:
            self._wire = await open_udp(self._received, local=(a.host, a.port))
        log.info("rig listening on %s (%s mode)", self.uri, self.mode)

    async def close(self) -> None:
        """Stop listening and cancel the handlers still running."""
        if self._wire is not None:
            self._wire.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> RigEndpoint:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _received(self, data: bytes, peer: Hashable) -> None:
        if self.mode == "iblutil":
            self._received_ibl(data, peer)
        else:
            self._received_labdeck(data, peer)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- labdeck mode --------------------------------------------------------------

    def _received_labdeck(self, data: bytes, peer: Hashable) -> None:
        try:
            msg = rig.decode(data, self.key, now=time.time())
        except BadRequest as exc:
            log.warning("rig %s: dropped a message: %s", self.uri, exc.message)
            return
        if not isinstance(msg, Request):
            return  # acks and replies are for controllers
        seen, cached = self.inbox.receive(peer, msg.id, time.monotonic())
        if seen is Seen.ANSWERED:
            assert cached is not None
            self._wire.send(cached, peer)
            return
        if seen is Seen.RUNNING:
            self._ack(msg.id, peer)
            return
        self._spawn(self._answer(msg, peer))
        # The ack goes out on this same loop turn, after the handler's first step: a
        # handler that answers at once has then sent its reply, which is the better
        # acknowledgement, and the ack is skipped (one datagram fewer each way; and on a
        # lossy link a lost reply is resent at the fast pace of an unacknowledged request).
        asyncio.get_running_loop().call_soon(self._ack, msg.id, peer)

    def _ack(self, rid: int, peer: Hashable) -> None:
        if not self.inbox.is_answered(peer, rid):
            self._wire.send(rig.encode(Ack(rid), self.key), peer)

    async def _answer(self, msg: Request, peer: Hashable) -> None:
        args = msg.data if isinstance(msg.data, list) else [] if msg.data is None else [msg.data]
        try:
            reply = Reply(msg.id, ok=True, data=await self._run(msg.ev, args))
            payload = rig.encode(reply, self.key)
        except Exception as exc:
            payload = rig.encode(Reply(msg.id, ok=False, error=_describe(exc)), self.key)
        self.inbox.answered(peer, msg.id, payload, time.monotonic())
        self._wire.send(payload, peer)

    async def _run(self, event: Event, args: list[Any]) -> Any:
        self.handled += 1
        try:
            return await call_handler(self.handlers, event, args)
        except Exception:
            log.exception("rig %s: the %s handler failed", self.uri, event.value)
            raise

    # -- iblutil mode --------------------------------------------------------------

    def _received_ibl(self, data: bytes, peer: Hashable) -> None:
        now = time.monotonic()
        if self._awaiting_echo.pop((peer, data), None) is not None:
            self.recent.repeated(peer, data, now)
            return  # the controller echoed our answer
        if self.recent.repeated(peer, data, now):
            return  # a copy: never echoed again, never handled twice
        try:
            msg = rigibl.decode_ibl(data)
        except BadRequest as exc:
            log.warning("rig %s: dropped a message: %s", self.uri, exc.message)
            return
        if msg.is_error:
            log.warning("rig %s: the controller reports %s", self.uri, msg.error[0])
            return  # errors are never echoed
        self._wire.send(data, peer)
        self._spawn(self._answer_ibl(rigibl.IblEvent(msg.event), msg.args, peer))

    async def _answer_ibl(self, event: rigibl.IblEvent, args: list[Any], peer: Hashable) -> None:
        try:
            payload = rigibl.encode_ibl(event, answer_args(await self._run(event.event, args)))
        except NotSerializable as exc:
            payload = rigibl.encode_ibl_error(exc.message, event)
        except Exception as exc:
            payload = rigibl.encode_ibl_error(_describe(exc), event)
        if not payload.startswith(b"[0,"):
            self._awaiting_echo[peer, payload] = time.monotonic()
            self._forget_echoes()
        self._wire.send(payload, peer)

    def _forget_echoes(self) -> None:
        too_old = time.monotonic() - 5.0
        for key in [k for k, at in self._awaiting_echo.items() if at < too_old]:
            del self._awaiting_echo[key]


def _describe(exc: BaseException) -> str:
    """What a peer is told of a handler's failure: the message, or the type without one."""
    return str(exc) or type(exc).__name__
