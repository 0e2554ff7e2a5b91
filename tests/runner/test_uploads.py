"""Uploads into the project's data folders: limits, patterns, no overwrite, hostile names."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from tests.helpers import http_session
from tests.runner.conftest import Project

RULES = {"upload_dirs": {"data": "incoming", "open": "anything"}, "upload_max": 1000,
         "upload_patterns": ["*.csv", "*.txt"]}


async def _post(http: aiohttp.ClientSession, url: str, name: str, content: bytes) -> tuple[int, dict[str, Any]]:
    """A multipart upload written by hand, so the file name arrives exactly as given."""
    boundary = "b0undary1234"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
    resp = await http.post(url, data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    return resp.status, await resp.json()


async def test_upload_then_list(project: Project, start_deck: Callable[..., Any]) -> None:
    toml = project(run=RULES)
    async with start_deck(toml) as deck, http_session(deck.url) as http:
        url = f"{deck.url}api/uploads/data"
        status, body = await _post(http, url, "events.csv", b"a,b\n1,2\n")
        assert (status, body) == (201, {"path": "events.csv", "size": 8})
        assert (toml.parent / "incoming" / "events.csv").read_bytes() == b"a,b\n1,2\n"
        listing = await (await http.get(url)).json()
        assert [(f["name"], f["size"]) for f in listing["files"]] == [("events.csv", 8)]
        assert not [p for p in (toml.parent / "incoming").iterdir() if p.name.startswith(".")]  # no temp left


async def test_size_limit_patterns_and_no_overwrite(project: Project, start_deck: Callable[..., Any]) -> None:
    toml = project(run=RULES)
    async with start_deck(toml) as deck, http_session(deck.url) as http:
        url = f"{deck.url}api/uploads/data"
        status, body = await _post(http, url, "big.csv", b"x" * 1001)
        assert status == 413 and body["error"]["type"] == "TooLarge"
        assert await _post(http, url, "exact.csv", b"x" * 1000) == (201, {"path": "exact.csv", "size": 1000})
        status, body = await _post(http, url, "run.py", b"print(1)")
        assert status == 403 and "*.csv" in body["error"]["message"]
        status, body = await _post(http, url, "exact.csv", b"new")
        assert status == 409 and body["error"]["type"] == "AlreadyExists"
        assert (toml.parent / "incoming" / "exact.csv").read_bytes() == b"x" * 1000
        assert sorted(p.name for p in (toml.parent / "incoming").iterdir()) == ["exact.csv"]
        status, body = await _post(http, f"{deck.url}api/uploads/nope", "a.csv", b"1")
        assert status == 404
        assert (await http.post(url, data=b"raw body")).status == 400


async def test_overwrite_when_allowed(project: Project, start_deck: Callable[..., Any]) -> None:
    toml = project(run={**RULES, "upload_overwrite": True})
    async with start_deck(toml) as deck, http_session(deck.url) as http:
        url = f"{deck.url}api/uploads/data"
        assert (await _post(http, url, "a.txt", b"one"))[0] == 201
        assert (await _post(http, url, "a.txt", b"two!"))[1] == {"path": "a.txt", "size": 4}
        assert (toml.parent / "incoming" / "a.txt").read_bytes() == b"two!"


async def test_hostile_names_are_rejected(project: Project, start_deck: Callable[..., Any], tmp_path: Path) -> None:
    toml = project(run={**RULES, "upload_overwrite": True, "upload_patterns": ["*"]})
    incoming = toml.parent / "incoming"
    incoming.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (incoming / "escape").symlink_to(outside)
    (incoming / "victim.txt").symlink_to(outside / "victim.txt")
    async with start_deck(toml) as deck, http_session(deck.url) as http:
        url = f"{deck.url}api/uploads/data"
        for name in ("../x.csv", "/etc/passwd", "..", "sub/x.csv", "escape/x.csv", "..\\x.csv", ".hidden", "a\x01b"):
            status, body = await _post(http, url, name, b"evil")
            assert status == 400, name
            assert body["error"]["type"] == "BadRequest"
        # a name that is a symlink is replaced as a link, never written through
        assert (await _post(http, url, "victim.txt", b"safe"))[0] == 201
        assert not (incoming / "victim.txt").is_symlink()
        assert list(outside.iterdir()) == []
        assert not os.path.exists("/etc/passwd.part")


async def test_folders_are_listed_with_their_rules_but_not_their_paths(
        project: Project, start_deck: Callable[..., Any]) -> None:
    toml = project(run=RULES)
    async with start_deck(toml) as deck, http_session(deck.url) as http:
        resp = await http.get(f"{deck.url}api/uploads")
        assert resp.status == 200
        body = await resp.json()
        rules = {"max_bytes": 1000, "patterns": ["*.csv", "*.txt"], "overwrite": False, "overwrite_patterns": [],
                 "listable": True}
        assert body == {"dirs": [{"name": "data", **rules}, {"name": "open", **rules}]}
        assert "incoming" not in await resp.text() and str(toml.parent) not in await resp.text()
        doc = await (await http.get(f"{deck.url}api/openapi.json")).json()
        assert "/api/uploads" in doc["paths"]


async def test_no_folders_configured_is_an_empty_list(project: Project, start_deck: Callable[..., Any]) -> None:
    async with start_deck(project()) as deck, http_session(deck.url) as http:
        assert await (await http.get(f"{deck.url}api/uploads")).json() == {"dirs": []}


FOLDER_RULES = {"upload_max": 1000, "upload_patterns": ["*.csv"], "upload_dirs": {
    "stimuli": {"path": "stimuli", "create": ["*.png", "*.wav"], "overwrite": ["current.png"], "max_bytes": 10},
    "dropbox": {"path": "dropbox", "listable": False},
}}


async def test_each_folder_has_its_own_creation_and_overwrite_lists(
        project: Project, start_deck: Callable[..., Any]) -> None:
    toml = project(run=FOLDER_RULES)
    async with start_deck(toml) as deck, http_session(deck.url) as http:
        url = f"{deck.url}api/uploads/stimuli"
        assert (await _post(http, url, "a.png", b"png"))[0] == 201
        assert (await _post(http, url, "current.png", b"one"))[0] == 201
        assert (await _post(http, url, "current.png", b"two"))[0] == 201  # may be replaced
        assert (toml.parent / "stimuli" / "current.png").read_bytes() == b"two"
        status, body = await _post(http, url, "a.png", b"again")  # may be created, not replaced
        assert (status, body["error"]["type"]) == (409, "AlreadyExists")
        assert (toml.parent / "stimuli" / "a.png").read_bytes() == b"png"
        status, body = await _post(http, url, "data.csv", b"1")  # the [run] default does not apply here
        assert (status, body["error"]["type"]) == (403, "AccessDenied")
        status, body = await _post(http, url, "b.wav", b"x" * 11)  # the folder's own limit
        assert (status, body["error"]["type"]) == (413, "TooLarge")
        assert not (toml.parent / "stimuli" / "b.wav").exists()
        assert (await _post(http, f"{deck.url}api/uploads/dropbox", "x.csv", b"1"))[0] == 201


async def test_a_folder_that_is_not_listable_takes_uploads_but_keeps_its_names(
        project: Project, start_deck: Callable[..., Any]) -> None:
    toml = project(run=FOLDER_RULES)
    async with start_deck(toml) as deck, http_session(deck.url) as http:
        assert (await _post(http, f"{deck.url}api/uploads/dropbox", "secret-subject.csv", b"1"))[0] == 201
        resp = await http.get(f"{deck.url}api/uploads/dropbox")
        assert resp.status == 403
        assert (await resp.json())["error"]["type"] == "AccessDenied"
        assert "secret-subject" not in await resp.text()
        dirs = {d["name"]: d for d in (await (await http.get(f"{deck.url}api/uploads")).json())["dirs"]}
        assert dirs["dropbox"]["listable"] is False
        assert dirs["stimuli"] == {"name": "stimuli", "max_bytes": 10, "patterns": ["*.png", "*.wav"],
                                   "overwrite": True, "overwrite_patterns": ["current.png"], "listable": True}
