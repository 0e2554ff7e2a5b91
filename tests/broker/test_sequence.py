"""The sequencer: live messages in any order and with duplicates come out once, in seq
order; holes are named; lost seqs become one gap."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from labdeck.broker import Message
from labdeck.broker.sequence import Sequencer


def msg(seq: int, ch: str = "a") -> Message:
    return Message(ch, seq, 0.0, b"%d" % seq)


def seqs(messages: list[Message]) -> list[int]:
    return [m.seq for m in messages]


def test_messages_wait_until_anchored_and_covered_seqs_are_dropped() -> None:
    s = Sequencer()
    s.track("a")
    assert s.accept(msg(4)) == [] and s.accept(msg(5)) == []
    assert seqs(s.anchor("a", 4)) == [5]  # 4 was covered by the replay
    assert seqs(s.accept(msg(6))) == [6]
    assert s.hole("a") is None


def test_an_untracked_channel_and_duplicates_give_nothing() -> None:
    s = Sequencer()
    assert s.accept(msg(1, "b")) == []
    s.track("a")
    s.anchor("a", 0)
    assert seqs(s.accept(msg(1))) == [1]
    assert s.accept(msg(1)) == []


def test_a_hole_is_named_and_filled_in_order() -> None:
    s = Sequencer()
    s.track("a")
    s.anchor("a", 2)
    assert s.accept(msg(6)) == []
    assert s.hole("a") == (3, 5)
    assert s.accept(msg(4)) == []
    assert s.hole("a") == (3, 3)
    assert seqs(s.accept(msg(3))) == [3, 4]
    assert s.hole("a") == (5, 5)
    assert seqs(s.accept(msg(5))) == [5, 6]
    assert s.hole("a") is None


def test_a_seq_known_from_the_store_is_a_hole_at_the_tail() -> None:
    s = Sequencer()
    s.track("a")
    s.anchor("a", 3)
    s.known("a", 7)
    assert s.hole("a") == (4, 7)


def test_lost_seqs_become_one_gap_and_what_follows_is_delivered() -> None:
    s = Sequencer()
    s.track("a")
    s.anchor("a", 0)
    s.accept(msg(9))
    lost, ready = s.skip("a", 6)
    assert lost == (1, 6) and ready == []
    assert s.hole("a") == (7, 8)
    assert seqs(s.accept(msg(7)) + s.accept(msg(8))) == [7, 8, 9]
    assert s.skip("a", 5) == (None, [])


@given(st.permutations(list(range(1, 30))), st.lists(st.integers(1, 29), max_size=20))
def test_any_arrival_order_with_duplicates_comes_out_once_in_order(order: list[int], dups: list[int]) -> None:
    s = Sequencer()
    s.track("a")
    s.anchor("a", 0)
    out: list[Message] = []
    for seq in [*order[:10], *dups, *order[10:]]:
        out += s.accept(msg(seq))
    assert seqs(out) == list(range(1, 30))
    assert s.hole("a") is None
