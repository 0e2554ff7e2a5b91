"""The browser ⇄ hub wire protocol on exact bytes: every request decodes, every encoder
produces the documented frame, and bad frames raise the documented errors."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from labdeck.exceptions import BadRequest, NotSerializable, UnknownOp
from labdeck.protocol import wire

REQUESTS: list[tuple[bytes, wire.Request]] = [
    (b'{"id":1,"op":"sub","ch":"run/log"}', wire.Sub(id=1, ch="run/log")),
    (b'{"id":1,"op":"sub","ch":"run/log","since":41}', wire.Sub(id=1, ch="run/log", since=41)),
    (
        b'{"id":"a1","op":"sub","ch":"run/log","since":41,"epoch":"3f2a"}',
        wire.Sub(id="a1", ch="run/log", since=41, epoch="3f2a"),
    ),
    (b'{"id":2,"op":"unsub","ch":"run/log"}', wire.Unsub(id=2, ch="run/log")),
    (b'{"id":4,"op":"channels"}', wire.Channels(id=4)),
    (
        b'{"id":5,"op":"call","path":["sample","test_sum"],"args":[4,5],"kwargs":{"c":1}}',
        wire.Call(id=5, path=["sample", "test_sum"], args=[4, 5], kwargs={"c": 1}),
    ),
    (b'{"id":5,"op":"call","path":["sample","reset"]}', wire.Call(id=5, path=["sample", "reset"])),
    (b'{"id":6,"op":"get","path":["sample","a"]}', wire.Get(id=6, path=["sample", "a"])),
    (b'{"id":7,"op":"set","path":["sample","a"],"value":2}', wire.Set(id=7, path=["sample", "a"], value=2)),
    (b'{"id":8,"op":"del","path":["sample","a"]}', wire.Del(id=8, path=["sample", "a"])),
    (b'{"id":9,"op":"dir","path":["sample"]}', wire.Dir(id=9, path=["sample"])),
    (b'{"id":9,"op":"dir"}', wire.Dir(id=9, path=[])),
]


@pytest.mark.parametrize(("frame", "expected"), REQUESTS, ids=lambda v: v.decode() if isinstance(v, bytes) else "")
def test_every_request_type_decodes_from_exact_bytes(frame: bytes, expected: wire.Request) -> None:
    assert wire.decode_request(frame) == expected
    assert wire.decode_request(frame.decode()) == expected  # a str frame is the same request


def test_pub_keeps_its_data_as_the_exact_json_sent() -> None:
    req = wire.decode_request(b'{"id":3,"op":"pub","ch":"lab/temp","data":{"celsius": 21.5, "ok":[true,null]}}')
    assert isinstance(req, wire.Pub)
    assert (req.id, req.ch) == (3, "lab/temp")
    assert bytes(req.data) == b'{"celsius": 21.5, "ok":[true,null]}'


def test_pub_without_data_publishes_null() -> None:
    req = wire.decode_request(b'{"id":3,"op":"pub","ch":"lab/temp"}')
    assert isinstance(req, wire.Pub) and bytes(req.data) == b"null"


def test_every_op_of_the_protocol_has_a_request_type() -> None:
    assert set(wire.OPS) == {"sub", "unsub", "pub", "channels", "call", "get", "set", "del", "dir"}
    assert {type(req) for _, req in REQUESTS} | {wire.Pub} == set(wire.Request.__args__)  # type: ignore[attr-defined]


def test_surrounding_whitespace_is_allowed() -> None:
    assert wire.decode_request(b' \n{"id":4,"op":"channels"}\r\n ') == wire.Channels(id=4)


# -- encoders ---------------------------------------------------------------------------


def test_reply_bytes() -> None:
    assert wire.encode_reply(1, {"seq": 2, "epoch": "ab"}) == b'{"id":1,"ok":true,"result":{"seq":2,"epoch":"ab"}}'
    assert wire.encode_reply("x", None) == b'{"id":"x","ok":true,"result":null}'


def test_error_bytes() -> None:
    assert wire.encode_error(1, "AccessDenied", "no") == (
        b'{"id":1,"ok":false,"error":{"type":"AccessDenied","message":"no"}}'
    )
    assert wire.encode_error(None, "BadRequest", "frame is not valid JSON") == (
        b'{"id":null,"ok":false,"error":{"type":"BadRequest","message":"frame is not valid JSON"}}'
    )


def test_push_bytes_carry_the_data_unchanged() -> None:
    assert wire.encode_push("run/log", 42, 1763742000.125, b'{"line":"x"}') == (
        b'{"ch":"run/log","seq":42,"t":1763742000.125,"data":{"line":"x"}}'
    )


def test_gap_bytes_use_the_key_from() -> None:
    assert wire.encode_gap("run/log", 5, 120) == b'{"ch":"run/log","gap":{"from":5,"to":120}}'


def test_encode_data_handles_json_values_and_numpy_like_values() -> None:
    class Scalar:
        def tolist(self) -> float:
            return 1.5

    assert wire.encode_data({"a": [1, "b", None, True, 2.5]}) == b'{"a":[1,"b",null,true,2.5]}'
    assert wire.encode_data([Scalar()]) == b"[1.5]"


@pytest.mark.parametrize("value", [object(), {"a": b"\x00"}.items(), {(1, 2): 3}, {"f": len}])
def test_encode_data_refuses_what_json_cannot_carry(value: Any) -> None:
    with pytest.raises(NotSerializable):
        wire.encode_data(value)


def test_a_reply_whose_result_cannot_be_encoded_is_not_serializable() -> None:
    with pytest.raises(NotSerializable, match="object"):
        wire.encode_reply(1, object())


# -- bad frames -------------------------------------------------------------------------


def rejected(frame: bytes | str) -> BadRequest | UnknownOp:
    with pytest.raises((BadRequest, UnknownOp)) as info:
        wire.decode_request(frame)
    assert isinstance(info.value, (BadRequest, UnknownOp))
    return info.value


@pytest.mark.parametrize(
    "frame",
    [
        b'{"id":1,"op":"sub","ch":"a"} x',
        b'{"id":1,"op":"sub","ch":"a"}{}',
        b'{"id":1,"op":"sub","ch":"a"}{"id":2,"op":"channels"}',
        b'{"id":1,"op":"channels"}]',
        b'{"id":1,"op":"channels"}\x00',
    ],
)
def test_trailing_data_after_the_object_is_rejected(frame: bytes) -> None:
    err = rejected(frame)
    assert isinstance(err, BadRequest)


def test_every_truncation_of_a_valid_frame_is_rejected() -> None:
    frame = b'{"id":17,"op":"call","path":["sample","test_sum"],"args":[4,5],"kwargs":{}}'
    for end in range(len(frame)):
        err = rejected(frame[:end])
        assert isinstance(err, BadRequest), frame[:end]


def test_sub_without_ch_is_a_bad_request_with_its_id() -> None:
    err = rejected(b'{"op":"sub","id":1}')
    assert isinstance(err, BadRequest)
    assert err.request_id == 1
    assert "`ch`" in err.message and "'sub'" in err.message


@pytest.mark.parametrize(
    ("frame", "field"),
    [
        (b'{"id":1,"op":"sub","ch":5}', "$.ch"),
        (b'{"id":1,"op":"sub","ch":"a","since":"41"}', "$.since"),
        (b'{"id":1,"op":"sub","ch":"a","since":4.5}', "$.since"),
        (b'{"id":1,"op":"sub","ch":"a","epoch":1}', "$.epoch"),
        (b'{"id":1,"op":"get","path":"sample.a"}', "$.path"),
        (b'{"id":1,"op":"get","path":["sample",1]}', "$.path[1]"),
        (b'{"id":1,"op":"call","path":["f"],"args":{}}', "$.args"),
        (b'{"id":1,"op":"call","path":["f"],"kwargs":[]}', "$.kwargs"),
        (b'{"id":1,"op":"unsub","ch":null}', "$.ch"),
    ],
)
def test_a_field_of_the_wrong_type_is_a_bad_request_naming_it(frame: bytes, field: str) -> None:
    err = rejected(frame)
    assert isinstance(err, BadRequest)
    assert err.request_id == 1
    assert field in err.message


def test_an_unknown_field_is_a_bad_request() -> None:
    err = rejected(b'{"id":"r","op":"channels","ch":"a"}')
    assert isinstance(err, BadRequest) and err.request_id == "r"
    assert "`ch`" in err.message


@pytest.mark.parametrize("op", [b'"subscribe"', b'"SUB"', b"5", b"null", b'""'])
def test_an_unknown_op_is_unknown_op_with_its_id(op: bytes) -> None:
    err = rejected(b'{"id":7,"op":' + op + b"}")
    assert type(err) is UnknownOp
    assert err.request_id == 7
    assert "sub, unsub, pub" in err.message


def test_a_missing_op_is_unknown_op() -> None:
    err = rejected(b'{"id":7,"ch":"a"}')
    assert type(err) is UnknownOp and err.request_id == 7


@pytest.mark.parametrize(
    "frame",
    [
        b'{"op":"channels"}',
        b'{"id":null,"op":"channels"}',
        b'{"id":true,"op":"channels"}',
        b'{"id":1.5,"op":"channels"}',
        b'{"id":[1],"op":"channels"}',
        b'{"id":{},"op":"nope"}',
    ],
)
def test_a_request_without_a_usable_id_is_a_bad_request_without_id(frame: bytes) -> None:
    err = rejected(frame)
    assert type(err) is BadRequest
    assert err.request_id is None
    assert "`id`" in err.message


@pytest.mark.parametrize(
    ("frame", "kind"),
    [(b"[1,2]", "list"), (b'"sub"', "str"), (b"42", "int"), (b"null", "NoneType"), (b"true", "bool")],
)
def test_a_frame_that_is_not_an_object_is_a_bad_request(frame: bytes, kind: str) -> None:
    err = rejected(frame)
    assert type(err) is BadRequest and err.request_id is None
    assert err.message == f"frame must be a JSON object, got {kind}"


@pytest.mark.parametrize("frame", [b"", b"   ", b"{", b"{'id': 1}", b"\xff\xfe{}"])
def test_not_json_or_invalid_utf8_is_a_bad_request(frame: bytes) -> None:
    err = rejected(frame)
    assert type(err) is BadRequest and err.request_id is None


@pytest.mark.parametrize(
    "frame",
    [
        b'{"id":1,"op":"sub","ch":"\xc3"}',
        b'{"id":1,"op":"pub","ch":"lab/a","data":"\xff\xfe"}',  # data is forwarded as sent: checked too
        b'{"id":1,"op":"pub","ch":"lab/a","data":{"k\xc3":1}}',  # in a key
        b'{"id":1,"op":"pub","ch":"lab/a","data":["ok","\xed\xa0\x80"]}',  # an encoded surrogate
        b'{"id":1,"op":"call","path":["s","f"],"args":["\xff"]}',
        b'{"id":1,"op":"set","path":["s","a"],"value":{"\xff":0}}',
    ],
)
def test_invalid_utf8_anywhere_is_a_bad_request_that_echoes_the_id(frame: bytes) -> None:
    err = rejected(frame)
    assert type(err) is BadRequest and err.message == "frame is not valid UTF-8"
    assert err.request_id == 1


def test_pub_data_in_utf8_beyond_ascii_is_kept_as_sent() -> None:
    req = wire.decode_request('{"id":1,"op":"pub","ch":"lab/a","data":"é µ 🧪"}'.encode())
    assert isinstance(req, wire.Pub) and bytes(req.data) == '"é µ 🧪"'.encode()


def nested(depth: int) -> str:
    """``depth`` levels of arrays; the request object around them is one more."""
    return "[" * depth + "]" * depth


PUB = '{"id":1,"op":"pub","ch":"lab/a","data":'
CALL = '{"id":1,"op":"call","path":["s","f"],"args":['


@pytest.mark.parametrize(
    "frame",
    [
        PUB + nested(63) + "}",
        CALL + '{"a":' * 62 + "1" + "}" * 62 + "]}",
    ],
    ids=["data-64", "args-64"],
)
def test_nesting_up_to_the_limit_is_accepted(frame: str) -> None:
    assert wire.nests_deeper_than(frame.encode(), wire.MAX_DEPTH) is False
    wire.decode_request(frame.encode())


@pytest.mark.parametrize(
    "frame",
    [
        PUB + nested(64) + "}",
        PUB + nested(1000) + "}",  # deeper than the interpreter's stack
        CALL + '{"a":' * 70 + "1" + "}" * 70 + "]}",
        '{"id":1,"op":"set","path":["s","a"],"value":' + nested(100_000) + "}",
    ],
    ids=["data-65", "data-1001", "args-objects", "value-100k"],
)
def test_nesting_past_the_limit_is_a_bad_request(frame: str) -> None:
    err = rejected(frame.encode())
    assert type(err) is BadRequest and err.message == "frame nests deeper than 64 levels"


def test_the_nesting_limit_is_the_callers() -> None:
    frame = b'{"id":1,"op":"pub","ch":"lab/a","data":[[[1]]]}'
    wire.decode_request(frame, max_depth=4)
    with pytest.raises(BadRequest, match="deeper than 3 levels") as info:
        wire.decode_request(frame, max_depth=3)
    assert info.value.request_id == 1


@pytest.mark.parametrize(
    "text",
    [
        '["[[[[[[[[[[", "]]]]", {"[": "{{{{{"}]',
        r'["\\", "[[[[[[[[", "\\\"[[[[[[", "\\\\"]',
        '[[], [], [], [], [], [], [], [], [], [], [[]], [[[]]]]',
        r'{"a": [{"b": [{"c": []}]}], "d": "\"]]]]]]]]]]]]"}',
    ],
)
def test_brackets_inside_strings_do_not_count_as_nesting(text: str) -> None:
    import json

    def depth(value: Any) -> int:
        if isinstance(value, dict):
            value = list(value.values())
        return 1 + max(map(depth, value), default=0) if isinstance(value, list) else 0

    value = json.loads(text)
    for limit in range(6):
        assert wire.nests_deeper_than(text.encode(), limit) is (depth(value) > limit), limit


def test_a_str_frame_with_a_lone_surrogate_is_a_bad_request() -> None:
    err = rejected('{"id":1,"op":"sub","ch":"\ud800"}')
    assert type(err) is BadRequest


def test_a_float_too_large_for_a_double_is_a_bad_request_that_echoes_the_id() -> None:
    err = rejected(b'{"id":3,"op":"sub","ch":"a","since":1e400}')
    assert type(err) is BadRequest
    assert err.request_id == 3


def test_ids_up_to_the_javascript_safe_range_are_echoed_exactly() -> None:
    for rid in (wire.MAX_ID, -wire.MAX_ID, 0, "x" * wire.MAX_ID_LENGTH):
        req = wire.decode_request(msgspec.json.encode({"id": rid, "op": "channels"}))
        assert req.id == rid
        assert wire.encode_reply(req.id, None) == msgspec.json.encode({"id": rid, "ok": True, "result": None})


@pytest.mark.parametrize("rid", [2**53, -(2**53), 10**30, 1.0, True, "x" * (wire.MAX_ID_LENGTH + 1), None, [1]])
def test_an_id_out_of_range_is_refused_naming_the_rule_not_echoed_as_a_float(rid: object) -> None:
    # 10**30 was echoed as written, which a JavaScript client reads as 1e30: unmatched.
    with pytest.raises(BadRequest) as info:
        wire.decode_request(msgspec.json.encode({"id": rid, "op": "channels"}))
    assert info.value.request_id is None
    assert f"`id` must be an integer from -{wire.MAX_ID} to {wire.MAX_ID}" in info.value.message


def test_a_huge_since_is_accepted_and_a_negative_one_refused() -> None:
    big = 10**30
    assert wire.decode_request(b'{"id":1,"op":"sub","ch":"a","since":%d}' % big) == wire.Sub(id=1, ch="a", since=big)
    with pytest.raises(BadRequest, match=r"since") as info:
        wire.decode_request(b'{"id":1,"op":"sub","ch":"a","since":-1}')
    assert info.value.request_id == 1


def test_null_since_and_epoch_mean_absent() -> None:
    frame = b'{"id":1,"op":"sub","ch":"a","since":null,"epoch":null}'
    assert wire.decode_request(frame) == wire.Sub(id=1, ch="a")


def test_set_needs_a_value() -> None:
    with pytest.raises(BadRequest, match="missing required field `value`") as info:
        wire.decode_request(b'{"id":4,"op":"set","path":["a","b"]}')
    assert info.value.request_id == 4
    assert wire.decode_request(b'{"id":4,"op":"set","path":["a"],"value":null}') == wire.Set(4, ["a"], None)


def test_an_unknown_field_is_refused_naming_it() -> None:
    with pytest.raises(BadRequest, match="unknown field `sincee`"):
        wire.decode_request(b'{"id":1,"op":"sub","ch":"a","sincee":3}')


@pytest.mark.parametrize("op", [b"5", b"null", b'"SUB"', b'["sub"]'])
def test_an_op_that_is_not_one_of_the_names_is_unknown_op_whatever_its_type(op: bytes) -> None:
    with pytest.raises(UnknownOp) as info:
        wire.decode_request(b'{"id":1,"op":%s}' % op)
    assert info.value.request_id == 1


@pytest.mark.parametrize("ch", [b'""', b'"%s"' % (b"a" * (wire.MAX_CHANNEL_LEN + 1))])
def test_channel_name_length_is_checked_by_the_decoder(ch: bytes) -> None:
    with pytest.raises(BadRequest, match="length"):
        wire.decode_request(b'{"id":1,"op":"sub","ch":%s}' % ch)


def test_a_duplicated_key_keeps_the_last_value() -> None:
    # JSON leaves duplicates undefined; the decoder's rule is the last one wins.
    assert wire.decode_request(b'{"id":1,"id":2,"op":"channels"}') == wire.Channels(id=2)


def test_decode_errors_never_leak_msgspec_types() -> None:
    with pytest.raises(BadRequest) as info:
        wire.decode_request(b"{")
    assert not isinstance(info.value, msgspec.MsgspecError)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_a_client_reads_each_kind_of_server_frame_from_its_exact_bytes() -> None:
    assert wire.decode_server_message(wire.encode_reply(3, {"seq": 2, "epoch": "e"})) == wire.Reply(
        3, True, {"seq": 2, "epoch": "e"})
    assert wire.decode_server_message(wire.encode_truncated_reply("p", {"a": 1})) == wire.Reply(
        "p", True, {"a": 1}, truncated=True)
    assert wire.decode_server_message(wire.encode_error(None, "DuplicateId", "id 7")) == wire.Reply(
        None, False, error=wire.ErrorBody("DuplicateId", "id 7"))
    push = wire.encode_push("a/b", 4, 1.5, b'{"x":[1]}')
    assert wire.decode_server_message(push) == wire.Push("a/b", 4, 1.5, {"x": [1]})
    assert wire.decode_server_message(wire.encode_gap("a/b", 1, 9)) == wire.Gap("a/b", 1, 9)
    # fields a later server may add are ignored, not fatal
    assert wire.decode_server_message(b'{"ch":"a","seq":1,"t":0,"data":null,"origin":"x"}') == wire.Push("a", 1, 0.0)


def test_a_server_frame_that_is_none_of_the_three_is_bad_request() -> None:
    for frame in (b'{"id":1}', b'{"ch":"a"}', b'{"id":1,"ok":false}', b"[]", b"{"):
        with pytest.raises(BadRequest, match="server frame not understood"):
            wire.decode_server_message(frame)


def test_a_client_sends_each_request_as_these_exact_bytes() -> None:
    assert wire.encode_request(wire.Sub(1, "run/log")) == b'{"op":"sub","id":1,"ch":"run/log"}'
    assert wire.encode_request(wire.Sub(1, "a", 4, "e")) == b'{"op":"sub","id":1,"ch":"a","since":4,"epoch":"e"}'
    assert wire.encode_request(wire.Pub("x", "a", msgspec.Raw(b"[1]"))) == b'{"op":"pub","id":"x","ch":"a","data":[1]}'
    assert wire.encode_request(wire.Set(2, ["s", "a"], None)) == b'{"op":"set","id":2,"path":["s","a"],"value":null}'
    assert wire.encode_request(wire.Channels(3)) == b'{"op":"channels","id":3}'
    for req in (wire.Sub(1, "a", 0), wire.Call(5, ["s", "f"], [1], {"k": 2}), wire.Dir(6), wire.Del(7, ["s", "a"])):
        assert wire.decode_request(wire.encode_request(req)) == req
