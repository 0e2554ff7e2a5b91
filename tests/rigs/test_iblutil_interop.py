"""Interoperability with iblutil 1.20 from PyPI, on loopback, over UDP and its ws (TCP):
a labdeck group drives rigs run with iblutil's EchoProtocol, and iblutil's Services
drive labdeck rig endpoints in iblutil mode."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from labdeck.rigs import Rig, RigEndpoint, RigGroup, SimulatedRig
from tests.helpers import free_port, scaled

app = pytest.importorskip("iblutil.io.net.app")
base = pytest.importorskip("iblutil.io.net.base")

SCHEMES = ["udp", "ws"]
quiet = logging.getLogger("iblutil-under-test")


async def iblutil_rig(scheme: str) -> Any:
    """An iblutil EchoProtocol server that answers every event like an iblrig does."""
    kind = socket.SOCK_DGRAM if scheme == "udp" else socket.SOCK_STREAM
    server = await app.EchoProtocol.server(f"{scheme}://127.0.0.1:{free_port(kind)}", name="ibl", log=quiet)
    seen: list[str] = []
    server.seen = seen
    tasks: set[asyncio.Task[Any]] = set()

    def answer(event: Any, reply: Any) -> Any:
        def callback(data: list[Any], addr: tuple[str, int]) -> None:
            seen.append(event.name)
            task = asyncio.ensure_future(server.confirmed_send([int(event), *reply(data)], addr=addr))
            tasks.add(task)

        return callback

    E = base.ExpMessage
    server.assign_callback(E.EXPINIT, answer(E.EXPINIT, lambda d: [{"initialised": d[0]}]))
    server.assign_callback(E.EXPSTART, answer(E.EXPSTART, lambda d: [d[0]]))
    server.assign_callback(E.EXPEND, answer(E.EXPEND, lambda d: [None]))
    server.assign_callback(E.EXPINTERRUPT, answer(E.EXPINTERRUPT, lambda d: ["interrupted"]))
    server.assign_callback(E.EXPCLEANUP, answer(E.EXPCLEANUP, lambda d: [None]))
    server.assign_callback(E.EXPSTATUS, answer(E.EXPSTATUS, lambda d: [int(base.ExpStatus.RUNNING)]))
    server.assign_callback(E.EXPINFO, answer(E.EXPINFO, lambda d: [int(base.ExpStatus.RUNNING), {"rig": "ibl"}]))
    server.assign_callback(E.ALYX, answer(E.ALYX, lambda d: ["https://alyx.example", {"me": "token"}]))
    return server


@pytest.fixture(params=SCHEMES)
async def ibl_server(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    server = await iblutil_rig(request.param)
    try:
        yield server
    finally:
        server.close()
        if server.Server is not None:
            server.Server.close()
            await server.Server.wait_closed()


async def test_a_labdeck_group_drives_an_iblutil_rig(ibl_server: Any) -> None:
    rig = Rig(ibl_server.server_uri, "ibl", mode="iblutil", timeout=scaled(3))
    group = RigGroup([rig])
    try:
        assert await group.init({"subject": "algernon"}) == {"ibl": {"initialised": {"subject": "algernon"}}}
        assert await group.start("2026-12-02_1_algernon") == {"ibl": "2026-12-02_1_algernon"}
        assert await group.status() == {"ibl": 20}
        assert await group.info() == {"ibl": [20, {"rig": "ibl"}]}
        assert await rig.alyx() == ["https://alyx.example", {"me": "token"}]
        assert await group.stop() == {"ibl": None}
        assert await group.stop(immediately=True) == {"ibl": "interrupted"}
        assert await group.cleanup() == {"ibl": None}
    finally:
        await group.close()
    assert ibl_server.seen == ["EXPINIT", "EXPSTART", "EXPSTATUS", "EXPINFO", "ALYX", "EXPEND", "EXPINTERRUPT",
                               "EXPCLEANUP"]


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_iblutil_services_drive_a_labdeck_rig(scheme: str) -> None:
    sim = SimulatedRig("camera")
    async with RigEndpoint(f"{scheme}://127.0.0.1:0", sim, mode="iblutil") as rig_side:
        com = await app.EchoProtocol.client(rig_side.uri, name="camera", log=quiet)
        services = app.Services([com], timeout=scaled(3))
        try:
            init = await services.init({"subject": "algernon"})
            assert init == {"camera": [{"rig": "camera", "state": "initialised"}]}
            start = await services.start("2026-12-02_1_algernon")
            assert start["camera"][0]["exp_ref"] == "2026-12-02_1_algernon"
            assert await services.status(base.ExpStatus.RUNNING) == {"camera": ["running"]}
            info = await services.info(base.ExpStatus.RUNNING, {"ask": 1})
            assert info["camera"][0]["exp_ref"] == "2026-12-02_1_algernon"
            assert (await services.stop())["camera"][0]["state"] == "stopped"
            assert (await services.stop(immediately=True))["camera"][0]["state"] == "stopped"
            assert (await services.cleanup())["camera"][0]["state"] == "connected"
            token = await com.alyx(None)
            assert token == [None, {}]
        finally:
            services.close()
    assert sim.calls == ["init", "start", "status", "info", "stop", "interrupt", "cleanup", "token"]


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_an_error_in_a_labdeck_handler_reaches_iblutil_as_its_error_message(scheme: str) -> None:
    class Broken:
        def init(self, data: Any = None) -> None:
            raise RuntimeError("camera missing")

    async with RigEndpoint(f"{scheme}://127.0.0.1:0", Broken(), mode="iblutil") as rig_side:
        com = await app.EchoProtocol.client(rig_side.uri, name="camera", log=quiet)
        errors: list[Any] = []
        com.assign_callback(0, lambda data, addr: errors.append(data))
        try:
            await com.init()
            for _ in range(100):
                if errors:
                    break
                await asyncio.sleep(0.01)
        finally:
            com.close()
    assert errors == [["Err: camera missing", 1]]
