"""A call of a path checked once is not checked in full again, but nothing that would
refuse it is missed: a weaker role, a new policy, a new type anywhere along the path,
a replaced or newly hidden method, a dict turned into a namespace."""

from __future__ import annotations

from typing import Any

import pytest

from labdeck import AccessDenied, InvalidArguments, NotFound, Policy, hidden
from labdeck.hub.connection import Client
from labdeck.objects import Objects

OPERATOR, VIEWER = Client(role="operator"), Client(role="viewer")


class Laser:
    def fire(self, n: int) -> str:
        return f"fired {n}"


class SealedLaser(Laser):
    @hidden
    def fire(self, n: int) -> str:
        return "never"


class Lab:
    def __init__(self) -> None:
        self.laser: Any = Laser()


def space() -> tuple[Objects, Lab]:
    objects = Objects(lambda ch, data: None)
    lab = Lab()
    objects.expose("lab", lab)
    return objects, lab


async def call(objects: Objects, client: Client = OPERATOR) -> Any:
    return await objects.call(["lab", "laser", "fire"], [2], {}, client)


async def test_repeated_calls_give_the_same_answer() -> None:
    objects, _ = space()
    try:
        assert [await call(objects) for _ in range(3)] == ["fired 2"] * 3
    finally:
        objects.close()


async def test_a_weaker_role_is_refused_on_a_path_already_called() -> None:
    objects, _ = space()
    try:
        await call(objects)
        with pytest.raises(AccessDenied, match="role 'viewer' may not call"):
            await call(objects, VIEWER)
        with pytest.raises(AccessDenied):
            await call(objects, Client(role="nobody"))
    finally:
        objects.close()


async def test_a_new_policy_applies_at_once() -> None:
    objects, _ = space()
    try:
        await call(objects)
        objects.exposed["lab"].policy = Policy(deny=["laser.fire"])
        with pytest.raises(AccessDenied, match=r"'lab\.laser\.fire' is not exposed"):
            await call(objects)
    finally:
        objects.close()


async def test_an_object_of_another_type_along_the_path_is_checked_again() -> None:
    objects, lab = space()
    try:
        await call(objects)
        lab.laser = SealedLaser()
        with pytest.raises(AccessDenied, match="not exposed"):
            await call(objects)
        lab.laser = Laser()
        lab.laser.__class__ = SealedLaser  # the same object, another type
        with pytest.raises(AccessDenied, match="not exposed"):
            await call(objects)
        lab.laser = {"fire": Laser().fire}  # now read as a key: still a lab's method
        assert await call(objects) == "fired 2"
        del lab.laser
        with pytest.raises(NotFound):
            await call(objects)
    finally:
        objects.close()


async def test_a_method_replaced_or_hidden_on_its_class_is_checked_again() -> None:
    class Pulse:
        def fire(self, n: int) -> str:
            return "pulse"

    objects, lab = space()
    lab.laser = Pulse()
    try:
        assert await call(objects) == "pulse"

        def fire(self: Pulse, n: int) -> str:
            return "patched"

        Pulse.fire = fire  # type: ignore[method-assign]
        assert await call(objects) == "patched"
        Pulse.fire = hidden(fire)  # type: ignore[method-assign]
        with pytest.raises(AccessDenied, match="not exposed"):
            await call(objects)
    finally:
        objects.close()


async def test_a_dict_that_became_a_namespace_is_refused() -> None:
    objects, lab = space()
    shelf: dict[str, Any] = {"fire": Laser().fire}
    lab.laser = shelf
    try:
        assert await call(objects) == "fired 2"
        shelf["__builtins__"] = {}
        with pytest.raises(AccessDenied, match="namespace"):
            await call(objects)
    finally:
        objects.close()


async def test_a_wrong_call_names_the_signature_without_private_parameters_or_defaults() -> None:
    class Vault:
        def open(self, code: str, retries: int = 3, _key: str = "s3cret-key") -> None: ...

    objects = Objects(lambda ch, data: None)
    objects.expose("vault", Vault())
    with pytest.raises(InvalidArguments) as info:
        await objects.call(["vault", "open"], [], {}, OPERATOR)
    assert info.value.message == "vault.open(code: str, retries: int = …) -> None: missing a required argument: 'code'"
