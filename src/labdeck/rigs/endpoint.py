"""The rig side: listens on a URI and answers each request with its handler.

labdeck mode: every request is acknowledged on the loop turn it arrives (unless its
handler answered within that turn: the reply is the acknowledgement), its handler runs
once per id, and a repeated id is answered from the :class:`~labdeck.protocol.rigflow.Inbox` cache.
An inline handler (see :mod:`labdeck.rigs.handlers`) is answered straight from the
socket's callback: no task, no thread, one datagram back.
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
from functools import partial
from typing import Any

from labdeck.exceptions import BadRequest, NotSerializable
from labdeck.objects.markers import call_options
from labdeck.protocol import rig, rigibl
from labdeck.protocol.rig import Ack, Event, Reply, Request
from labdeck.protocol.rigflow import Inbox, RecentMessages, Seen
from labdeck.rigs import tcp
from labdeck.rigs.address import Mode, parse_uri
from labdeck.rigs.handlers import PLAIN_ANSWERS, Done, SimulatedRig, follow, handler_lookup, is_answer, start_handler
from labdeck.rigs.udp import open_udp

__all__ = ["RigEndpoint", "answer_args"]

log = logging.getLogger(__name__)

_NEW, _ANSWERED = Seen.NEW, Seen.ANSWERED  # read on every request; see labdeck.protocol.rigflow

_STREAM_GAP = 0.005
"""iblutil mode over ws: the least seconds between an echo and the answer after it.
iblutil reads one message per read of its stream, so an answer that reaches its buffer
with the echo (as an inline handler's would) is taken for a wrong echo."""


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
        self._handler = handler_lookup(self.handlers)
        self.mode, self.key, self.ssl_context = mode, key, ssl_context
        self.inbox = Inbox()
        # A stream never repeats a message: the same bytes twice on ws are two messages
        self.recent = RecentMessages(window=0.0 if self.address.stream else 0.5)
        self.handled = 0
        """Handler runs so far (each request once, whatever the network repeated)."""
        self._wire: Any = None
        self._send: Any = None
        self._running: set[asyncio.Future[Any]] = set()
        self._awaiting_echo: dict[tuple[Hashable, bytes], float] = {}
        # A subclass that answers otherwise (through _handle) gets every request there
        self._direct = type(self)._handle is RigEndpoint._handle

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
        receive = self._received_ibl if self.mode == "iblutil" else self._received_labdeck
        if a.stream:
            framing = tcp.IBLUTIL if self.mode == "iblutil" else tcp.LABDECK
            if a.tls and self.ssl_context is None:
                raise ValueError(f"{a}: a tls:// rig needs an ssl_context with its certificate")
            self._wire = await tcp.serve_tcp(receive, framing, a.host, a.port, self.ssl_context)
        else:
            self._wire = await open_udp(receive, local=(a.host, a.port))
        self._send = self._wire.send
        log.info("rig listening on %s (%s mode)", self.uri, self.mode)

    async def close(self) -> None:
        """Stop listening and cancel the handlers still running."""
        if self._wire is not None:
            self._wire.close()
        for running in list(self._running):
            running.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

    async def __aenter__(self) -> RigEndpoint:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _start(self, event: Event, args: list[Any], done: Done, peer: Hashable) -> bool:
        """Run the handler for ``event``; ``True`` when it has answered already."""
        self.handled += 1
        return self._track(self._handle(event, args, done, peer))

    def _track(self, running: asyncio.Future[Any] | None) -> bool:
        """Keep a handler still ``running`` for :meth:`close`; ``True`` when there is none."""
        if running is None:
            return True
        self._running.add(running)
        running.add_done_callback(self._running.discard)
        return False

    def _handle(self, event: Event, args: list[Any], done: Done, peer: Hashable) -> asyncio.Future[Any] | None:
        """Start answering ``event`` from ``peer`` (see :func:`~labdeck.rigs.handlers.start_handler`);
        a subclass that answers otherwise (iblutil's callbacks) overrides this."""
        return start_handler(self._handler(event, None), args, done)

    # -- labdeck mode --------------------------------------------------------------

    def _received_labdeck(self, data: bytes, peer: Hashable) -> None:
        key = self.key
        try:
            msg = rig.decode(data) if key is None else rig.decode(data, key, now=time.time())
        except BadRequest as exc:
            log.warning("rig %s: dropped a message: %s", self.uri, exc.message)
            return
        if type(msg) is not Request:
            return  # acks and replies are for controllers
        now = time.monotonic()
        inbox = self.inbox
        seen, cached = inbox.check(peer, msg.id, now)
        if seen is not _NEW:
            if seen is _ANSWERED:
                self._send(cached, peer)
            else:
                self._ack(msg.id, peer)  # its handler is still running
            return
        given = msg.data
        args = given if type(given) is list else [] if given is None else [given]
        fn = self._handler(msg.ev, None) if self._direct else None
        if fn is not None and call_options(fn).inline:
            # The common trivial handler, answered right here: no task, no thread, no
            # callback object, and its reply is the acknowledgement.
            # The inbox records it with its answer, after the reply has left.
            self.handled += 1
            try:
                result = fn(*args)
            except Exception as exc:
                self._answer(msg, peer, None, exc, now)
                return
            if type(result) in PLAIN_ANSWERS or is_answer(result):
                self._answer(msg, peer, result, None, now)
                return
            inbox.running(peer, msg.id, now)
            answered = self._track(follow(result, partial(self._answer, msg, peer)))
        else:
            inbox.running(peer, msg.id, now)
            answered = self._start(msg.ev, args, partial(self._answer, msg, peer), peer)
        if not answered:
            # The ack goes out on this same loop turn, after a task's first step: a
            # handler that answers at once has then sent its reply, which is the better
            # acknowledgement, and the ack is skipped (one datagram fewer each way; and on a
            # lossy link a lost reply is resent at the fast pace of an unacknowledged request).
            asyncio.get_running_loop().call_soon(self._ack, msg.id, peer)

    def _ack(self, rid: int, peer: Hashable) -> None:
        if not self.inbox.is_answered(peer, rid):
            self._send(rig.encode(Ack(rid), self.key), peer)

    def _answer(self, msg: Request, peer: Hashable, result: Any, error: Exception | None,
                now: float | None = None) -> None:
        """Reply to ``msg`` (a :data:`~labdeck.rigs.handlers.Done`, with ``msg`` and ``peer``
        bound); ``now``: the clock already read for this request, if any."""
        if error is None:
            try:
                payload = rig.encode(Reply(msg.id, ok=True, data=result), self.key)
            except NotSerializable as exc:
                error = exc
        if error is not None:
            self._failed(msg.ev, error)
            payload = rig.encode(Reply(msg.id, ok=False, error=_describe(error)), self.key)
        self._send(payload, peer)  # first: the cache below is not on the way to the controller
        self.inbox.answered(peer, msg.id, payload, time.monotonic() if now is None else now)

    def _failed(self, event: Event, error: Exception) -> None:
        log.error("rig %s: the %s handler failed", self.uri, event.value, exc_info=error)

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
        self._send(data, peer)
        event = rigibl.IblEvent(msg.event)
        self._start(event.event, msg.args, partial(self._answer_ibl, event, peer, now), peer)

    def _answer_ibl(self, event: rigibl.IblEvent, peer: Hashable, echoed_at: float, result: Any,
                    error: Exception | None) -> None:
        if error is None:
            try:
                payload = rigibl.encode_ibl(event, answer_args(result))
            except NotSerializable as exc:
                payload = rigibl.encode_ibl_error(exc.message, event)
        else:
            self._failed(event.event, error)
            payload = rigibl.encode_ibl_error(_describe(error), event)
        if not payload.startswith(b"[0,"):
            self._awaiting_echo[peer, payload] = time.monotonic()
            self._forget_echoes()
        gap = echoed_at + _STREAM_GAP - time.monotonic() if self.address.stream else 0.0
        if gap > 0:
            asyncio.get_running_loop().call_later(gap, self._send, payload, peer)
        else:
            self._send(payload, peer)

    def _forget_echoes(self) -> None:
        too_old = time.monotonic() - 5.0
        for key in [k for k, at in self._awaiting_echo.items() if at < too_old]:
            del self._awaiting_echo[key]


def _describe(exc: BaseException) -> str:
    """What a peer is told of a handler's failure: the message, or the type without one."""
    return str(exc) or type(exc).__name__
