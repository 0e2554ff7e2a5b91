"""The seam between the hub and whatever answers object requests (get, set, call, del, dir).

The hub decodes and checks frames; a :class:`ObjectSpace` resolves paths and acts.
Until objects are exposed, :class:`NoObjects` answers every request with ``NotFound``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Generator
from typing import Any, Protocol

from labdeck.exceptions import NotFound
from labdeck.types import Client

__all__ = ["Later", "NoObjects", "ObjectSpace", "Outcome", "Ready"]

Outcome = Callable[[Any, BaseException | None], None]
"""What :meth:`Later.then` is given: called once with ``(value, None)`` or ``(None, error)``."""


class Ready:
    """A result an object space has already: the hub answers with it at once."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class Later:
    """A result the work hands over itself, on the event loop, once (a worker thread's
    call, when the thread is done): the hub answers from the callback it gives
    :meth:`then`. Unlike a future's done callback, that runs at once, in the same loop
    turn, with no handle scheduled and no future made.

    The error is ``asyncio.CancelledError`` when the work was dropped (the server
    stopping); the hub sends no reply then. Awaiting a ``Later`` gives its value.
    """

    __slots__ = ("_outcome", "_then")

    def __init__(self) -> None:
        self._then: Outcome | None = None
        self._outcome: tuple[Any, BaseException | None] | None = None

    @property
    def settled(self) -> bool:
        return self._outcome is not None

    def then(self, callback: Outcome) -> None:
        """Call ``callback`` with the outcome: now if there is one, else once there is.
        A ``Later`` has one consumer: a second ``then`` replaces the first."""
        if self._outcome is not None:
            callback(*self._outcome)
        else:
            self._then = callback

    def settle(self, value: Any, exc: BaseException | None = None) -> bool:
        """Hand over the outcome, on the loop's thread; ``False`` if one was handed over already."""
        if self._outcome is not None:
            return False
        self._outcome = (value, exc)
        callback, self._then = self._then, None
        if callback is not None:
            callback(value, exc)
        return True

    def __await__(self) -> Generator[Any, None, Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.then(functools.partial(_resolve, future))
        future.add_done_callback(self._awaiter_done)
        return (yield from future.__await__())

    def _awaiter_done(self, future: asyncio.Future[Any]) -> None:
        if future.cancelled():  # whoever awaited went away (a timeout): what comes later is dropped
            self.settle(None, asyncio.CancelledError())


def _resolve(future: asyncio.Future[Any], value: Any, exc: BaseException | None) -> None:
    if future.done():
        return
    if isinstance(exc, asyncio.CancelledError):
        future.cancel()
    elif exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(value)


class ObjectSpace(Protocol):
    """Answers object requests for one client; raises :class:`LabdeckError` subclasses.

    An object space may also offer ``begin(request, client)``: the hub then calls it
    instead of the methods below, and answers at once when it returns a :class:`Ready`
    (no future, no task), from the callback of a :class:`Later` it returns, when the
    future it returns is done, or from the future's done callback (still no task); any
    other awaitable runs as a task.
    """

    async def get(self, path: list[str], client: Client) -> Any: ...

    async def set(self, path: list[str], value: Any, client: Client) -> Any: ...

    async def call(self, path: list[str], args: list[Any], kwargs: dict[str, Any], client: Client) -> Any: ...

    async def delete(self, path: list[str], client: Client) -> Any: ...

    async def dir(self, path: list[str], client: Client) -> Any: ...


class NoObjects:
    """The object space of a hub with nothing exposed."""

    async def _none(self, path: list[str]) -> Any:
        raise NotFound(f"no object {path[0]!r} is exposed" if path else "no objects are exposed")

    async def get(self, path: list[str], client: Client) -> Any:
        return await self._none(path)

    async def set(self, path: list[str], value: Any, client: Client) -> Any:
        return await self._none(path)

    async def call(self, path: list[str], args: list[Any], kwargs: dict[str, Any], client: Client) -> Any:
        return await self._none(path)

    async def delete(self, path: list[str], client: Client) -> Any:
        return await self._none(path)

    async def dir(self, path: list[str], client: Client) -> Any:
        return {} if not path else await self._none(path)
