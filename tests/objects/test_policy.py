"""The access policy, checked directly on an object space (no network): roles, names,
depth, allow/deny/read-only lists and markers."""

from __future__ import annotations

from typing import Any

import pytest

from labdeck import AccessDenied, Policy, reads
from labdeck.hub.connection import Client
from labdeck.objects import Objects
from labdeck.objects.policy import check_name, role_allows
from tests.objects.samples import Sample


def space(policy: Policy | None = None) -> tuple[Objects, Sample, list[tuple[str, Any]]]:
    published: list[tuple[str, Any]] = []
    objects = Objects(lambda ch, data: published.append((ch, data)))
    obj = Sample()
    objects.expose("sample", obj, policy)
    return objects, obj, published


VIEWER, OPERATOR, ADMIN = Client(role="viewer"), Client(role="operator"), Client(role="admin")


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("viewer", {"get", "dir"}),
        ("operator", {"get", "dir", "set", "call"}),
        ("admin", {"get", "dir", "set", "call", "del"}),
        ("server", {"get", "dir", "set", "call", "del"}),
        ("guest", set()),
    ],
)
def test_roles(role: str, allowed: set[str]) -> None:
    assert {op for op in ("get", "dir", "set", "call", "del") if role_allows(role, op)} == allowed


def test_a_policy_can_raise_but_not_lower_the_role_an_op_needs() -> None:
    assert not role_allows("operator", "call", {"call": "admin"})
    assert role_allows("admin", "call", {"call": "admin"})
    assert not role_allows("viewer", "set", {"set": "viewer"})


async def test_a_viewer_may_read_but_not_change() -> None:
    objects, obj, _ = space()
    assert await objects.get(["sample", "a"], VIEWER) == 1
    assert (await objects.dir(["sample"], VIEWER))["kind"] == "object"
    for op, call in [
        ("set", objects.set(["sample", "a"], 2, VIEWER)),
        ("call", objects.call(["sample", "test_sum"], [1, 2], {}, VIEWER)),
        ("del", objects.delete(["sample", "a"], VIEWER)),
    ]:
        with pytest.raises(AccessDenied, match=f"'sample.*': role 'viewer' may not {op}"):
            await call
    assert obj.a == 1


async def test_a_viewer_may_call_what_only_reads() -> None:
    class Counter:
        def __init__(self) -> None:
            self.n = 0

        @reads
        def peek(self) -> int:
            return self.n

        def bump(self) -> int:
            self.n += 1
            return self.n

    objects = Objects(lambda ch, data: None)
    objects.expose("counter", Counter())
    assert await objects.call(["counter", "peek"], [], {}, VIEWER) == 0
    with pytest.raises(AccessDenied, match="role 'viewer' may not call"):
        await objects.call(["counter", "bump"], [], {}, VIEWER)
    with pytest.raises(AccessDenied, match="role 'guest' may not get"):
        await objects.call(["counter", "peek"], [], {}, Client(role="guest"))
    objects.expose("strict", Counter(), Policy(roles={"get": "operator"}))
    with pytest.raises(AccessDenied):  # reading raised to operator: so is calling what reads
        await objects.call(["strict", "peek"], [], {}, VIEWER)


async def test_an_operator_may_set_and_call_but_not_delete() -> None:
    objects, obj, _ = space()
    await objects.set(["sample", "a"], 2, OPERATOR)
    assert await objects.call(["sample", "quick"], [], {}, OPERATOR) == "quick"
    with pytest.raises(AccessDenied, match="role 'operator' may not del"):
        await objects.delete(["sample", "a"], OPERATOR)
    await objects.delete(["sample", "b"], ADMIN)
    assert obj.a == 2 and not hasattr(obj, "b")


async def test_writable_in_dir_follows_the_role() -> None:
    objects, _, _ = space()
    viewer = {m["name"]: m for m in (await objects.dir(["sample"], VIEWER))["members"]}
    operator = {m["name"]: m for m in (await objects.dir(["sample"], OPERATOR))["members"]}
    assert viewer["a"]["writable"] is False and operator["a"]["writable"] is True


async def test_the_empty_path_lists_only_what_the_role_may_see() -> None:
    objects, _, _ = space(Policy(roles={"get": "admin", "dir": "admin"}))
    assert (await objects.dir([], VIEWER))["members"] == []
    assert [m["name"] for m in (await objects.dir([], ADMIN))["members"]] == ["sample"]


@pytest.mark.parametrize("name", ["_x", "__class__", "__globals__", "", "a.b", "a/b", "x" * 101, "tab\there"])
def test_unusable_names(name: str) -> None:
    with pytest.raises(AccessDenied, match=r"^'sample\."):
        check_name(name, ["sample", name])


async def test_an_allow_list_exposes_only_what_it_names() -> None:
    objects, _, _ = space(Policy(allow=["a", "settings.gain", "test_sum"]))
    assert await objects.get(["sample", "a"], ADMIN) == 1
    assert await objects.get(["sample", "settings", "gain"], ADMIN) == 1.0
    assert await objects.call(["sample", "test_sum"], [1], {}, ADMIN) == 1
    for path in (["sample", "b"], ["sample", "settings"], ["sample", "settings", "contrast"], ["sample", "quick"]):
        with pytest.raises(AccessDenied, match="is not exposed"):
            await objects.get(path, ADMIN)
    listing = await objects.dir(["sample"], ADMIN)
    assert [m["name"] for m in listing["members"]] == ["a", "test_sum", "settings"]
    inner = await objects.dir(["sample", "settings"], ADMIN)
    assert [m["name"] for m in inner["members"]] == ["gain"]


async def test_a_deny_list_wins_over_the_allow_list() -> None:
    objects, _, _ = space(Policy(allow=["settings"], deny=["settings.label"]))
    assert await objects.get(["sample", "settings", "gain"], ADMIN) == 1.0
    with pytest.raises(AccessDenied, match=r"'sample\.settings\.label' is not exposed"):
        await objects.get(["sample", "settings", "label"], ADMIN)
    with pytest.raises(AccessDenied, match="cannot be read whole"):  # it would reveal the denied field
        await objects.get(["sample", "settings"], ADMIN)
    names = [m["name"] for m in (await objects.dir(["sample", "settings"], ADMIN))["members"]]
    assert "label" not in names and "gain" in names


async def test_read_only_covers_everything_under_it() -> None:
    objects, obj, _ = space(Policy(read_only=["settings"]))
    assert await objects.get(["sample", "settings", "gain"], ADMIN) == 1.0
    gain = ["sample", "settings", "gain"]
    for call in (objects.set(gain, 3.0, ADMIN), objects.delete(gain, ADMIN)):
        with pytest.raises(AccessDenied, match=r"'sample\.settings\.gain' is read-only"):
            await call
    members = {m["name"]: m for m in (await objects.dir(["sample", "settings"], ADMIN))["members"]}
    assert members["gain"]["writable"] is False
    assert obj.settings.gain == 1.0


async def test_depth_counts_the_exposed_name() -> None:
    objects, _, _ = space(Policy(max_depth=2))
    with pytest.raises(AccessDenied, match="the value nests deeper"):
        await objects.get(["sample", "settings"], ADMIN)  # its fields' paths would be 3 long
    assert await space(Policy(max_depth=3))[0].get(["sample", "settings"], ADMIN) == {
        "gain": 1.0, "contrast": 0.5, "label": "default", "enabled": True,
    }
    listing = await objects.dir(["sample", "settings"], ADMIN)
    assert listing["members"] == []  # their paths would be 3 long
    with pytest.raises(AccessDenied, match="deeper than the 2 levels allowed"):
        await objects.get(["sample", "settings", "gain"], ADMIN)


async def test_docs_can_be_withheld() -> None:
    objects, _, _ = space(Policy(docs=False))
    info = await objects.dir(["sample"], ADMIN)
    assert "doc" not in info and all("doc" not in m for m in info["members"])


def test_hidden_markers_and_private_members_are_never_touched() -> None:
    async def probe() -> None:
        objects, obj, _ = space()
        for path in (["sample", "serial"], ["sample", "reset_firmware"], ["sample", "_secret"]):
            for op in ("get", "dir"):
                with pytest.raises(AccessDenied):
                    await (objects.get(path, ADMIN) if op == "get" else objects.dir(path, ADMIN))
        with pytest.raises(AccessDenied):
            await objects.call(["sample", "reset_firmware"], [], {}, ADMIN)
        await objects.dir(["sample"], ADMIN)
        assert obj.touched.names == []

    import asyncio

    asyncio.run(probe())


def test_invalid_policies_are_refused_where_written() -> None:
    with pytest.raises(ValueError, match="max_depth"):
        Policy(max_depth=0)
    with pytest.raises(ValueError, match="not an op and a role"):
        Policy(roles={"call": "superuser"})


def test_what_cannot_be_exposed() -> None:
    objects = Objects(lambda ch, data: None)
    for name, obj, message in [
        ("_x", Sample(), "names starting with '_'"),
        ("os", __import__("os"), "cannot expose a module"),
        ("cls", Sample, "cannot expose a class"),
        ("n", 5, "cannot expose int"),
    ]:
        with pytest.raises(ValueError, match=message):
            objects.expose(name, obj)
    objects.expose("s", Sample())
    with pytest.raises(ValueError, match="already exposed"):
        objects.expose("s", Sample())
