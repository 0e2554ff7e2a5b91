"""UDP for rig links: one datagram per message, IPv4 or IPv6.

The adapter is thin: every datagram goes to the receiver with its sender's address;
what a peer is owed (acks, echoes, resends) is decided by the endpoint or link above.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Hashable
from typing import cast

__all__ = ["Receive", "UdpWire", "open_udp"]

log = logging.getLogger(__name__)

Receive = Callable[[bytes, Hashable], None]
"""Called with each message and the peer it came from; the peer is what ``send`` takes."""


class UdpWire(asyncio.DatagramProtocol):
    """A UDP socket: ``send(data, peer)`` and every datagram to ``receive``."""

    def __init__(self, receive: Receive) -> None:
        self.receive = receive
        self.transport: asyncio.DatagramTransport | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio's: a cast, not an isinstance check
        self.transport = cast(asyncio.DatagramTransport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family == socket.AF_INET:
            # An IPv4 address is (host, port) already: the loop may call the receiver
            # itself, one Python call fewer on every datagram.
            self.datagram_received = self.receive  # type: ignore[method-assign,assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.receive(data, addr[:2])

    def error_received(self, exc: Exception) -> None:
        # An ICMP "port unreachable" for a rig that is not up yet: the resends and the
        # deadline deal with it, the socket stays usable.
        log.debug("udp: %s", exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def send(self, data: bytes, peer: Hashable) -> None:
        """Send one datagram to ``peer`` (an address, or ``None`` on a connected socket)."""
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.sendto(data, peer)  # type: ignore[arg-type]

    def write(self, data: bytes) -> None:
        """Send one datagram on a connected socket (what :meth:`send` does with no peer,
        without the call in between: the controller's path for every request)."""
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.sendto(data)

    @property
    def is_open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def open_udp(receive: Receive, *, local: tuple[str, int] | None = None,
                   remote: tuple[str, int] | None = None) -> UdpWire:
    """A UDP socket bound to ``local`` (a rig) or connected to ``remote`` (a controller)."""
    loop = asyncio.get_running_loop()
    transport, wire = await loop.create_datagram_endpoint(lambda: UdpWire(receive), local_addr=local,
                                                          remote_addr=remote)
    wire.transport = transport  # uvloop may call connection_made only on a later turn
    return wire
