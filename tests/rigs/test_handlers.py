"""How a rig's handlers run, seen on the wire: inline ones answer at once with one datagram,
plain ones in a worker thread (a slow one never stalls the rig), async ones on the loop."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from labdeck import inline
from labdeck.protocol import rig as wire
from labdeck.protocol.rig import Ack, Event, Message, Reply, Request
from labdeck.rigs import Rig, RigEndpoint
from tests.helpers import scaled, until


class Handlers:
    """One handler of each kind; each records the thread it ran on."""

    def __init__(self) -> None:
        self.threads: dict[str, int] = {}

    @inline
    def status(self, status: Any = None) -> str:
        self.threads["status"] = threading.get_ident()
        return "running"

    def init(self, data: Any = None) -> str:
        self.threads["init"] = threading.get_ident()
        time.sleep(data if isinstance(data, float) else 0)  # a slow device, in the plain handler's thread
        return "initialised"

    async def info(self, status: Any = None, data: Any = None) -> dict[str, Any]:
        self.threads["info"] = threading.get_ident()
        await asyncio.sleep(0.01)
        return {"rig": "cam"}

    @inline
    def stop(self, data: Any = None) -> None:
        raise RuntimeError("the shutter is stuck")

    def cleanup(self, data: Any = None) -> Any:
        return asyncio.sleep(0, result="clean")  # a plain function handing back an awaitable


class RawClient(asyncio.DatagramProtocol):
    """A bare UDP socket that keeps every datagram the rig sends back, decoded."""

    def __init__(self) -> None:
        self.got: list[Message] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.got.append(wire.decode(data))

    def ask(self, rid: int, event: Event, args: list[Any]) -> None:
        assert self.transport is not None
        self.transport.sendto(wire.encode(Request(rid, event, time.time(), args)))


async def raw_client(port: int) -> RawClient:
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(RawClient, remote_addr=("127.0.0.1", port))
    client.transport = transport
    return client


async def test_an_inline_handler_answers_on_the_loop_with_one_datagram_and_no_separate_ack() -> None:
    handlers = Handlers()
    async with RigEndpoint("udp://127.0.0.1:0", handlers) as rig_side:
        client = await raw_client(rig_side.port)
        try:
            client.ask(7, Event.STATUS, [0])
            await until(lambda: client.got, timeout=3, what="the answer")
            await asyncio.sleep(0.05)  # an ack, if one were coming, would be here by now
        finally:
            assert client.transport is not None
            client.transport.close()
    assert client.got == [Reply(7, ok=True, data="running")]
    assert handlers.threads["status"] == threading.get_ident()


async def test_a_plain_handler_runs_in_a_thread_and_a_slow_one_leaves_the_rig_answering() -> None:
    handlers = Handlers()
    async with RigEndpoint("udp://127.0.0.1:0", handlers) as rig_side:
        client = await raw_client(rig_side.port)
        try:
            client.ask(1, Event.INIT, [0.5])
            await until(lambda: Ack(1) in client.got, timeout=3, what="the init's ack")
            client.ask(2, Event.STATUS, [0])
            await until(lambda: any(isinstance(m, Reply) and m.id == 2 for m in client.got), timeout=3,
                        what="the status answer")
            assert not any(isinstance(m, Reply) and m.id == 1 for m in client.got)  # init still sleeping
            await until(lambda: Reply(1, ok=True, data="initialised") in client.got, timeout=5, what="init's answer")
        finally:
            assert client.transport is not None
            client.transport.close()
    assert handlers.threads["init"] != threading.get_ident()


async def test_async_inline_failing_and_awaitable_returning_handlers_all_answer() -> None:
    handlers = Handlers()
    async with RigEndpoint("udp://127.0.0.1:0", handlers) as rig_side, \
            Rig(rig_side.uri, "cam", timeout=scaled(3)) as rig:
        assert await rig.info() == {"rig": "cam"}
        assert handlers.threads["info"] == threading.get_ident()
        with pytest.raises(Exception, match="the shutter is stuck"):
            await rig.stop()
        assert await rig.cleanup() == "clean"
        assert await rig.status() == "running"  # still serving after the failure
        assert rig_side.handled == 4


async def test_iblutil_mode_runs_inline_handlers_too() -> None:
    handlers = Handlers()
    async with RigEndpoint("ws://127.0.0.1:0", handlers, mode="iblutil") as rig_side, \
            Rig(rig_side.uri, "cam", mode="iblutil", timeout=scaled(3)) as rig:
        assert await rig.status() == "running"
        with pytest.raises(Exception, match="the shutter is stuck"):
            await rig.stop()
        assert await rig.status() == "running"
