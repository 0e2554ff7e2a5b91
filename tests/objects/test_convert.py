"""The documented value-conversion rule, value by value."""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np
import pytest

from labdeck import NotSerializable
from labdeck.objects.convert import MAX_NESTING, from_wire, to_wire


class Color(enum.Enum):
    RED = "red"
    BLUE = 2


@dataclass
class Point:
    __labdeck_hidden__ = ("secret",)
    x: float
    y: float
    tags: set[str] = field(default_factory=set)
    secret: str = "hidden"
    _private: int = 0


class Mode(enum.Enum):
    IDLE = "idle"
    RUNNING = "running"


class Reading(msgspec.Struct):
    value: float
    when: datetime.datetime
    _raw: bytes = b""


WHEN = datetime.datetime(2026, 11, 21, 16, 30, 5, 123000, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (True, True),
        (3, 3),
        (2.5, 2.5),
        ("text", "text"),
        ([1, (2, 3)], [1, [2, 3]]),
        ({"a": {"b": 1}}, {"a": {"b": 1}}),
        ({1: "one", 2.5: "x", False: "f"}, {"1": "one", "2.5": "x", "False": "f"}),
        ({3, 1, 2}, [1, 2, 3]),
        (frozenset({"b", "a"}), ["a", "b"]),
        (np.float32(1.5), 1.5),
        (np.int64(7), 7),
        (np.bool_(True), True),
        (np.arange(6).reshape(2, 3), [[0, 1, 2], [3, 4, 5]]),
        (np.array([0.5, 1.5]), [0.5, 1.5]),
        (WHEN, "2026-11-21T16:30:05.123000+00:00"),
        (datetime.date(2026, 11, 21), "2026-11-21"),
        (datetime.time(9, 5), "09:05:00"),
        (Color.RED, "red"),
        (Color.BLUE, 2),
        (Point(1, 2, {"b", "a"}), {"x": 1, "y": 2, "tags": ["a", "b"]}),
        (Reading(0.5, WHEN), {"value": 0.5, "when": "2026-11-21T16:30:05.123000+00:00"}),
    ],
)
def test_values_going_out(value: Any, expected: Any) -> None:
    converted = to_wire(value)
    assert converted == expected
    assert type(msgspec.json.decode(msgspec.json.encode(converted))) is type(expected)


@pytest.mark.parametrize(
    ("value", "named"),
    [
        (b"\x00", "bytes"),
        (bytearray(b"x"), "bytearray"),
        (memoryview(b"x"), "memoryview"),
        (object(), "object"),
        (1 + 2j, "complex"),
        (datetime.timedelta(seconds=1), "datetime.timedelta"),
        ({"k": [object()]}, "object"),
        ({(1, 2): "tuple key"}, "mapping keys of type tuple"),
        (Point, "type"),
    ],
)
def test_values_without_a_json_form_name_their_type(value: Any, named: str) -> None:
    with pytest.raises(NotSerializable, match=named):
        to_wire(value)


def test_cycles_are_refused_not_followed_forever() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(NotSerializable, match=f"deeper than {MAX_NESTING}"):
        to_wire(loop)


@pytest.mark.parametrize(
    ("value", "annotation", "expected"),
    [
        (3, float, 3.0),
        ([1, 2], list[int], [1, 2]),
        ({"x": 1, "y": 2}, Point, Point(1, 2)),
        ("idle", Mode, Mode.IDLE),
        ("anything", Any, "anything"),
    ],
)
def test_values_coming_in_are_converted_by_annotation(value: Any, annotation: Any, expected: Any) -> None:
    assert from_wire(value, annotation) == expected


@pytest.mark.parametrize(("value", "annotation"), [("3", int), (1.5, int), (1, bool), ("green", Mode), ([1], str)])
def test_values_coming_in_of_the_wrong_type_are_refused(value: Any, annotation: Any) -> None:
    with pytest.raises(TypeError, match=r"Expected|Invalid"):
        from_wire(value, annotation)
