"""TCP (and TLS) for rig links, IPv4 or IPv6, with the mode's framing.

labdeck mode frames each message with a 4-byte length; iblutil's ``ws://`` has no
framing, so each connection gets an :class:`~labdeck.protocol.rigibl.ArraySplitter`.
Each accepted connection is its own peer: a reply goes back on the connection its
request came in on, never to another client. A stream that breaks the framing is
closed.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, cast

from labdeck.exceptions import BadRequest
from labdeck.protocol.rig import FrameReader, frame
from labdeck.protocol.rigibl import ArraySplitter
from labdeck.rigs.udp import Receive

__all__ = ["IBLUTIL", "LABDECK", "Connection", "Framing", "TcpServer", "open_tcp", "serve_tcp"]

log = logging.getLogger(__name__)


class _Splitter(Protocol):
    def feed(self, data: bytes) -> list[bytes]: ...


@dataclass(frozen=True)
class Framing:
    """How messages sit in the stream: what wraps one, and what finds them again."""

    wrap: Callable[[bytes], bytes]
    reader: Callable[[], _Splitter]


LABDECK = Framing(frame, FrameReader)
IBLUTIL = Framing(lambda data: data, ArraySplitter)


class Connection(asyncio.Protocol):
    """One TCP connection: the peer of the messages that arrive on it."""

    def __init__(self, receive: Receive, framing: Framing,
                 on_close: Callable[[Connection], None] | None = None) -> None:
        self.receive, self.framing, self.on_close = receive, framing, on_close
        self.splitter = framing.reader()
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio's: a cast, not an isinstance check
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            messages = self.splitter.feed(data)
        except BadRequest as exc:
            log.warning("rig stream from %s closed: %s", self.peername, exc.message)
            self.close()
            return
        for message in messages:
            self.receive(message, self)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        if self.on_close is not None:
            self.on_close(self)

    @property
    def peername(self) -> str:
        peer = self.transport.get_extra_info("peername") if self.transport else None
        return f"{peer[0]}:{peer[1]}" if peer else "?"

    @property
    def is_open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def write(self, data: bytes) -> None:
        if self.is_open:
            assert self.transport is not None
            self.transport.write(self.framing.wrap(data))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class TcpServer:
    """A listening rig: ``send(data, connection)`` answers on that connection."""

    def __init__(self, receive: Receive, framing: Framing) -> None:
        self.receive, self.framing = receive, framing
        self.connections: set[Connection] = set()
        self.server: asyncio.Server | None = None

    def _connect(self) -> Connection:
        conn = Connection(self.receive, self.framing, self.connections.discard)
        self.connections.add(conn)
        return conn

    def send(self, data: bytes, peer: object) -> None:
        if isinstance(peer, Connection):
            peer.write(data)

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for conn in list(self.connections):
            conn.close()


async def serve_tcp(receive: Receive, framing: Framing, host: str, port: int,
                    ssl_context: ssl.SSLContext | None = None) -> TcpServer:
    """Listen on ``host:port`` (``port`` 0: any free one)."""
    server = TcpServer(receive, framing)
    loop = asyncio.get_running_loop()
    server.server = await loop.create_server(server._connect, host, port, ssl=ssl_context, reuse_address=True)
    return server


async def open_tcp(receive: Receive, framing: Framing, host: str, port: int,
                   ssl_context: ssl.SSLContext | None = None) -> Connection:
    """Connect to a rig at ``host:port``."""
    loop = asyncio.get_running_loop()
    transport, conn = await loop.create_connection(lambda: Connection(receive, framing), host, port,
                                                ssl=ssl_context,
                                                server_hostname=host if ssl_context else None)
    conn.transport = transport  # as for UDP: connection_made may come a turn later
    return conn
