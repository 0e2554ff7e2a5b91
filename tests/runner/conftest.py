"""Fixtures for runner tests: a project folder with scripts, and a deck serving it."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from labdeck import Deck
from tests.conftest import ws_url
from tests.helpers import WireClient

Project = Callable[..., Path]


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """``project(scripts={"main": source}, run={...}, files={...})`` writes a project folder
    (``labdeck.toml`` and one ``<name>.py`` per script) and returns the toml's path."""

    def make(scripts: dict[str, str] | None = None, run: dict[str, Any] | None = None,
             files: dict[str, str] | None = None, extra: str = "") -> Path:
        folder = tmp_path / "project"
        folder.mkdir(exist_ok=True)
        lines = ["[scripts]"]
        for name, source in (scripts or {}).items():
            (folder / f"{name}.py").write_text(textwrap.dedent(source))
            lines.append(f'{name} = "{name}.py"')
        lines.append(extra)
        lines.append("[run]")
        for key, value in {"grace_int": 0.5, "grace_term": 0.5, **(run or {})}.items():
            lines.append(f"{key} = {_toml(value)}")
        for name, text in (files or {}).items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(textwrap.dedent(text))
        toml = folder / "labdeck.toml"
        toml.write_text("\n".join(lines) + "\n")
        return toml

    return make


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    return repr(value)


@pytest.fixture
def start_deck(make_deck: Callable[..., Deck]) -> Callable[..., Any]:
    """``async with start_deck(toml) as deck``: a started deck for the project at ``toml``."""
    import contextlib

    @contextlib.asynccontextmanager
    async def start(toml: Path, **overrides: Any) -> AsyncIterator[Deck]:
        deck = make_deck(toml, **overrides)
        await deck.start()
        try:
            yield deck
        finally:
            await deck.stop()

    return start


async def connect(deck: Deck, *channels: str) -> WireClient:
    """A wire client subscribed to ``channels``."""
    c = WireClient(ws_url(deck))
    await c.connect()
    for ch in channels:
        await c.request("sub", ch=ch)
    return c


def log_lines(client: WireClient, run: int | None = None) -> list[dict[str, Any]]:
    """Every run/log line ``client`` received (of one run, if given), in order."""
    return [line for push in client.pushes["run/log"] if run is None or push["data"]["run"] == run
            for line in push["data"]["lines"]]


def states(client: WireClient) -> list[str]:
    return [p["data"]["state"] for p in client.pushes["run/status"]]
