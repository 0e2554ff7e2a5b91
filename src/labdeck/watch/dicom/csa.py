"""Siemens CSA headers (private tags 0029,xx10 and 0029,xx20): read, and written for tests.

The ``SV10`` layout: ``b"SV10\\4\\3\\2\\1"``, the tag count (uint32) and 77; per tag a
64-byte NUL-padded name, VM (int32), a 4-byte VR, the syngo data type, the item count
and 77 (or 205), then per item four int32 (the second is the item's length) and the
item's bytes padded to 4. Pure: bytes in, values out; anything malformed is ``{}``.
"""

from __future__ import annotations

import struct

__all__ = ["build_csa", "parse_csa"]

_MAGIC = b"SV10\x04\x03\x02\x01"
_TAG = struct.Struct("<64si4siii")
_MAX_ITEMS = 1024  # a real tag has at most a few hundred: more means a corrupt header


def parse_csa(data: bytes) -> dict[str, list[str]]:
    """Each tag's non-empty items, as text, by tag name; ``{}`` for anything but SV10."""
    if not data.startswith(_MAGIC) or len(data) < 16:
        return {}
    try:
        return _parse(data)
    except (struct.error, ValueError):
        return {}


def _parse(data: bytes) -> dict[str, list[str]]:
    (count,) = struct.unpack_from("<I", data, 8)
    offset, found = 16, {}
    for _ in range(min(count, 1024)):
        raw_name, _vm, _vr, _syngo, items, _ = _TAG.unpack_from(data, offset)
        offset += _TAG.size
        if items > _MAX_ITEMS:
            raise ValueError("corrupt CSA header")
        values = []
        for _ in range(items):
            length = struct.unpack_from("<4i", data, offset)[1]
            offset += 16
            if length < 0 or offset + length > len(data):
                raise ValueError("corrupt CSA header")
            text = data[offset:offset + length].split(b"\0", 1)[0].decode("latin-1").strip()
            offset += (length + 3) // 4 * 4
            if text:
                values.append(text)
        found[raw_name.split(b"\0", 1)[0].decode("latin-1")] = values
    return found


def build_csa(tags: dict[str, list[str]]) -> bytes:
    """An SV10 header holding ``tags`` (for generated test and demo series)."""
    out = bytearray(_MAGIC + struct.pack("<II", len(tags), 77))
    for name, values in tags.items():
        out += _TAG.pack(name.encode("latin-1"), 1, b"ST\0\0", 0, len(values), 77)
        for value in values:
            raw = value.encode("latin-1") + b"\0"
            out += struct.pack("<4i", len(raw), len(raw), 77, len(raw))
            out += raw + b"\0" * ((4 - len(raw) % 4) % 4)
    return bytes(out)
