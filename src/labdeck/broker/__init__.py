"""Channel fan-out between hubs: in-process by default."""

from __future__ import annotations

from labdeck.broker.base import Broker, Message, Replay
from labdeck.broker.budget import Budget
from labdeck.broker.memory import MemoryBroker

__all__ = ["Broker", "Budget", "MemoryBroker", "Message", "Replay", "open_broker"]


def open_broker(
    url: str | None,
    history: int,
    history_bytes: int = 64 << 20,
    budget: Budget | None = None,
    *,
    prefix: str = "labdeck",
) -> Broker:
    """The broker for a ``[broker] url``; ``None`` is the in-process broker.

    Raises:
        ConfigError: the URL's scheme names no broker labdeck has, or the Redis
            client library is not installed.
    """
    from labdeck.exceptions import ConfigError

    if not url or url == "memory://":
        return MemoryBroker(history, history_bytes, budget)
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme in ("redis", "rediss", "unix"):
        try:
            from labdeck.broker.redis import RedisBroker
        except ImportError:
            raise ConfigError(
                "[broker] url: a Redis broker needs the redis package: pip install 'labdeck[redis]'"
            ) from None
        return RedisBroker(url, history, history_bytes, budget, prefix=prefix)
    raise ConfigError(
        f"[broker] url {scheme + '://' if scheme else url!r}: unknown broker scheme "
        "(labdeck has: memory://, redis://, rediss://, unix://)"
    )
