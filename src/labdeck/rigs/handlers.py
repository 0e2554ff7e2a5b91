"""What a rig does when asked: handler lookup and calling, and a simulated rig.

A rig's handlers are the methods (or mapping entries) named after the events:
``init(data)``, ``start(exp_ref, data)``, ``stop(data)``, ``interrupt(data)``,
``cleanup(data)``, ``status(status)``, ``info(status, data)``, ``token(base_url, token)``.
They receive the request's arguments as iblutil sends them, may be plain or ``async``
functions, and return the answer; a missing one answers ``None``. How each runs:

* a plain function runs in a worker thread, so a slow device never stalls the socket;
* one marked :func:`labdeck.inline` runs on the event loop, for handlers that return at
  once (a status, a flag): its answer leaves on the turn the request arrived, with no
  task, no thread and no separate acknowledgement;
* an ``async`` function runs in a task on the event loop (on Python 3.12 and later
  started eagerly, so that one which never waits answers on the same turn too).
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib
import inspect
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import Any

from labdeck.exceptions import ConfigError
from labdeck.objects.markers import call_options, inline

__all__ = ["PLAIN_ANSWERS", "Done", "Lookup", "SimulatedRig", "follow", "handler_lookup", "is_answer", "load_handlers",
           "start_handler"]

Done = Callable[[Any, "Exception | None"], None]
"""Told how a handler ended: ``done(answer, None)``, or ``done(None, error)``."""

Lookup = Callable[[str, None], "Callable[..., Any] | None"]
"""Finds an event's handler: ``lookup(event, None)``, ``None`` for a missing one."""

_EAGER = sys.version_info >= (3, 12)
PLAIN_ANSWERS = frozenset({str, int, float, bool, dict, list, tuple, type(None)})
"""Answers known not to be awaitable without asking (``inspect.isawaitable`` is not free)."""
_PLAIN = PLAIN_ANSWERS


def handler_lookup(handlers: object) -> Lookup:
    """How to find an event's handler in ``handlers``: a mapping's entry or an object's
    attribute, by the event's name (an :class:`Event` is the str of its name).

    The caller passes the default itself, ``lookup(event, None)``: so both kinds are one
    call in C (``Mapping.get``, ``getattr``) with no Python frame per request.
    """
    if isinstance(handlers, Mapping):
        return handlers.get
    return partial(getattr, handlers)


def is_answer(result: Any) -> bool:
    """Whether a handler's return value is its answer, not an awaitable of it."""
    return type(result) in _PLAIN or not inspect.isawaitable(result)


def follow(answer: Awaitable[Any], done: Done) -> asyncio.Future[Any] | None:
    """Await the answer a plain handler handed back (see :func:`start_handler`'s Returns)."""
    return _task(answer, done)


def start_handler(fn: Callable[..., Any] | None, args: Sequence[Any], done: Done) -> asyncio.Future[Any] | None:
    """Start the handler ``fn`` (``None``: no handler, the answer is ``None``); ``done``
    hears how it ended, exactly once.

    Returns:
        ``None`` when it has ended already (``done`` was called before returning: an
        inline or missing handler, or an eager task that never waited); else the task
        or worker-thread future still running, for the caller to cancel on closing.
    """
    if fn is None:
        done(None, None)
        return None
    if call_options(fn).inline:
        try:
            result = fn(*args)
        except Exception as exc:
            done(None, exc)
            return None
        return _finish(result, done)
    if inspect.iscoroutinefunction(fn):
        return _task(fn(*args), done)
    loop = asyncio.get_running_loop()
    thread = loop.run_in_executor(None, contextvars.copy_context().run, fn, *args)
    thread.add_done_callback(lambda f: _thread_ended(f, done))
    return thread


def _finish(result: Any, done: Done) -> asyncio.Future[Any] | None:
    """A plain handler returned ``result``: the answer, or an awaitable of it."""
    if is_answer(result):
        done(result, None)
        return None
    return _task(result, done)


def _task(answer: Awaitable[Any], done: Done) -> asyncio.Future[Any] | None:
    """Await ``answer`` in a task that calls ``done`` itself: in its own step, so before
    anything the caller schedules next (the endpoint's acknowledgement)."""
    loop = asyncio.get_running_loop()
    coro = _reporting(answer, done)
    task = asyncio.Task(coro, loop=loop, eager_start=True) if _EAGER else loop.create_task(coro)  # type: ignore[call-arg,unused-ignore]
    return None if task.done() else task


async def _reporting(answer: Awaitable[Any], done: Done) -> None:
    try:
        result = await answer
    except Exception as exc:
        done(None, exc)
    else:
        done(result, None)


def _thread_ended(thread: asyncio.Future[Any], done: Done) -> None:
    if thread.cancelled():
        return  # the endpoint is closing: nobody is left to answer
    exc = thread.exception()
    if exc is None:
        _finish(thread.result(), done)
    elif isinstance(exc, Exception):
        done(None, exc)
    else:
        raise exc


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
    """A rig with nothing attached: it keeps its state and answers every message at once
    (its handlers are inline).

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

    @inline
    def init(self, data: Any = None) -> dict[str, Any]:
        return self._did("init", "initialised")

    @inline
    def start(self, exp_ref: str | None = None, data: Any = None) -> dict[str, Any]:
        self.exp_ref, self.started_at = exp_ref, time.time()
        return {**self._did("start", "running"), "exp_ref": exp_ref}

    @inline
    def stop(self, data: Any = None) -> dict[str, Any]:
        return self._did("stop", "stopped")

    @inline
    def interrupt(self, data: Any = None) -> dict[str, Any]:
        return self._did("interrupt", "stopped")

    @inline
    def cleanup(self, data: Any = None) -> dict[str, Any]:
        self.exp_ref = None
        return self._did("cleanup", "connected")

    @inline
    def status(self, status: Any = None) -> str:
        self.calls.append("status")
        return self.state

    @inline
    def info(self, status: Any = None, data: Any = None) -> dict[str, Any]:
        self.calls.append("info")
        return {"rig": self.name, "state": self.state, "exp_ref": self.exp_ref, "started_at": self.started_at}

    @inline
    def token(self, base_url: str | None = None, token: Any = None) -> tuple[Any, ...]:
        self.calls.append("token")
        return (base_url, token or {})
