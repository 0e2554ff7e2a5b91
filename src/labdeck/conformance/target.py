"""What every conformance check stands on: the servers under test, the registry of
checks, and the few assertions they make."""

from __future__ import annotations

import asyncio
import secrets
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from labdeck.client import Client, DeckError
from labdeck.conformance.raw import RawSocket, Upgrade
from labdeck.protocol import wire

__all__ = [
    "CHECKS",
    "Check",
    "CheckFailed",
    "Registered",
    "Skipped",
    "Target",
    "alive",
    "check",
    "expect",
    "expect_error",
    "refused",
    "until",
]


class CheckFailed(AssertionError):
    """A rule of the protocol page does not hold; the message says what was seen."""


class Skipped(Exception):
    """A check that cannot run against this server (the message says why)."""


@dataclass
class Target:
    """The server (or servers sharing one broker) under test, and its settings.

    Args:
        urls: websocket URLs; with several, checks publish through one and read through
            another, and a reconnecting client moves to the next.
        token: an API token with the operator role at least (``pub`` needs it).
        history: the server's ``[server] history``: how many messages a channel keeps.
        send_queue_bytes: the server's ``[server] send_queue_bytes``.
        max_frame: the server's ``[server] max_frame``.
        max_in_flight: the server's ``[server] max_in_flight``.
        timeout: seconds any one wait may take.
        ca: a CA or self-signed certificate (PEM) to trust for ``wss://`` URLs, beside
            the system's.
        slow_call: the dotted path of an exposed method that takes no arguments and
            a quarter of a second or more, for the duplicate-id check (skipped without).
    """

    urls: list[str]
    token: str | None = None
    history: int = 10_000
    send_queue_bytes: int = 4 << 20
    max_frame: int = 1 << 20
    max_in_flight: int = 256
    timeout: float = 10.0
    ca: str | None = None
    slow_call: str | None = None
    prefix: str = field(default_factory=lambda: f"conformance/{secrets.token_hex(4)}")

    def url(self, i: int = 0) -> str:
        return self.urls[i % len(self.urls)]

    def ch(self, name: str) -> str:
        """A channel of this run only, so that runs and checks never meet."""
        return f"{self.prefix}/{name}"

    def client(self, i: int = 0, **options: Any) -> Client:
        """A :class:`labdeck.client.Client` of server ``i``; ``async with`` it."""
        options.setdefault("timeout", self.timeout)
        return Client(self.url(i), token=self.token, ssl=self.ssl_context(), **options)

    def ssl_context(self) -> ssl.SSLContext:
        """What ``wss://`` connections trust: the system's CAs, and :attr:`ca`."""
        context = ssl.create_default_context()
        if self.ca is not None:
            context.load_verify_locations(cafile=self.ca)
        return context

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def upgrade(self, *, headers: dict[str, str] | None = None, host: str | None = None,
                      rcvbuf: int | None = None) -> Upgrade:
        """An upgrade request to server 0 on a bare socket: the token's header, then ``headers``."""
        return await RawSocket.open(self.url(), headers=self.headers() | (headers or {}), host=host, rcvbuf=rcvbuf,
                                    timeout=self.timeout, context=self.ssl_context())


Check = Callable[[Target], Awaitable[None]]


@dataclass(frozen=True)
class Registered:
    name: str
    rule: str
    run: Check


CHECKS: list[Registered] = []
"""Every check in the order the report lists them."""


def check(name: str, rule: str) -> Callable[[Check], Check]:
    """Register a check: ``name`` as ``group.what``, ``rule`` the page's rule it tests."""

    def register(fn: Check) -> Check:
        CHECKS.append(Registered(name, rule, fn))
        return fn

    return register


def expect(condition: object, message: str) -> None:
    """Fail the check with ``message`` unless ``condition`` holds."""
    if not condition:
        raise CheckFailed(message)


def expect_error(reply: wire.Reply, type_: str, rid: wire.ReplyId | None) -> None:
    """``reply`` must be an error of ``type_`` echoing ``rid`` (``None``: ``id`` null)."""
    expect(not reply.ok and reply.error is not None, f"expected a {type_} error, got a result: {reply.result!r}")
    assert reply.error is not None
    expect(reply.error.type == type_, f"expected {type_}, got {reply.error.type}: {reply.error.message}")
    expect(reply.id == rid and type(reply.id) is type(rid), f"expected id {rid!r}, got {reply.id!r}")
    expect("Traceback" not in reply.error.message, "an error message carries a traceback")


async def refused(client: Client, type_: str, frame: str | bytes, rid: wire.ReplyId | None) -> None:
    """Send ``frame``; its reply must be a ``type_`` error with ``rid`` (null: read as unmatched)."""
    if rid is None:
        before = len(client.unmatched)
        await client.send_frame(frame)
        await until(lambda: len(client.unmatched) > before, client.timeout, f"a reply to {frame!r:.60}")
        expect_error(client.unmatched[before], type_, None)
    else:
        expect_error(await client.expect(rid, frame), type_, rid)
    await alive(client)


async def alive(client: Client) -> None:
    """The connection still answers after a refused frame."""
    try:
        await client.channels(limit=1)
    except DeckError as exc:
        raise CheckFailed(f"the connection stopped answering after a refused frame: {exc}") from None


async def until(predicate: Callable[[], object], timeout: float, what: str) -> None:
    """Poll ``predicate`` for at most ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise CheckFailed(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)
