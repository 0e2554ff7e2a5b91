"""Observed attributes, in-process: which assignments publish, and what."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

import labdeck
from labdeck.objects import Objects


@labdeck.observable("temperature", "state")
class Device:
    state = "idle"

    def __init__(self) -> None:
        self.temperature = 20.0
        self.plain = 1


@labdeck.observable("gain")
@dataclass
class Settings:  # an eq=True dataclass: unhashable
    gain: float = 1.0


class Holder:
    level = labdeck.observed(0)
    trace = labdeck.observed(np.zeros(2))
    blob = labdeck.observed(b"")

    def __init__(self) -> None:
        self.device = Device()
        self.settings = Settings()


def exposed(name: str, obj: Any, policy: labdeck.Policy | None = None) -> list[tuple[str, Any]]:
    published: list[tuple[str, Any]] = []
    Objects(lambda ch, data: published.append((ch, data))).expose(name, obj, policy)
    return published


def test_a_delete_publishes_what_a_read_then_returns() -> None:
    holder = Holder()
    published = exposed("rig", holder)
    holder.device.state = "busy"
    published.clear()
    del holder.device.state
    assert holder.device.state == "idle"
    assert published == [("obj/rig/device/state", "idle")]  # was null, while a get said "idle"
    holder.device.state = "idle"
    published.clear()
    del holder.device.state  # the value read does not change: nothing to publish
    assert published == []
    del holder.device.temperature  # no default: gone, and the live value says null
    assert published == [("obj/rig/device/temperature", None)]


def test_current_values_are_published_when_exposed() -> None:
    published = exposed("rig", Holder())
    assert ("obj/rig/level", 0) in published
    assert ("obj/rig/trace", [0.0, 0.0]) in published
    assert ("obj/rig/device/temperature", 20.0) in published
    assert ("obj/rig/device/state", "idle") in published
    assert ("obj/rig/settings/gain", 1.0) in published
    assert not any(ch.endswith("/blob") for ch, _ in published)  # bytes: logged, not published


def test_every_change_publishes_and_equal_values_do_not() -> None:
    holder = Holder()
    published = exposed("rig", holder)
    published.clear()
    holder.level = 1
    holder.level = 1
    holder.device.temperature = 21.5
    holder.device.plain = 2  # not observed
    holder.settings.gain = 3.0
    holder.trace = np.ones(2)
    thread = threading.Thread(target=setattr, args=(holder, "level", 2))
    thread.start()
    thread.join()
    del holder.level
    assert published == [
        ("obj/rig/level", 1),
        ("obj/rig/device/temperature", 21.5),
        ("obj/rig/settings/gain", 3.0),
        ("obj/rig/trace", [1.0, 1.0]),
        ("obj/rig/level", 2),
        ("obj/rig/level", 0),  # deleted: back to its default, which a read now returns
    ]
    assert holder.level == 0  # back to the default


def test_one_object_exposed_twice_publishes_on_both_channels() -> None:
    device = Device()
    published: list[tuple[str, Any]] = []
    objects = Objects(lambda ch, data: published.append((ch, data)))
    objects.expose("a", device)
    objects.expose("b", device)
    published.clear()
    device.state = "running"
    assert published == [("obj/a/state", "running"), ("obj/b/state", "running")]


def test_a_denied_attribute_is_not_published() -> None:
    holder = Holder()
    published = exposed("rig", holder, labdeck.Policy(deny=["device.temperature"]))
    assert not any("temperature" in ch for ch, _ in published)
    holder.device.temperature = 30.0
    assert not any("temperature" in ch for ch, _ in published)


def test_tracked_dict_publishes_each_key() -> None:
    settings = labdeck.TrackedDict(gain=1.0)
    published = exposed("settings", settings)
    settings["gain"] = 2.0
    settings["new"] = "x"
    del settings["new"]
    assert published == [
        ("obj/settings/gain", 1.0),
        ("obj/settings/gain", 2.0),
        ("obj/settings/new", "x"),
        ("obj/settings/new", None),
    ]
    assert dict(settings) == {"gain": 2.0}


def test_an_unexposed_observed_object_publishes_nothing_and_works() -> None:
    device = Device()
    device.temperature = 5.0
    assert device.temperature == 5.0 and device.state == "idle"
