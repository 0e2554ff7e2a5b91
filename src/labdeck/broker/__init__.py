"""Channel fan-out between hubs: in-process by default."""

from __future__ import annotations

from labdeck.broker.base import Broker, Message, Replay
from labdeck.broker.budget import Budget
from labdeck.broker.memory import MemoryBroker

__all__ = ["Broker", "Budget", "MemoryBroker", "Message", "Replay", "open_broker"]


def open_broker(url: str | None, history: int, history_bytes: int = 64 << 20, budget: Budget | None = None) -> Broker:
    """The broker for a ``[broker] url``; ``None`` is the in-process broker.

    Raises:
        ConfigError: the URL's scheme names no broker labdeck has.
    """
    from labdeck.exceptions import ConfigError

    if not url or url == "memory://":
        return MemoryBroker(history, history_bytes, budget)
    raise ConfigError(f"[broker] url {url!r}: unknown broker scheme (labdeck has: memory://)")
