"""End to end over the real websocket: get, set, call, del and dir on an exposed object."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from labdeck import Deck, Policy
from tests.conftest import ws_url
from tests.helpers import RequestFailed, WireClient, scaled
from tests.objects.samples import Sample


@pytest.fixture
async def sample(deck: Deck) -> AsyncIterator[Sample]:
    obj = Sample()
    deck.expose("sample", obj)
    try:
        yield obj
    finally:
        obj.release.set()  # free any worker thread a test left waiting


async def fails(client: WireClient, op: str, **fields: Any) -> RequestFailed:
    with pytest.raises(RequestFailed) as info:
        await client.request(op, **fields)
    return info.value


async def test_dir_of_the_empty_path_lists_the_exposed_objects(client: WireClient, sample: Sample) -> None:
    listing = await client.request("dir", path=[])
    assert {"name": "sample", "kind": "object", "type": "tests.objects.samples.Sample"} in listing["members"]


async def test_dir_describes_attributes_methods_and_objects(client: WireClient, sample: Sample) -> None:
    info = await client.request("dir", path=["sample"])
    members = {m["name"]: m for m in info["members"]}
    assert info["doc"] == "A device-like object with every kind of member."
    assert members["a"] == {
        "name": "a", "kind": "attribute", "type": "int", "value": 1, "writable": True,
        "channel": "obj/sample/a", "doc": "A live counter.",
    }
    assert members["temperature"]["writable"] is False
    assert members["mode"]["value"] == "idle"
    assert members["settings"]["kind"] == "object"
    test_sum = members["test_sum"]
    assert test_sum["kind"] == "method"
    assert test_sum["signature"] == "(a: int, b: int = 0) -> int"
    assert test_sum["params"] == [
        {"name": "a", "kind": "positional_or_keyword", "required": True, "type": "int"},
        {"name": "b", "kind": "positional_or_keyword", "required": False, "type": "int", "default": 0},
    ]
    assert test_sum["doc"] == "Add two integers."
    assert "source" not in test_sum
    assert members["hold"]["exclusive"] is True
    assert members["later"]["async"] is True
    # never listed: private, hidden, modules, classes, builtins
    for name in ("_secret", "_private", "serial", "reset_firmware", "os", "klass", "append", "touched"):
        assert name not in members or name == "touched"
    assert sample.touched.names == []


async def test_dir_shows_source_only_when_the_policy_says_so(deck: Deck, client: WireClient) -> None:
    deck.expose("open", Sample(), Policy(source=True, docs=False))
    info = await client.request("dir", path=["open", "test_sum"])
    assert info["source"].lstrip().startswith("def test_sum(self, a: int, b: int = 0) -> int:")
    assert "doc" not in info


async def test_get_set_and_delete(client: WireClient, sample: Sample) -> None:
    assert await client.request("get", path=["sample", "b"]) == "text"
    assert await client.request("set", path=["sample", "b"], value="new") is None
    assert sample.b == "new"
    assert await client.request("get", path=["sample", "settings"]) == {
        "gain": 1.0, "contrast": 0.5, "label": "default", "enabled": True,
    }
    await client.request("set", path=["sample", "settings", "gain"], value=2)  # int accepted for float
    assert sample.settings.gain == 2.0
    await client.request("set", path=["sample", "table", "x"], value=5)
    assert await client.request("get", path=["sample", "table"]) == {"x": 5, "y": [1, 2]}
    await client.request("del", path=["sample", "table", "y"])
    await client.request("del", path=["sample", "b"])
    assert not hasattr(sample, "b") and sample.table == {"x": 5}
    assert (await fails(client, "get", path=["sample", "b"])).type == "NotFound"


async def test_conversion_of_values_going_out(client: WireClient, sample: Sample) -> None:
    assert await client.request("get", path=["sample", "limits"]) == {"low": 0.0, "high": 10.0}
    assert await client.request("get", path=["sample", "mode"]) == "idle"
    err = await fails(client, "get", path=["sample", "payload"])
    assert err.type == "NotSerializable" and "bytes" in err.message
    err = await fails(client, "call", path=["sample", "give_object"])
    assert err.type == "NotSerializable" and "_thread.lock" in err.message


async def test_call_with_positional_and_keyword_arguments(client: WireClient, sample: Sample) -> None:
    assert await client.request("call", path=["sample", "test_sum"], args=[4, 5]) == 9
    assert await client.request("call", path=["sample", "test_sum"], args=[4], kwargs={"b": 1}) == 5
    assert await client.request("call", path=["sample", "test_sum"], kwargs={"a": 2}) == 2
    assert await client.request("call", path=["sample", "concat"], args=["a", "b"], kwargs={"sep": "+"}) == "a+b"
    assert await client.request("call", path=["sample", "quick"]) == "quick"
    assert await client.request("call", path=["sample", "fn"]) == "called"


async def test_async_methods_are_awaited(client: WireClient, sample: Sample) -> None:
    assert await client.request("call", path=["sample", "later"], args=[{"k": [1]}], kwargs={"delay": 0.01}) == {
        "k": [1]
    }


async def test_a_slow_method_does_not_block_other_requests(client: WireClient, sample: Sample) -> None:
    slow = asyncio.ensure_future(client.request("call", path=["sample", "slow"]))
    assert await asyncio.to_thread(sample.started.wait, scaled(5))
    # the method is blocking its thread right now; the server still answers
    assert await client.request("get", path=["sample", "b"]) == "text"
    assert await client.request("call", path=["sample", "test_sum"], args=[1, 1]) == 2
    assert not slow.done()
    sample.release.set()
    assert await slow == "done"


async def test_exclusive_calls_queue_then_get_busy(deck: Deck, client: WireClient, sample: Sample) -> None:
    async with WireClient(ws_url(deck)) as other:
        holding = asyncio.ensure_future(client.request("call", path=["sample", "hold"]))
        assert await asyncio.to_thread(sample.started.wait, scaled(5))
        queued = asyncio.ensure_future(other.request("call", path=["sample", "queued"]))
        busy = await fails(other, "call", path=["sample", "impatient"])
        assert busy.type == "Busy"
        assert "sample.impatient is exclusive" in busy.message
        assert sample.calls == ["hold"]  # neither of the others ran while hold was running
        sample.release.set()
        assert await holding == "held"
        assert await queued == "queued"
        assert sample.calls == ["hold", "queued"]


async def test_a_call_past_its_timeout_gets_timeout(client: WireClient, sample: Sample) -> None:
    err = await fails(client, "call", path=["sample", "too_slow"])
    assert err.type == "Timeout" and "sample.too_slow" in err.message
    err = await fails(client, "call", path=["sample", "too_slow_async"])
    assert err.type == "Timeout"
    assert await client.request("call", path=["sample", "test_sum"], args=[2, 2]) == 4


async def test_a_short_timeout_expires_while_a_longer_call_runs_on(client: WireClient, sample: Sample) -> None:
    slow = asyncio.ensure_future(client.request("call", path=["sample", "slow"]))  # the policy's 60 s
    assert await asyncio.to_thread(sample.started.wait, scaled(5))
    err = await fails(client, "call", path=["sample", "too_slow"])  # 0.05 s, due first
    assert err.type == "Timeout" and "sample.too_slow" in err.message
    assert not slow.done()  # the early deadline expired only its own call
    sample.release.set()
    assert await slow == "done"


async def test_an_exception_inside_the_method_is_its_type_and_message(client: WireClient, sample: Sample) -> None:
    err = await fails(client, "call", path=["sample", "fail"], args=["laser not ready"])
    assert (err.type, err.message) == ("ValueError", "laser not ready")
    err = await fails(client, "call", path=["sample", "exit"])
    assert err.type == "SystemExit"
    assert await client.request("channels") is not None  # the server is still up


async def test_live_attribute_pushed_after_a_python_change(deck: Deck, client: WireClient, sample: Sample) -> None:
    await client.request("sub", ch="obj/sample/a")
    sample.a = 2
    await asyncio.to_thread(setattr, sample, "a", 3)  # from another thread too
    sample.a = 3  # an equal value is not a change
    sample.settings.gain = 4.5
    pushes = await client.wait_for("obj/sample/a", 3)
    assert [p["data"] for p in pushes] == [1, 2, 3]
    await client.request("sub", ch="obj/sample/settings/gain")
    gains = await client.wait_for("obj/sample/settings/gain", 1)
    assert gains[-1]["data"] == 4.5


async def test_live_attribute_pushed_to_others_after_a_browser_set(
    deck: Deck, client: WireClient, sample: Sample
) -> None:
    async with WireClient(ws_url(deck)) as watcher:
        await watcher.request("sub", ch="obj/sample/a")
        await watcher.wait_for("obj/sample/a", 1)
        await client.request("set", path=["sample", "a"], value=10)
        pushes = await watcher.wait_for("obj/sample/a", 2)
        assert pushes[-1]["data"] == 10
        assert sample.a == 10
