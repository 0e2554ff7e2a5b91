"""Holes a hostile user looked for, each through the real wire protocol: nothing private,
no process environment, no namespace, no stdlib function ever reaches a browser."""

from __future__ import annotations

import collections
import json
import os
import types
from collections.abc import AsyncIterator
from typing import Any

import pytest

from labdeck import Deck, Policy
from tests.helpers import RequestFailed, WireClient
from tests.objects.hostile import CANARY, Hostile


@pytest.fixture
async def hostile(deck: Deck, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Hostile]:
    monkeypatch.setenv("LABDECK_TEST_CANARY", CANARY)
    obj = Hostile()
    deck.expose("hostile", obj)
    yield obj


async def denied(client: WireClient, op: str, path: list[str], **fields: Any) -> str:
    with pytest.raises(RequestFailed) as info:
        await client.request(op, path=path, **fields)
    assert info.value.type == "AccessDenied", info.value
    return info.value.message


def leaked(client: WireClient) -> bool:
    return any(CANARY in json.dumps(frame, ensure_ascii=False) for frame in client.frames)


async def test_private_keys_are_left_out_of_every_value(client: WireClient, hostile: Hostile) -> None:
    assert await client.request("get", path=["hostile", "d"]) == {
        "public": 1, "nested": {"ok": 2}, "items": [{"fine": 2}],
    }
    assert await client.request("get", path=["hostile", "d", "nested"]) == {"ok": 2}
    assert await client.request("get", path=["hostile", "keyed"]) == {"a": 1}
    assert await client.request("call", path=["hostile", "give_private"]) == {"ok": 1, "inner": [{}]}
    listing = await client.request("dir", path=["hostile"])
    members = {m["name"]: m for m in listing["members"]}
    assert members["d"]["value"] == {"public": 1, "nested": {"ok": 2}, "items": [{"fine": 2}]}
    assert not leaked(client)


async def test_look_alike_names_are_refused(client: WireClient, hostile: Hostile) -> None:
    assert "never exposed" in await denied(client, "get", ["hostile", "d", "\uff3fwide"])
    assert "never exposed" in await denied(client, "get", ["hostile", "\uff3fsecret"])
    assert "never exposed" in await denied(client, "call", ["hostile", "\ufe4dprivate"])
    # fullwidth `public`: getattr and dict keys do not normalise, deny-lists would not match
    assert "normal form NFKC" in await denied(client, "get", ["hostile", "d", "\uff50ublic"])
    with pytest.raises(RequestFailed, match="not accepted"):
        await client.request("call", path=["hostile", "connect"], args=["h"], kwargs={"\uff3fpassword": "x"})
    assert not leaked(client)


async def test_the_depth_limit_applies_to_values_read(client: WireClient, hostile: Hostile) -> None:
    assert await client.request("get", path=["hostile", "shallow"]) == {"l1": {"l2": 1}}
    # `deep.l1.l2.l3` would be a path of 5 segments: neither it nor a value holding it is read
    for path in (["hostile", "deep"], ["hostile", "deep", "l1"]):
        assert "nests deeper" in await denied(client, "get", path)
    members = {m["name"]: m for m in (await client.request("dir", path=["hostile"]))["members"]}
    assert "value" not in members["deep"] and "nests deeper" in members["deep"]["error"]


async def test_the_process_environment_is_never_reached(client: WireClient, hostile: Hostile) -> None:
    for path in (
        ["hostile", "env"],
        ["hostile", "env", "LABDECK_TEST_CANARY"],
        ["hostile", "environ", "LABDECK_TEST_CANARY"],
        ["hostile", "forwarder", "environ"],
        ["hostile", "holder", "env", "LABDECK_TEST_CANARY"],
    ):
        assert "process environment" in await denied(client, "get", path)
    assert "process environment" in await denied(client, "get", ["hostile", "holder"])
    assert "process environment" in await denied(client, "call", ["hostile", "give_env"])
    await client.request("dir", path=["hostile"])
    await client.request("dir", path=["hostile", "holder"])
    assert not leaked(client)


async def test_environ_stays_refused_even_when_a_policy_lists_its_type(deck: Deck, client: WireClient) -> None:
    deck.expose("h", Hostile(), Policy(mappings=[type(os.environ), types.MappingProxyType]))
    assert "process environment" in await denied(client, "get", ["h", "env"])
    assert "a namespace" in await denied(client, "get", ["h", "class_vars"])
    with pytest.raises(ValueError, match="process environment"):
        deck.expose("env", os.environ, Policy(mappings=[type(os.environ)]))


async def test_other_mappings_need_the_policys_leave(deck: Deck, client: WireClient, hostile: Hostile) -> None:
    message = await denied(client, "get", ["hostile", "chain", "x"])
    assert "ChainMap, a mapping type the policy does not allow" in message
    assert "ChainMap" in await denied(client, "get", ["hostile", "chain"])
    deck.expose("allowed", Hostile(), Policy(mappings=[collections.ChainMap]))
    assert await client.request("get", path=["allowed", "chain"]) == {"x": 1}
    assert await client.request("get", path=["allowed", "chain", "x"]) == 1
    with pytest.raises(ValueError, match="ChainMap"):
        deck.expose("chain", collections.ChainMap({"x": 1}))


async def test_namespaces_are_never_reached(client: WireClient, hostile: Hostile) -> None:
    for path in (["hostile", "namespace"], ["hostile", "namespace", "CANARY"], ["hostile", "class_vars"]):
        assert "a namespace" in await denied(client, "get", path)
    assert "a module" in await denied(client, "get", ["hostile", "module", "environ"])
    members = {m["name"] for m in (await client.request("dir", path=["hostile"]))["members"]}
    assert {"namespace", "class_vars", "env", "module", "environ", "rm", "gen"}.isdisjoint(members)
    assert not leaked(client)


async def test_functions_of_the_standard_library_are_never_called(client: WireClient, hostile: Hostile) -> None:
    assert "standard library" in await denied(client, "call", ["hostile", "rm"], args=["/nonexistent"])
    assert "is a builtin" in await denied(client, "call", ["hostile", "forwarder", "getcwd"])
    assert "not exposed" in await denied(client, "call", ["hostile", "worker", "start"])
    assert "not exposed" in await denied(client, "set", ["hostile", "worker", "daemon"], value=True)
    assert await client.request("call", path=["hostile", "worker", "measure"]) == 7
    assert not hostile.worker.is_alive()
    members = {m["name"] for m in (await client.request("dir", path=["hostile", "worker"]))["members"]}
    assert members == {"measure"}


async def test_internals_and_wrappers_are_not_walked(client: WireClient, hostile: Hostile) -> None:
    assert "interpreter internals" in await denied(client, "get", ["hostile", "gen", "gi_frame"])
    assert "interpreter internals" in await denied(client, "dir", ["hostile", "gen"])
    assert "cannot look inside" in await denied(client, "get", ["hostile", "part", "func"])
    assert "cannot look inside a function" in await denied(client, "get", ["hostile", "connect", "x"])
    for index in ("-1", "1", "1e9", str(2**80)):
        assert "cannot look inside a list value" in await denied(client, "get", ["hostile", "d", "items", index])


async def test_generated_docstrings_and_private_parameters_are_not_shown(
    client: WireClient, hostile: Hostile
) -> None:
    keyed = await client.request("dir", path=["hostile", "keyed"])
    assert "doc" not in keyed  # the dataclass's generated `Keyed(a: int = 1, _key: str = ...)`
    assert [m["name"] for m in keyed["members"]] == ["a"]
    connect = await client.request("dir", path=["hostile", "connect"])
    assert connect["signature"] == "(host: str) -> str"
    assert [p["name"] for p in connect["params"]] == ["host"]
    configure = await client.request("dir", path=["hostile", "configure"])
    assert configure["signature"] == (
        "(keyed: tests.objects.hostile.Keyed = {'a': 1}, env: Any = <os._Environ>, mode: str = 'fast') -> None"
    )
    assert [p.get("default") for p in configure["params"]] == [{"a": 1}, None, "fast"]
    listing = await client.request("dir", path=["hostile"])
    assert listing["doc"] == "Members an attacker would reach for."
    assert not leaked(client)


async def test_private_keys_cannot_be_written(client: WireClient, hostile: Hostile) -> None:
    with pytest.raises(RequestFailed, match="'_key': names starting with '_' cannot be set") as info:
        await client.request("call", path=["hostile", "take"], args=[{"a": 2, "_key": "x"}])
    assert info.value.type == "InvalidArguments"
    with pytest.raises(RequestFailed, match="'_x': names starting") as info:
        await client.request("set", path=["hostile", "shallow"], value={"l1": {"_x": 1}})
    assert hostile.shallow == {"l1": {"l2": 1}}
    assert await client.request("call", path=["hostile", "take"], args=[{"a": 2}]) == 2


async def test_huge_numbers_get_a_clear_reply(client: WireClient, hostile: Hostile) -> None:
    assert await client.request("get", path=["hostile", "big"]) == 2**70
    with pytest.raises(RequestFailed, match="an integer of 1329 bits") as info:
        await client.request("set", path=["hostile", "big"], value=10**400)
    assert info.value.type == "InvalidArguments"
    huge = '{"id": 9, "op": "set", "path": ["hostile", "big"], "value": 1' + "0" * 5000 + "}"
    reply = await client.reply_to_raw(huge, None)  # past the decoder's limit: no id to echo
    assert reply["ok"] is False and reply["error"]["type"] == "BadRequest"
    assert await client.request("get", path=["hostile", "big"]) == 2**70


async def test_live_updates_leave_private_keys_out(client: WireClient, hostile: Hostile) -> None:
    await client.request("sub", ch="obj/hostile/live")
    hostile.live = {"shown": 2, "_hidden": CANARY, "inner": {"__x__": CANARY, "y": 3}}
    pushes = await client.wait_for("obj/hostile/live", 2)
    assert [p["data"] for p in pushes] == [{"shown": 1}, {"shown": 2, "inner": {"y": 3}}]
    hostile.live = {"env": os.environ}  # refused: logged, not published
    hostile.live = {"shown": 4}
    pushes = await client.wait_for("obj/hostile/live", 3)
    assert pushes[-1]["data"] == {"shown": 4}
    assert not leaked(client)
