"""The watch capability in a real server: ``[watch.<name>]``, ``files/<name>``, SQLite, ``/healthz``."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from labdeck import Deck
from labdeck.config import load_config
from labdeck.exceptions import ConfigError
from labdeck.watch import inotify
from tests.conftest import ws_url
from tests.helpers import WireClient, until

pytestmark = pytest.mark.skipif(not inotify.available(), reason="inotify is Linux only")


def project(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "labdeck.toml"
    path.write_text(body)
    return path


def test_without_a_watch_section_the_capability_stays_off(make_deck: Callable[..., Deck]) -> None:
    deck = make_deck()
    assert "watch" not in deck.capabilities
    assert "stations" not in deck.objects.exposed


def test_a_watch_section_is_checked_like_any_other(tmp_path: Path) -> None:
    path = project(tmp_path, '[watch.scans]\nkind = "dicom"\n')
    with pytest.raises(ConfigError, match=r"missing required key `watch.scans.path`"):
        load_config(path, env={})
    path.write_text('[watch.scans]\npath = "in"\nkind = "pdf"\n')
    with pytest.raises(ConfigError, match=r"`watch.scans.kind`"):
        load_config(path, env={})


async def test_a_landed_file_reaches_a_browser_sqlite_and_healthz(make_deck: Callable[..., Deck],
                                                                  tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    deck = make_deck(project(tmp_path, '[watch.scans]\npath = "in"\npatterns = ["*.dat"]\nretry_max = 0.2\n'))
    await deck.start()
    try:
        async with WireClient(ws_url(deck)) as client, aiohttp.ClientSession() as http:
            await client.request("sub", ch="files/scans")
            await until(lambda: deck.capabilities["watch"].health()["ok"], what="the watch to watch")
            (tmp_path / "in" / "sub").mkdir()
            (tmp_path / "in" / "sub" / "x.dat").write_bytes(b"12345")
            await until(lambda: any(p["data"]["event"] == "file" for p in client.pushes["files/scans"]))
            files = [p["data"] for p in client.pushes["files/scans"] if p["data"]["event"] == "file"]
            assert [(f["path"], f["size"]) for f in files] == [("sub/x.dat", 5)]
            await until(lambda: bool(deck.store and deck.store.query_sync("SELECT 1 FROM file_events")))
            async with http.get(f"{deck.url}api/files/scans") as reply:
                listed = (await reply.json())["files"]
            assert [(f["path"], f["size"]) for f in listed] == [("sub/x.dat", 5)]
            async with http.get(f"{deck.url}api/files/nope") as reply:
                assert (reply.status, (await reply.json())["error"]["type"]) == (404, "NotFound")
            async with http.get(f"{deck.url}api/files/scans?limit=0") as reply:
                assert reply.status == 400
            async with http.get(f"{deck.url}healthz") as reply:
                health = await reply.json()
            assert health["status"] == "ok"
            assert health["checks"]["watch"]["watches"]["scans"]["state"] == "watching"
            shutil.rmtree(tmp_path / "in")
            await until(lambda: any(p["data"].get("state") == "failed" for p in client.pushes["files/scans"]),
                        what="the failure on the channel")
            async with http.get(f"{deck.url}healthz") as reply:
                health = await reply.json()
            assert (reply.status, health["status"]) == (200, "degraded")
            assert "deleted" in health["checks"]["watch"]["watches"]["scans"]["error"]
    finally:
        await deck.stop()
