"""Whatever a peer sends, ``decode_request`` returns a request or raises one of the two
documented errors; nothing else ever comes out."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from labdeck.exceptions import BadRequest, LabdeckError, UnknownOp
from labdeck.protocol import wire

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
fields = {
    "op": st.sampled_from([*wire.OPS, "nope", ""]) | json_values,
    "id": st.integers() | st.text(max_size=4) | json_values,
    "ch": st.text(max_size=8) | json_values,
    "path": st.lists(st.text(max_size=4), max_size=3) | json_values,
    "since": st.integers() | json_values,
    "epoch": st.text(max_size=4) | json_values,
    "data": json_values,
    "args": json_values,
    "kwargs": json_values,
    "value": json_values,
}
requests = st.fixed_dictionaries({}, optional=fields)


def check(frame: bytes | str) -> None:
    try:
        req = wire.decode_request(frame)
    except (BadRequest, UnknownOp) as exc:
        assert isinstance(exc, LabdeckError)
        assert exc.request_id is None or wire.usable_id(exc.request_id)  # never an id a reply cannot carry
        assert exc.message
    else:
        assert isinstance(req, wire.Request.__args__)  # type: ignore[attr-defined]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes(frame: bytes) -> None:
    check(frame)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_random_json_values(value: Any) -> None:
    text = json.dumps(value)
    check(text.encode("utf-8", "surrogatepass"))
    check(text)


@settings(max_examples=500, deadline=None)
@given(requests)
def test_random_request_shaped_objects(obj: dict[str, Any]) -> None:
    text = json.dumps(obj, ensure_ascii=False)
    check(text.encode("utf-8", "surrogatepass"))
    check(text)


@settings(max_examples=300, deadline=None)
@given(requests, st.integers(0, 40), st.binary(max_size=3))
def test_request_shaped_objects_spliced_with_random_bytes(obj: dict[str, Any], at: int, noise: bytes) -> None:
    raw = json.dumps(obj).encode()
    check(raw[:at] + noise + raw[at:])


def test_a_readable_id_is_echoed_by_every_error() -> None:
    for frame in (b'{"id":5,"op":"sub"}', b'{"id":5,"op":"sub","ch":1}', b'{"id":5,"op":"x"}', b'{"id":5}'):
        try:
            wire.decode_request(frame)
        except (BadRequest, UnknownOp) as exc:
            assert exc.request_id == 5, frame
        else:
            raise AssertionError(f"{frame!r} decoded")


def check_server_frame(frame: bytes | str) -> None:
    try:
        message = wire.decode_server_message(frame)
    except BadRequest as exc:
        assert exc.message.startswith("server frame not understood")
    else:
        assert isinstance(message, (wire.Reply, wire.Push, wire.Gap))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | json_values.map(json.dumps))
def test_a_client_reading_random_server_frames_gets_a_message_or_bad_request(frame: bytes | str) -> None:
    check_server_frame(frame)


server_fields = {
    "id": json_values, "ok": st.booleans() | json_values, "result": json_values, "error": json_values,
    "ch": st.text(max_size=4) | json_values, "seq": st.integers() | json_values, "t": st.floats() | json_values,
    "data": json_values, "gap": st.fixed_dictionaries({"from": st.integers(), "to": st.integers()}) | json_values,
}


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({}, optional=server_fields))
def test_a_client_reading_server_shaped_frames_gets_a_message_or_bad_request(obj: dict[str, Any]) -> None:
    check_server_frame(json.dumps(obj, allow_nan=True))
