"""Simulated signals for the demo: a few channels that change all the time."""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from labdeck.deck import Deck

__all__ = ["DemoSignals"]


class DemoSignals:
    """Publishes ``demo/sine`` (10 Hz), ``demo/clock`` (1 Hz) and ``demo/events`` (now and then)."""

    def __init__(self, rate: float = 10.0) -> None:
        self.rate = rate
        self._task: asyncio.Task[None] | None = None

    async def start(self, deck: Deck) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(deck))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self, deck: Deck) -> None:
        rng = random.Random(7)
        t0 = time.time()
        tick = 0
        events = ("shim done", "subject settled", "trigger received", "eye tracker calibrated")
        while True:
            now = time.time() - t0
            deck.publish("demo/sine", {"t": round(now, 3), "value": round(math.sin(now) + rng.gauss(0, 0.05), 4)})
            if tick % int(self.rate) == 0:
                deck.publish("demo/clock", {"time": time.strftime("%H:%M:%S")})
            if rng.random() < 0.02:
                deck.publish("demo/events", {"event": rng.choice(events)})
            tick += 1
            await asyncio.sleep(1 / self.rate)
