"""Leases: locks that one server process holds for a while, across every process sharing a broker.

A lease has a name (``runner``), a holder (who, for the ``Busy`` message another
process shows), an expiry, and a *fence*: a number that grows with every grant of that
name, so that work done under an older lease can be told from work under a newer one
(a holder that stalled past its expiry and came back holds a smaller fence than the one
that took over). The holder renews the lease in the background; a process that dies,
SIGKILL included, stops renewing, and the lease expires ``ttl`` seconds later at most:
a dead process holds nothing for long. A holder whose renewal finds the lease gone (it
stalled past the expiry, or could not reach the broker for ``ttl``) hears of it through
:attr:`Lease.on_lost`; what it wrote under the lease meanwhile is told apart by the
fence, which the store checks (:mod:`labdeck.broker.fences`).

Another process may *signal* the holder (:meth:`Leases.signal`, e.g. ``"stop"`` for the
runner's lease): the word waits beside the lease and reaches the holder's ``on_signal``
at its next renewal, within a second.

:class:`LocalLeases` keeps leases in this process (the in-process broker's; one server
is the only holder there is). :class:`RedisLeases` keeps them in Redis: ``SET NX PX``
with a random token, the fence from ``INCR``, renewal and release by Lua scripts that
act only if the token is still the holder's.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Lease", "Leases", "LocalLeases", "RedisLeases"]

log = logging.getLogger(__name__)


class Lease:
    """A held lease; :meth:`release` it when done. ``lost`` is set if renewing failed
    and the lease may have passed to another process."""

    def __init__(self, leases: Leases, name: str, token: str, fence: int, ttl: float) -> None:
        self.leases = leases
        self.name = name
        self.token = token
        self.fence = fence
        self.ttl = ttl
        self.lost = False
        self.on_signal: Callable[[str], None] = lambda word: None
        """Called with what another process signalled (:meth:`Leases.signal`)."""
        self.on_lost: Callable[[], None] = lambda: None
        """Called once when renewing found the lease gone (or could not reach the broker
        for ``ttl``): whatever the holder does under it must stop."""
        self._renewer: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"Lease({self.name!r}, fence={self.fence}{', lost' if self.lost else ''})"

    def keep(self) -> None:
        """Renew in the background (every third of ``ttl``, at least every second) until released."""
        if self._renewer is None:
            self._renewer = asyncio.get_running_loop().create_task(self._renew())

    async def _renew(self) -> None:
        renewed = time.monotonic()
        while True:
            await asyncio.sleep(min(self.ttl / 3, 1.0))
            try:
                held, word = await self.leases._renew(self)
            except Exception as exc:  # Redis away: keep trying until the lease would have expired
                log.warning("renewing lease %r failed: %s", self.name, exc)
                held, word = time.monotonic() - renewed < self.ttl, None
            else:
                renewed = time.monotonic()
            if word is not None:
                self.on_signal(word)
            if not held:
                self.lost = True
                log.error("lease %r (fence %d) expired and may be held elsewhere", self.name, self.fence)
                self.on_lost()
                return

    async def release(self) -> None:
        """Give the lease up (at once, not at expiry); a second call does nothing."""
        renewer, self._renewer = self._renewer, None
        if renewer is not None:
            renewer.cancel()
        with contextlib.suppress(Exception):
            await self.leases._release(self)  # first: the lease is free as soon as it can be
        if renewer is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await renewer


class Leases(abc.ABC):
    """Grants leases by name."""

    @abc.abstractmethod
    async def acquire(self, name: str, holder: str, ttl: float = 15.0) -> Lease | None:
        """The lease ``name`` for ``holder``, kept renewed; ``None`` if someone else holds it."""

    @abc.abstractmethod
    async def holder(self, name: str) -> str | None:
        """Who holds ``name`` now, as they said when acquiring it; ``None`` when free."""

    @abc.abstractmethod
    async def signal(self, name: str, word: str) -> bool:
        """Leave ``word`` for the holder of ``name``; ``False`` when nobody holds it."""

    @abc.abstractmethod
    async def raise_fence(self, name: str, at_least: int) -> None:
        """Make the next grant of ``name`` carry a fence above ``at_least`` (see
        :mod:`labdeck.broker.fences`: the store remembers fences the counter forgot)."""

    @abc.abstractmethod
    async def _renew(self, lease: Lease) -> tuple[bool, str | None]:
        """Extend ``lease``; whether it was still held, and a word signalled meanwhile."""

    @abc.abstractmethod
    async def _release(self, lease: Lease) -> None: ...


class LocalLeases(Leases):
    """Leases in this process."""

    def __init__(self) -> None:
        self._held: dict[str, tuple[str, str, float]] = {}  # name -> token, holder, expiry
        self._fences: dict[str, int] = {}
        self._words: dict[str, str] = {}

    def _current(self, name: str) -> tuple[str, str, float] | None:
        held = self._held.get(name)
        if held is not None and held[2] <= time.monotonic():
            del self._held[name]
            return None
        return held

    async def acquire(self, name: str, holder: str, ttl: float = 15.0) -> Lease | None:
        if self._current(name) is not None:
            return None
        token = secrets.token_hex(8)
        fence = self._fences[name] = self._fences.get(name, 0) + 1
        self._held[name] = (token, holder, time.monotonic() + ttl)
        lease = Lease(self, name, token, fence, ttl)
        lease.keep()
        return lease

    async def holder(self, name: str) -> str | None:
        held = self._current(name)
        return None if held is None else held[1]

    async def signal(self, name: str, word: str) -> bool:
        if self._current(name) is None:
            return False
        self._words[name] = word
        return True

    async def raise_fence(self, name: str, at_least: int) -> None:
        self._fences[name] = max(self._fences.get(name, 0), at_least)

    async def _renew(self, lease: Lease) -> tuple[bool, str | None]:
        held = self._current(lease.name)
        if held is None or held[0] != lease.token:
            return False, None
        self._held[lease.name] = (held[0], held[1], time.monotonic() + lease.ttl)
        return True, self._words.pop(lease.name, None)

    async def _release(self, lease: Lease) -> None:
        held = self._held.get(lease.name)
        if held is not None and held[0] == lease.token:
            del self._held[lease.name]


# KEYS: lease key, fence key; ARGV: token, holder, ttl ms. Returns the fence, or nil if held.
_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. ARGV[2], 'NX', 'PX', ARGV[3]) then
  return redis.call('INCR', KEYS[2])
end
return false
"""

# KEYS: lease key, signal key; ARGV: token, ttl ms (0 = release).
# Returns {1, signalled word or false} if the token held the lease, {0, false} if not.
_RENEW = """
local v = redis.call('GET', KEYS[1])
if not v or string.sub(v, 1, #ARGV[1] + 1) ~= ARGV[1] .. ' ' then return {0, false} end
if ARGV[2] == '0' then
  redis.call('DEL', KEYS[1], KEYS[2])
  return {1, false}
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local word = redis.call('GET', KEYS[2])
if word then redis.call('DEL', KEYS[2]) end
return {1, word}
"""

# KEYS: lease key, signal key; ARGV: word, ttl ms. 1 if the lease is held.
_SIGNAL = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return 1
"""


# KEYS: fence key; ARGV: the least value it may hold.
_RAISE = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
"""


class RedisLeases(Leases):
    """Leases in Redis under ``<prefix>:lease:<name>``, fences under ``<prefix>:fence:<name>``.

    Args:
        redis: a connected ``redis.asyncio.Redis``.
        prefix: the deployment's key prefix (``[broker] prefix``).
    """

    def __init__(self, redis: Any, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    def _key(self, name: str) -> str:
        return f"{self._prefix}:lease:{name}"

    async def acquire(self, name: str, holder: str, ttl: float = 15.0) -> Lease | None:
        token = secrets.token_hex(8)
        fence = await self._redis.eval(_ACQUIRE, 2, self._key(name), f"{self._prefix}:fence:{name}",
                                       token, holder, int(ttl * 1000))
        if fence is None:
            return None
        lease = Lease(self, name, token, int(fence), ttl)
        lease.keep()
        return lease

    async def holder(self, name: str) -> str | None:
        raw = await self._redis.get(self._key(name))
        return None if raw is None else raw.decode().split(" ", 1)[1]

    async def signal(self, name: str, word: str) -> bool:
        key = self._key(name)
        return bool(await self._redis.eval(_SIGNAL, 2, key, key + ":signal", word, 60_000))

    async def raise_fence(self, name: str, at_least: int) -> None:
        await self._redis.eval(_RAISE, 1, f"{self._prefix}:fence:{name}", at_least)

    async def _renew(self, lease: Lease) -> tuple[bool, str | None]:
        key = self._key(lease.name)
        held, word = await self._redis.eval(_RENEW, 2, key, key + ":signal", lease.token, int(lease.ttl * 1000))
        return bool(held), word.decode() if word else None

    async def _release(self, lease: Lease) -> None:
        key = self._key(lease.name)
        await self._redis.eval(_RENEW, 2, key, key + ":signal", lease.token, "0")
