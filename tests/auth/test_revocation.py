"""Notices on the control channel: exact bytes both ways, and anything else ignored."""

from __future__ import annotations

import pytest

from labdeck.auth.revocation import MAX_NOTICE, Notice, parse


def test_a_notice_reads_back_from_its_bytes() -> None:
    assert parse(b'{"kind":"token","name":"scanner-pc"}') == Notice("token", "scanner-pc")
    assert parse(b'{"kind":"session"}') == Notice("session")


@pytest.mark.parametrize("raw", [
    b"", b"not json", b"[]", b'{"kind": "everything"}', b'{"kind": "session", "extra": 1}',
    b'{"kind": "token", "name": 5}', b'{"name": "x"}', b'{"kind": "session"}' + b" " * MAX_NOTICE,
    b'{"kind": "session"', "é".encode("latin-1"),
])
def test_what_is_not_a_notice_is_ignored(raw: bytes) -> None:
    assert parse(raw) is None
