"""The rig side of the ``rigs`` benchmark: ``python -m labdeck.bench.rig_side``.

One process, apart from the controller that measures, holds every rig the benchmark
talks to, each on its own ephemeral 127.0.0.1 port:

* ``labdeck-udp``, ``labdeck-tcp``: labdeck rig endpoints whose handlers are inline
  (:func:`labdeck.inline`: answered from the socket's callback, as iblutil's server
  echoes from its own), so the figure is the protocol's, not a task's or a thread's hop;
* ``udp-echo``: a bare asyncio UDP echo, the floor any UDP round trip stands on;
* ``iblutil``: iblutil's own ``EchoProtocol`` server, which echoes every message (what
  its ``confirmed_send`` waits for);
* ``group-0`` … ``group-7``: eight labdeck UDP endpoints for the group figures;
* ``loss-5``, ``loss-20``: a relay dropping 5 % and 20 % of datagrams (each way) in
  front of a labdeck UDP endpoint that records every ``init`` it handles; ``info``
  returns the record and clears it, so the controller checks each arrived once.

It writes ``{"ports": {name: port}}`` as one line on stdout, then serves until its stdin
ends or it gets SIGINT/SIGTERM (see :func:`labdeck.bench.serve.until_stopped`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import sys
from collections.abc import AsyncIterator
from functools import partial
from typing import Any, cast

from labdeck.bench.serve import until_stopped
from labdeck.eventloop import loop_factory
from labdeck.objects.markers import inline
from labdeck.rigs.endpoint import RigEndpoint

__all__ = ["GROUP_SIZE", "LOSSES", "BenchRig", "LossyRelay", "main", "rigs"]

LOSSES = (5, 20)
"""Percent of datagrams the relays drop, each way."""

GROUP_SIZE = 8


class BenchRig:
    """Handlers that answer at once and keep what each ``init`` carried."""

    def __init__(self) -> None:
        self.inits: list[Any] = []

    @inline
    def init(self, data: Any = None) -> str:
        self.inits.append(data)
        return "initialised"

    @inline
    def status(self, status: Any = None) -> str:
        return "running"

    @inline
    def info(self, status: Any = None, data: Any = None) -> list[Any]:
        """Every ``init`` payload since the last ``info``, in arrival order."""
        seen, self.inits = self.inits, []
        return seen


class _Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio's: a cast, not an isinstance check
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(data, addr)


class LossyRelay(asyncio.DatagramProtocol):
    """Forwards datagrams between one controller and ``target``, dropping ``loss`` of them."""

    def __init__(self, target: tuple[str, int], loss: float, seed: int = 1) -> None:
        self.target, self.loss = target, loss
        self.random = random.Random(seed)
        self.client: tuple[str, int] | None = None
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio's: a cast, not an isinstance check
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if addr == self.target:
            to = self.client
        else:
            self.client, to = addr, self.target
        if to is not None and self.transport is not None and self.random.random() >= self.loss:
            self.transport.sendto(data, to)


async def _udp(factory: Any) -> tuple[asyncio.DatagramTransport, int]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(factory, local_addr=("127.0.0.1", 0))
    return transport, int(transport.get_extra_info("sockname")[1])


async def _iblutil() -> tuple[Any, int] | None:
    """iblutil's EchoProtocol server on a free port, or ``None`` when iblutil is missing."""
    try:
        from iblutil.io.net.app import EchoProtocol  # type: ignore[import-untyped]
    except ImportError:
        return None
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    quiet = logging.getLogger("iblutil-bench")
    quiet.setLevel(logging.WARNING)  # iblutil logs every send at DEBUG; the figure is its protocol's
    server = await EchoProtocol.server(f"udp://127.0.0.1:{port}", name="bench", log=quiet)
    return server, port


@contextlib.asynccontextmanager
async def rigs() -> AsyncIterator[dict[str, int]]:
    """Every rig of the module docstring listening; ``{name: port}``."""
    async with contextlib.AsyncExitStack() as stack:
        ports: dict[str, int] = {}

        async def endpoint(name: str, uri: str) -> RigEndpoint:
            ep = await stack.enter_async_context(RigEndpoint(uri, BenchRig()))
            ports[name] = ep.port
            return ep

        await endpoint("labdeck-udp", "udp://127.0.0.1:0")
        await endpoint("labdeck-tcp", "tcp://127.0.0.1:0")
        for i in range(GROUP_SIZE):
            await endpoint(f"group-{i}", "udp://127.0.0.1:0")
        echo, ports["udp-echo"] = await _udp(_Echo)
        stack.callback(echo.close)
        for loss in LOSSES:
            behind = await endpoint(f"behind-{loss}", "udp://127.0.0.1:0")
            relay, ports[f"loss-{loss}"] = await _udp(partial(LossyRelay, ("127.0.0.1", behind.port), loss / 100))
            stack.callback(relay.close)
        ibl = await _iblutil()
        if ibl is not None:
            ports["iblutil"] = ibl[1]
            stack.callback(ibl[0].close)
        yield ports


async def _serve(out: Any) -> None:
    async with until_stopped() as stop, rigs() as ports:
        out.write(json.dumps({"ports": ports}) + "\n")
        out.flush()
        await stop.wait()


def main() -> int:
    """Serve the benchmark's rigs until stopped."""
    logging.basicConfig(level=logging.WARNING, format="bench rigs: %(levelname)s %(name)s: %(message)s")
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout = sys.stderr  # the handshake line is the only thing on stdout
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(_serve(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
