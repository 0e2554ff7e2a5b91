"""Rigs over real loopback sockets: both modes, UDP and TCP, IPv4 and IPv6, several in flight."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from labdeck.exceptions import RigFailed, Timeout
from labdeck.protocol.rig import Event
from labdeck.rigs import Rig, RigEndpoint, RigGroup, SimulatedRig
from labdeck.rigs.address import Mode
from tests.helpers import scaled

CASES: list[tuple[Mode, str]] = [("labdeck", "udp"), ("labdeck", "tcp"), ("iblutil", "udp"), ("iblutil", "ws")]


def has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


class Slow:
    """Handlers that take their time, fail on request, and count their runs."""

    def __init__(self) -> None:
        self.runs: list[Any] = []

    async def init(self, data: Any = None) -> Any:
        self.runs.append(data)
        await asyncio.sleep(data.get("sleep", 0) if isinstance(data, dict) else 0)
        return {"ready": data}

    def start(self, exp_ref: str | None = None, data: Any = None) -> str:
        raise RuntimeError(f"no camera for {exp_ref}")


@pytest.mark.parametrize(("mode", "scheme"), CASES)
async def test_every_message_gets_its_answer(mode: Mode, scheme: str) -> None:
    sim = SimulatedRig("bench")
    async with RigEndpoint(f"{scheme}://127.0.0.1:0", sim, mode=mode) as rig_side, \
            Rig(rig_side.uri, "bench", mode=mode, timeout=scaled(3)) as rig:
            assert (await rig.init({"subject": "algernon"}))["state"] == "initialised"
            assert (await rig.start("2026-12-02_1_algernon"))["exp_ref"] == "2026-12-02_1_algernon"
            assert await rig.status() == "running"
            assert (await rig.info())["exp_ref"] == "2026-12-02_1_algernon"
            assert (await rig.stop(immediately=True))["state"] == "stopped"
            assert (await rig.cleanup())["state"] == "connected"
            answer = await rig.alyx("https://alyx.example", {"me": "tok"})
            assert answer == ["https://alyx.example", {"me": "tok"}]
    assert sim.calls == ["init", "start", "status", "info", "interrupt", "cleanup", "token"]


@pytest.mark.parametrize(("mode", "scheme"), CASES)
async def test_a_failing_handler_is_an_error_reply_and_the_rig_keeps_serving(mode: Mode, scheme: str) -> None:
    async with RigEndpoint(f"{scheme}://127.0.0.1:0", Slow(), mode=mode) as rig_side, \
            Rig(rig_side.uri, "cam", mode=mode, timeout=scaled(3)) as rig:
            with pytest.raises(RigFailed, match="no camera for 2026-12-02_1_x"):
                await rig.start("2026-12-02_1_x")
            assert await rig.init(1) == {"ready": 1}


async def test_several_requests_in_flight_on_one_link_each_get_their_own_answer() -> None:
    handlers = Slow()
    async with RigEndpoint("udp://127.0.0.1:0", handlers) as rig_side, Rig(rig_side.uri, timeout=scaled(3)) as rig:
        answers = await asyncio.gather(*(rig.init({"n": n, "sleep": (5 - n) * 0.02}) for n in range(5)))
    assert [a["ready"]["n"] for a in answers] == list(range(5))
    assert len(handlers.runs) == 5


@pytest.mark.parametrize("mode", ["labdeck", "iblutil"])
async def test_a_rig_that_is_not_there_is_a_timeout_naming_it(mode: Mode) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as hole:
        hole.bind(("127.0.0.1", 0))  # bound, never read: nothing answers
        port = hole.getsockname()[1]
        async with Rig(f"udp://127.0.0.1:{port}", "camera", mode=mode, timeout=0.3) as rig:
            with pytest.raises(Timeout, match="'camera'"):
                await rig.init()


@pytest.mark.skipif(not has_ipv6(), reason="no IPv6 loopback")
@pytest.mark.parametrize("scheme", ["udp", "tcp"])
async def test_ipv6(scheme: str) -> None:
    async with RigEndpoint(f"{scheme}://[::1]:0") as rig_side, Rig(rig_side.uri, timeout=scaled(3)) as rig:
        assert rig_side.uri.startswith(f"{scheme}://[::1]:")
        assert await rig.status() == "connected"


async def test_several_tcp_clients_on_one_rig_get_only_their_own_answers() -> None:
    async with RigEndpoint("tcp://127.0.0.1:0", Slow()) as rig_side:
        rigs = [Rig(rig_side.uri, f"c{i}", timeout=scaled(3)) for i in range(4)]
        try:
            answers = await asyncio.gather(*(r.init({"client": i, "sleep": 0.01 * (i % 2)})
                                             for i, r in enumerate(rigs) for _ in range(5)))
        finally:
            for r in rigs:
                await r.close()
    assert [a["ready"]["client"] for a in answers] == [i for i in range(4) for _ in range(5)]


async def test_a_group_keeps_the_answers_of_the_rigs_that_answered_and_names_the_one_that_did_not() -> None:
    published: list[tuple[str, Any]] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as hole:
        hole.bind(("127.0.0.1", 0))
        async with RigEndpoint("udp://127.0.0.1:0", SimulatedRig("a")) as a, \
                RigEndpoint("ws://127.0.0.1:0", SimulatedRig("b"), mode="iblutil") as b:
            group = RigGroup([Rig(a.uri, "a", timeout=scaled(2)), Rig(b.uri, "b", mode="iblutil", timeout=scaled(2)),
                              Rig(f"udp://127.0.0.1:{hole.getsockname()[1]}", "gone", timeout=0.3)],
                             lambda ch, data: published.append((ch, data)))
            result = await group.send(Event.INIT, [None])
            assert set(result.responses) == {"a", "b"} and set(result.failures) == {"gone"}
            assert result.as_dict()["gone"]["error"]["type"] == "Timeout"
            stop = await group.send(Event.STOP, [None], rigs=["a", "b"], concurrent=False)
            assert list(stop.responses) == ["b", "a"]  # stop goes in reverse
            await group.close()
    states = {ch: data["state"] for ch, data in published}
    assert states == {"rigs/a": "stopped", "rigs/b": "stopped", "rigs/gone": "lost"}
    assert all(d["rtt_ms"] is not None for ch, d in published if ch != "rigs/gone")


@pytest.mark.parametrize(("mode", "scheme"), CASES)
def test_both_sides_work_on_uvloop_as_the_server_runs(mode: Mode, scheme: str) -> None:
    uvloop = pytest.importorskip("uvloop")

    async def exchange() -> Any:
        async with RigEndpoint(f"{scheme}://127.0.0.1:0", SimulatedRig("bench"), mode=mode) as rig_side, \
                Rig(rig_side.uri, "bench", mode=mode, timeout=scaled(3)) as rig:
            return (await rig.init({"subject": "algernon"}))["state"]

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(exchange()) == "initialised"


async def test_callbacks_hear_each_answer_and_may_clear_themselves_while_heard() -> None:
    heard: list[Any] = []
    async with RigEndpoint("udp://127.0.0.1:0", SimulatedRig("cam")) as rig_side, \
            Rig(rig_side.uri, "cam", timeout=scaled(3)) as rig:
        waiting = asyncio.ensure_future(rig.on_event("status"))
        await asyncio.sleep(0)
        assert await rig.status() == "connected"
        assert await waiting == "connected"  # a future hears one answer, then is gone

        def once(data: Any, event: Event) -> None:
            heard.append(data)
            rig.clear_callbacks(event)

        rig.assign_callback("status", once)
        assert await rig.status() == "connected"
        assert await rig.status() == "connected"  # no callback left: the answer still comes
    assert heard == ["connected"]


async def test_a_signed_link_answers_its_key_only_and_the_rig_keeps_serving() -> None:
    sim = SimulatedRig("cam")
    async with RigEndpoint("udp://127.0.0.1:0", sim, key=b"lab secret") as rig_side:
        async with Rig(rig_side.uri, "forger", key=b"guess", timeout=0.3) as forger:
            with pytest.raises(Timeout, match="'forger'"):
                await forger.init()
        async with Rig(rig_side.uri, "plain", timeout=0.3) as unsigned:
            with pytest.raises(Timeout, match="'plain'"):
                await unsigned.init()
        async with Rig(rig_side.uri, "cam", key=b"lab secret", timeout=scaled(3)) as rig:
            assert (await rig.init())["state"] == "initialised"
    assert sim.calls == ["init"]  # neither the forged nor the unsigned request ran
