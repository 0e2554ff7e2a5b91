"""What must not happen on a bad network (iblutil's own known failures), through a real
UDP relay that loses, duplicates and reorders datagrams."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from labdeck.exceptions import Timeout
from labdeck.rigs import Rig, RigEndpoint, SimulatedRig
from tests.helpers import scaled
from tests.rigs.lossy import LossyRelay


class Counting:
    def __init__(self) -> None:
        self.inits: list[Any] = []

    def init(self, data: Any = None) -> Any:
        self.inits.append(data)
        return {"n": data}


async def relayed(endpoint: RigEndpoint, **bad: Any) -> LossyRelay:
    return await LossyRelay.open(("127.0.0.1", endpoint.port), **bad)


async def test_labdeck_mode_delivers_every_message_once_through_loss_duplication_and_reordering() -> None:
    handlers = Counting()
    async with RigEndpoint("udp://127.0.0.1:0", handlers) as rig_side:
        relay = await relayed(rig_side, loss=0.2, dup=0.2, delay=0.01, seed=7)
        try:
            async with Rig(relay.uri, "lossy", timeout=scaled(10)) as rig:
                answers = await asyncio.gather(*(rig.init(n) for n in range(50)))
        finally:
            relay.close()
    assert [a["n"] for a in answers] == list(range(50))
    assert sorted(handlers.inits) == list(range(50))  # each handler ran exactly once


@pytest.mark.parametrize("mode", ["labdeck", "iblutil"])
async def test_duplicated_datagrams_never_fire_a_handler_twice_nor_start_an_echo_loop(mode: Any) -> None:
    handlers = Counting()
    async with RigEndpoint("udp://127.0.0.1:0", handlers, mode=mode) as rig_side:
        relay = await relayed(rig_side, dup=1.0)
        try:
            async with Rig(relay.uri, "dup", mode=mode, timeout=scaled(3)) as rig:
                for n in range(5):
                    assert await rig.init(n) == {"n": n}
                await asyncio.sleep(0.1)  # the last echo's copies are still on their way
                before = relay.sent
                await asyncio.sleep(0.3)
                assert relay.sent == before  # quiet once answered: no echo loop
        finally:
            relay.close()
    assert handlers.inits == list(range(5))


async def test_iblutil_mode_reports_a_lost_datagram_as_a_timeout_naming_the_rig() -> None:
    async with RigEndpoint("udp://127.0.0.1:0", SimulatedRig(), mode="iblutil") as rig_side:
        relay = await relayed(rig_side, loss=1.0)
        try:
            async with Rig(relay.uri, "behaviour", mode="iblutil", timeout=0.5) as rig:
                with pytest.raises(Timeout, match="'behaviour' did not echo INIT"):
                    await rig.init()
        finally:
            relay.close()


async def test_iblutil_mode_keeps_two_requests_in_flight_apart() -> None:
    sim = SimulatedRig()
    async with RigEndpoint("udp://127.0.0.1:0", sim, mode="iblutil") as rig_side, \
            Rig(rig_side.uri, mode="iblutil", timeout=scaled(3)) as rig:
        status, info, init = await asyncio.gather(rig.status(), rig.info(), rig.init())
    assert status == "connected" and info["rig"] == "rig" and init["state"] == "initialised"
