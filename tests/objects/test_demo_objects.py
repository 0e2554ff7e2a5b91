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


async def test_the_demo_devices_power_is_checked_however_it_is_set(tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    deck = build_demo(port=0, data=str(tmp_path))
    await deck.start()
    try:
        async with WireClient(ws_url(deck)) as c:
            for value in (99, -1, "high", True):
                with pytest.raises(RequestFailed, match="power"):
                    await c.request("set", path=["device", "power_mw"], value=value)
            assert await c.request("get", path=["device", "power_mw"]) == 5.0
            await c.request("set", path=["device", "power_mw"], value=20)
            assert await c.request("get", path=["device", "power_mw"]) == 20.0
            caplog.clear()
            with pytest.raises(RequestFailed, match="between 0 and 50"):
                await c.request("call", path=["device", "set_power"], args=[51])
            refused = [r for r in caplog.records if "set_power" in r.getMessage()]
            # What the method raised is one line in the server's log, not a traceback.
            assert len(refused) == 1 and refused[0].exc_info is None and "\n" not in refused[0].getMessage()
            assert await c.request("get", path=["device", "power_mw"]) == 20.0
    finally:
        await deck.stop()
