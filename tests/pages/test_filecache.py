"""Small files answered from memory: the same answer as from disk, never stale, bounded."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import aiohttp
from aiohttp.test_utils import make_mocked_request

from labdeck import Deck
from labdeck.pages.filecache import SmallFiles
from tests.helpers import until
from tests.pages.test_site import get


def _data(deck: Deck) -> Path:
    return Path(deck.config.base_dir) / "data"


async def test_a_small_file_has_the_headers_of_a_file_and_honours_conditions_and_ranges(site: Deck) -> None:
    status, found, body = await get(site, "files/data/a.txt")
    headers = {k.title(): v for k, v in found.items()}
    assert (status, body) == (200, "alpha\n")
    assert headers["Content-Type"] == "text/plain" and headers["Accept-Ranges"] == "bytes"
    assert headers["Cache-Control"] == "no-cache" and headers["Content-Length"] == "6"
    etag, modified = headers["Etag"], headers["Last-Modified"]
    assert (await get(site, "files/data/a.txt", headers={"If-None-Match": etag}))[0] == 304
    assert (await get(site, "files/data/a.txt", headers={"If-Modified-Since": modified}))[0] == 304
    status, headers, body = await get(site, "files/data/a.txt", headers={"Range": "bytes=1-3"})
    assert (status, body, headers["Content-Range"]) == (206, "lph", "bytes 1-3/6")
    admin = site.admin
    assert admin is not None
    # the 200 and the 206 were files; a 304 sends none
    await until(lambda: sum(int(c[2]) for (_, _, group), c in admin.stats.totals.items() if group == "files") == 2,
                what="two files counted")


async def test_a_changed_file_is_served_as_it_is_now(site: Deck) -> None:
    path = _data(site) / "a.txt"
    assert (await get(site, "files/data/a.txt"))[2] == "alpha\n"
    path.write_text("beta\n")  # the same second, another size
    assert (await get(site, "files/data/a.txt"))[2] == "beta\n"
    replacement = path.with_name("a.new")
    replacement.write_text("gamma")
    os.replace(replacement, path)  # another file under the same name, as editors save
    assert (await get(site, "files/data/a.txt"))[2] == "gamma"
    path.unlink()
    assert (await get(site, "files/data/a.txt"))[0] == 404


async def test_a_precompressed_sibling_is_still_sent_to_whom_accepts_it(site: Deck) -> None:
    (_data(site) / "scan.json.gz").write_bytes(gzip.compress(b'{"zipped": true}'))
    async with aiohttp.ClientSession() as http, http.get(site.url + "files/data/scan.json",
                                                         headers={"Accept-Encoding": "gzip"}) as reply:
        assert reply.headers["Content-Encoding"] == "gzip"
        assert await reply.json() == {"zipped": True}


def test_the_cache_keeps_at_most_its_bytes_and_no_large_file(tmp_path: Path) -> None:
    cache = SmallFiles(max_file=1000, max_bytes=2500)
    request = make_mocked_request("GET", "/x")
    for i in range(10):
        path = tmp_path / f"f{i}.bin"
        path.write_bytes(bytes([i]) * 1000)
        reply = cache.response(request, path, {})
        assert reply is not None and reply.body == bytes([i]) * 1000
        assert cache.size <= 2500
    (tmp_path / "big.bin").write_bytes(b"x" * 1001)
    assert cache.response(request, tmp_path / "big.bin", {}) is None  # too large: the caller streams it
    assert cache.response(make_mocked_request("GET", "/x", headers={"Range": "bytes=0-1"}),
                          tmp_path / "f9.bin", {}) is None
