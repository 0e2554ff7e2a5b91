"""Markers an exposed class puts on its own members.

::

    class Device:
        __labdeck_hidden__ = {"serial_port"}     # attribute form: never exposed

        @labdeck.hidden                          # decorator form
        def reset_firmware(self) -> None: ...

        @labdeck.inline                          # cheap, never blocks: runs on the event loop
        def status(self) -> dict: ...

        @labdeck.exclusive(max_wait=30)          # one call at a time, across all clients
        def calibrate(self) -> None: ...

        @labdeck.exposed(timeout=120)            # any option, in one decorator
        def acquire(self, seconds: float) -> list[float]: ...

Without a marker, a plain method runs in the object space's thread pool, an ``async``
method is awaited on the event loop, and the policy's timeout applies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar, overload

__all__ = [
    "HIDDEN_ATTR",
    "CallOptions",
    "call_options",
    "exclusive",
    "exposed",
    "hidden",
    "inline",
    "is_hidden",
    "reads",
]

F = TypeVar("F", bound=Callable[..., Any])

HIDDEN_ATTR = "__labdeck_hidden__"
"""On a function: ``True`` hides it. On a class: a collection of member names to hide."""

_OPTIONS_ATTR = "__labdeck_call__"


@dataclass(frozen=True)
class CallOptions:
    """How a method runs when a browser calls it.

    Attributes:
        inline: run on the event loop instead of the thread pool (only for methods that
            return at once; a slow inline method stalls every client).
        exclusive: ``True`` for a lock of its own, or a lock name shared by every method
            of the object space using the same name; ``False`` for no lock.
        timeout: seconds before the reply is ``Timeout``; ``None`` uses the policy's.
        max_wait: seconds an exclusive call queues before ``Busy``; ``None`` uses the policy's.
        reads: the method only reads, so whoever may ``get`` may call it (a viewer), not
            only those who may ``call``.
    """

    inline: bool = False
    reads: bool = False
    exclusive: bool | str = False
    timeout: float | None = None
    max_wait: float | None = None


DEFAULT_OPTIONS = CallOptions()


def call_options(fn: Any) -> CallOptions:
    """The options a function (or bound method) was marked with, or the defaults."""
    opts = getattr(fn, _OPTIONS_ATTR, DEFAULT_OPTIONS)
    return opts if isinstance(opts, CallOptions) else DEFAULT_OPTIONS


def _mark(fn: F, **changes: Any) -> F:
    setattr(fn, _OPTIONS_ATTR, replace(call_options(fn), **changes))
    return fn


@overload
def exposed(fn: F, /) -> F: ...
@overload
def exposed(
    *, inline: bool = ..., exclusive: bool | str = ..., timeout: float | None = ..., max_wait: float | None = ...
) -> Callable[[F], F]: ...
def exposed(fn: Any = None, /, **options: Any) -> Any:
    """Mark a method with :class:`CallOptions`; ``@exposed`` alone documents intent only."""
    if fn is not None:
        return _mark(fn)
    CallOptions(**options)  # reject unknown options where the decorator is written
    return lambda f: _mark(f, **options)


def reads(fn: F) -> F:
    """This method only reads (a status, a listing): viewers may call it, like a ``get``."""
    return _mark(fn, reads=True)


def inline(fn: F) -> F:
    """Run this method on the event loop: for methods that return in microseconds."""
    return _mark(fn, inline=True)


@overload
def exclusive(fn: F, /) -> F: ...
@overload
def exclusive(*, lock: str | None = ..., max_wait: float | None = ...) -> Callable[[F], F]: ...
def exclusive(fn: Any = None, /, *, lock: str | None = None, max_wait: float | None = None) -> Any:
    """One call at a time across all clients; others queue up to ``max_wait``, then ``Busy``.

    ``lock`` names a lock shared with other methods marked with the same name. With
    ``[broker] url`` set, the lock holds across every server process of the deployment
    (a lease with an expiry: a process that dies holding it frees it within
    ``[broker] lease_ttl``).
    """
    if fn is not None:
        return _mark(fn, exclusive=True)
    return lambda f: _mark(f, exclusive=lock or True, max_wait=max_wait)


def hidden(member: F) -> F:
    """Never expose this method (or property: decorate above ``@property``)."""
    target = member.fget if isinstance(member, property) else member
    setattr(target, HIDDEN_ATTR, True)
    return member


def is_hidden(owner: type, name: str, static: Any) -> bool:
    """Whether member ``name`` of class ``owner`` (statically ``static``) is marked hidden."""
    names = getattr(owner, HIDDEN_ATTR, ())
    if isinstance(names, (set, frozenset, list, tuple)) and name in names:
        return True
    target = static.fget if isinstance(static, property) else static
    target = getattr(target, "__func__", target)  # staticmethod / classmethod
    return getattr(target, HIDDEN_ATTR, False) is True
