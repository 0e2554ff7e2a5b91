"""Cutting a byte stream into log lines: whole, byte by byte, in any chunks, with bounds."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from labdeck.runner.process import CONTINUED, LineSplitter


def _lines(chunks: list[bytes], limit: int) -> list[str]:
    s = LineSplitter(limit)
    out = [line for chunk in chunks for line in s.feed(chunk)]
    return out + s.close()


def test_lines_long_lines_and_a_last_line_without_newline() -> None:
    assert _lines([b"abc\n" + b"x" * 25 + b"\nshort\r\nsh", b"ort2"], 10) == [
        "abc", "xxxxxxxxxx" + CONTINUED, "xxxxxxxxxx" + CONTINUED, "xxxxx", "short", "short2"]


def test_a_cut_never_splits_a_character() -> None:
    assert _lines(["é".encode() * 8], 9) == ["éééé" + CONTINUED, "éééé"]


def test_garbage_is_replaced_not_raised() -> None:
    assert _lines([b"\xff\xfe ok\n\xc3"], 64) == ["\ufffd\ufffd ok", "\ufffd"]


@given(st.binary(max_size=300), st.lists(st.integers(0, 300), max_size=10), st.integers(4, 40))
def test_any_chunking_gives_the_same_lines(data: bytes, cuts: list[int], limit: int) -> None:
    points = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    chunks = [data[a:b] for a, b in itertools.pairwise(points)]
    whole = _lines([data], limit)
    assert _lines(chunks, limit) == whole
    assert _lines([bytes([b]) for b in data], limit) == whole
    # each source byte gives at most one character; a piece may finish a character begun before it
    assert all(len(line.removesuffix(CONTINUED)) <= limit + 3 for line in whole)


@given(st.text(alphabet="ab\n", max_size=300), st.integers(1, 40))
def test_ascii_text_comes_back_exactly(text: str, limit: int) -> None:
    lines = _lines([text.encode()], limit)
    assert all(len(line.removesuffix(CONTINUED)) <= limit for line in lines)
    rebuilt = "".join(line.removesuffix(CONTINUED) if line.endswith(CONTINUED) else line + "\n" for line in lines)
    assert rebuilt.removesuffix("\n") == text.removesuffix("\n")
