"""Request paths inside a root: plain names found fast, symbolic links followed only inside."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from labdeck.exceptions import NotFound
from labdeck.pages.paths import resolve_inside


@pytest.fixture
def root(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    (site / "img").mkdir(parents=True)
    (site / "img" / "a.png").write_bytes(b"png")
    (tmp_path / "secret.txt").write_text("outside")
    os.symlink(site / "img" / "a.png", site / "logo.png")
    os.symlink(tmp_path / "secret.txt", site / "escape.txt")
    os.symlink(tmp_path, site / "up")
    return site


def test_plain_names_and_links_that_stay_inside_are_found(root: Path) -> None:
    assert resolve_inside(root, "img/a.png") == root.resolve() / "img" / "a.png"
    assert resolve_inside(root, "logo.png") == root.resolve() / "img" / "a.png"
    assert resolve_inside(root, "img/") == root.resolve() / "img"
    assert resolve_inside(root, "") == root.resolve()


@pytest.mark.parametrize("tail", ["escape.txt", "up/secret.txt", "img/missing.png",
                                  "img/a.png/x", "../secret.txt", ".hidden", "img/../a.png", "a\\b", "img\x00"])
def test_what_leads_outside_or_is_not_there_is_not_found(root: Path, tail: str) -> None:
    with pytest.raises(NotFound):
        resolve_inside(root, tail)
