"""The rig protocol's pure core: exact bytes, framing, signing, delivery state, iblutil's format."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labdeck.exceptions import BadRequest, IllegalTransition, LabdeckError
from labdeck.protocol import rig, rigflow, rigibl
from labdeck.protocol.rig import Ack, Event, FrameReader, Reply, Request
from labdeck.protocol.rigflow import Inbox, Outbox, RigState, Seen, SendEvent, SendState
from labdeck.protocol.rigibl import ArraySplitter, IblEvent

EXACT: list[tuple[rig.Message, bytes]] = [
    (Request(7, Event.INIT, 1.5, {"subject": "algernon"}),
     b'{"t":"req","id":7,"ev":"init","at":1.5,"data":{"subject":"algernon"}}'),
    (Request(8, Event.STATUS, 2.0), b'{"t":"req","id":8,"ev":"status","at":2.0}'),
    (Ack(7), b'{"t":"ack","id":7}'),
    (Reply(7, ok=True, data=[1, 2]), b'{"t":"rep","id":7,"ok":true,"data":[1,2]}'),
    (Reply(7, ok=False, error="no camera"), b'{"t":"rep","id":7,"ok":false,"error":"no camera"}'),
]


@pytest.mark.parametrize(("msg", "wire"), EXACT)
def test_every_message_round_trips_through_exact_bytes(msg: rig.Message, wire: bytes) -> None:
    assert rig.encode(msg) == wire
    assert rig.decode(wire) == msg


def test_a_signed_message_is_its_mac_then_the_same_json() -> None:
    key = b"lab secret"
    wire = rig.encode(Request(1, Event.START, 100.0, "2026-12-02_1_algernon"), key)
    assert len(wire) == 64 + len(rig.encode(Request(1, Event.START, 100.0, "2026-12-02_1_algernon")))
    assert rig.decode(wire, key, now=101.0).id == 1


@pytest.mark.parametrize("tamper", ["other key", "flipped byte", "unsigned", "too old", "from the future"])
def test_a_signed_link_refuses_forged_and_replayed_messages(tamper: str) -> None:
    key = b"lab secret"
    wire = rig.encode(Request(1, Event.STOP, 100.0), key)
    now = 100.0
    if tamper == "other key":
        wire = rig.encode(Request(1, Event.STOP, 100.0), b"guess")
    elif tamper == "flipped byte":
        wire = wire[:-3] + b"1" + wire[-2:]
    elif tamper == "unsigned":
        wire = rig.encode(Request(1, Event.STOP, 100.0))
    elif tamper == "too old":
        now = 131.0
    else:
        now = 69.0
    with pytest.raises(BadRequest):
        rig.decode(wire, key, now=now)


@pytest.mark.parametrize("bad", [b"", b"[]", b'{"t":"req"}', b'{"t":"nope","id":1}', b"\xff", b'{"t":"ack","id":"1"}',
                                 b'{"t":"req","id":1,"ev":"dance","at":0}', b'{"t":"ack","id":1,"x":2}'])
def test_malformed_messages_are_bad_requests(bad: bytes) -> None:
    with pytest.raises(BadRequest):
        rig.decode(bad)


def test_an_oversized_message_is_refused_before_parsing() -> None:
    with pytest.raises(BadRequest, match="over the limit"):
        rig.decode(b" " * (rig.MAX_MESSAGE + 1))


STREAM = b"".join(rig.frame(wire) for _, wire in EXACT)


def test_frames_whole_byte_by_byte_and_with_trailing_data() -> None:
    payloads = [wire for _, wire in EXACT]
    assert FrameReader().feed(STREAM) == payloads
    reader = FrameReader()
    got = [p for i in range(len(STREAM)) for p in reader.feed(STREAM[i : i + 1])]
    assert got == payloads
    reader = FrameReader()
    assert reader.feed(STREAM + rig.frame(b"half")[:5]) == payloads
    assert reader.pending == 5
    assert reader.feed(b"alf") == [b"half"]


def test_frames_one_per_read_each_come_out_alone() -> None:
    reader = FrameReader()
    for _, wire in EXACT:
        assert reader.feed(rig.frame(wire)) == [wire]
        assert reader.pending == 0
    assert reader.feed(rig.frame(b"")) == [b""]
    assert reader.feed(rig.frame(b"ab")[:4]) == []  # a header alone is kept, not taken for a frame
    assert reader.feed(b"ab") == [b"ab"]


def test_a_frame_announcing_too_much_is_refused() -> None:
    with pytest.raises(BadRequest):
        FrameReader(limit=10).feed(rig.frame(b"x" * 11))


# -- delivery state ------------------------------------------------------------------


def test_the_send_table_names_state_and_event_on_an_illegal_step() -> None:
    assert rigflow.next_send_state(SendState.SENT, SendEvent.ANSWER) is SendState.ANSWERED
    with pytest.raises(IllegalTransition, match=r"'answered'.*'ack'"):
        rigflow.next_send_state(SendState.ANSWERED, SendEvent.ACK)


def test_unacknowledged_requests_are_resent_with_backoff_until_the_deadline() -> None:
    box = Outbox(first_retry=0.125, max_retry=0.25)  # binary fractions: exact clock arithmetic
    box.add(1, b"one", now=0.0, timeout=1.0)
    resent = [t / 8 for t in range(10) if box.due(t / 8)]
    assert resent == [0.125, 0.375, 0.625, 0.875]  # waits of 0.125, 0.25, then the cap, until the deadline
    assert [e.id for e in box.expired(1.0)] == [1]
    assert len(box) == 0 and box.next_wakeup() is None


def test_an_acknowledged_request_is_polled_slowly_and_an_answer_ends_it_once() -> None:
    box = Outbox(first_retry=0.1, answer_poll=1.0)
    box.add(1, b"one", 0.0, 5.0)
    box.add(2, b"two", 0.0, 5.0)
    assert box.ack(1) and not box.ack(3)
    assert [e.id for e in box.due(0.2)] == [2]
    assert 1 in [e.id for e in box.due(1.0)]  # 2 is still backing off, 1 is polled once a second
    done = box.answer(1)
    assert done is not None and done.state is SendState.ANSWERED
    assert box.answer(1) is None  # a duplicated answer is dropped
    assert not box.ack(1)


def test_iblutil_mode_never_resends() -> None:
    box = Outbox(retransmit=False)
    box.add(1, b"x", 0.0, 1.0)
    assert box.due(0.9) == []
    assert len(box.expired(1.0)) == 1


def test_the_inbox_runs_a_request_once_and_answers_repeats_from_its_cache() -> None:
    inbox = Inbox(keep=10.0)
    assert inbox.receive("a", 1, 0.0) == (Seen.NEW, None)
    assert inbox.receive("a", 1, 0.1) == (Seen.RUNNING, None)
    assert inbox.receive("b", 1, 0.1) == (Seen.NEW, None)  # ids are per peer
    inbox.answered("a", 1, b"answer", 0.2)
    assert inbox.receive("a", 1, 0.3) == (Seen.ANSWERED, b"answer")
    assert inbox.receive("a", 1, 20.0) == (Seen.NEW, None)  # forgotten long after any deadline


def test_the_inbox_keeps_at_most_its_limit_forgetting_the_oldest_first() -> None:
    inbox = Inbox(limit=2)
    for rid in (1, 2, 3):
        assert inbox.receive("a", rid, 0.0) == (Seen.NEW, None)
    assert inbox.receive("a", 3, 0.1) == (Seen.RUNNING, None)
    assert inbox.receive("a", 1, 0.1) == (Seen.NEW, None)  # 1 went to make room for 3


def test_the_inbox_checks_without_recording_and_an_answer_given_at_once_is_one_entry() -> None:
    inbox = Inbox(keep=10.0, limit=2)
    assert inbox.check("a", 1, 0.0) == (Seen.NEW, None)
    assert inbox.check("a", 1, 0.0) == (Seen.NEW, None)  # a check alone records nothing
    inbox.answered("a", 1, b"one", 0.0)  # an inline handler's answer, written once
    assert inbox.check("a", 1, 0.1) == (Seen.ANSWERED, b"one")
    inbox.running("a", 2, 0.1)
    assert inbox.check("a", 2, 0.1) == (Seen.RUNNING, None)
    inbox.answered("a", 3, b"three", 0.2)  # at the limit: the oldest (1) makes room
    assert inbox.check("a", 1, 0.3) == (Seen.NEW, None)
    assert inbox.check("a", 3, 0.3) == (Seen.ANSWERED, b"three")


def test_recent_messages_drop_a_copy_within_the_window_only() -> None:
    recent = rigflow.RecentMessages(window=0.5)
    assert not recent.repeated("a", b"[1, null]", 0.0)
    assert recent.repeated("a", b"[1, null]", 0.1)
    assert not recent.repeated("b", b"[1, null]", 0.1)
    assert not recent.repeated("a", b"[1, null]", 0.7)
    never = rigflow.RecentMessages(window=0.0)  # on a stream: the same bytes twice are two messages
    assert not never.repeated("a", b"[1, null]", 0.0) and not never.repeated("a", b"[1, null]", 0.0)


def test_rig_states() -> None:
    s = rigflow.rig_state_after
    assert s(RigState.UNKNOWN, Event.INIT, "ok") is RigState.INITIALISED
    assert s(RigState.INITIALISED, Event.START, "ok") is RigState.RUNNING
    assert s(RigState.RUNNING, Event.INTERRUPT, "ok") is RigState.STOPPED
    assert s(RigState.STOPPED, Event.CLEANUP, "ok") is RigState.CONNECTED
    assert s(RigState.RUNNING, Event.STATUS, "ok") is RigState.RUNNING
    assert s(RigState.LOST, Event.STATUS, "ok") is RigState.CONNECTED
    assert s(RigState.RUNNING, Event.STOP, "timeout") is RigState.LOST
    assert s(RigState.RUNNING, Event.STOP, "error") is RigState.RUNNING


# -- iblutil's format ----------------------------------------------------------------

IBL_EXACT: list[tuple[int, list[Any], bytes]] = [
    (1, [{"subject": "algernon"}], b'[1, {"subject": "algernon"}]'),
    (2, ["2026-12-02_1_algernon", None], b'[2, "2026-12-02_1_algernon", null]'),
    (4, [None], b"[4, null]"),
    (32, [20], b"[32, 20]"),
    (64, [20, {"\u00e9": 1.5}], b'[64, 20, {"\\u00e9": 1.5}]'),
    (128, [None, {}], b"[128, null, {}]"),
]


@pytest.mark.parametrize(("event", "args", "wire"), IBL_EXACT)
def test_iblutil_messages_are_byte_for_byte_what_json_dumps_writes(event: int, args: list[Any], wire: bytes) -> None:
    assert rigibl.encode_ibl(event, args) == wire == json.dumps([event, *args]).encode()
    msg = rigibl.decode_ibl(wire)
    assert (msg.event, msg.args) == (event, args)


def test_an_iblutil_error_names_the_failed_event() -> None:
    wire = rigibl.encode_ibl_error("camera missing", IblEvent.INIT)
    assert wire == b'[0, "Err: camera missing", 1]'
    msg = rigibl.decode_ibl(wire)
    assert msg.is_error and msg.error == ("Err: camera missing", 1)


def test_iblutil_events_map_to_labdeck_events() -> None:
    assert [e.event for e in IblEvent] == [Event.INIT, Event.START, Event.STOP, Event.CLEANUP, Event.INTERRUPT,
                                           Event.STATUS, Event.INFO, Event.TOKEN]
    assert all(IblEvent.of(e.event) is e for e in IblEvent)


@pytest.mark.parametrize("bad", [b"", b"{}", b"[1]", b"[3, null]", b"[true, 1]", b'["1", 2]', b"\xff[", b"[[[["])
def test_malformed_iblutil_messages_are_bad_requests(bad: bytes) -> None:
    with pytest.raises(BadRequest):
        rigibl.decode_ibl(bad)


IBL_STREAM = b"".join(w for _, _, w in IBL_EXACT) + b'[1, "a ] tricky \\" [ string"]'


def test_the_splitter_finds_messages_whole_byte_by_byte_and_with_trailing_data() -> None:
    expected = [w for _, _, w in IBL_EXACT] + [b'[1, "a ] tricky \\" [ string"]']
    assert ArraySplitter().feed(IBL_STREAM) == expected
    splitter = ArraySplitter()
    assert [m for i in range(len(IBL_STREAM)) for m in splitter.feed(IBL_STREAM[i : i + 1])] == expected
    splitter = ArraySplitter()
    assert splitter.feed(IBL_STREAM + b"\n[4, nu") == expected
    assert splitter.feed(b"ll]") == [b"[4, null]"]


def test_the_splitter_refuses_a_stream_that_is_not_arrays() -> None:
    with pytest.raises(BadRequest):
        ArraySplitter().feed(b'{"t":"ack"}')
    with pytest.raises(BadRequest):
        ArraySplitter(limit=8).feed(b"[1, 2, 3, 4, 5]"[:-1])


# -- fuzz: only the documented error comes out ---------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_random_bytes_decode_or_raise_bad_request(data: bytes) -> None:
    for parse in (rig.decode, rigibl.decode_ibl, lambda d: rig.decode(d, b"k", now=0.0),
                  lambda d: FrameReader(limit=64).feed(d), lambda d: ArraySplitter(limit=64).feed(d)):
        try:
            parse(data)
        except BadRequest as exc:
            assert isinstance(exc, LabdeckError) and exc.message


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 2**31) | st.text(max_size=5) | st.none(), max_size=4), st.integers(1, 40))
def test_any_stream_of_iblutil_messages_splits_back_into_them(items: list[Any], cut: int) -> None:
    messages = [rigibl.encode_ibl(1, [x, items]) for x in items] or [b"[1, 0]"]
    stream = b"".join(messages)
    splitter = ArraySplitter()
    got = [m for i in range(0, len(stream), cut) for m in splitter.feed(stream[i : i + cut])]
    assert got == messages
