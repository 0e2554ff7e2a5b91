"""A blocking wrapper around :class:`labdeck.client.Client`, for scripts and notebooks.

::

    with SyncClient("ws://127.0.0.1:8888/ws") as deck:
        deck.pub("lab/notes", {"text": "subject in scanner"})
        print(deck.call(["sample", "test_sum"], 4, 5))          # 9
        for item in deck.subscribe("run/log", since=0):         # blocks between items
            print(item)

The async client runs on an event loop in a thread of its own; every method waits for
its result. Reconnecting and resubscribing are the async client's.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator, Sequence
from typing import Any, TypeVar

from labdeck.client.aio import Client, DeckError, Subscription
from labdeck.protocol import wire

__all__ = ["SyncClient", "SyncSubscription"]

T = TypeVar("T")


class SyncSubscription:
    """A channel's items, blocking; iterate it or call :meth:`get`."""

    def __init__(self, owner: SyncClient, sub: Subscription) -> None:
        self._owner = owner
        self._sub = sub
        self.ch = sub.ch

    @property
    def epoch(self) -> str | None:
        return self._sub.epoch

    def get(self, timeout: float | None = None) -> wire.Push | wire.Gap:
        """The next item; ``TimeoutError`` after ``timeout`` seconds."""
        return self._owner._wait(self._sub.get(timeout))

    def __iter__(self) -> Iterator[wire.Push | wire.Gap]:
        while True:
            try:
                yield self.get()
            except DeckError:
                return

    def close(self) -> None:
        self._owner._wait(self._sub.close())

    def __enter__(self) -> SyncSubscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SyncClient:
    """The blocking client; takes the arguments of :class:`labdeck.client.Client`."""

    def __init__(self, url: str, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="labdeck-client", daemon=True)
        self._thread.start()
        try:
            self._client: Client = self._wait(self._make(url, options))
        except BaseException:
            self._stop_loop()
            raise

    async def _make(self, url: str, options: dict[str, Any]) -> Client:
        return await Client(url, **options).connect()

    def _wait(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    @property
    def client(self) -> Client:
        """The async client underneath (use it only from its loop's thread)."""
        return self._client

    def pub(self, ch: str, data: Any = None) -> int:
        return self._wait(self._client.pub(ch, data))

    def channels(self, prefix: str = "", after: str | None = None, limit: int = 1000) -> dict[str, int]:
        return self._wait(self._client.channels(prefix, after, limit))

    def call(self, path: Sequence[str], *args: Any, **kwargs: Any) -> Any:
        return self._wait(self._client.call(path, *args, **kwargs))

    def get(self, path: Sequence[str]) -> Any:
        return self._wait(self._client.get(path))

    def set(self, path: Sequence[str], value: Any) -> None:
        self._wait(self._client.set(path, value))

    def delete(self, path: Sequence[str]) -> None:
        self._wait(self._client.delete(path))

    def dir(self, path: Sequence[str] = ()) -> Any:
        return self._wait(self._client.dir(path))

    def subscribe(self, ch: str, *, since: int | None = None, epoch: str | None = None) -> SyncSubscription:
        return SyncSubscription(self, self._wait(self._client.subscribe(ch, since=since, epoch=epoch)))

    def close(self) -> None:
        """Close the connection and stop the client's thread."""
        if self._loop.is_closed():
            return
        try:
            self._wait(self._client.close())
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
