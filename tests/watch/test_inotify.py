"""The inotify seam: kernel records parsed from exact bytes, and a real instance."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from labdeck.watch import inotify as ino

pytestmark = pytest.mark.skipif(not ino.available(), reason="inotify is Linux only")


def record(wd: int, mask: int, name: bytes, pad: int = 16) -> bytes:
    raw = name + b"\0" * (pad - len(name)) if name else b""
    return struct.pack("iIII", wd, mask, 0, len(raw)) + raw


def test_records_are_parsed_whole_with_padding_and_undecodable_names() -> None:
    buf = record(1, ino.IN_CLOSE_WRITE, b"a.dcm") + record(2, ino.IN_CREATE | ino.IN_ISDIR, b"sub") \
        + record(1, ino.IN_DELETE_SELF, b"") + record(3, ino.IN_MOVED_TO, b"\xff.dcm")
    events = ino.parse_events(buf)
    assert [(e.wd, e.mask, e.name) for e in events] == [
        (1, ino.IN_CLOSE_WRITE, "a.dcm"), (2, ino.IN_CREATE | ino.IN_ISDIR, "sub"), (1, ino.IN_DELETE_SELF, ""),
        (3, ino.IN_MOVED_TO, os.fsdecode(b"\xff.dcm"))]


def test_a_truncated_trailing_header_is_not_an_event() -> None:
    assert ino.parse_events(record(1, ino.IN_CLOSE_WRITE, b"a") + b"\x01\x00") == [ino.InotifyEvent(1, 8, "a")]


def test_close_after_write_is_seen_and_a_bare_create_is_not(tmp_path: Path) -> None:
    watch = ino.Inotify()
    try:
        wd = watch.add_watch(str(tmp_path), ino.IN_CLOSE_WRITE)
        handle = (tmp_path / "x").open("wb")
        handle.write(b"half")
        handle.flush()
        assert watch.read() == []
        handle.close()
        assert watch.read() == [ino.InotifyEvent(wd, ino.IN_CLOSE_WRITE, "x")]
    finally:
        watch.close()


def test_a_symlinked_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    watch = ino.Inotify()
    try:
        with pytest.raises(OSError) as err:
            watch.add_watch(str(tmp_path / "link"))
        assert err.value.errno == 20  # ENOTDIR: IN_DONT_FOLLOW | IN_ONLYDIR
    finally:
        watch.close()
