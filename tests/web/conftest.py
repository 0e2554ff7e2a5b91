"""Fixtures for the web tests: a scratch lab with a run history and an upload folder."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from labdeck import Deck
from tests.helpers import runner_of

RUNS = 3


def write_lab(folder: Path, extra: str = "") -> Path:
    """A project folder with one quick script and an upload folder that may be overwritten."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "main.py").write_text("from labdeck import script\nprint('hello')\nscript.plot(1, 2)\n")
    toml = folder / "labdeck.toml"
    toml.write_text(
        f'{extra}\n[scripts]\nmain = "main.py"\n'
        '[run]\nupload_dirs = { stimuli = "stimuli" }\nupload_max = 4096\nupload_overwrite = true\n'
    )
    (folder / "stimuli").mkdir(exist_ok=True)
    return toml


async def run_history(deck: Deck, count: int = RUNS) -> list[int]:
    """Run the lab's script ``count`` times to the end; the ids of the runs."""
    ids = []
    for _ in range(count):
        ids.append(await runner_of(deck).run("main"))
        assert (await runner_of(deck).wait())["state"] == "finished"
    return ids


@pytest.fixture
async def lab(make_deck: Callable[..., Deck], tmp_path: Path) -> AsyncIterator[Deck]:
    """A started deck for a scratch project with :data:`RUNS` finished runs in its history."""
    deck = make_deck(write_lab(tmp_path / "lab"))
    await deck.start()
    try:
        await run_history(deck)
        yield deck
    finally:
        await deck.stop()
