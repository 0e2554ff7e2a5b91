"""What a rig does when asked: handler lookup and calling, and a simulated rig.

A rig's handlers are the methods (or mapping entries) named after the events:
``init(data)``, ``start(exp_ref, data)``, ``stop(data)``, ``interrupt(data)``,
``cleanup(data)``, ``status(status)``, ``info(status, data)``, ``token(base_url, token)``.
They receive the request's arguments as iblutil sends them, may be plain or ``async``
functions, and return the answer. Plain ones run in a worker thread, so a slow device
never stalls the socket; a missing one answers ``None``.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import time
from collections.abc import Mapping, Sequence
from typing import Any

from labdeck.exceptions import ConfigError
from labdeck.protocol.rig import Event

__all__ = ["SimulatedRig", "call_handler", "load_handlers"]


async def call_handler(handlers: object, event: Event, args: Sequence[Any]) -> Any:
    """Run the handler for ``event`` with ``args``; returns its answer.

    Raises:
        Exception: whatever the handler raised; the endpoint turns it into an error reply.
    """
    fn = handlers.get(event.value) if isinstance(handlers, Mapping) else getattr(handlers, event.value, None)
    if fn is None:
        return None
    if inspect.iscoroutinefunction(fn):
        return await fn(*args)
    result = await asyncio.to_thread(fn, *args)
    if inspect.isawaitable(result):
        return await result
    return result


def load_handlers(ref: str) -> object:
    """``module:attribute`` → the handlers object; a class is instantiated with no arguments.

    Raises:
        ConfigError: the module or attribute cannot be found.
    """
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"--handlers {ref!r}: expected module:attribute")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"--handlers {ref!r}: {exc}") from None
    return obj() if inspect.isclass(obj) else obj


class SimulatedRig:
    """A rig with nothing attached: it keeps its state and answers every message.

    What ``labdeck rig serve`` runs without ``--handlers``, and what the demo runs.
    """

    def __init__(self, name: str = "rig") -> None:
        self.name = name
        self.state = "connected"
        self.exp_ref: str | None = None
        self.started_at: float | None = None
        self.calls: list[str] = []

    def _did(self, what: str, state: str) -> dict[str, Any]:
        self.calls.append(what)
        self.state = state
        return {"rig": self.name, "state": state}

    def init(self, data: Any = None) -> dict[str, Any]:
        return self._did("init", "initialised")

    def start(self, exp_ref: str | None = None, data: Any = None) -> dict[str, Any]:
        self.exp_ref, self.started_at = exp_ref, time.time()
        return {**self._did("start", "running"), "exp_ref": exp_ref}

    def stop(self, data: Any = None) -> dict[str, Any]:
        return self._did("stop", "stopped")

    def interrupt(self, data: Any = None) -> dict[str, Any]:
        return self._did("interrupt", "stopped")

    def cleanup(self, data: Any = None) -> dict[str, Any]:
        self.exp_ref = None
        return self._did("cleanup", "connected")

    def status(self, status: Any = None) -> str:
        self.calls.append("status")
        return self.state

    def info(self, status: Any = None, data: Any = None) -> dict[str, Any]:
        self.calls.append("info")
        return {"rig": self.name, "state": self.state, "exp_ref": self.exp_ref, "started_at": self.started_at}

    def token(self, base_url: str | None = None, token: Any = None) -> tuple[Any, ...]:
        self.calls.append("token")
        return (base_url, token or {})
