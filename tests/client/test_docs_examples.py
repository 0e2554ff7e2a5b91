"""The Python client's examples in the docs run as written against a real server."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from labdeck import Deck
from tests.conftest import ws_url
from tests.objects.samples import Sample

DOCS = Path(__file__).resolve().parents[2] / "docs"
DEFAULT_URL = "ws://127.0.0.1:8888/ws"


def blocks(page: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(encoding="utf-8"), re.S)


async def run(code: str, deck: Deck) -> None:
    assert DEFAULT_URL in code
    source = code.replace(DEFAULT_URL, ws_url(deck))
    # Each example makes its own event loop (asyncio.run) or thread: run it off this one.
    await asyncio.to_thread(exec, compile(source, "example", "exec"), {"__name__": "example"})


@pytest.fixture
def sample(deck: Deck) -> Sample:
    obj = Sample()
    deck.expose("sample", obj)
    return obj


async def test_the_reference_examples(deck: Deck, sample: Sample, capsys: pytest.CaptureFixture[str]) -> None:
    first, second, address = blocks("reference/python-client.md")
    await run(first, deck)
    assert capsys.readouterr().out == "9\n"
    await run(second, deck)
    assert capsys.readouterr().out == "hello\n"
    exec(compile(address, "example", "exec"), {"__name__": "example"})
    assert capsys.readouterr().out == "wss://lab.example:8443/deck/ws\n"


async def test_the_protocol_pages_examples(deck: Deck, sample: Sample, capsys: pytest.CaptureFixture[str]) -> None:
    follow, sync = (code for code in blocks("topics/protocol.md") if "labdeck.client" in code)
    for i in range(10):
        await deck.hub.publish("demo/sine", i / 10)
    await run(follow, deck)
    assert capsys.readouterr().out == "".join(f"{i + 1} {i / 10}\n" for i in range(10))
    await run(sync, deck)
    assert capsys.readouterr().out == "9\n"
