"""The script link protocol on exact bytes: every message round-trips, the reader frames
a stream however it is cut, and whatever a script sends, only the documented errors
come out."""

from __future__ import annotations

import json
from typing import Any, get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labdeck.exceptions import AccessDenied, BadRequest, FrameTooLarge, NotSerializable, UnknownOp
from labdeck.protocol import link
from labdeck.protocol.link import Hello, LinkReader, Plot, Progress, Result, RigReport
from labdeck.protocol.rig import Event

MESSAGES: list[tuple[bytes, link.Message]] = [
    (b'{"op":"hello","token":"s3cret"}\n', Hello("s3cret")),
    (b'{"op":"hello","token":""}\n', Hello()),
    (b'{"op":"plot","series":"motion","x":[10.0,11.0],"y":[1.5,null]}\n', Plot("motion", [10.0, 11.0], [1.5, None])),
    (b'{"op":"plot","series":"empty","x":[],"y":[]}\n', Plot("empty", [], [])),
    (b'{"op":"progress","fraction":0.5,"message":"half way"}\n', Progress(0.5, "half way")),
    (b'{"op":"progress","fraction":1.0,"message":""}\n', Progress(1.0)),
    (b'{"op":"result","key":"accuracy","value":0.91}\n', Result("accuracy", 0.91)),
    (b'{"op":"result","key":"summary","value":{"trs":4,"ok":true,"runs":[1,"a",null]}}\n',
     Result("summary", {"trs": 4, "ok": True, "runs": [1, "a", None]})),
    (b'{"op":"result","key":"none","value":null}\n', Result("none")),
    (b'{"op":"rig","rig":"camera","event":"init","outcome":"ok","rtt_ms":0.4,"data":{"fps":60},"error":null}\n',
     RigReport("camera", Event.INIT, "ok", 0.4, {"fps": 60})),
    (b'{"op":"rig","rig":"ephys","event":"start","outcome":"timeout","rtt_ms":null,"data":null,'
     b'"error":"rig \'ephys\' did not answer"}\n',
     RigReport("ephys", Event.START, "timeout", error="rig 'ephys' did not answer")),
]


def _ids(v: object) -> str:
    return v.decode("latin-1").strip() if isinstance(v, bytes) else ""


@pytest.mark.parametrize(("line", "message"), MESSAGES, ids=_ids)
def test_every_message_round_trips_through_exact_bytes(line: bytes, message: link.Message) -> None:
    assert link.encode_message(message) == line
    assert link.decode_message(line) == message
    assert link.decode_message(line.rstrip(b"\n")) == message


def test_every_op_has_a_message_type() -> None:
    assert {type(m) for _, m in MESSAGES} == set(get_args(link.Message))
    assert {type(m).__struct_config__.tag for _, m in MESSAGES} == set(link.OPS)


def test_messages_encode_one_line_each_in_order() -> None:
    batch: list[link.Message] = [Plot("a", [1.0], [2.0]), Progress(0.25, "q"), Result("k", 1)]
    assert link.encode_messages(batch) == b"".join(link.encode_message(m) for m in batch)


def test_what_a_script_writes_with_spaces_and_integers_decodes_the_same() -> None:
    # scripts of labdeck 0.1.0 wrote json.dumps output: spaces after separators, ints as sent
    line = b'{"op": "plot", "series": "fast", "x": [0, 1], "y": [0.0, 2]}\n'
    assert link.decode_message(line) == Plot("fast", [0.0, 1.0], [0.0, 2.0])


def test_the_hello_of_older_scripts_has_no_op() -> None:
    assert link.decode_message(b'{"token": "abc"}\n') == Hello("abc")


def test_fields_a_message_does_not_define_are_ignored() -> None:
    line = b'{"op":"progress","fraction":0.1,"eta":12,"message":"m"}'
    assert link.decode_message(line) == Progress(0.1, "m")


def test_non_finite_numbers_are_sent_as_gaps() -> None:
    line = link.encode_message(Plot("s", [1.0, float("nan")], [float("inf"), 2.0]))
    assert line == b'{"op":"plot","series":"s","x":[1.0,null],"y":[null,2.0]}\n'


def test_a_value_json_cannot_carry_is_refused_when_encoding() -> None:
    with pytest.raises(NotSerializable):
        link.encode_message(Result("k", object()))


REFUSED: list[tuple[bytes, type[Exception], str]] = [
    (b"not json", BadRequest, "a message from the script is not JSON: b'not json'"),
    (b"", BadRequest, "a message from the script is not JSON: b''"),
    (b'{"op":"plot","series":"\xff"}', BadRequest,
     "a message from the script is not JSON: b'{\"op\":\"plot\",\"series\":\"\\xff\"}'"),
    (b"[1, 2]", BadRequest, "a message from the script is not a JSON object"),
    (b'{"op":"paint"}', UnknownOp, "unknown message op 'paint' from the script"),
    (b'{"x":[1]}', UnknownOp, "unknown message op None from the script"),
    (b'{"op":7}', UnknownOp, "unknown message op 7 from the script"),
    (b'{"token":5}', BadRequest, "hello: token is not a string"),
    (b'{"op":"hello","token":5}', BadRequest, "hello: token is not a string"),
    (b'{"op":"plot","x":[],"y":[]}', BadRequest, "plot: series is not a name of 1 to 100 characters"),
    (b'{"op":"plot","series":"","x":[],"y":[]}', BadRequest, "plot: series is not a name of 1 to 100 characters"),
    (b'{"op":"plot","series":"' + b"s" * 101 + b'","x":[],"y":[]}', BadRequest,
     "plot: series is not a name of 1 to 100 characters"),
    (b'{"op":"plot","series":5,"x":[],"y":[]}', BadRequest, "plot: series is not a name of 1 to 100 characters"),
    (b'{"op":"plot","series":"s","x":[1,2],"y":[1]}', BadRequest, "plot: x and y are not lists of the same length"),
    (b'{"op":"plot","series":"s","x":1,"y":[1]}', BadRequest, "plot: x and y are not lists of the same length"),
    (b'{"op":"plot","series":"s","x":[1]}', BadRequest, "plot: x and y are not lists of the same length"),
    (b'{"op":"plot","series":"s","x":[1,"2"],"y":[1,2]}', BadRequest,
     "plot: x and y hold something that is not a number"),
    (b'{"op":"plot","series":"s","x":[1],"y":[true]}', BadRequest, "plot: x and y hold something that is not a number"),
    (b'{"op":"plot","series":"s","x":[1e400],"y":[1]}', BadRequest,
     "plot: x and y hold something that is not a number"),
    (b'{"op":"progress","fraction":"half"}', BadRequest, "progress: fraction is not a number"),
    (b'{"op":"progress"}', BadRequest, "progress: fraction is not a number"),
    (b'{"op":"progress","fraction":-1e999}', BadRequest, "progress: fraction is not a number"),
    (b'{"op":"progress","fraction":0.5,"message":3}', BadRequest, "progress: message is not a string"),
    (b'{"op":"result","key":"","value":1}', BadRequest, "result: key is not a non-empty string"),
    (b'{"op":"result","value":1}', BadRequest, "result: key is not a non-empty string"),
    (b'{"op":"result","key":["k"]}', BadRequest, "result: key is not a non-empty string"),
    (b'{"op":"rig","rig":"","event":"init","outcome":"ok"}', BadRequest,
     "rig: rig is not a name of 1 to 100 characters"),
    (b'{"op":"rig","event":"init","outcome":"ok"}', BadRequest, "rig: rig is not a name of 1 to 100 characters"),
    (b'{"op":"rig","rig":"a","event":"dance","outcome":"ok"}', BadRequest,
     "rig: event is not one of init, start, stop, interrupt, cleanup, status, info, token"),
    (b'{"op":"rig","rig":"a","event":"init","outcome":"meh"}', BadRequest,
     "rig: outcome is not one of ok, error, timeout"),
    (b'{"op":"rig","rig":"a","event":"init","outcome":"ok","rtt_ms":-1}', BadRequest,
     "rig: rtt_ms is not a number from 0"),
    (b'{"op":"rig","rig":"a","event":"init","outcome":"ok","error":3}', BadRequest, "rig: error is not a string"),
]


@pytest.mark.parametrize(("line", "error", "text"), REFUSED, ids=_ids)
def test_a_refused_message_says_why_in_the_runners_words(line: bytes, error: type[Exception], text: str) -> None:
    with pytest.raises(error) as caught:
        link.decode_message(line)
    assert type(caught.value) is error
    assert caught.value.message == text  # type: ignore[attr-defined]


# -- the reader: framing, the hello, limits ------------------------------------------------

HELLO = b'{"op":"hello","token":"t0k"}\n'
STREAM = HELLO + b"".join(line for line, m in MESSAGES if not isinstance(m, Hello))
EXPECTED = [m for _, m in MESSAGES if not isinstance(m, Hello)]


def drain(reader: LinkReader) -> list[link.ScriptMessage]:
    out = []
    while (message := reader.next_message()) is not None:
        out.append(message)
    return out


def read_all(chunks: list[bytes], token: str = "t0k") -> list[link.ScriptMessage]:
    reader = LinkReader(token)
    out = []
    for chunk in chunks:
        reader.receive_data(chunk)
        out += drain(reader)
    reader.receive_eof()
    return out + drain(reader)


def test_the_reader_fed_the_whole_stream_at_once() -> None:
    assert read_all([STREAM]) == EXPECTED


def test_the_reader_fed_one_byte_at_a_time() -> None:
    assert read_all([STREAM[i:i + 1] for i in range(len(STREAM))]) == EXPECTED


def test_trailing_data_waits_for_its_newline_or_the_end() -> None:
    reader = LinkReader("t0k")
    reader.receive_data(HELLO + b'{"op":"result","key":"a","value":1}\n{"op":"result","key":"b",')
    assert drain(reader) == [Result("a", 1)]
    reader.receive_data(b'"value":2}')
    assert drain(reader) == []  # no newline yet: the line may still grow
    reader.receive_eof()
    assert drain(reader) == [Result("b", 2)]


def test_the_hello_is_checked_and_never_returned() -> None:
    reader = LinkReader("t0k")
    reader.receive_data(HELLO)
    assert reader.next_message() is None and reader.authenticated


def test_the_older_scripts_hello_is_accepted() -> None:
    assert read_all([b'{"token": "t0k"}\n' + MESSAGES[2][0]]) == [MESSAGES[2][1]]


@pytest.mark.parametrize("first", [b'{"op":"hello","token":"wrong"}\n', b'{"op":"hello"}\n', b"garbage\n",
                                   MESSAGES[2][0], b'{"token": 1}\n', b"{" * 5000])
def test_no_message_is_read_before_a_hello_with_the_token(first: bytes) -> None:
    reader = LinkReader("t0k")
    reader.receive_data(first + STREAM)
    with pytest.raises(AccessDenied, match="without the run's token"):
        reader.next_message()
    with pytest.raises(AccessDenied):  # and the connection stays refused
        reader.next_message()


def test_a_connection_that_ends_before_its_hello_is_refused() -> None:
    reader = LinkReader("t0k")
    reader.receive_data(b'{"op":"hello",')
    assert reader.next_message() is None
    reader.receive_eof()
    with pytest.raises(AccessDenied):
        reader.next_message()


def test_an_empty_token_is_a_token_like_any_other() -> None:
    assert read_all([b'{"op":"hello","token":""}\n' + MESSAGES[2][0]], token="") == [MESSAGES[2][1]]
    with pytest.raises(AccessDenied):
        read_all([HELLO], token="")


def test_a_refused_line_is_skipped_and_the_next_one_read() -> None:
    reader = LinkReader("t0k")
    reader.receive_data(HELLO + b'{"op":"paint"}\n\n{"op":"hello","token":"t0k"}\n' + MESSAGES[4][0])
    with pytest.raises(UnknownOp):
        reader.next_message()
    with pytest.raises(BadRequest, match="not JSON"):  # an empty line
        reader.next_message()
    with pytest.raises(BadRequest, match="a second hello"):
        reader.next_message()
    assert drain(reader) == [MESSAGES[4][1]]


def test_a_message_over_the_limit_ends_the_stream() -> None:
    ok = b'{"op":"result","key":"k","value":"' + b"v" * 64 + b'"}'
    assert len(ok) == 100
    reader = LinkReader("t0k", max_message=100)
    reader.receive_data(HELLO + ok + b"\n")
    assert drain(reader) == [Result("k", "v" * 64)]
    reader.receive_data(ok + b" \n" + ok + b"\n")
    with pytest.raises(FrameTooLarge, match="over 100 bytes"):
        reader.next_message()
    with pytest.raises(FrameTooLarge):
        reader.next_message()


def test_a_message_over_the_limit_is_refused_before_its_newline_arrives() -> None:
    reader = LinkReader("t0k", max_message=100)
    reader.receive_data(HELLO + b"x" * 100)
    assert reader.next_message() is None
    reader.receive_data(b"x")
    with pytest.raises(FrameTooLarge):
        reader.next_message()


def test_a_long_message_cut_into_many_chunks_is_read_once() -> None:
    line = link.encode_message(Plot("long", [float(i) for i in range(20_000)], [0.0] * 20_000))
    chunks = [HELLO] + [line[i:i + 1000] for i in range(0, len(line), 1000)]
    assert read_all(chunks) == [Plot("long", [float(i) for i in range(20_000)], [0.0] * 20_000)]


# -- fuzz: only the documented errors ----------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
numbers = st.lists(st.none() | st.integers() | st.floats() | st.booleans(), max_size=4)
fields = {
    "op": st.sampled_from([*link.OPS, "nope", ""]) | json_values,
    "token": st.sampled_from(["t0k", ""]) | json_values,
    "series": st.text(max_size=3) | st.text(min_size=99, max_size=102) | json_values,
    "x": numbers | json_values,
    "y": numbers | json_values,
    "fraction": st.floats() | st.integers() | json_values,
    "message": st.text(max_size=4) | json_values,
    "key": st.text(max_size=4) | json_values,
    "value": json_values,
}
messages = st.fixed_dictionaries({}, optional=fields)


def check(line: bytes) -> None:
    try:
        message = link.decode_message(line)
    except (BadRequest, UnknownOp) as exc:
        assert exc.message
    else:
        assert isinstance(message, get_args(link.Message))
        assert link.decode_message(link.encode_message(message)) == message


def as_line(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8", "surrogatepass")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes(line: bytes) -> None:
    check(line)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_random_json_values(value: Any) -> None:
    check(as_line(value))


@settings(max_examples=500, deadline=None)
@given(messages)
def test_random_message_shaped_objects(obj: dict[str, Any]) -> None:
    check(as_line(obj))
    check(json.dumps(obj).encode())  # non-ASCII as escapes, lone surrogates included


@settings(max_examples=200, deadline=None)
@given(st.lists(messages | st.binary(max_size=40), max_size=6), st.integers(1, 50), st.booleans())
def test_random_streams_in_random_chunks(items: list[Any], size: int, eof: bool) -> None:
    stream = HELLO + b"".join((x if isinstance(x, bytes) else as_line(x)) + b"\n" for x in items)
    reader = LinkReader("t0k", max_message=120)
    for i in range(0, len(stream), size):
        reader.receive_data(stream[i:i + size])
        if not _read_on(reader):
            return
    if eof:
        reader.receive_eof()
        _read_on(reader)


def _read_on(reader: LinkReader) -> bool:
    """Read what is there as the runner does; ``False`` once the stream must close."""
    while True:
        try:
            if reader.next_message() is None:
                return True
        except (BadRequest, UnknownOp):
            continue
        except FrameTooLarge:
            return False
