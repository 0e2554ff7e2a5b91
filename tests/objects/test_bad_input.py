"""Every bad input of the object ops gets a clear error, and the server keeps serving."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from labdeck import Deck, Policy
from tests.helpers import RequestFailed, WireClient
from tests.objects.samples import Sample


@pytest.fixture
async def sample(deck: Deck) -> AsyncIterator[Sample]:
    obj = Sample()
    deck.expose("sample", obj)
    deck.expose("shallow", Sample(), Policy(max_depth=2, read_only=["b"], deny=["fn"]))
    yield obj
    obj.release.set()


DENIED: list[tuple[str, list[str], dict[str, Any], str]] = [
    ("get", ["sample", "_secret"], {}, "names starting with '_' are never exposed"),
    ("call", ["sample", "_private"], {}, "names starting with '_' are never exposed"),
    ("get", ["sample", "__class__"], {}, "'sample.__class__'"),
    ("get", ["sample", "__dict__"], {}, "'sample.__dict__'"),
    ("get", ["sample", "test_sum", "__globals__"], {}, "'sample.test_sum.__globals__'"),
    ("get", ["sample", "test_sum", "__func__"], {}, "never exposed"),
    ("dir", ["sample", "test_sum", "x"], {}, "cannot look inside a function"),
    ("get", ["sample", "os"], {}, "is a module, which is never exposed"),
    ("get", ["sample", "os", "environ"], {}, "is a module"),
    ("call", ["sample", "os", "getcwd"], {}, "is a module"),
    ("get", ["sample", "klass"], {}, "is a class, which is never exposed"),
    ("call", ["sample", "klass"], {}, "is a class"),
    ("call", ["sample", "append"], {"args": [1]}, "is a builtin, which is never exposed"),
    ("get", ["sample", "append", "x"], {}, "is a builtin"),
    ("get", ["sample", "serial"], {}, "'sample.serial' is not exposed"),
    ("call", ["sample", "reset_firmware"], {}, "'sample.reset_firmware' is not exposed"),
    ("get", ["sample", "limits", "_calibration"], {}, "never exposed"),
    ("get", ["sample", "b", "upper"], {}, "cannot look inside a str value"),
    ("get", ["sample", "mode", "value"], {}, "cannot look inside a Mode value"),
    ("get", ["sample", "a.b"], {}, "is not a usable name"),
    ("get", ["sample", ""], {}, "is not a usable name"),
    ("get", ["sample", "settings", "gain", "real", "imag"], {}, "deeper than the 4 levels allowed"),
    ("get", ["shallow", "settings", "gain"], {}, "deeper than the 2 levels allowed"),
    ("set", ["shallow", "b"], {"value": "x"}, "'shallow.b' is read-only"),
    ("call", ["shallow", "fn"], {}, "'shallow.fn' is not exposed"),
    ("set", ["sample", "temperature"], {"value": 1.0}, "'sample.temperature' is read-only"),
    ("set", ["sample", "test_sum"], {"value": 1}, "is a method; methods cannot be set"),
    ("del", ["sample", "test_sum"], {}, "is a method; methods cannot be deleted"),
    ("set", ["sample", "settings"], {"value": {}}, "is an object; set its attributes instead"),
    ("set", ["sample"], {"value": 1}, "is an exposed object"),
    ("del", ["sample"], {}, "is an exposed object"),
]


@pytest.mark.parametrize(("op", "path", "fields", "message"), DENIED, ids=[".".join(d[1]) + ":" + d[0] for d in DENIED])
async def test_access_denied_names_the_path(
    client: WireClient, sample: Sample, op: str, path: list[str], fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(RequestFailed) as info:
        await client.request(op, path=path, **fields)
    assert info.value.type == "AccessDenied"
    assert message in info.value.message
    assert "Traceback" not in info.value.message
    assert sample.touched.names == []
    assert await client.request("call", path=["sample", "test_sum"], args=[1, 2]) == 3


OTHER: list[tuple[str, list[str], dict[str, Any], str, str]] = [
    ("get", ["nothing"], {}, "NotFound", "no object 'nothing' is exposed"),
    ("get", ["sample", "nothing"], {}, "NotFound", "'sample.nothing' does not exist"),
    ("set", ["sample", "nothing"], {"value": 1}, "NotFound", "'sample.nothing' does not exist"),
    ("call", ["sample", "nothing"], {}, "NotFound", "'sample.nothing' does not exist"),
    ("get", [], {}, "BadRequest", "get needs a path"),
    ("call", ["sample", "b"], {}, "BadRequest", "'sample.b' is not a method"),
    ("get", ["sample", "test_sum"], {}, "BadRequest", "'sample.test_sum' is a method: call it"),
    ("call", ["sample", "test_sum"], {}, "InvalidArguments", "missing a required argument: 'a'"),
    ("call", ["sample", "test_sum"], {"args": [1, 2, 3]}, "InvalidArguments", "too many positional arguments"),
    ("call", ["sample", "test_sum"], {"args": [1], "kwargs": {"c": 1}}, "InvalidArguments", "unexpected keyword"),
    ("call", ["sample", "test_sum"], {"args": ["4", 5]}, "InvalidArguments", "argument 'a': Expected `int`"),
    ("call", ["sample", "test_sum"], {"args": [1.5]}, "InvalidArguments", "argument 'a'"),
    ("call", ["sample", "concat"], {"args": ["a", 2]}, "InvalidArguments", "test_sum"[:0]),
    ("call", ["sample", "test_sum"], {"kwargs": {"_x": 1}}, "InvalidArguments", "keyword '_x' is not accepted"),
    ("set", ["sample", "b"], {"value": 5}, "InvalidArguments", "'sample.b' holds a str; got a int"),
    ("set", ["sample", "a"], {"value": "five"}, "InvalidArguments", "'sample.a' holds a int"),
    ("set", ["sample", "settings", "enabled"], {"value": 1}, "InvalidArguments", "Expected `bool`"),
    ("set", ["sample", "settings", "gain"], {"value": "high"}, "InvalidArguments", "Expected `float`"),
    ("call", ["sample", "give_bytes"], {}, "NotSerializable", "bytes are binary"),
    ("get", ["sample", "touched"], {}, "NotSerializable", "tests.objects.samples.Touched cannot be sent as JSON"),
    ("call", ["sample", "fail"], {"args": ["no light"]}, "ValueError", "no light"),
]


@pytest.mark.parametrize(
    ("op", "path", "fields", "type_", "message"), OTHER, ids=[f"{o[0]}-{i}" for i, o in enumerate(OTHER)]
)
async def test_bad_requests_get_a_clear_error(
    client: WireClient, sample: Sample, op: str, path: list[str], fields: dict[str, Any], type_: str, message: str
) -> None:
    with pytest.raises(RequestFailed) as info:
        await client.request(op, path=path, **fields)
    assert info.value.type == type_
    assert message in info.value.message
    assert await client.request("channels") is not None


async def test_malformed_object_frames_are_bad_requests(client: WireClient, sample: Sample) -> None:
    for frame, rid in [
        ('{"id": 1, "op": "call", "path": "sample.test_sum"}', 1),
        ('{"id": 2, "op": "call", "path": ["sample", 3]}', 2),
        ('{"id": 3, "op": "call", "path": ["sample", "test_sum"], "args": {"a": 1}}', 3),
        ('{"id": 4, "op": "set", "path": ["sample", "a"], "value": 1, "extra": 0}', 4),
    ]:
        reply = await client.reply_to_raw(frame, rid)
        assert reply["error"]["type"] == "BadRequest"
    assert await client.request("get", path=["sample", "a"]) == 1
