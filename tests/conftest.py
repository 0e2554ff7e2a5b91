"""Fixtures: a real labdeck server on a loopback port with its data in a temporary folder."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from labdeck import Deck, load_config
from labdeck.capability import Capability
from tests.helpers import WireClient


@pytest.fixture
def make_deck(tmp_path: Path) -> Callable[..., Deck]:
    """Build (not start) a deck on an ephemeral loopback port with its data in ``tmp_path``:
    ``make_deck(config=None, capabilities=(), **overrides)``, where ``config`` is a
    project's config file, ``capabilities`` further capability classes to enable and
    ``**overrides`` are ``server_history=5``-style keys of the config."""

    def make(config: Path | None = None, capabilities: Sequence[type[Capability]] = (), **overrides: Any) -> Deck:
        dotted = {"server.port": 0, "server.data": str(tmp_path / "data")}
        dotted.update({k.replace("_", ".", 1): v for k, v in overrides.items()})
        return Deck(load_config(config, env={}, overrides=dotted), capabilities=capabilities)

    return make


@pytest.fixture
async def deck(make_deck: Callable[..., Deck]) -> AsyncIterator[Deck]:
    """A started deck with default settings."""
    d = make_deck()
    await d.start()
    try:
        yield d
    finally:
        await d.stop()


def ws_url(deck: Deck) -> str:
    return deck.url.replace("http://", "ws://") + "ws"


@pytest.fixture
async def client(deck: Deck) -> AsyncIterator[WireClient]:
    """A wire-protocol client connected to ``deck``."""
    async with WireClient(ws_url(deck)) as c:
        yield c
