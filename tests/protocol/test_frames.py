"""Server websocket frames against the bytes RFC 6455 gives (a browser reading them is
tested end to end in ``tests/hub/test_backpressure.py``)."""

from __future__ import annotations

import struct

import pytest

from labdeck.protocol.frames import header_size, text_frame


def test_a_short_text_frame_is_the_rfcs_hello_example() -> None:
    # RFC 6455 section 5.7: "A single-frame unmasked text message ... contains "Hello""
    assert text_frame(b"Hello") == bytes([0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])


@pytest.mark.parametrize(
    ("length", "header"),
    [
        (0, b"\x81\x00"),
        (125, b"\x81\x7d"),
        (126, b"\x81\x7e\x00\x7e"),  # the first length that needs the 16-bit form
        (256, b"\x81\x7e\x01\x00"),  # section 5.7's 256-byte example, as text
        (65535, b"\x81\x7e\xff\xff"),
        (65536, b"\x81\x7f" + struct.pack("!Q", 65536)),  # section 5.7's 64 KiB example
    ],
)
def test_the_length_takes_the_shortest_form_at_every_boundary(length: int, header: bytes) -> None:
    payload = b"x" * length
    frame = text_frame(payload)
    assert frame == header + payload
    assert header_size(length) == len(header)
