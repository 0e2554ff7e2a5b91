"""Exposed objects for the demo: stimulus settings and a simulated device.

Both appear in the dashboard's Objects panel and through ``deck.obj`` in JavaScript::

    await deck.obj.device.test_sum(4, 5)      // 9
    deck.obj.stimulus.contrast = 0.8          // every browser sees the change
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from labdeck.objects import Policy, exclusive, hidden, inline, observable, observed

if TYPE_CHECKING:
    from labdeck.deck import Deck

__all__ = ["DemoObjects", "SimulatedDevice", "StimulusSettings"]


@observable("contrast", "frequency_hz", "duration_s", "pattern", "enabled")
@dataclass
class StimulusSettings:
    """The visual stimulus the next trial shows."""

    contrast: float = 0.5
    frequency_hz: float = 4.0
    duration_s: float = 2.0
    pattern: str = "grating"
    enabled: bool = True


def _power(mw: object) -> float:
    """The output power a device accepts: a number from 0 to 50 mW."""
    if isinstance(mw, bool) or not isinstance(mw, (int, float)):
        raise TypeError(f"power is a number of mW, not {type(mw).__name__}")
    if not 0 <= mw <= 50:
        raise ValueError(f"power must be between 0 and 50 mW, not {mw}")
    return float(mw)


class SimulatedDevice:
    """A temperature-controlled light source that drifts while it runs."""

    temperature = observed(21.0, doc="Head temperature in °C; drifts over time.")
    state = observed("ready", doc="ready, calibrating or measuring.")
    # Checked however it is set (a browser's set, set_power, Python): never out of range.
    power_mw = observed(5.0, doc="Output power in mW, 0 to 50.", check=_power)

    def __init__(self) -> None:
        self.serial_number = "LD-0042"
        self.calibrated_at = "never"
        self._rng = random.Random(11)
        self._t0 = time.monotonic()

    def test_sum(self, a: float, b: float) -> float:
        """Add two numbers (a first test of calling Python from the browser)."""
        return a + b

    @inline
    def status(self) -> dict[str, object]:
        """Everything at a glance; cheap, so it runs on the event loop."""
        return {"state": self.state, "temperature": self.temperature, "power_mw": self.power_mw}

    def set_power(self, mw: float) -> float:
        """Set the output power (0 to 50 mW); returns the power now set."""
        self.power_mw = mw
        return self.power_mw

    @exclusive(max_wait=10)
    def calibrate(self, seconds: float = 2.0) -> str:
        """Calibrate the head (blocks for a while; one calibration at a time)."""
        self.state = "calibrating"
        try:
            time.sleep(max(0.0, min(seconds, 10.0)))
            self.temperature = 21.0
            self.calibrated_at = time.strftime("%H:%M:%S")
        finally:
            self.state = "ready"
        return f"calibrated at {self.calibrated_at}"

    async def measure(self, samples: int = 5) -> list[float]:
        """Read the temperature a number of times, 0.1 s apart."""
        self.state = "measuring"
        try:
            readings = []
            for _ in range(max(1, min(samples, 100))):
                readings.append(round(self.temperature, 3))
                await asyncio.sleep(0.1)
            return readings
        finally:
            self.state = "ready"

    @hidden
    def factory_reset(self) -> None:
        """Never reachable from a browser."""
        self.serial_number = "LD-0000"

    @hidden
    def drift(self) -> None:
        """One step of the temperature's slow wander (called by the demo every second)."""
        t = time.monotonic() - self._t0
        self.temperature = round(21.0 + 0.8 * math.sin(t / 20) + self._rng.gauss(0, 0.05), 3)


class DemoObjects:
    """Exposes ``stimulus`` and ``device`` and lets the device's temperature drift."""

    def __init__(self, period: float = 1.0) -> None:
        self.period = period
        self.settings = StimulusSettings()
        self.device = SimulatedDevice()
        self._task: asyncio.Task[None] | None = None

    async def start(self, deck: Deck) -> None:
        if "stimulus" not in deck.objects.exposed:  # not again when the deck restarts
            deck.expose("stimulus", self.settings)
            deck.expose("device", self.device, Policy(read_only=["serial_number", "calibrated_at"]))
        self._task = asyncio.get_running_loop().create_task(self._drift())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _drift(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            if self.device.state == "ready":
                self.device.drift()
