"""The hub: channels, subscriptions and request dispatch for every connected client.

The hub is transport-free: the web layer hands it each text frame of a connection
(:meth:`Hub.handle`) and gives each connection an :class:`Outlet` and a ``close``. Publishing
goes through the broker, which assigns seqs and keeps history; the broker hands every
message back to :meth:`Hub._deliver`, which queues it on each subscribed connection.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import Counter
from typing import Any

from labdeck.broker.base import Broker, Message
from labdeck.exceptions import AccessDenied, BadRequest, DuplicateId, InternalError, LabdeckError, TooManyInFlight
from labdeck.hub.connection import Client, Close, Connection, Outlet, current_client
from labdeck.hub.rpc import Later, NoObjects, ObjectSpace, Ready
from labdeck.protocol import wire
from labdeck.types import has_role

__all__ = ["CHANNEL_OP_ROLES", "Hub", "channel_group", "check_channel_name"]


CHANNEL_OP_ROLES: dict[type[wire.Request], str] = {
    wire.Sub: "viewer", wire.Unsub: "viewer", wire.Channels: "viewer", wire.Pub: "operator",
}
"""The least role of each channel op; the object ops' are :data:`labdeck.objects.policy.OP_ROLES`."""


log = logging.getLogger(__name__)

CHANNELS_CHANNEL = "hub/channels"
"""Announces each channel when it first appears: ``{"ch": name}``."""

MAX_CHANNEL_LEN = wire.MAX_CHANNEL_LEN


# Both run for every message published, on the few names a server uses over and over;
# caching them saves two str.split per message (only valid names are cached: an
# exception is never stored).
@functools.lru_cache(maxsize=4096)
def channel_group(ch: str) -> str:
    """The metrics group of a channel: its first segment (``run/log`` → ``run``)."""
    return ch.split("/", 1)[0]


@functools.lru_cache(maxsize=4096)
def check_channel_name(ch: str) -> str:
    """Return ``ch`` if it is a usable channel name.

    Raises:
        BadRequest: empty, too long, or with empty segments or control characters.
    """
    if not ch or len(ch) > MAX_CHANNEL_LEN:
        raise BadRequest(f"channel name must be 1 to {MAX_CHANNEL_LEN} characters")
    if not ch.isprintable() or "" in ch.split("/"):
        raise BadRequest(f"bad channel name {ch!r}: printable segments separated by single '/'")
    return ch


class Hub:
    """Channels and RPC for every connection of one server.

    Args:
        broker: assigns seqs, keeps history, fans out between processes.
        objects: answers get/set/call/del/dir; by default nothing is exposed.
        reserved: channel prefixes only the server publishes on; a client's ``pub``
            there is ``AccessDenied``.
        debug: put exception details of internal errors in replies.
        max_depth: how deeply a frame may nest (see :func:`wire.decode_request`).

    The broker's budget keeps (never evicts) channels someone here subscribes to and
    channels under ``reserved``, which the server itself publishes on.
    """

    def __init__(
        self,
        broker: Broker,
        objects: ObjectSpace | None = None,
        *,
        reserved: tuple[str, ...] = ("hub/", "run/", "files/", "dicom/", "agents/", "rigs/", "obj/"),
        debug: bool = False,
        max_depth: int = wire.MAX_DEPTH,
    ) -> None:
        self.broker = broker
        self.objects: ObjectSpace = objects or NoObjects()
        self.reserved = reserved
        self.debug = debug
        self.max_depth = max_depth
        self.connections: set[Connection] = set()
        self.subscribers: dict[str, set[Connection]] = {}
        self.messages_in: Counter[str] = Counter()
        self.messages_out: Counter[str] = Counter()
        self.slow_disconnects = 0
        self._tasks: set[asyncio.Task[None]] = set()
        broker.bind(self._deliver, self._deliver_gap, self._renumbered)
        broker.announce = CHANNELS_CHANNEL
        broker.budget.keep = self._keeps

    def _keeps(self, ch: str) -> bool:
        return ch in self.subscribers or ch.startswith(self.reserved)

    async def start(self) -> None:
        await self.broker.start()

    async def close(self) -> None:
        """Close every connection with 1001 ("going away"), then the broker."""
        conns = list(self.connections)
        await asyncio.gather(*(conn.close() for conn in conns), return_exceptions=True)
        for conn in conns:
            await self.disconnect(conn)
        for task in list(self._tasks):
            task.cancel()
        await self.broker.close()

    # -- connections ----------------------------------------------------------------

    def connect(
        self,
        outlet: Outlet,
        close: Close,
        client: Client | None = None,
        *,
        max_bytes: int = 4 << 20,
        max_in_flight: int = 256,
    ) -> Connection:
        """Register a new connection; the caller feeds its frames to :meth:`handle`."""
        conn = Connection(outlet, close, client, max_bytes=max_bytes, max_in_flight=max_in_flight)
        self.connections.add(conn)
        return conn

    async def disconnect(self, conn: Connection) -> None:
        """Forget a connection and its subscriptions; a second call for it does nothing."""
        if conn not in self.connections:
            return
        self.connections.discard(conn)
        if conn.dropped_slow:
            self.slow_disconnects += 1
        for ch in list(conn.subs):
            self._unsubscribe(conn, ch)
        await conn.shutdown()

    # -- publishing -----------------------------------------------------------------

    def publish_nowait(self, ch: str, data: Any) -> None:
        """Publish from the event loop's thread without waiting (see :class:`Deck` for threads)."""
        self.broker.publish_nowait(check_channel_name(ch), wire.encode_data(data))

    async def publish(self, ch: str, data: Any) -> Message:
        """Publish and return the message with its seq."""
        return await self.broker.publish(check_channel_name(ch), wire.encode_data(data))

    def _deliver(self, msg: Message) -> None:
        subs = self.subscribers.get(msg.ch)
        if subs:
            for conn in subs:
                conn.deliver(msg)
            self.messages_out[channel_group(msg.ch)] += len(subs)

    def _deliver_gap(self, ch: str, first: int, last: int) -> None:
        """Tell every subscriber of ``ch`` that seqs ``first..last`` are lost for good."""
        frame = wire.encode_gap(ch, first, last)
        for conn in self.subscribers.get(ch, ()):
            conn.send(frame)

    def _renumbered(self) -> None:
        """The broker's epoch changed: every client must subscribe again, in the new one."""
        for conn in list(self.connections):
            task = asyncio.get_running_loop().create_task(conn.close(1012, "channels renumbered: subscribe again"))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    # -- requests -------------------------------------------------------------------

    async def handle(self, conn: Connection, frame: bytes | str) -> None:
        """Act on one text frame from ``conn``; every outcome is a reply on ``conn``.

        An object request arriving while ``conn`` has ``max_in_flight`` requests
        unanswered is refused with ``TooManyInFlight`` and not run: a client cannot pile
        up work (and the memory it holds) faster than the server finishes it. Channel
        ops are answered before the next frame is read, so they never count and are
        never refused for it: a client at its cap can still resubscribe. A connection
        closed for sending (dropped as slow, its close frame on the way) acts on nothing."""
        if conn.closed:
            return
        try:
            req = wire.decode_request(frame, max_depth=self.max_depth)
        except LabdeckError as exc:
            conn.send(wire.encode_error(exc.request_id, exc.wire_type, exc.message))
            return
        if req.id in conn.in_flight:
            message = f"id {req.id!r} is already in use by a request in flight; choose another"
            conn.send(wire.encode_error(None, DuplicateId.wire_type, message))
            return
        need = CHANNEL_OP_ROLES.get(type(req))
        if need is not None and not has_role(conn.client.role, need):
            op = type(req).__struct_config__.tag
            conn.send(wire.encode_error(req.id, AccessDenied.wire_type, f"{op} needs the {need} role"))
            return
        if isinstance(req, wire.Sub):
            await self._guard(conn, req.id, self._sub(conn, req))
        elif isinstance(req, (wire.Unsub, wire.Pub, wire.Channels)):
            await self._guard(conn, req.id, self._simple(conn, req))
        elif len(conn.in_flight) >= conn.max_in_flight:
            message = f"{conn.max_in_flight} requests of this connection are in flight; send it again after a reply"
            conn.send(wire.encode_error(req.id, TooManyInFlight.wire_type, message))
        else:
            token = current_client.set(conn.client)
            try:
                self._object_request(conn, req)
            finally:
                current_client.reset(token)

    def _object_request(self, conn: Connection, req: wire.Request) -> None:
        """Answer at once what the object space finished without waiting (reads, inline
        calls); run the rest as a task, so a slow call never holds up this connection.

        The caller sets :data:`current_client` to the requesting client: the work, and
        the task it may run as, see it."""
        begin = getattr(self.objects, "begin", None)
        if begin is None:
            work: Any = self._object_op(conn, req)
        else:
            try:
                work = begin(req, conn.client)
            except Exception as exc:
                self._reply_error(conn, req.id, exc)
                return
            if type(work) is Ready:
                self._reply(conn, req.id, work.value)
                return
            if isinstance(work, Later):
                conn.in_flight.add(req.id)
                work.then(functools.partial(self._answer, conn, req.id))
                return
            if isinstance(work, asyncio.Future):
                if not work.done():
                    conn.in_flight.add(req.id)  # one callback replies, then lets the id go
                work.add_done_callback(functools.partial(self._settled, conn, req.id))
                return
        task = asyncio.get_running_loop().create_task(self._guard(conn, req.id, work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        _in_flight(conn, req.id, task)

    def _settled(self, conn: Connection, rid: wire.RequestId, fut: asyncio.Future[Any]) -> None:
        """Reply with what ``fut`` holds; a cancelled one (the server stopping) gets no reply."""
        exc = asyncio.CancelledError() if fut.cancelled() else fut.exception()
        self._answer(conn, rid, None if exc is not None else fut.result(), exc)

    def _answer(self, conn: Connection, rid: wire.RequestId, value: Any, exc: BaseException | None) -> None:
        """Reply with a finished request's outcome, then let its id go; a cancelled one
        (the server stopping) gets no reply."""
        if exc is None:
            self._reply(conn, rid, value)
        elif not isinstance(exc, asyncio.CancelledError):
            self._reply_error(conn, rid, exc)
        conn.in_flight.discard(rid)

    async def _guard(self, conn: Connection, rid: wire.RequestId, work: Any) -> None:
        """Await ``work``; reply with its result, or with the error it raised."""
        try:
            result = await work
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._reply_error(conn, rid, exc)
            return
        if result is not _REPLIED:
            self._reply(conn, rid, result)

    def _reply(self, conn: Connection, rid: wire.RequestId, result: Any) -> None:
        try:
            frame = wire.encode_reply(rid, result)
        except LabdeckError as exc:
            self._reply_error(conn, rid, exc)
            return
        conn.send(frame)

    def _reply_error(self, conn: Connection, rid: wire.RequestId, exc: BaseException) -> None:
        """The error reply for ``exc``: itself when it is a LabdeckError, else logged and
        sent as ``InternalError`` (with details only in debug mode)."""
        if isinstance(exc, LabdeckError):
            conn.send(wire.encode_error(rid, exc.wire_type, exc.message))
            return
        log.error("request %r from connection %s failed", rid, conn.id, exc_info=exc)
        detail = f"{type(exc).__name__}: {exc}" if self.debug else "internal error; see the server log"
        conn.send(wire.encode_error(rid, InternalError.wire_type, detail))

    async def _simple(self, conn: Connection, req: wire.Unsub | wire.Pub | wire.Channels) -> Any:
        if isinstance(req, wire.Channels):
            return await self._channels(conn, req)
        ch = check_channel_name(req.ch)
        if isinstance(req, wire.Unsub):
            self._unsubscribe(conn, ch)
            return None
        if ch.startswith(self.reserved) and conn.client.role != "server":
            raise AccessDenied(f"channel {ch!r} is published by the server only")
        data = bytes(req.data)
        self.broker.admit(ch, len(data))
        self.messages_in[channel_group(ch)] += 1
        msg = await self.broker.publish(ch, data)
        return msg.seq

    async def _channels(self, conn: Connection, req: wire.Channels) -> object:
        """Reply with one page of the channel list, in name order, saying when it is cut."""
        every = await self.broker.channels()
        prefix, after = req.prefix, req.after
        names = sorted(n for n in every if n.startswith(prefix) and (after is None or n > after))
        page = {name: every[name] for name in names[: req.limit]}
        if len(names) > req.limit:
            conn.send(wire.encode_truncated_reply(req.id, page))
        else:
            conn.send(wire.encode_reply(req.id, page))
        return _REPLIED

    async def _sub(self, conn: Connection, req: wire.Sub) -> object:
        """Subscribe, reply, replay what was missed, then hand over to live delivery."""
        ch = check_channel_name(req.ch)
        conn.hold(ch)  # live messages wait until the replay is queued
        self.subscribers.setdefault(ch, set()).add(conn)
        conn.subs.setdefault(ch, 0)
        since = req.since
        if since is not None and req.epoch is not None and req.epoch != self.broker.epoch:
            since = 0  # the client counted in another epoch: everything here is new to it
        try:
            await self.broker.subscribe(ch)  # before the replay: nothing falls between them
            replay = await self.broker.replay(ch, since)
        except BaseException:
            conn.release(ch)
            self._unsubscribe(conn, ch)
            raise
        conn.send(wire.encode_reply(req.id, {"seq": replay.last_seq, "epoch": self.broker.epoch}))
        if replay.gap is not None:
            conn.send(wire.encode_gap(ch, *replay.gap))
        conn.replay(ch, replay.messages)
        return _REPLIED

    def _unsubscribe(self, conn: Connection, ch: str) -> None:
        conn.forget(ch)
        subs = self.subscribers.get(ch)
        if subs is not None:
            subs.discard(conn)
            if not subs:
                del self.subscribers[ch]
                self.broker.unsubscribe(ch)

    async def _object_op(self, conn: Connection, req: wire.Request) -> Any:
        objects, client = self.objects, conn.client
        if isinstance(req, wire.Get):
            return await objects.get(req.path, client)
        if isinstance(req, wire.Set):
            return await objects.set(req.path, req.value, client)
        if isinstance(req, wire.Call):
            return await objects.call(req.path, req.args, req.kwargs, client)
        if isinstance(req, wire.Del):
            return await objects.delete(req.path, client)
        if isinstance(req, wire.Dir):
            return await objects.dir(req.path, client)
        raise BadRequest(f"op {type(req).__name__.lower()!r} is not an object op")


_REPLIED = object()


def _in_flight(conn: Connection, rid: wire.RequestId, pending: asyncio.Future[Any]) -> None:
    """Hold ``rid`` as in flight on ``conn`` until ``pending`` is done (after its reply,
    whose callback was added first). Only object requests left pending here, or by a
    :class:`Later` or a future (see :meth:`Hub._answer`), can still be unanswered when
    the next frame is read: every other one is answered before :meth:`Hub.handle` returns."""
    conn.in_flight.add(rid)
    pending.add_done_callback(lambda _: conn.in_flight.discard(rid))
