"""Login throttling: failed logins slow down further attempts, per user and per address.

Pure bookkeeping: no I/O, no clock of its own (every call passes ``now``), so the web layer
owns the waiting and tests own the time. The rule, for a user name and for a peer address
separately: the first ``free`` failures cost nothing; after that each attempt must wait
``base * 2 ** (failures - free - 1)`` seconds since the last failure, at most ``cap``.
The longer of the two waits applies. A success resets the user's count but not the
address's, so an attacker who owns one account cannot clear the address they guess from.
A count is forgotten ``forget`` seconds after its last failure.

Memory is bounded: past ``max_entries`` tracked keys the stalest are dropped first (an
attacker spraying names then loses throttling on the oldest names, never the server's memory).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from labdeck.auth.config import AuthConfig

__all__ = ["LoginThrottle", "Verdict"]


@dataclass(frozen=True)
class Verdict:
    """Whether to try the password now; if not, ``wait`` seconds until it would be (for ``Retry-After``)."""

    allowed: bool
    wait: float = 0.0


@dataclass
class _Count:
    failures: int
    last: float


@dataclass
class LoginThrottle:
    """Counts failures per ``("user", name)`` and ``("addr", address)``.

    Use: ``verdict = throttle.check(user, addr, now)``; if allowed, verify the password, then
    call :meth:`failed` or :meth:`succeeded`. A refused attempt is not counted as a failure
    (it never reached the password), so waiting out the delay is always enough.
    """

    free_per_user: int = 3
    free_per_address: int = 10
    base: float = 1.0
    cap: float = 300.0
    forget: float = 3600.0
    max_entries: int = 10_000
    _counts: dict[tuple[str, str], _Count] = field(default_factory=dict, repr=False)

    @classmethod
    def from_config(cls, auth: AuthConfig) -> LoginThrottle:
        """The throttle ``[auth]`` asks for (``login_free_attempts``, ``login_max_delay``)."""
        return cls(free_per_user=auth.login_free_attempts, cap=auth.login_max_delay)

    def check(self, user: str, address: str, now: float) -> Verdict:
        """Whether a login for ``user`` from ``address`` may be tried at ``now``."""
        wait = max(self._wait(("user", user), self.free_per_user, now),
                   self._wait(("addr", address), self.free_per_address, now))
        return Verdict(allowed=wait <= 0, wait=max(wait, 0.0))

    def failed(self, user: str, address: str, now: float) -> None:
        """Record a wrong password (or unknown user) for both keys."""
        for key in (("user", user), ("addr", address)):
            count = self._counts.pop(key, None)
            if count is None or now - count.last >= self.forget:
                count = _Count(0, now)
            count.failures += 1
            count.last = now
            self._counts[key] = count  # re-inserted: dict order is staleness order
        while len(self._counts) > self.max_entries:
            del self._counts[next(iter(self._counts))]

    def succeeded(self, user: str, address: str, now: float) -> None:
        """Record a successful login: the user's failures are forgiven."""
        self._counts.pop(("user", user), None)

    def delay(self, failures: int, free: int) -> float:
        """Seconds to wait after ``failures`` failures when ``free`` of them cost nothing."""
        if failures <= free:
            return 0.0
        return float(min(self.cap, self.base * 2 ** min(failures - free - 1, 64)))

    def prune(self, now: float) -> None:
        """Forget counts older than ``forget`` (the server calls this periodically)."""
        for key in [k for k, c in self._counts.items() if now - c.last >= self.forget]:
            del self._counts[key]

    def _wait(self, key: tuple[str, str], free: int, now: float) -> float:
        count = self._counts.get(key)
        if count is None or now - count.last >= self.forget:
            return 0.0
        return count.last + self.delay(count.failures, free) - now
