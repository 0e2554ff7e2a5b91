"""The asyncio client of labdeck's wire protocol.

::

    async with Client("ws://127.0.0.1:8888/ws", token=None) as deck:
        seq = await deck.pub("lab/notes", {"text": "subject in scanner"})
        print(await deck.call(["sample", "test_sum"], 4, 5))      # 9
        async with await deck.subscribe("run/log", since=0) as feed:
            async for item in feed:        # wire.Push, or wire.Gap when history is short
                print(item)

The same semantics as the JavaScript client (``deck.js``), as the protocol page asks of
any client:

* requests are matched to replies by ``id``; a reply with ``ok: false`` raises
  :class:`DeckError` with the server's error type and message;
* after any drop (the server restarting with 1001, dropping a slow client with 1013,
  the network) it reconnects with backoff (0.25 s doubling to ``retry_max``, 5 s by
  default, with jitter, reset once a connection opens), then re-subscribes every channel with ``since`` = the last
  seq received and ``epoch`` = the epoch of its last ``sub`` reply. A subscription
  therefore yields every message once, in seq order, or a :class:`~labdeck.protocol.wire.Gap`
  for what the server no longer keeps; a new epoch (a restarted server) starts over at 1;
* requests made while the connection is down wait for it, within their timeout; those
  in flight when it drops fail with type ``Disconnected`` (they may or may not have run);
* it pings every 30 s, so a connection that died silently is noticed and replaced.

A subscription's items wait in memory until read: read them as they come.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import ssl as tls
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

from labdeck.protocol import wire

__all__ = ["Client", "DeckError", "Subscription"]

log = logging.getLogger(__name__)

Hook = Callable[[wire.Reply], None]

UNMATCHED_KEPT = 256
HEARTBEAT = 30.0
"""Seconds between the client's pings; a connection that stops answering is dropped."""

BACKOFF_FIRST = 0.25
BACKOFF_MAX = 5.0
CONNECT_TIMEOUT = 5.0
"""Seconds to open a connection and upgrade it: a server that accepts the connection but
never answers the upgrade (one stopping) must not hold the client."""


class DeckError(Exception):
    """An error reply of the server (``type`` is its error type), or one of the client's
    own: ``Timeout`` (no reply in time; the request may still have run), ``Disconnected``
    (the connection dropped after sending, or the client is closed)."""

    def __init__(self, type_: str, message: str) -> None:
        super().__init__(f"{type_}: {message}")
        self.type = type_
        self.message = message


class Subscription:
    """One channel's messages, in seq order and each once, across reconnects.

    Iterate it (``async for item in sub``) for :class:`~labdeck.protocol.wire.Push` and
    :class:`~labdeck.protocol.wire.Gap` items; ``close()`` (or leaving ``async with``)
    unsubscribes. ``seq`` and ``epoch`` are those of the latest ``sub`` reply.
    """

    def __init__(self, client: Client, ch: str, since: int | None) -> None:
        self.client = client
        self.ch = ch
        self.since = since
        self.last: int | None = since  # the last seq handed out; None: not yet counting
        self.epoch: str | None = None
        self.seq = 0
        self.closed = False
        self._items: asyncio.Queue[wire.Push | wire.Gap | None] = asyncio.Queue()

    def resume_fields(self) -> tuple[int | None, str | None]:
        """``(since, epoch)`` for the next ``sub`` of this channel."""
        return self.last, self.epoch

    def _on_reply(self, reply: wire.Reply) -> None:
        result = reply.result
        epoch = result.get("epoch") if isinstance(result, dict) else None
        if self.epoch is not None and epoch != self.epoch:
            self.last = 0  # the server's numbering restarted: its seq 1 is new to us
        elif self.last is None:
            # no since: the retained last message (if any) comes next, then live ones
            self.last = max(0, int(result.get("seq", 0)) - 1) if isinstance(result, dict) else 0
        self.epoch = epoch
        self.seq = int(result.get("seq", 0)) if isinstance(result, dict) else 0

    def _on_push(self, push: wire.Push) -> None:
        if self.last is not None and push.seq <= self.last:
            return  # seen already (possible only around a reconnect)
        self.last = push.seq
        self._items.put_nowait(push)

    def _on_gap(self, gap: wire.Gap) -> None:
        if self.last is not None and self.last >= gap.last:
            return
        self._items.put_nowait(gap)

    async def get(self, timeout: float | None = None) -> wire.Push | wire.Gap:
        """The next item; raises ``TimeoutError`` after ``timeout`` seconds, and
        :class:`DeckError` ``Disconnected`` once the subscription or client is closed."""
        item = await asyncio.wait_for(self._items.get(), timeout)
        if item is None:
            self._items.put_nowait(None)  # for every later reader too
            raise DeckError("Disconnected", f"subscription to {self.ch!r} is closed")
        return item

    def __aiter__(self) -> AsyncIterator[wire.Push | wire.Gap]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[wire.Push | wire.Gap]:
        while True:
            try:
                yield await self.get()
            except DeckError:
                return

    async def close(self) -> None:
        """Unsubscribe; iteration then ends."""
        if self.closed:
            return
        self.closed = True
        self._items.put_nowait(None)
        await self.client._unsubscribe(self)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class Client:
    """A connection to a labdeck server's websocket that survives drops (see module doc).

    Args:
        url: the websocket URL, ``ws://host:port/ws`` or ``wss://...`` (under the
            server's base path, if it has one).
        token: an API token (``labdeck token add``), sent as ``Authorization: Bearer``.
        timeout: seconds a request waits for its reply by default.
        reconnect: reconnect after a drop; without, a drop ends the client.
        headers: further headers of the upgrade request (``Origin``, for instance).
        ssl: passed to aiohttp, for a ``wss://`` server with its own CA.
        ca: a CA or self-signed certificate (PEM file) to trust for ``wss://`` beside
            the system's; instead of ``ssl``.
        retry_max: the longest pause between attempts to reconnect, in seconds.
        record: keep every push and gap notice as received, before de-duplication, in
            :attr:`received` (for checking a server; it grows without bound).
        max_frame: the largest frame accepted from the server, in bytes; a larger one
            closes the connection (1009), which then reconnects.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        reconnect: bool = True,
        headers: dict[str, str] | None = None,
        ssl: Any = True,
        ca: str | Path | None = None,
        retry_max: float = BACKOFF_MAX,
        record: bool = False,
        max_frame: int = 64 << 20,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.reconnect = reconnect
        self.retry_max = retry_max
        self.headers = dict(headers or {})
        if token is not None:
            self.headers["Authorization"] = f"Bearer {token}"
        self.ssl = tls.create_default_context(cafile=str(ca)) if ca is not None else ssl
        self.max_frame = max_frame
        self.state = "closed"
        """``connecting``, ``open``, ``reconnecting`` or ``closed``."""
        self.connection_number = 0
        """The number of the current (or last) connection: 1 for the first, one more at
        each reconnect. A caller that must act once per connection (say hello, resend)
        compares it with the number it acted under."""
        self.close_codes: list[int | None] = []
        """The close code of every drop so far (``None``: cut without a close frame)."""
        self.unmatched: deque[wire.Reply] = deque(maxlen=UNMATCHED_KEPT)
        """The latest replies no request was waiting for: ``id`` null (a frame too broken
        to read an id from, a duplicate id) or an id already answered or timed out."""
        self.received: list[wire.Push | wire.Gap] | None = [] if record else None
        self._ids = itertools.count(1)
        self._pending: dict[wire.ReplyId, asyncio.Future[wire.Reply]] = {}
        self._hooks: dict[asyncio.Future[wire.Reply], Hook] = {}
        self._subs: dict[str, Subscription] = {}
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._open = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._closing = False
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle ------------------------------------------------------------------

    async def connect(self) -> Client:
        """Open the first connection; raises ``aiohttp.ClientError``, ``OSError`` or
        ``TimeoutError`` when it cannot, after which nothing reconnects. Later drops
        reconnect."""
        self._session = aiohttp.ClientSession()
        self.state = "connecting"
        try:
            await self._dial()
        except BaseException:
            await self._session.close()
            self.state = "closed"
            raise
        self._runner = asyncio.get_running_loop().create_task(self._run())
        return self

    async def close(self) -> None:
        """Close for good: pending requests fail with ``Disconnected``, subscriptions end."""
        self._closing = True
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.close(), 5.0)
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        self._fail_pending("the client is closed")
        for sub in list(self._subs.values()):
            sub.closed = True
            sub._items.put_nowait(None)
        self._subs.clear()
        if self._session is not None:
            await self._session.close()
        self.state = "closed"

    async def __aenter__(self) -> Client:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def drop(self) -> None:
        """Cut the current connection as a network failure would; the client reconnects
        and resumes its subscriptions. For tests of exactly-once delivery."""
        ws = self._ws
        if ws is not None:
            conn = ws._response.connection
            if conn is not None and conn.transport is not None:
                conn.transport.abort()

    async def _dial(self) -> None:
        assert self._session is not None
        self._ws = await asyncio.wait_for(
            self._session.ws_connect(
                self.url, headers=self.headers, ssl=self.ssl, heartbeat=HEARTBEAT, max_msg_size=self.max_frame
            ),
            CONNECT_TIMEOUT,
        )
        self.connection_number += 1
        self.state = "open"
        self._open.set()

    async def _run(self) -> None:
        attempt = 0
        while True:
            await self._read()
            self._open.clear()
            self._fail_pending("the connection dropped")
            if self._closing or not self.reconnect:
                self.state = "closed"
                for sub in self._subs.values():
                    sub._items.put_nowait(None)
                return
            self.state = "reconnecting"
            while True:
                delay = min(self.retry_max, BACKOFF_FIRST * 2**attempt)
                await asyncio.sleep(delay * (0.5 + random.random() / 2))
                try:
                    await self._dial()
                    attempt = 0
                    break
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    attempt = min(attempt + 1, 10)
                    log.info("reconnecting to %s failed: %s", self.url, exc)
            for sub in list(self._subs.values()):
                task = asyncio.get_running_loop().create_task(self._resubscribe(sub))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _read(self) -> None:
        ws = self._ws
        assert ws is not None
        try:
            async for msg in ws:
                if msg.type is aiohttp.WSMsgType.TEXT:
                    self._dispatch(msg.data)
        except (aiohttp.ClientError, OSError):
            pass
        code = ws.close_code
        # aiohttp reports a connection cut without a close frame as 1006 (or nothing)
        self.close_codes.append(None if code in (None, 1006) else code)

    def _dispatch(self, text: str) -> None:
        try:
            message = wire.decode_server_message(text)
        except Exception as exc:
            log.warning("ignoring a frame from %s: %s", self.url, exc)
            return
        if isinstance(message, wire.Reply):
            fut = self._pending.pop(message.id, None) if message.id is not None else None
            if fut is None or fut.done():
                self.unmatched.append(message)
                return
            hook = self._hooks.pop(fut, None)
            if hook is not None and message.ok:
                hook(message)
            fut.set_result(message)
            return
        if self.received is not None:
            self.received.append(message)
        sub = self._subs.get(message.ch)
        if sub is None:
            return
        if isinstance(message, wire.Push):
            sub._on_push(message)
        else:
            sub._on_gap(message)

    def _fail_pending(self, why: str) -> None:
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(DeckError("Disconnected", why))

    # -- requests -------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """How many requests wait for their reply (the server caps it per connection:
        ``[server] max_in_flight``, past which a request gets ``TooManyInFlight``)."""
        return len(self._pending)

    async def request(
        self, req: wire.Request, *, timeout: float | None = None, on_reply: Hook | None = None
    ) -> wire.Reply:
        """Send a request (its ``id`` must be unused) and return its reply, ``ok`` or not.

        ``on_reply`` is called with the reply as soon as it is read, before any frame
        after it: a ``sub`` reply must take effect before the replay it announces.

        Raises:
            DeckError: ``Timeout`` or ``Disconnected`` (never a server error: see :meth:`send`).
            ValueError: a request of this client with the same id is still in flight.
        """
        limit = self.timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        if self._closing or self._session is None:
            raise DeckError("Disconnected", "the client is closed")
        try:
            await asyncio.wait_for(self._open.wait(), limit)
        except TimeoutError:
            raise DeckError("Timeout", f"not connected within {limit:g} s") from None
        if req.id in self._pending:
            raise ValueError(f"id {req.id!r} is already in use by a request in flight")
        fut: asyncio.Future[wire.Reply] = loop.create_future()
        self._pending[req.id] = fut
        if on_reply is not None:
            self._hooks[fut] = on_reply
        try:
            assert self._ws is not None
            await self._ws.send_frame(wire.encode_request(req), aiohttp.WSMsgType.TEXT)
            return await asyncio.wait_for(fut, max(0.0, deadline - loop.time()))
        except TimeoutError:
            raise DeckError("Timeout", f"no reply to {type(req).__name__.lower()} within {limit:g} s") from None
        except (ConnectionError, aiohttp.ClientError) as exc:
            raise DeckError("Disconnected", str(exc)) from None
        finally:
            self._hooks.pop(fut, None)
            if self._pending.get(req.id) is fut:
                del self._pending[req.id]

    async def send(self, req: wire.Request, *, timeout: float | None = None, on_reply: Hook | None = None) -> Any:
        """Send a request and return its result.

        Raises:
            DeckError: the server's error (``.type``, ``.message``), or the client's own.
        """
        reply = await self.request(req, timeout=timeout, on_reply=on_reply)
        if not reply.ok:
            assert reply.error is not None
            raise DeckError(reply.error.type, reply.error.message)
        return reply.result

    def next_id(self) -> int:
        """A fresh request id."""
        return next(self._ids)

    async def send_frame(self, text: str | bytes) -> None:
        """Send one text frame as given (a conformance check's hand-written frame)."""
        await asyncio.wait_for(self._open.wait(), self.timeout)
        assert self._ws is not None
        if isinstance(text, str):
            await self._ws.send_str(text)
        else:
            await self._ws.send_frame(text, aiohttp.WSMsgType.TEXT)

    async def expect(self, rid: wire.ReplyId, frame: str | bytes, *, timeout: float | None = None) -> wire.Reply:
        """Send a hand-written ``frame`` and return the reply carrying ``rid``."""
        fut: asyncio.Future[wire.Reply] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            await self.send_frame(frame)
            return await asyncio.wait_for(fut, self.timeout if timeout is None else timeout)
        finally:
            if self._pending.get(rid) is fut:
                del self._pending[rid]

    # -- the ops --------------------------------------------------------------------

    async def pub(self, ch: str, data: Any = None) -> int:
        """Publish ``data`` on ``ch``; returns the message's seq."""
        raw = msgspec.Raw(wire.encode_data(data))
        seq: int = await self.send(wire.Pub(self.next_id(), ch, raw))
        return seq

    async def channels(self, prefix: str = "", after: str | None = None, limit: int = 1000) -> dict[str, int]:
        """One page of the channel list, ``{name: last seq}`` in name order."""
        page: dict[str, int] = await self.send(wire.Channels(self.next_id(), prefix, after, limit))
        return page

    async def call(self, path: Sequence[str], *args: Any, **kwargs: Any) -> Any:
        """Call the exposed method at ``path``; returns what it returned."""
        return await self.send(wire.Call(self.next_id(), list(path), list(args), kwargs))

    async def get(self, path: Sequence[str]) -> Any:
        """The exposed value at ``path``."""
        return await self.send(wire.Get(self.next_id(), list(path)))

    async def set(self, path: Sequence[str], value: Any) -> None:
        """Assign ``value`` to the exposed attribute at ``path``."""
        await self.send(wire.Set(self.next_id(), list(path), value))

    async def delete(self, path: Sequence[str]) -> None:
        """Delete the exposed attribute at ``path`` (the ``del`` op)."""
        await self.send(wire.Del(self.next_id(), list(path)))

    async def dir(self, path: Sequence[str] = ()) -> Any:
        """What ``path`` exposes (``[]``: the exposed objects)."""
        return await self.send(wire.Dir(self.next_id(), list(path)))

    # -- subscriptions --------------------------------------------------------------

    async def subscribe(self, ch: str, *, since: int | None = None, epoch: str | None = None) -> Subscription:
        """Subscribe to ``ch``; returns once the server has replied.

        Without ``since`` the channel's retained last message comes first, then live
        ones; with ``since``, every kept message after that seq (with ``epoch``, the
        epoch that seq belongs to). One subscription per channel and client.

        Raises:
            ValueError: ``ch`` is already subscribed by this client.
            DeckError: the server refused (a bad channel name, a role too low).
        """
        if ch in self._subs:
            raise ValueError(f"{ch!r} is already subscribed; close that subscription first")
        sub = Subscription(self, ch, since)
        sub.epoch = epoch
        self._subs[ch] = sub
        try:
            await self.send(wire.Sub(self.next_id(), ch, since, epoch), on_reply=sub._on_reply)
        except BaseException:
            self._subs.pop(ch, None)
            raise
        return sub

    async def _resubscribe(self, sub: Subscription) -> None:
        since, epoch = sub.resume_fields()
        try:
            await self.send(wire.Sub(self.next_id(), sub.ch, since, epoch), on_reply=sub._on_reply)
        except DeckError as exc:
            if exc.type != "Disconnected":
                log.warning("re-subscribing to %s failed: %s", sub.ch, exc)

    async def _unsubscribe(self, sub: Subscription) -> None:
        if self._subs.get(sub.ch) is not sub:
            return
        del self._subs[sub.ch]
        if self.state == "open":
            with contextlib.suppress(DeckError):
                await self.send(wire.Unsub(self.next_id(), sub.ch))
