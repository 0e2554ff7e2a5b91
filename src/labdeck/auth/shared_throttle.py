"""The login throttle shared by every server process of a deployment, in Redis.

The rule is :class:`~labdeck.auth.throttle.LoginThrottle`'s (its parameters and its
``delay``); only the counts live in Redis, so that an attacker whose guesses a proxy
spreads over several processes is slowed as if there were one. Each count is a hash
``<prefix>:throttle:<user|addr>:<name>`` with ``failures`` and ``last``, incremented by
one script and expiring ``forget`` seconds after its last failure. When Redis does not
answer, the process's own counts apply meanwhile (a warning is logged): logins are
never refused only because Redis is away.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from labdeck.auth.throttle import LoginThrottle, Verdict

__all__ = ["SharedThrottle"]

log = logging.getLogger(__name__)

# KEYS: count hashes; ARGV: now, forget (ms)
_FAILED = """
for _, key in ipairs(KEYS) do
  redis.call('HINCRBY', key, 'failures', 1)
  redis.call('HSET', key, 'last', ARGV[1])
  redis.call('PEXPIRE', key, ARGV[2])
end
return 1
"""


class SharedThrottle:
    """:class:`LoginThrottle`'s interface, awaited, with the counts in Redis.

    Args:
        local: the rule, and the fallback counts while Redis is away.
        redis: returns the connected ``redis.asyncio.Redis`` (the broker's).
        prefix: the deployment's key prefix.
    """

    def __init__(self, local: LoginThrottle, redis: Callable[[], Any], prefix: str) -> None:
        self.local = local
        self._redis = redis
        self._prefix = prefix

    def _keys(self, user: str, address: str) -> list[str]:
        return [f"{self._prefix}:throttle:user:{user}", f"{self._prefix}:throttle:addr:{address}"]

    async def check(self, user: str, address: str, now: float) -> Verdict:
        """Whether a login for ``user`` from ``address`` may be tried at ``now``."""
        try:
            pipe = self._redis().pipeline(transaction=False)
            for key in self._keys(user, address):
                pipe.hmget(key, "failures", "last")
            (uf, ul), (af, al) = await pipe.execute()
        except Exception as exc:
            log.warning("login throttle: Redis unreachable (%s); this process's counts apply", exc)
            return self.local.check(user, address, now)
        wait = max(self._wait(uf, ul, self.local.free_per_user, now),
                   self._wait(af, al, self.local.free_per_address, now))
        return Verdict(allowed=wait <= 0, wait=max(wait, 0.0))

    def _wait(self, failures: Any, last: Any, free: int, now: float) -> float:
        if failures is None or last is None:
            return 0.0
        return float(last) + self.local.delay(int(failures), free) - now

    async def failed(self, user: str, address: str, now: float) -> None:
        """Record a wrong password (or unknown user) for both keys."""
        self.local.failed(user, address, now)
        try:
            await self._redis().eval(_FAILED, 2, *self._keys(user, address), repr(now), int(self.local.forget * 1000))
        except Exception as exc:
            log.warning("login throttle: Redis unreachable (%s); the failure counts here only", exc)

    async def succeeded(self, user: str, address: str, now: float) -> None:
        """Record a successful login: the user's failures are forgiven everywhere."""
        self.local.succeeded(user, address, now)
        try:
            await self._redis().delete(self._keys(user, address)[0])
        except Exception as exc:
            log.warning("login throttle: Redis unreachable (%s)", exc)
