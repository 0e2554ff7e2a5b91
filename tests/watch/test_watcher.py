"""Watching real folders with real inotify: what counts as landed, and what survives what."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from labdeck.store import Store
from labdeck.watch import inotify
from tests.helpers import scaled, until
from tests.watch.conftest import Feed

pytestmark = pytest.mark.skipif(not inotify.available(), reason="inotify is Linux only")

Watching = Callable[..., Any]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "incoming"
    folder.mkdir()
    return folder


async def quiet(feed: Feed, seconds: float = 0.4) -> None:
    """Let late (and wrongly doubled) events arrive."""
    before = -1
    while before != len(feed.messages):
        before = len(feed.messages)
        await asyncio.sleep(scaled(seconds))


async def test_a_file_counts_once_closed_after_writing_never_at_create(root: Path, watching: Watching) -> None:
    _, feed = await watching(root)
    handle = (root / "a.dat").open("wb")
    handle.write(b"x" * 100)
    handle.flush()
    await asyncio.sleep(scaled(0.3))
    assert feed.paths() == []
    handle.write(b"y" * 28)
    handle.close()
    await feed.files(1)
    event = feed.events("file")[0]
    assert (event["path"], event["size"], event["watch"]) == ("a.dat", 128, "scans")
    assert event["mtime"] == pytest.approx((root / "a.dat").stat().st_mtime)


async def test_a_file_moved_in_counts_and_temporary_names_do_not(root: Path, tmp_path: Path,
                                                                watching: Watching) -> None:
    _, feed = await watching(root, patterns=["*.dcm"])
    (root / ".partial.dcm").write_bytes(b"temp")
    (root / "notes.txt").write_bytes(b"not matched")
    (tmp_path / "outside.dcm").write_bytes(b"done")
    (tmp_path / "outside.dcm").rename(root / "moved.dcm")
    (root / ".partial.dcm").rename(root / "renamed.dcm")
    assert sorted(await feed.files(2)) == ["moved.dcm", "renamed.dcm"]
    await quiet(feed)
    assert len(feed.paths()) == 2


async def test_files_written_the_instant_a_subfolder_is_made_are_not_missed(root: Path, watching: Watching) -> None:
    _, feed = await watching(root)
    deep = root / "s1" / "a" / "b"
    deep.mkdir(parents=True)
    for folder in (root / "s1", root / "s1" / "a", deep):
        (folder / "f.dat").write_bytes(b"1")
    (root / "s2").mkdir()
    (root / "s2" / "g.dat").write_bytes(b"2")
    assert sorted(await feed.files(4)) == ["s1/a/b/f.dat", "s1/a/f.dat", "s1/f.dat", "s2/g.dat"]
    await quiet(feed)
    assert len(feed.paths()) == 4


async def test_not_recursive_ignores_subfolders(root: Path, watching: Watching) -> None:
    _, feed = await watching(root, recursive=False)
    (root / "sub").mkdir()
    (root / "sub" / "x").write_bytes(b"1")
    (root / "top").write_bytes(b"1")
    assert await feed.files(1) == ["top"]
    await quiet(feed)
    assert feed.paths() == ["top"]


async def test_a_deleted_and_recreated_root_is_watched_again(root: Path, watching: Watching) -> None:
    watcher, feed = await watching(root)
    (root / "before").write_bytes(b"1")
    await feed.files(1)
    shutil.rmtree(root)
    failed = await feed.state("failed")
    assert "deleted" in failed["error"] or "does not exist" in failed["error"]
    assert watcher.health()["state"] == "failed"
    root.mkdir()
    feed.messages.clear()
    feed.count.clear()
    await feed.state("watching")
    (root / "after").write_bytes(b"2")
    assert await feed.files(1) == ["after"]
    assert watcher.restarts >= 1


async def test_a_root_that_is_not_a_folder_is_reported_and_retried_until_it_is(tmp_path: Path,
                                                                              watching: Watching) -> None:
    root = tmp_path / "later"
    root.write_bytes(b"a file, not a folder")
    watcher, feed = await watching(root, wait=False)
    failed = await feed.state("failed")
    assert failed["error"].endswith("is not a folder (or is a symlink)")
    assert failed["retry_in"] > 0
    await until(lambda: watcher.restarts >= 2, what="retries with backoff")
    retries = [d["retry_in"] for d in feed.events("status")]
    assert retries == sorted(retries) and max(retries) <= 0.3
    root.unlink()
    root.mkdir()
    (root / "x").write_bytes(b"1")
    assert await feed.files(1) == ["x"]  # found by the scan after the restart
    assert watcher.health()["state"] == "watching"


async def test_symlinks_are_never_followed(root: Path, tmp_path: Path, watching: Watching) -> None:
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "old").write_bytes(b"s")
    (root / "pre-link").symlink_to(outside)
    _, feed = await watching(root)
    (root / "link").symlink_to(outside)
    (root / "file-link").symlink_to(outside / "old")
    (outside / "new").write_bytes(b"s")
    (tmp_path / "moved-link").symlink_to(outside / "old")
    (tmp_path / "moved-link").rename(root / "moved-link")
    (root / "real").write_bytes(b"r")
    await feed.files(1)
    await quiet(feed)
    assert feed.paths() == ["real"]
    assert {d["path"]: d["reason"] for d in feed.events("problem")} == {
        "pre-link": "symlink, not followed", "moved-link": "symlink, not followed"}


async def test_a_burst_of_10000_files_none_lost_or_doubled(root: Path, watching: Watching, store: Store) -> None:
    watcher, feed = await watching(root)
    (root / "burst").mkdir()
    # Written without yielding to the loop: twice as many events as the kernel queues,
    # so the queue overflows and a rescan must find the rest without doubling any.
    for i in range(10_000):
        (root / "burst" / f"{i:05}.dat").write_bytes(b"x")
    paths = await feed.files(10_000, timeout=60)
    await quiet(feed)
    assert len(paths) == 10_000 and len(set(paths)) == 10_000
    await watcher.folder.ledger.flush()
    rows = await store.query("SELECT count(*), count(DISTINCT path) FROM file_events WHERE watch = 'scans'")
    assert tuple(rows[0]) == (10_000, 10_000)


@pytest.fixture
def big_root(root: Path) -> Iterator[Path]:
    """A folder in memory where the system has one: 100,000 files on a busy disk take minutes."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield root
        return
    folder = Path(tempfile.mkdtemp(prefix="labdeck-watch-", dir=shm))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def test_100000_files_at_start_each_reported_once_and_not_again_after_a_restart(
        big_root: Path, watching: Watching) -> None:
    root = big_root
    for d in range(100):
        folder = root / f"d{d:03}"
        folder.mkdir()
        for i in range(1000):
            os.close(os.open(folder / f"{i:04}", os.O_CREAT | os.O_WRONLY, 0o644))
    watcher, feed = await watching(root, settle=0.0)  # all closed already: none needs settling
    paths = await feed.files(100_000, timeout=120)
    await quiet(feed)
    assert len(paths) == 100_000 == len(set(paths))
    assert len(watcher.folder.ledger._recent) <= watcher.folder.ledger.memory
    await watcher.stop()
    _, again = await watching(root)
    (root / "new").write_bytes(b"1")
    assert await again.files(1) == ["new"]
    await quiet(again)
    assert again.paths() == ["new"]


async def test_a_file_that_vanishes_before_it_is_read_is_reported(root: Path, watching: Watching) -> None:
    watcher, feed = await watching(root)
    watcher.folder.event(root / "gone.dat")
    assert feed.events("problem") == [{"event": "problem", "watch": "scans", "path": "gone.dat",
                                       "reason": "vanished before it could be read"}]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder")
async def test_a_folder_without_permission_is_reported_and_the_rest_watched(root: Path,
                                                                           watching: Watching) -> None:
    (root / "locked").mkdir()
    (root / "locked").chmod(0)
    try:
        _, feed = await watching(root)
        (root / "ok").write_bytes(b"1")
        assert await feed.files(1) == ["ok"]
        assert any(d["path"] == "locked" for d in feed.events("problem"))
    finally:
        (root / "locked").chmod(0o755)


async def test_the_watchfiles_fallback_reports_a_file_once_it_is_stable(root: Path, watching: Watching) -> None:
    _, feed = await watching(root, backend="watchfiles", settle=0.3)
    with (root / "slow.dat").open("wb") as handle:
        handle.write(b"a")
        handle.flush()
        await asyncio.sleep(scaled(0.1))
        handle.write(b"b")
    (root / "sub").mkdir()
    (root / "sub" / "x").write_bytes(b"1")
    assert sorted(await feed.files(2)) == ["slow.dat", "sub/x"]
    await quiet(feed, 0.6)
    assert Counter(feed.paths()) == {"slow.dat": 1, "sub/x": 1}
    assert feed.events("file")[0]["size"] == 2 or feed.events("file")[1]["size"] == 2
