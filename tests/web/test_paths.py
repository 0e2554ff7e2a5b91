"""Hostile paths on every route that takes one: the dashboard's static files, a
capability's static folder, upload folders and run ids. Encoded, double-encoded,
backslashed, over-long-UTF-8, fullwidth, NUL and over-long paths never reach a file
outside its root, never cost a 500, and the server keeps serving."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import ClassVar

import aiohttp
import pytest
from yarl import URL

from labdeck import Deck
from labdeck.capability import Capability

SECRET = "labdeck-path-secret-3f9c"
ESCAPES = [
    "../{target}", "..%2f{target}", "%2e%2e/{target}", "%2e%2e%2f{target}", "%252e%252e%252f{target}",
    "..%5c{target}", "..\\{target}", "%c0%ae%c0%ae/{target}", "%ef%bc%8e%ef%bc%8e%ef%bc%8f{target}",
    "....//{target}", "%2e%2e%00/{target}", "{target}%00.js", "/{target}", "%2f{target}",
]


class Shelf(Capability):
    """A capability with a static folder, to aim at."""

    name = "shelf"
    static: ClassVar[Path | None] = None


@pytest.fixture
async def deck(make_deck: Callable[..., Deck], tmp_path: Path) -> AsyncIterator[Deck]:
    project = tmp_path / "project"
    (project / "incoming").mkdir(parents=True)
    (project / "shelf").mkdir()
    (project / "shelf" / "panel.js").write_text("export default {};\n")
    (project / "secret.txt").write_text(SECRET)
    (tmp_path / "secret.txt").write_text(SECRET)
    (project / "labdeck.toml").write_text('[run.upload_dirs]\nincoming = "incoming"\n')
    Shelf.static = project / "shelf"
    d = Deck(make_deck(project / "labdeck.toml").config, capabilities=[Shelf])
    await d.start()
    try:
        yield d
    finally:
        await d.stop()


async def fetch(http: aiohttp.ClientSession, url: str, method: str = "GET") -> tuple[int, str]:
    target = URL(url, encoded=True)
    async with http.request(method, target, headers={"Origin": str(target.origin())}) as reply:
        return reply.status, await reply.text(errors="replace")


@pytest.mark.parametrize("escape", ESCAPES)
@pytest.mark.parametrize("root", ["static/", "static/panels/", "static/cap/shelf/"])
async def test_static_roots_hold(deck: Deck, root: str, escape: str) -> None:
    async with aiohttp.ClientSession() as http:
        for target in ("secret.txt", "../secret.txt", "labdeck.toml", "etc/passwd"):
            status, body = await fetch(http, deck.url + root + escape.format(target=target))
            assert status in (400, 403, 404), (root, escape, target, status)
            assert SECRET not in body and "root:" not in body
        assert (await fetch(http, f"{deck.url}healthz"))[0] == 200


@pytest.mark.parametrize("escape", ESCAPES)
async def test_upload_folder_names_hold(deck: Deck, escape: str) -> None:
    async with aiohttp.ClientSession() as http:
        for method in ("GET", "POST"):
            status, body = await fetch(http, deck.url + "api/uploads/" + escape.format(target="incoming"), method)
            assert status in (400, 403, 404, 405), (escape, method, status)
            assert SECRET not in body


@pytest.mark.parametrize("run", ["1.0", "-1", "0x1", "\uff11", "1%00", "9" * 30, "1e3", "%31", "..%2f1"])
async def test_run_ids_hold(deck: Deck, run: str) -> None:
    async with aiohttp.ClientSession() as http:
        for tail in ("", "/log", "/data.csv"):
            status, _ = await fetch(http, f"{deck.url}api/runs/{run}{tail}")
            assert status in (400, 404), (run, tail, status)


async def test_over_long_paths_are_refused_not_failed(deck: Deck) -> None:
    async with aiohttp.ClientSession() as http:
        for root in ("static/", "static/cap/shelf/", "api/uploads/", "api/runs/"):
            status, _ = await fetch(http, deck.url + root + "a" * 5000)
            assert status in (400, 404, 414), (root, status)
        assert (await fetch(http, f"{deck.url}static/cap/shelf/panel.js"))[0] == 200


async def test_the_dashboards_files_are_revalidated_so_an_upgrade_is_seen(deck: Deck) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{deck.url}static/app.js") as first:
            assert first.status == 200 and first.headers["Cache-Control"] == "no-cache"
            etag = first.headers["ETag"]
        async with http.get(f"{deck.url}static/app.js", headers={"If-None-Match": etag}) as again:
            assert again.status == 304  # unchanged: nothing sent again
