"""A real UDP relay between a controller and a rig that loses, duplicates and reorders."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Hashable
from typing import Any


class LossyRelay(asyncio.DatagramProtocol):
    """Listens on a loopback port and forwards to ``target``, and answers back, badly.

    Args:
        loss: chance a datagram is dropped.
        dup: chance a datagram is sent twice.
        delay: each datagram is held up to this many seconds, so later ones overtake it.
        seed: for a reproducible run.
    """

    def __init__(self, target: tuple[str, int], *, loss: float = 0.0, dup: float = 0.0, delay: float = 0.0,
                 seed: int = 1) -> None:
        self.target, self.loss, self.dup, self.delay = target, loss, dup, delay
        self.random = random.Random(seed)
        self.client: Hashable | None = None
        self.transport: asyncio.DatagramTransport | None = None
        self.sent = 0

    @classmethod
    async def open(cls, target: tuple[str, int], **kwargs: Any) -> LossyRelay:
        loop = asyncio.get_running_loop()
        transport, relay = await loop.create_datagram_endpoint(lambda: cls(target, **kwargs),
                                                               local_addr=("127.0.0.1", 0))
        relay.transport = transport
        return relay

    @property
    def uri(self) -> str:
        assert self.transport is not None
        return f"udp://127.0.0.1:{self.transport.get_extra_info('sockname')[1]}"

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if addr == self.target:
            to = self.client
        else:
            self.client, to = addr, self.target
        if to is None or self.random.random() < self.loss:
            return
        copies = 2 if self.random.random() < self.dup else 1
        loop = asyncio.get_running_loop()
        for _ in range(copies):
            loop.call_later(self.random.random() * self.delay, self._send, data, to)

    def _send(self, data: bytes, to: Any) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.sent += 1
            self.transport.sendto(data, to)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
