"""``labdeck.compat.iblutil`` method by method, each against iblutil 1.20 itself on loopback."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from labdeck.compat.iblutil import EchoProtocol, ExpStatus, Services
from tests.helpers import scaled, until

app = pytest.importorskip("iblutil.io.net.app")
QUIET = logging.getLogger("iblutil-under-test")


def free_udp() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return f"udp://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture
async def ibl_rig() -> AsyncIterator[Any]:
    """iblutil's own rig side, recording every message it gets."""
    server = await app.EchoProtocol.server(free_udp(), name="ibl", log=QUIET)
    server.got = []
    for event in ("EXPINIT", "EXPSTATUS"):
        server.assign_callback(event, lambda data, addr, e=event: server.got.append((e, data, addr)))
    yield server
    server.close()


async def test_a_send_returns_once_echoed_and_the_answer_comes_to_on_event_and_callbacks(ibl_rig: Any) -> None:
    com = await EchoProtocol.client(ibl_rig.server_uri, name="cam")
    try:
        assert com.is_connected and not com.awaiting_response()
        assert com.default_echo_timeout == 1.0
        seen: list[Any] = []
        com.assign_callback("EXPINIT", lambda data, addr: seen.append(data))
        await com.init({"subject": "algernon"})  # echoed: back at once, as iblutil's
        await until(lambda: ibl_rig.got, timeout=3, what="the rig's callback")
        (_, data, addr) = ibl_rig.got[0]
        assert data == [{"subject": "algernon"}]
        await ibl_rig.init({"ready": True}, addr=addr)  # the rig answers, iblutil style
        await until(lambda: seen, timeout=3, what="the answer at the controller")
        assert seen == [[{"ready": True}]]
        assert com.clear_callbacks("EXPINIT") == 1

        await com.confirmed_send([32, int(ExpStatus.RUNNING)])
        await until(lambda: len(ibl_rig.got) == 2, timeout=3, what="the status")
        assert ibl_rig.got[1][:2] == ("EXPSTATUS", [20])
        await ibl_rig.status(ExpStatus.STOPPED.value, addr=ibl_rig.got[1][2])
        assert (await asyncio.wait_for(com.on_event("EXPSTATUS"), scaled(3)))[0] == [30]  # kept until asked for
    finally:
        com.close()
    assert not com.is_connected


async def test_a_send_nobody_echoes_is_a_timeout_naming_the_rig() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as hole:
        hole.bind(("127.0.0.1", 0))
        com = await EchoProtocol.client(f"udp://127.0.0.1:{hole.getsockname()[1]}", name="ephys")
        com.default_echo_timeout = 0.2
        began = time.monotonic()
        try:
            with pytest.raises(TimeoutError, match="ephys"):
                await com.start("2026-12-03_1_algernon")
        finally:
            com.close()
    assert time.monotonic() - began < scaled(2)


async def test_the_rig_side_hears_iblutils_controller_and_may_speak_first() -> None:
    com = await EchoProtocol.server(free_udp(), name="cam")
    ibl = await app.EchoProtocol.client(com.server_uri, name="main", log=QUIET)
    try:
        answer = asyncio.ensure_future(ibl.on_event("EXPINIT"))
        await ibl.init({"subject": "algernon"})
        data, addr = await asyncio.wait_for(com.on_event("EXPINIT"), scaled(3))
        assert data == [{"subject": "algernon"}]
        await com.init({"camera": "ready"}, addr=addr)
        assert (await asyncio.wait_for(answer, scaled(3)))[0] == [{"camera": "ready"}]
        told = asyncio.ensure_future(ibl.on_event("EXPSTATUS"))
        await com.status(ExpStatus.RUNNING, addr=addr)  # unasked: a message of the rig's own
        assert (await asyncio.wait_for(told, scaled(3)))[0] == [20]
        with pytest.raises(ValueError, match="no EXPSTART request"):
            await com.start("2026-12-03_1_x", addr=("192.0.2.1", 9))  # nobody there asked
    finally:
        ibl.close()
        com.close()


async def test_services_callbacks_with_the_service_and_a_late_rig_named() -> None:
    quick = await app.EchoProtocol.server(free_udp(), name="quick", log=QUIET)
    quick.assign_callback("EXPINIT", lambda data, addr: asyncio.ensure_future(quick.init("done", addr=addr)))
    silent = await app.EchoProtocol.server(free_udp(), name="silent", log=QUIET)  # echoes, never answers
    rigs = [await EchoProtocol.client(quick.server_uri, name="quick"),
            await EchoProtocol.client(silent.server_uri, name="silent")]
    services = Services(rigs, timeout=0.5)
    heard: list[tuple[Any, str]] = []
    try:
        assert services.is_connected
        services.assign_callback("EXPINIT", lambda data, addr, service: heard.append((data, service.name)),
                                 return_service=True)
        with pytest.raises(TimeoutError, match="silent"):
            await services.init()
        assert heard == [(["done"], "quick")]
        assert services.clear_callbacks("EXPINIT") == {"quick": 1, "silent": 1}
    finally:
        services.close()
        quick.close()
        silent.close()


async def test_socket_options_labdeck_cannot_pass_on_are_refused_by_name() -> None:
    with pytest.raises(TypeError, match="reuse_port"):
        await EchoProtocol.server(free_udp(), name="cam", reuse_port=True)
