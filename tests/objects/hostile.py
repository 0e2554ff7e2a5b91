"""An object holding what an attacker reaches for: private keys in dicts, the process
environment, namespaces, stdlib functions, generators, look-alike names."""

from __future__ import annotations

import collections
import functools
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import labdeck

CANARY = "canary-5f3e"
"""The value of secrets below: no reply or push may ever contain it."""


@dataclass
class Keyed:
    a: int = 1
    _key: str = CANARY


class Forwarder:
    """Hands every name it lacks on to what it wraps."""

    def __init__(self, target: Any) -> None:
        self.target_name = type(target).__name__
        object.__setattr__(self, "_target", target)

    def __getattr__(self, name: str) -> Any:
        return getattr(object.__getattribute__(self, "_target"), name)


class Worker(threading.Thread):
    """A lab class with a base from the standard library."""

    def measure(self) -> int:
        return 7


def _count() -> Iterator[int]:
    yield 1


@labdeck.observable("live")
class Hostile:
    """Members an attacker would reach for."""

    def __init__(self) -> None:
        self.d = {
            "public": 1,
            "_secret": CANARY,
            "__dunder__": CANARY,
            "\uff3fwide": CANARY,  # FULLWIDTH LOW LINE: Python would read `_wide`
            "nested": {"_deep": CANARY, "ok": 2},
            "items": [{"_inlist": CANARY, "fine": 2}],
        }
        self.deep = {"l1": {"l2": {"l3": 1}}}
        self.shallow = {"l1": {"l2": 1}}
        self.keyed = Keyed()
        self.env = os.environ
        self.holder = {"env": os.environ}
        self.chain = collections.ChainMap({"x": 1})
        self.class_vars = vars(Keyed)
        self.namespace = globals()
        self.forwarder = Forwarder(os)
        self.rm = shutil.rmtree
        self.part = functools.partial(print, "x")
        self.gen = _count()
        self.worker = Worker()
        self.big = 2**70
        self.live: dict[str, Any] = {"shown": 1, "_hidden": CANARY}

    @property
    def module(self) -> Any:
        return os

    @property
    def environ(self) -> Any:
        return os.environ

    def give_env(self) -> dict[str, Any]:
        return {"env": os.environ}

    def give_private(self) -> dict[str, Any]:
        return {"ok": 1, "_token": CANARY, "inner": [{"_t": CANARY}]}

    def connect(self, host: str, _password: str = CANARY) -> str:
        return host

    def configure(self, keyed: Keyed = Keyed(), env: Any = os.environ, mode: str = "fast") -> None:  # noqa: B008
        """Defaults whose repr would show a private field and the environment."""

    def take(self, k: Keyed) -> int:
        return k.a
