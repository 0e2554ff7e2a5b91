"""The demo's exposed objects: reachable, callable, and live."""

from __future__ import annotations

from pathlib import Path

import pytest

from labdeck.demo import build_demo
from labdeck.demo.lab_objects import DemoObjects
from tests.conftest import ws_url
from tests.helpers import RequestFailed, WireClient


async def test_the_demo_exposes_a_stimulus_and_a_device(tmp_path: Path) -> None:
    deck = build_demo(port=0, data=str(tmp_path))
    for service in deck.services:
        if isinstance(service, DemoObjects):
            service.period = 0.01  # drift fast
    await deck.start()
    try:
        async with WireClient(ws_url(deck)) as c:
            names = [m["name"] for m in (await c.request("dir", path=[]))["members"]]
            assert {"stimulus", "device"} <= set(names)
            assert await c.request("call", path=["device", "test_sum"], args=[4, 5]) == 9
            done = await c.request("call", path=["device", "calibrate"], kwargs={"seconds": 0})
            assert done.startswith("calibrated at ")
            assert len(await c.request("call", path=["device", "measure"], args=[2])) == 2
            await c.request("sub", ch="obj/device/temperature")
            await c.wait_for("obj/device/temperature", 3)  # it drifts by itself
            with pytest.raises(RequestFailed, match="AccessDenied"):
                await c.request("set", path=["device", "serial_number"], value="x")
            with pytest.raises(RequestFailed, match="is not exposed"):
                await c.request("call", path=["device", "factory_reset"])
    finally:
        await deck.stop()
