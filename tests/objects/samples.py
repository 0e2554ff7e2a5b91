"""Objects the object tests expose: one of each kind of member a lab object has."""

from __future__ import annotations

import asyncio
import enum
import os
import threading
from dataclasses import dataclass, field
from typing import Any

import labdeck
from tests.helpers import scaled


class Mode(enum.Enum):
    IDLE = "idle"
    RUNNING = "running"


@dataclass
class Limits:
    low: float = 0.0
    high: float = 10.0
    _calibration: str = "factory secret"


@labdeck.observable("gain")
@dataclass
class Settings:
    """Stimulus settings."""

    gain: float = 1.0
    contrast: float = 0.5
    label: str = "default"
    enabled: bool = True


REACHED: list[str] = []
"""Every access to a member a browser must never reach, whatever happened to the object."""


class Touched:
    """Records every access to members a browser must never reach."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def add(self, name: str) -> None:
        self.names.append(name)
        REACHED.append(name)


class Sample:
    """A device-like object with every kind of member."""

    __labdeck_hidden__ = ("serial",)

    a = labdeck.observed(1, doc="A live counter.")

    def __init__(self) -> None:
        self.touched = Touched()
        self.b = "text"
        self.mode = Mode.IDLE
        self.limits = Limits()
        self.settings = Settings()
        self.table = {"x": 1, "y": [1, 2]}
        self.payload = b"\x00\x01"
        self.os = os  # a module
        self.klass = Settings  # a class
        self.append = [].append  # a bound builtin
        self.fn = _module_function  # a plain function held as an attribute
        self.release = threading.Event()
        self.started = threading.Event()
        self.calls: list[str] = []

    # -- members a browser must never reach ----------------------------------------

    @property
    def _secret(self) -> str:
        _reached(self, "_secret")
        return "secret"

    def _private(self) -> None:
        _reached(self, "_private")

    @property
    def serial(self) -> str:
        _reached(self, "serial")
        return "/dev/ttyUSB0"

    @labdeck.hidden
    def reset_firmware(self) -> None:
        _reached(self, "reset_firmware")

    # -- members a browser may use --------------------------------------------------

    @property
    def temperature(self) -> float:
        """Read-only: a property without setter."""
        return 21.5

    def test_sum(self, a: int, b: int = 0) -> int:
        """Add two integers."""
        return a + b

    def concat(self, *parts: str, sep: str = "-") -> str:
        return sep.join(parts)

    async def later(self, value: Any, delay: float = 0.0) -> Any:
        await asyncio.sleep(delay)
        return value

    def fail(self, message: str) -> None:
        raise ValueError(message)

    def exit(self) -> None:
        raise SystemExit(3)

    def give_bytes(self) -> bytes:
        return b"raw"

    def give_object(self) -> object:
        return threading.Lock()

    def slow(self) -> str:
        """Blocks its worker thread until the test releases it."""
        self.started.set()
        self.release.wait(scaled(10))
        return "done"

    @labdeck.exclusive(lock="hw", max_wait=scaled(10))
    def hold(self) -> str:
        self.calls.append("hold")
        self.started.set()
        self.release.wait(scaled(10))
        return "held"

    @labdeck.exclusive(lock="hw", max_wait=scaled(10))
    def queued(self) -> str:
        self.calls.append("queued")
        return "queued"

    @labdeck.exclusive(lock="hw", max_wait=0.05)
    def impatient(self) -> str:
        self.calls.append("impatient")
        return "impatient"

    @labdeck.exposed(timeout=0.05)
    def too_slow(self) -> str:
        self.release.wait(scaled(10))
        return "late"

    @labdeck.exposed(timeout=0.05)
    async def too_slow_async(self) -> str:
        await asyncio.sleep(scaled(10))
        return "late"

    @labdeck.inline
    def quick(self) -> str:
        return "quick"


def _reached(obj: Sample, name: str) -> None:
    REACHED.append(name)
    touched = obj.__dict__.get("touched")
    if isinstance(touched, Touched):
        touched.names.append(name)


def _module_function() -> str:
    return "called"


@dataclass
class Holder:
    """Exposed from the config file by reference."""

    value: int = 3
    items: list[int] = field(default_factory=lambda: [1, 2])


holder = Holder()
