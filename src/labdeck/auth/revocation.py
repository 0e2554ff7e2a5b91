"""Revocation that reaches every server process of a deployment at once.

Ending a login session, revoking an API token or changing a user's role closes that
identity's websockets on the process that did it; the others hear of it through a notice
on the Redis pub/sub channel ``<prefix>:control`` and close theirs too, instead of at
their next periodic sweep. ``labdeck token revoke``, ``labdeck user del`` and ``labdeck
user passwd`` send the same notice when ``[broker] url`` names Redis.

A notice carries no authority: it only makes each process look again, in the shared
store, at what its websockets stand for (sessions that still exist, with the role they
were opened with; tokens that still exist and have not expired). Anyone able to publish on Redis can therefore make the
processes re-check, never close a websocket whose session or token is still good. A
notice that is not one (too long, not the JSON below) is logged and ignored.

The notice: ``{"kind": "session"}`` or ``{"kind": "token", "name": "scanner-pc"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import msgspec

__all__ = ["MAX_NOTICE", "ControlListener", "Notice", "announce", "control_channel", "parse"]

log = logging.getLogger(__name__)

MAX_NOTICE = 1024
"""Bytes; a longer message on the control channel is not a notice."""
RETRY = 1.0
"""Seconds before listening again after Redis went away."""


class Notice(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Something was revoked: ``kind`` says what to look at again."""

    kind: Literal["session", "token"]
    name: str = ""
    """The token's name, for ``kind="token"``."""


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(Notice).decode


def control_channel(prefix: str) -> str:
    """The Redis pub/sub channel of a deployment's notices."""
    return f"{prefix}:control"


async def announce(redis: Any, prefix: str, notice: Notice) -> None:
    """Tell every process listening on ``prefix`` (a ``redis.asyncio.Redis``)."""
    await redis.publish(control_channel(prefix), _encode(notice))


def parse(raw: bytes) -> Notice | None:
    """The notice in ``raw``, or ``None`` (logged) when it is not one."""
    if len(raw) > MAX_NOTICE:
        log.warning("ignored a %d-byte message on the control channel (longer than a notice)", len(raw))
        return None
    try:
        return _decode(raw)
    except msgspec.ValidationError as exc:
        log.warning("ignored a message on the control channel that is not a notice: %s", exc)
        return None
    except msgspec.DecodeError:
        log.warning("ignored a message on the control channel that is not JSON")
        return None


class ControlListener:
    """Hands every notice on ``<prefix>:control`` to ``on_notice``, listening again after
    Redis went away (a notice sent meanwhile is missed; the periodic sweep still closes
    what it would have).

    Args:
        redis: returns the connected ``redis.asyncio.Redis``.
        prefix: the deployment's key prefix.
        on_notice: awaited for each notice, one at a time; its errors are logged.
    """

    def __init__(self, redis: Callable[[], Any], prefix: str, on_notice: Callable[[Notice], Awaitable[Any]]) -> None:
        self._redis = redis
        self._channel = control_channel(prefix)
        self._on_notice = on_notice
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()
        """Set while subscribed (tests and ``/healthz`` may wait for it)."""

    async def start(self, deck: object = None) -> None:
        self._task = asyncio.get_running_loop().create_task(self._listen())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _listen(self) -> None:
        while True:
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("control channel %s: %s; listening again in %g s", self._channel, exc, RETRY)
            self.listening.clear()
            await asyncio.sleep(RETRY)

    async def _follow(self) -> None:
        pubsub = self._redis().pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self._channel)
            self.listening.set()
            async for message in pubsub.listen():
                data = message.get("data")
                notice = parse(data) if isinstance(data, bytes) else None
                if notice is not None:
                    await self._hand_over(notice)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def _hand_over(self, notice: Notice) -> None:
        try:
            await self._on_notice(notice)
        except Exception:
            log.exception("acting on %r from the control channel failed", notice)
