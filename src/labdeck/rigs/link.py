"""The controlling side of one rig: send a request, get its answer or a timeout naming the rig.

:class:`Rig` speaks either mode over UDP or TCP, with several requests in flight. Its
methods have iblutil's shape (``await rig.init(data)``, ``start(exp_ref)``,
``stop(immediately=True)``, ``on_event``, ``assign_callback``), but each returns the
rig's answer instead of only the echo. See ``docs/howto/drive-rigs.md``.

labdeck mode resends with backoff (:class:`~labdeck.protocol.rigflow.Outbox`) until
answered or the deadline passes. iblutil mode never resends (an iblutil rig would act
twice); a message not echoed within 1 s, or not answered by the deadline, is a
:class:`~labdeck.exceptions.Timeout` naming the rig.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import ssl
import time
from collections import defaultdict
from collections.abc import Callable, Hashable
from typing import Any

from labdeck.exceptions import BadRequest, RigFailed, Timeout
from labdeck.protocol import rig, rigibl
from labdeck.protocol.rig import Ack, Event, Reply, Request
from labdeck.protocol.rigflow import Outbox, RecentMessages
from labdeck.protocol.rigibl import IblEvent
from labdeck.rigs import tcp
from labdeck.rigs.address import Mode, parse_uri
from labdeck.rigs.udp import open_udp

__all__ = ["ECHO_TIMEOUT", "Callback", "Rig", "event_of"]

log = logging.getLogger(__name__)

ECHO_TIMEOUT = 1.0
"""iblutil's limit for an echo, in seconds."""
_SAME_BYTES_GRACE = 0.05

Callback = Callable[[Any, Event], None]
"""Called with the answer's data and the event, for each message a rig sends."""


class Rig:
    """One rig, as the controller sees it.

    Args:
        uri: where the rig listens (see :func:`~labdeck.rigs.address.parse_uri`).
        name: how errors and the group name it.
        mode: ``"labdeck"`` or ``"iblutil"``.
        timeout: default seconds to wait for each answer.
        key: labdeck mode's shared key.
        ssl_context: the client context for ``tls://``.
    """

    def __init__(self, uri: str, name: str | None = None, *, mode: Mode = "labdeck", timeout: float = 5.0,
                 key: bytes | None = None, ssl_context: ssl.SSLContext | None = None) -> None:
        self.address = parse_uri(uri, mode)
        self.name = name or str(self.address)
        self.mode, self.timeout, self.key, self.ssl_context = mode, timeout, key, ssl_context
        self.outbox = Outbox(retransmit=mode == "labdeck", first_retry=0.2 if self.address.stream else 0.02)
        self._ids = itertools.count(random.randrange(1 << 30))
        self._waiting: dict[int, tuple[Event, asyncio.Future[Any]]] = {}
        self._confirming: dict[int, asyncio.Future[None]] = {}
        self._callbacks: dict[Event, list[Callback | asyncio.Future[Any]]] = defaultdict(list)
        self._wire: Any = None
        self._send: Callable[[bytes], None] = _not_connected
        self._timer: asyncio.TimerHandle | None = None
        self._connecting: asyncio.Lock | None = None
        # iblutil mode
        self._echoes: list[tuple[bytes, asyncio.Future[None]]] = []
        self._answers: dict[IblEvent, tuple[bytes, asyncio.Future[list[Any]]]] = {}
        self._held: dict[IblEvent, asyncio.TimerHandle] = {}
        self._event_locks: dict[IblEvent, asyncio.Lock] = defaultdict(asyncio.Lock)
        # A stream never repeats a message: the same bytes twice on ws are two messages
        self._recent = RecentMessages(window=0.0 if self.address.stream else 0.5)

    def __repr__(self) -> str:
        return f"<Rig {self.name} {self.address} {self.mode}>"

    # -- iblutil's shape ---------------------------------------------------------------

    async def init(self, data: Any = None) -> Any:
        """Ask the rig to initialise; returns its answer."""
        return await self.request(Event.INIT, [data])

    async def start(self, exp_ref: str | None = None, data: Any = None) -> Any:
        """Start the experiment ``exp_ref`` (``yyyy-mm-dd_n_subject``)."""
        return await self.request(Event.START, [exp_ref or None, data])

    async def stop(self, data: Any = None, immediately: bool = False) -> Any:
        """Stop the experiment; ``immediately`` interrupts it instead (iblutil's EXPINTERRUPT)."""
        return await self.request(Event.INTERRUPT if immediately else Event.STOP, [data])

    async def cleanup(self, data: Any = None) -> Any:
        return await self.request(Event.CLEANUP, [data])

    async def status(self, status: Any = 0) -> Any:
        return await self.request(Event.STATUS, [status])

    async def info(self, status: Any = 0, data: Any = None) -> Any:
        return await self.request(Event.INFO, [status, data])

    async def alyx(self, base_url: str | None = None, token: Any = None) -> Any:
        """The token exchange: send ``(base_url, token)``, or ask for the rig's with none."""
        return await self.request(Event.TOKEN, [base_url, token or {}])

    token = alyx

    def assign_callback(self, event: Event | str | int, callback: Callback | asyncio.Future[Any]) -> None:
        """Call ``callback(data, event)`` (or resolve a future, once) on each message of ``event``."""
        self._callbacks[event_of(event)].append(callback)

    def clear_callbacks(self, event: Event | str | int) -> int:
        """Remove the callbacks of ``event``; returns how many there were."""
        return len(self._callbacks.pop(event_of(event), []))

    async def on_event(self, event: Event | str | int) -> Any:
        """Wait for the rig's next message of ``event``; returns its data."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.assign_callback(event, fut)
        return await fut

    # -- requests ----------------------------------------------------------------------

    async def request(self, event: Event, args: list[Any], timeout: float | None = None, *,
                      confirmed: asyncio.Future[None] | None = None, as_args: bool = False) -> Any:
        """Send ``event`` with ``args`` and wait for the answer.

        Args:
            confirmed: resolved as soon as the rig has the request (labdeck mode: its ack
                or its answer; iblutil mode: its echo), for callers that go on before the
                answer, as iblutil's own sends do.
            as_args: in iblutil mode, return the answer's arguments as a list even when
                there is one (labdeck mode answers with one value either way).

        Returns:
            The rig's answer: its handler's return value (in iblutil mode, the answer's
            arguments; a single one is given bare unless ``as_args``).

        Raises:
            Timeout: no answer within ``timeout`` (the rig's default); names the rig.
            RigFailed: the rig's handler failed; carries the rig's message.
            OSError: the rig cannot be reached over TCP.
        """
        timeout = self.timeout if timeout is None else timeout
        if self._wire is None or not self._wire.is_open:
            await self._connect()
        if self.mode == "iblutil":
            result = await self._request_ibl(IblEvent.of(event), args, timeout, confirmed)
            return result if as_args or len(result) != 1 else result[0]
        # labdeck mode, here rather than in a coroutine of its own: one frame fewer a request
        rid = next(self._ids)
        payload = rig.encode(Request(rid, event, time.time(), args), self.key)
        self._send(payload)
        # The bookkeeping after the send overlaps the rig's work: nothing is read from the
        # socket before this coroutine awaits, so the answer cannot come before it is ready.
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._waiting[rid] = (event, fut)
        if confirmed is not None:
            self._confirming[rid] = confirmed
        entry = self.outbox.add(rid, payload, loop.time(), timeout)
        try:
            wake, timer = min(entry.next_send, entry.deadline), self._timer
            if timer is None or timer.when() > wake:  # else the timer set stays: _tick sets the next
                self._wake_at(wake)
            return await fut
        except BaseException:
            self.outbox.cancel(rid)  # an answer has taken it off already, a timeout too
            raise
        finally:
            del self._waiting[rid]
            if confirmed is not None:
                del self._confirming[rid]

    def _is_open(self) -> bool:
        return self._wire is not None and bool(self._wire.is_open)

    async def _connect(self) -> None:
        if self._is_open():
            return
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._is_open():
                return
            a = self.address
            receive = self._received_ibl if self.mode == "iblutil" else self._received_labdeck
            if a.stream:
                framing = tcp.IBLUTIL if self.mode == "iblutil" else tcp.LABDECK
                context = self.ssl_context or (ssl.create_default_context() if a.tls else None)
                self._wire = await tcp.open_tcp(receive, framing, a.host, a.port, context)
                self._send = self._wire.write
            else:
                self._wire = await open_udp(receive, remote=(a.host, a.port))
                self._send = self._wire.write

    async def close(self) -> None:
        """Close the socket; requests still waiting end with :class:`Timeout`."""
        self.close_now()

    def close_now(self) -> None:
        """:meth:`close`, for callers that cannot await (iblutil's ``close()`` is plain)."""
        if self._timer is not None:
            self._timer.cancel()
        for event, fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(Timeout(f"rig {self.name!r}: closed while waiting for {event.value}"))
        for handle in self._held.values():
            handle.cancel()
        if self._wire is not None:
            self._wire.close()
            self._wire = None

    async def __aenter__(self) -> Rig:
        await self._connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _notify(self, event: Event, data: Any) -> None:
        callbacks = self._callbacks.get(event)
        if not callbacks:
            return
        keep: list[Callback | asyncio.Future[Any]] = []
        for cb in callbacks:
            if isinstance(cb, asyncio.Future):
                if not cb.done():
                    cb.set_result(data)
                continue
            keep.append(cb)
            try:
                cb(data, event)
            except Exception:
                log.exception("rig %r: a callback for %s failed", self.name, event.value)
        if self._callbacks.get(event) is not callbacks:
            return  # a callback cleared them (and may have assigned others): that stands
        if keep:
            self._callbacks[event] = keep
        else:
            del self._callbacks[event]  # none left: the next answer skips this call

    # -- labdeck mode ------------------------------------------------------------------

    def _received_labdeck(self, data: bytes, peer: Hashable) -> None:
        key = self.key
        try:
            msg = rig.decode(data) if key is None else rig.decode(data, key, now=time.time())
        except BadRequest as exc:
            log.warning("rig %r: dropped a message: %s", self.name, exc.message)
            return
        kind = type(msg)
        if self._confirming:
            _resolve(self._confirming.get(msg.id))
        if kind is Reply:
            assert isinstance(msg, Reply)
            if self.outbox.answer(msg.id) is None:
                return  # a duplicate, or an answer after the deadline
            event, fut = self._waiting[msg.id]
            if fut.done():
                return
            if msg.ok:
                fut.set_result(msg.data)
                if self._callbacks:
                    self._notify(event, msg.data)
            else:
                fut.set_exception(RigFailed(f"rig {self.name!r}: {event.value} failed: {msg.error}"))
        elif kind is Ack:
            self.outbox.ack(msg.id)

    def _wake_at(self, when: float) -> None:
        """Have :meth:`_tick` run by ``when`` (a request's first resend); an earlier timer stays."""
        timer = self._timer
        if timer is not None:
            if timer.when() <= when:
                return
            timer.cancel()
        self._timer = asyncio.get_running_loop().call_at(when, self._tick)

    def _schedule(self) -> None:
        wake = self.outbox.next_wakeup()
        if self._timer is not None:
            if wake is not None and self._timer.when() <= wake:
                return  # the timer already set wakes early enough: _tick schedules again
            self._timer.cancel()
            self._timer = None
        if wake is not None:
            self._timer = asyncio.get_running_loop().call_at(wake, self._tick)

    def _tick(self) -> None:
        self._timer = None
        now = asyncio.get_running_loop().time()
        for entry in self.outbox.expired(now):
            event, fut = self._waiting[entry.id]
            if not fut.done():
                waited = now - entry.sent_at
                fut.set_exception(Timeout(f"rig {self.name!r} did not answer {event.value} within {waited:.3g} s "
                                          f"({entry.attempts} sends, {entry.state.value})"))
        for entry in self.outbox.due(now):
            self._send(entry.payload)
        self._schedule()

    # -- iblutil mode ------------------------------------------------------------------

    async def _request_ibl(self, event: IblEvent, args: list[Any], timeout: float,
                           confirmed: asyncio.Future[None] | None) -> list[Any]:
        loop = asyncio.get_running_loop()
        payload = rigibl.encode_ibl(event, args)
        # Answers carry no id: one request per event in flight, others of it wait their turn.
        async with self._event_locks[event]:
            echo: asyncio.Future[None] = loop.create_future()
            answer: asyncio.Future[list[Any]] = loop.create_future()
            self._echoes.append((payload, echo))
            self._answers[event] = (payload, answer)
            started = loop.time()
            try:
                self._send(payload)
                try:
                    await asyncio.wait_for(echo, min(ECHO_TIMEOUT, timeout))
                except TimeoutError:
                    raise Timeout(f"rig {self.name!r} did not echo {event.name} within "
                                  f"{min(ECHO_TIMEOUT, timeout):g} s") from None
                _resolve(confirmed)
                try:
                    result = await asyncio.wait_for(answer, max(timeout - (loop.time() - started), 0.001))
                except TimeoutError:
                    raise Timeout(f"rig {self.name!r} did not answer {event.name} within {timeout:g} s") from None
            finally:
                self._echoes = [(p, f) for p, f in self._echoes if f is not echo]
                if self._answers.get(event, (b"", None))[1] is answer:
                    del self._answers[event]
                held = self._held.pop(event, None)
                if held is not None:
                    held.cancel()
        return result

    def _received_ibl(self, data: bytes, peer: Hashable) -> None:
        now = time.monotonic()
        for payload, fut in self._echoes:
            if payload == data and not fut.done():
                fut.set_result(None)
                self._recent.repeated(None, data, now)
                return
        try:
            msg = rigibl.decode_ibl(data)
        except BadRequest as exc:
            log.warning("rig %r: dropped a message: %s", self.name, exc.message)
            return
        if msg.is_error:
            self._failed(msg)
            return
        event = IblEvent(msg.event)
        waiting = self._answers.get(event)
        if waiting is not None and waiting[1].done():
            waiting = None
        if waiting is not None and waiting[0] == data:
            # The same bytes as the request: the rig's answer, or a copy of its echo the
            # network duplicated. Hold it briefly; a different answer wins.
            if event not in self._held:
                self._held[event] = asyncio.get_running_loop().call_later(
                    _SAME_BYTES_GRACE, self._take_held, event, data, msg.args)
            return
        if self._recent.repeated(None, data, now):
            return  # a copy: never echoed again, never passed on twice
        self._send(data)  # iblutil's sender waits for this echo
        if waiting is not None:
            held = self._held.pop(event, None)
            if held is not None:
                held.cancel()
            waiting[1].set_result(msg.args)
        self._notify(event.event, msg.args[0] if len(msg.args) == 1 else msg.args)

    def _take_held(self, event: IblEvent, data: bytes, args: list[Any]) -> None:
        self._held.pop(event, None)
        waiting = self._answers.get(event)
        if waiting is None or waiting[1].done():
            return
        self._recent.repeated(None, data, time.monotonic())
        self._send(data)
        waiting[1].set_result(args)
        self._notify(event.event, args[0] if len(args) == 1 else args)

    def _failed(self, msg: rigibl.IblMessage) -> None:
        text, failed = msg.error
        try:
            event = IblEvent(failed) if failed is not None else None
        except ValueError:
            event = None
        waiting = self._answers.get(event) if event is not None else None
        if waiting is not None and not waiting[1].done():
            waiting[1].set_exception(RigFailed(f"rig {self.name!r}: {event.name if event else '?'} failed: {text}"))
        else:
            log.warning("rig %r reports: %s", self.name, text)


def _resolve(fut: asyncio.Future[None] | None) -> None:
    if fut is not None and not fut.done():
        fut.set_result(None)


def _not_connected(data: bytes) -> None:
    raise RuntimeError("rig link: not connected")


def event_of(event: Event | str | int) -> Event:
    """An event from labdeck's name, iblutil's name (``"EXPSTART"``) or number."""
    if isinstance(event, Event):
        return event
    if isinstance(event, int):
        return IblEvent(event).event
    name = event.strip().lower()
    if name.startswith("exp"):
        name = {"expend": "stop"}.get(name, name[3:])
    name = {"alyx": "token"}.get(name, name)
    return Event(name)
