"""A scratch project with pages: a static site, a template site, a listing root, a public site."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from labdeck import Deck

PAGES = """
[run]
default_config = "run.toml"

[pages.stimulus]
folder = "pages/stimulus"
templates = "pages/stimulus/templates"
values = { title = "Stimulus <control>", note = "<script>alert(1)</script>" }

[pages.data]
route = "/files/data"
folder = "data"
listing = true

[pages.welcome]
folder = "pages/welcome"
role = "public"

[pages.console]
templates = "pages/console"
role = "operator"
"""

INDEX = "<!doctype html><title>stim</title><p>stimulus home</p>"
CONTROL = """{% extends "labdeck/layout.html" %}
{% block title %}{{ values.title }}{% endblock %}
{% block content %}<h1 data-testid="title">{{ values.title }}</h1>
<p data-testid="note">{{ values.note }}</p>
<p data-testid="contrast">{{ project.config.stimulus.contrast }}</p>
<p data-testid="q">{{ query.q }}</p>
<p data-testid="me">{{ user or "nobody" }}/{{ role or "none" }}</p>
{% endblock %}
"""


def write_pages(folder: Path, extra: str = "") -> Path:
    """The project of the module docstring in ``folder``; its config file."""
    stim = folder / "pages" / "stimulus"
    (stim / "templates").mkdir(parents=True)
    (stim / "index.html").write_text(INDEX)
    (stim / "style.css").write_text("p { color: red; }")
    (stim / ".secret").write_text("hidden")
    (stim / "templates" / "control.html").write_text(CONTROL)
    (folder / "pages" / "welcome").mkdir()
    (folder / "pages" / "welcome" / "index.html").write_text("<p>welcome</p>")
    (folder / "pages" / "console").mkdir()
    (folder / "pages" / "console" / "index.html").write_text(
        '{% extends "labdeck/layout.html" %}{% block content %}<p>console</p>{% endblock %}')
    data = folder / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.txt").write_text("alpha\n")
    (data / "big.bin").write_bytes(bytes(range(256)) * 8192)  # 2 MiB
    (data / "scan.json").write_text("{}")
    (data / "sub" / "b.csv").write_text("1,2\n")
    (folder / "outside.txt").write_text("outside the roots")
    os.symlink(folder / "outside.txt", data / "escape.txt")
    (folder / "run.toml").write_text("[stimulus]\ncontrast = 0.75\n")
    toml = folder / "labdeck.toml"
    toml.write_text(PAGES + extra)
    return toml


@pytest.fixture
async def site(make_deck: Callable[..., Deck], tmp_path: Path) -> AsyncIterator[Deck]:
    """A started deck (open mode) serving the pages of :func:`write_pages`."""
    deck = make_deck(write_pages(tmp_path / "lab"))
    await deck.start()
    try:
        yield deck
    finally:
        await deck.stop()
