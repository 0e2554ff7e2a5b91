"""The Redis broker: channels shared by every labdeck process on one Redis.

Selected by ``[broker] url = "redis://host:6379/0"``. Keys, under ``[broker] prefix``
(``labdeck`` by default, so that several deployments can share one Redis):

``<prefix>:seq``
    hash, channel → last seq. Seqs are assigned here by one Lua script that also
    appends to the history and publishes, so they are gap-free across processes and
    the live order is the seq order.
``<prefix>:s:<channel>``
    stream, the channel's history; entry id ``<seq>-0``, fields ``d`` (the JSON data)
    and ``t`` (server time). Bounded like the in-process broker's: at most ``history``
    entries and ``history_bytes`` of data, the last entry always kept.
``<prefix>:live`` and ``<prefix>:bytes``
    hashes, channel → last seq and retained bytes, for the channels that have history.
``<prefix>:c:<channel>``
    the pub/sub channel of live messages, ``b"<seq> <t> <data>"``; a process
    subscribes only to the channels its own clients want.
``<prefix>:epoch``
    the deployment's epoch: created by the first process, kept as long as the seqs
    are; a wiped Redis gets a new one, and the broker tells the hub (see
    :meth:`~labdeck.broker.base.Broker.bind`).

Publishing is batched: every publish of one loop turn goes out in one pipeline, in
call order. Live messages pass through a :class:`~labdeck.broker.sequence.Sequencer`,
so a message lost while the pub/sub connection was broken is fetched from the stream,
and one the stream no longer holds is reported as a gap.

Outages: while Redis is unreachable, publishes wait in order (at most ``max_pending``
of them; past that the oldest server messages are dropped and counted) and go out on
reconnection; the pub/sub connection is reopened and every subscribed channel is
resynchronised from its stream. :attr:`RedisBroker.healthy` and :meth:`health` say
what the outage looks like. A batch in flight when the connection broke may be
published twice (at-least-once): a duplicate has its own seq, never a hole.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from labdeck.broker.base import Broker, Message, Replay
from labdeck.broker.budget import Budget
from labdeck.broker.locks import RedisLeases
from labdeck.broker.sequence import Sequencer

__all__ = ["RedisBroker"]

log = logging.getLogger(__name__)

_DOWN = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)

# KEYS: seq hash, live hash, bytes hash, stream, epoch
# ARGV: channel, data, t, max entries, max bytes, pub/sub channel, epoch to create
_PUBLISH = """
local epoch = redis.call('GET', KEYS[5])
if not epoch then
  epoch = ARGV[7]
  redis.call('SET', KEYS[5], epoch)
end
local ch, data = ARGV[1], ARGV[2]
local seq = redis.call('HINCRBY', KEYS[1], ch, 1)
redis.call('XADD', KEYS[4], seq .. '-0', 'd', data, 't', ARGV[3])
local bytes = tonumber(redis.call('HINCRBY', KEYS[3], ch, #data))
local n = redis.call('XLEN', KEYS[4])
local maxlen, maxbytes = tonumber(ARGV[4]), tonumber(ARGV[5])
while n > 1 and (n > maxlen or bytes > maxbytes) do
  local e = redis.call('XRANGE', KEYS[4], '-', '+', 'COUNT', 1)[1]
  redis.call('XDEL', KEYS[4], e[1])
  bytes = bytes - #e[2][2]
  n = n - 1
end
redis.call('HSET', KEYS[3], ch, bytes)
redis.call('HSET', KEYS[2], ch, seq)
redis.call('PUBLISH', ARGV[6], seq .. ' ' .. ARGV[3] .. ' ' .. data)
return {seq, bytes, epoch}
"""

# KEYS: bytes hash, stream; ARGV: channel, bytes to give up. Keeps the last entry.
_TRIM = """
local bytes = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local goal = bytes - tonumber(ARGV[2])
local n = redis.call('XLEN', KEYS[2])
while n > 1 and bytes > goal do
  local e = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)[1]
  redis.call('XDEL', KEYS[2], e[1])
  bytes = bytes - #e[2][2]
  n = n - 1
end
redis.call('HSET', KEYS[1], ARGV[1], bytes)
return bytes
"""

_Pending = tuple[str, bytes, float, "asyncio.Future[Message] | None"]


class RedisBroker(Broker):
    """Channels in Redis, shared by every process that uses the same URL and prefix.

    Args:
        url: ``redis://[user:password@]host[:port][/db]`` or ``rediss://`` for TLS.
        history: how many messages each channel keeps for replay.
        history_bytes: how many bytes of message data each channel keeps at most.
        budget: the bounds across channels, applied to what this process publishes.
        prefix: the namespace of every key and pub/sub channel.
        batch: the most publishes sent in one pipeline.
        max_pending: the most publishes held while Redis is unreachable.
    """

    def __init__(
        self,
        url: str,
        history: int = 10_000,
        history_bytes: int = 64 << 20,
        budget: Budget | None = None,
        *,
        prefix: str = "labdeck",
        batch: int = 512,
        max_pending: int = 100_000,
    ) -> None:
        super().__init__(budget)
        self.url = url
        self.prefix = prefix
        self._history = max(1, history)
        self._history_bytes = history_bytes
        self._batch = batch
        self._max_pending = max_pending
        self._seq_key, self._live_key = f"{prefix}:seq", f"{prefix}:live"
        self._bytes_key, self._epoch_key = f"{prefix}:bytes", f"{prefix}:epoch"
        self._control = f"{prefix}:control".encode()
        self._chan_prefix = f"{prefix}:c:".encode()
        self._redis: aioredis.Redis | None = None
        self._publish_sha = self._trim_sha = ""
        self._outbox: deque[_Pending] = deque()
        self._flusher: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._pubsub: Any = None
        self._seq = Sequencer()
        self._wanted: dict[str, asyncio.Future[None]] = {}
        self._confirming: dict[str, int] = {}
        self._filling: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ready: asyncio.Future[None] | None = None
        self._closing = False
        self._joined = False  # the epoch was read from Redis at least once
        self._fresh_epoch = secrets.token_hex(6)  # what a publish names the epoch if Redis was wiped
        self.healthy = False
        """Whether Redis answered the last command."""
        self.down_since: float | None = None
        self.lost_pending = 0
        """Server messages dropped because Redis stayed away past ``max_pending``."""
        self.gaps = 0
        """Seqs reported lost on the live path (history no longer held them)."""
        self.fetched = 0
        """Messages the live path missed and history supplied."""
        self.subscribe_timeout = 3.0
        """Seconds a subscription waits for Redis before it fails (an outage)."""
        self.client_name = f"{prefix}:{os.getpid()}:{secrets.token_hex(3)}"
        """How this process's connections are named in Redis's ``CLIENT LIST``."""

    def __repr__(self) -> str:
        return f"RedisBroker({self.url!r}, prefix={self.prefix!r})"

    # -- keys -------------------------------------------------------------------------

    def _stream(self, ch: str) -> str:
        return f"{self.prefix}:s:{ch}"

    def _chan(self, ch: str) -> bytes:
        return self._chan_prefix + ch.encode()

    def client(self) -> aioredis.Redis:
        """The connected Redis client, for state shared beside the channels (sessions'
        throttle, leases).

        Raises:
            RuntimeError: before :meth:`start`.
        """
        return self._r

    @property
    def _r(self) -> aioredis.Redis:
        if self._redis is None:
            raise RuntimeError("the Redis broker is not started")
        return self._redis

    # -- life cycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Connect, agree on the epoch, load the scripts, start listening.

        Raises:
            BrokerUnavailable: Redis does not answer at ``url``.
        """
        from labdeck.exceptions import BrokerUnavailable

        self._redis = aioredis.from_url(
            self.url, socket_connect_timeout=2.0, socket_keepalive=True, client_name=self.client_name
        )
        try:
            await self._prepare()
        except (*_DOWN, RedisError) as exc:
            await self._redis.aclose()
            self._redis = None
            raise BrokerUnavailable(f"[broker] url {self._safe_url()}: Redis does not answer: {exc}") from None
        self._leases = RedisLeases(self._redis, self.prefix)
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        self._listener = loop.create_task(self._listen())
        await asyncio.wait_for(asyncio.shield(self._ready), 10.0)

    async def _prepare(self) -> None:
        r = self._r
        await r.set(self._epoch_key, secrets.token_hex(6), nx=True)
        raw: Any = await r.get(self._epoch_key)
        epoch = raw.decode() if raw else self.epoch
        if self._joined and epoch != self.epoch:
            self._epoch_changed(epoch)
        self.epoch, self._joined = epoch, True
        self._publish_sha = await r.script_load(_PUBLISH)
        self._trim_sha = await r.script_load(_TRIM)
        self._up()

    def _safe_url(self) -> str:
        _, sep, tail = self.url.rpartition("@")
        return f"{self.url.split('://', 1)[0]}://***@{tail}" if sep else self.url

    async def close(self) -> None:
        """Send what is waiting (for at most a few seconds if Redis is away), then disconnect."""
        self._closing = True
        if self._flusher is not None and not self._flusher.done():
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._flusher), 5.0)
            self._flusher.cancel()
        for task in [self._listener, *self._tasks]:
            if task is not None:
                task.cancel()
        for task in [self._listener, *self._tasks]:
            if task is not None:
                with contextlib.suppress(BaseException):
                    await task
        await self._close_pubsub()
        from labdeck.exceptions import BrokerUnavailable

        while self._outbox:  # Redis stayed away: a publisher still waiting hears so
            fut = self._outbox.popleft()[3]
            if fut is not None and not fut.done():
                fut.set_exception(BrokerUnavailable("the server stopped before Redis answered again"))
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    def _up(self) -> None:
        if not self.healthy:
            if self.down_since is not None:
                log.warning("Redis at %s answers again after %.1f s", self._safe_url(), time.time() - self.down_since)
            self.healthy, self.down_since = True, None

    def _down(self, exc: BaseException) -> None:
        if self.healthy or self.down_since is None:
            log.warning("Redis at %s is unreachable (%s); retrying", self._safe_url(), exc)
            self.healthy, self.down_since = False, time.time()

    def health(self) -> dict[str, object]:
        out: dict[str, object] = {"ok": self.healthy, "kind": "redis", "pending": len(self._outbox)}
        if self.down_since is not None:
            out["down_for"] = round(time.time() - self.down_since, 1)
        if self.lost_pending:
            out["lost_while_down"] = self.lost_pending
        return out

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- publishing -------------------------------------------------------------------

    def publish_nowait(self, ch: str, data: bytes) -> None:
        self._enqueue(ch, data, None)

    async def publish(self, ch: str, data: bytes) -> Message:
        fut: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._enqueue(ch, data, fut)
        return await fut

    def _enqueue(self, ch: str, data: bytes, fut: asyncio.Future[Message] | None) -> None:
        outbox = self._outbox
        outbox.append((ch, data, time.time(), fut))
        if len(outbox) > self._max_pending:
            self._shed()
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    def _shed(self) -> None:
        """Drop the oldest fire-and-forget publish (a waiting publisher gets an error)."""
        from labdeck.exceptions import BrokerUnavailable

        ch, _, _, fut = self._outbox.popleft()
        self.lost_pending += 1
        if fut is not None and not fut.done():
            fut.set_exception(BrokerUnavailable("Redis is unreachable and too many messages wait"))
        elif self.lost_pending == 1 or self.lost_pending % 1000 == 0:
            log.error("Redis unreachable: %d messages dropped so far (last on %r)", self.lost_pending, ch)

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # let the rest of this loop turn add to the batch
        outbox, delay = self._outbox, 0.05
        while outbox:
            batch = [outbox.popleft() for _ in range(min(self._batch, len(outbox)))]
            try:
                results = await self._send(batch)
            except _DOWN as exc:
                self._down(exc)
                outbox.extendleft(reversed(batch))
                if self._closing and delay > 1.0:
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            except Exception as exc:  # Redis refused the batch itself: say so, never drop it silently
                log.exception("publishing %d messages to Redis failed", len(batch))
                results = [exc] * len(batch)
            delay = 0.05
            self._up()
            self._settle(batch, results)

    async def _send(self, batch: list[_Pending]) -> list[Any]:
        if self._redis is None:
            raise ConnectionError("the Redis broker is not connected yet")
        pipe = self._redis.pipeline(transaction=False)
        keys = (self._seq_key, self._live_key, self._bytes_key)
        sha, history, history_bytes, epoch = self._publish_sha, self._history, self._history_bytes, self._fresh_epoch
        for ch, data, t, _ in batch:
            pipe.evalsha(sha, 5, *keys, self._stream(ch), self._epoch_key,
                         ch, data, repr(t), history, history_bytes, self._chan(ch), epoch)
        results: list[Any] = await pipe.execute(raise_on_error=False)
        if any(isinstance(r, NoScriptError) for r in results):
            # Redis restarted and forgot the scripts: none of this batch ran.
            await self._prepare()
            return await self._send(batch)
        return results

    def _settle(self, batch: list[_Pending], results: list[Any]) -> None:
        for (ch, data, t, fut), result in zip(batch, results, strict=True):
            if isinstance(result, BaseException):
                log.error("publishing on %r failed in Redis: %s", ch, result)
                if fut is not None and not fut.done():
                    fut.set_exception(result)
                continue
            seq, retained, epoch = int(result[0]), int(result[1]), result[2].decode()
            if epoch != self.epoch:
                self._epoch_changed(epoch)
            msg = Message(ch, seq, t, data)
            self._account(ch, retained, t)
            if fut is not None and not fut.done():
                fut.set_result(msg)
            if seq == 1:
                self._assigned(msg)

    def _account(self, ch: str, retained: int, t: float) -> None:
        victims, excess = self.budget.stored(ch, retained, t)
        for victim in victims:
            self.drop(victim)
        if excess:
            self.budget.trimmed(ch, max(0, retained - excess))
            self._spawn(self._trim(ch, excess))

    async def _trim(self, ch: str, excess: int) -> None:
        with contextlib.suppress(*_DOWN, RedisError):
            await self._r.evalsha(self._trim_sha, 2, self._bytes_key, self._stream(ch), ch, excess)

    def drop(self, ch: str) -> None:
        self.budget.forget(ch)
        self._spawn(self._drop(ch))

    async def _drop(self, ch: str) -> None:
        pipe = self._r.pipeline(transaction=True)
        pipe.delete(self._stream(ch))
        pipe.hdel(self._live_key, ch)
        pipe.hdel(self._bytes_key, ch)
        with contextlib.suppress(*_DOWN, RedisError):
            await pipe.execute()

    def _epoch_changed(self, epoch: str) -> None:
        log.warning("Redis epoch changed (%s -> %s): its channels were wiped; clients resubscribe", self.epoch, epoch)
        self.epoch = epoch
        self._fresh_epoch = secrets.token_hex(6)
        for ch in self._seq.channels():
            self._seq.forget(ch)
            self._seq.track(ch)
            self._seq.anchor(ch, 0)
        self._reset()

    # -- reading ----------------------------------------------------------------------

    def _message(self, ch: str, seq: int, t: bytes, data: bytes) -> Message:
        return Message(ch, seq, float(t), data)

    def _entry(self, ch: str, entry: Any) -> Message:
        """A stream entry ``(b"<seq>-0", {b"d": data, b"t": time})`` as a message."""
        ident, fields = entry
        return self._message(ch, int(ident.split(b"-", 1)[0]), fields[b"t"], fields[b"d"])

    async def _ask(self, work: Awaitable[Any]) -> Any:
        """Await a read; Redis being away is :class:`BrokerUnavailable`, said at once.

        Raises:
            BrokerUnavailable: Redis does not answer (the message says so, never the password).
        """
        from labdeck.exceptions import BrokerUnavailable

        try:
            return await work
        except (*_DOWN, RedisError) as exc:
            if isinstance(exc, _DOWN):
                self._down(exc)
            raise BrokerUnavailable("the shared broker (Redis) is unreachable; try again shortly") from None

    async def replay(self, ch: str, since: int | None) -> Replay:
        pipe = self._r.pipeline(transaction=True)
        pipe.hget(self._seq_key, ch)
        stream = self._stream(ch)
        if since is None:
            pipe.xrevrange(stream, count=1)
        else:
            pipe.xrange(stream, f"{max(0, since) + 1}-0", "+")
        raw_last, entries = await self._ask(pipe.execute())
        last = int(raw_last or 0)
        messages = [self._entry(ch, e) for e in entries]
        if since is None:
            return Replay(messages, None, last)
        since = max(0, since)
        if since >= last:
            return Replay([], None, last)
        if not messages:
            return Replay([], (since + 1, last), last)
        first = messages[0].seq
        return Replay(messages, (since + 1, first - 1) if since + 1 < first else None, last)

    async def channels(self) -> dict[str, int]:
        raw: Any = await self._ask(self._r.hgetall(self._live_key))
        return {k.decode(): int(v) for k, v in raw.items()}

    async def last(self, ch: str) -> Message | None:
        entries: Any = await self._ask(self._r.xrevrange(self._stream(ch), count=1))
        return self._entry(ch, entries[0]) if entries else None

    # -- subscriptions ----------------------------------------------------------------

    async def subscribe(self, ch: str) -> None:
        """See :meth:`Broker.subscribe`.

        Raises:
            BrokerUnavailable: Redis did not confirm within ``subscribe_timeout`` seconds.
        """
        from labdeck.exceptions import BrokerUnavailable

        fut = self._wanted.get(ch)
        if fut is None:
            fut = self._wanted[ch] = asyncio.get_running_loop().create_future()
            self._seq.track(ch)
            self._spawn(self._command("subscribe", ch))
        try:
            await asyncio.wait_for(asyncio.shield(fut), self.subscribe_timeout)
        except TimeoutError:
            raise BrokerUnavailable("the shared broker (Redis) did not confirm the subscription; try again") from None

    def unsubscribe(self, ch: str) -> None:
        fut = self._wanted.pop(ch, None)
        if fut is None:
            return
        if not fut.done():
            fut.cancel()
        self._seq.forget(ch)
        self._spawn(self._command("unsubscribe", ch))

    async def _command(self, what: str, ch: str) -> None:
        """Send a (un)subscribe on the pub/sub connection; if it is broken, the listener
        subscribes to every wanted channel when it reconnects."""
        pubsub = self._pubsub
        if pubsub is None:
            return
        if what == "subscribe":
            self._confirming[ch] = self._confirming.get(ch, 0) + 1
        with contextlib.suppress(*_DOWN):
            await getattr(pubsub, what)(self._chan(ch))

    async def _close_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def _listen(self) -> None:
        delay = 0.05
        while not self._closing:
            try:
                await self._listen_once()
            except asyncio.CancelledError:
                raise
            except (*_DOWN, RedisError) as exc:
                self._down(exc)
            await self._close_pubsub()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
            with contextlib.suppress(*_DOWN, RedisError):
                await self._prepare()
                delay = 0.05

    async def _listen_once(self) -> None:
        pubsub = self._r.pubsub()
        self._pubsub = pubsub
        self._confirming = {ch: 1 for ch in self._wanted}
        await pubsub.subscribe(self._control, *(self._chan(ch) for ch in self._wanted))
        while True:
            m = await pubsub.get_message(timeout=None)
            if m is None:
                continue
            kind, chan = m["type"], m["channel"]
            if kind == "message" and chan.startswith(self._chan_prefix):
                self._live(chan[len(self._chan_prefix):].decode(), m["data"])
            elif kind == "subscribe":
                self._confirmed(chan)

    def _confirmed(self, chan: bytes) -> None:
        if chan == self._control:
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(None)
            self._up()
            return
        ch = chan[len(self._chan_prefix):].decode()
        left = self._confirming.get(ch, 1) - 1
        self._confirming[ch] = left
        if left <= 0 and ch in self._wanted:
            self._spawn(self._anchor(ch))

    async def _anchor(self, ch: str) -> None:
        """The subscription is in place: say from which seq on live messages count
        (first time), or resynchronise what passed while it was broken (reconnection)."""
        try:
            raw = await self._r.hget(self._seq_key, ch)
        except (*_DOWN, RedisError) as exc:  # Redis away or still loading its data: again shortly
            self._retry(exc, self._anchor_later, ch)
            return
        seq = int(raw or 0)
        if self._seq.last(ch) is None:
            self._hand(self._seq.anchor(ch, seq))
        else:
            self._seq.known(ch, seq)
            self._want_fill(ch)
        fut = self._wanted.get(ch)
        if fut is not None and not fut.done():
            fut.set_result(None)

    def _live(self, ch: str, payload: bytes) -> None:
        seq, t, data = payload.split(b" ", 2)
        self._hand(self._seq.accept(self._message(ch, int(seq), t, data)))
        self._want_fill(ch)

    def _hand(self, messages: list[Message]) -> None:
        deliver = self._deliver
        for msg in messages:
            deliver(msg)

    def _want_fill(self, ch: str) -> None:
        if ch not in self._filling and self._seq.hole(ch) is not None:
            self._filling.add(ch)
            self._spawn(self._fill(ch))

    async def _fill(self, ch: str) -> None:
        """Fetch the holes of ``ch`` from its stream; report what it no longer holds."""
        try:
            while (hole := self._seq.hole(ch)) is not None:
                first, last = hole
                entries: Any = await self._r.xrange(self._stream(ch), f"{first}-0", f"{last}-0")
                found = [self._entry(ch, e) for e in entries]
                if not found or found[0].seq > first:
                    lost, ready = self._seq.skip(ch, found[0].seq - 1 if found else last)
                    if lost is not None:
                        log.warning("channel %r: seqs %d..%d lost between processes and gone from history", ch, *lost)
                        self.gaps += lost[1] - lost[0] + 1
                        self._gap(ch, *lost)
                    self._hand(ready)
                self.fetched += len(found)
                for msg in found:
                    self._hand(self._seq.accept(msg))
        except (*_DOWN, RedisError) as exc:  # Redis away or still loading its data: again shortly
            self._filling.discard(ch)
            self._retry(exc, self._want_fill, ch)
        finally:
            self._filling.discard(ch)

    def _retry(self, exc: BaseException, again: Callable[[str], None], ch: str) -> None:
        """Call ``again(ch)`` in half a second, while ``ch`` is still wanted."""
        if isinstance(exc, _DOWN):
            self._down(exc)
        if not self._closing:
            asyncio.get_running_loop().call_later(0.5, self._if_wanted, again, ch)

    def _if_wanted(self, again: Callable[[str], None], ch: str) -> None:
        if ch in self._wanted and not self._closing:
            again(ch)

    def _anchor_later(self, ch: str) -> None:
        self._spawn(self._anchor(ch))
