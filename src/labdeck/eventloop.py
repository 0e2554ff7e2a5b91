"""The event loop labdeck runs on: uvloop where it is installed, else asyncio's own.

A module of its own, importing nothing else of labdeck, so that the benchmark's bare
baseline servers can use it without loading the server they are compared with.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["loop_factory"]


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory when uvloop is installed; ``None`` (asyncio's default) otherwise."""
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory
