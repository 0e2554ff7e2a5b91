"""The seam between the hub and whatever answers object requests (get, set, call, del, dir).

The hub decodes and checks frames; a :class:`ObjectSpace` resolves paths and acts.
Until objects are exposed, :class:`NoObjects` answers every request with ``NotFound``.
"""

from __future__ import annotations

from typing import Any, Protocol

from labdeck.exceptions import NotFound
from labdeck.types import Client

__all__ = ["NoObjects", "ObjectSpace", "Ready"]


class Ready:
    """A result an object space has already: the hub answers with it at once."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class ObjectSpace(Protocol):
    """Answers object requests for one client; raises :class:`LabdeckError` subclasses.

    An object space may also offer ``begin(request, client)``: the hub then calls it
    instead of the methods below, and answers at once when it returns a :class:`Ready`
    (no future, no task), when the future it returns is done, or from the future's
    done callback (still no task); any other awaitable runs as a task.
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
