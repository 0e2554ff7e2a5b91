"""One watched root: which entries count, scans that find what events missed, emitting once.

Both backends (:mod:`labdeck.watch.inotify_backend`, :mod:`labdeck.watch.fallback`)
hand candidate paths to a :class:`Folder`; it decides whether each is a file that
landed and reports it at most once (through the :class:`~labdeck.watch.ledger.Ledger`).

Rules, in the order they are applied:

* symlinks are never followed, neither to files nor to folders (one inside the root
  could point anywhere), and are reported as skipped;
* only regular files whose name matches ``patterns`` and none of ``ignore`` count;
* a file found by a *scan* (at start, in a new subfolder, after an overflow) may still
  be being written: it counts only once it has not changed for ``settle`` seconds,
  or when its close-after-write event arrives first.
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from labdeck.watch.config import WatchConfig
from labdeck.watch.ledger import FileKey, Ledger

__all__ = ["Folder", "Landed", "Problem"]

SCAN_CHUNK = 1000
"""Entries a scan checks against the ledger at a time: its memory bound."""


@dataclass(frozen=True, slots=True)
class Landed:
    """A file that finished writing."""

    path: str
    """Relative to the root, ``/``-separated."""
    abs: Path
    size: int
    mtime: float


Problem = Callable[[str, str], None]
"""Reports ``(relative path, reason)``: a file skipped or unreadable, the watch going on."""


class Folder:
    """The entries of one root that count as landed files.

    Args:
        root: the watched folder, absolute.
        config: the watch's settings.
        ledger: what was already reported.
        sink: called once per landed file, on the event loop.
        problem: called for a file skipped (symlink, vanished, unreadable).
    """

    def __init__(self, root: Path, config: WatchConfig, ledger: Ledger, sink: Callable[[Landed], None],
                 problem: Problem) -> None:
        self.root, self.config, self.ledger = root, config, ledger
        self.sink, self.problem = sink, problem
        self._settling: set[asyncio.TimerHandle] = set()

    def relative(self, path: Path) -> str:
        """``path`` relative to the root, ``/``-separated (``.`` for the root itself)."""
        return path.relative_to(self.root).as_posix()

    def accepts(self, name: str) -> bool:
        """Whether a file of this name is one the watch reports."""
        if any(fnmatch.fnmatchcase(name, p) for p in self.config.ignore):
            return False
        return any(fnmatch.fnmatchcase(name, p) for p in self.config.patterns)

    def event(self, path: Path) -> None:
        """A close-after-write or a move-in of ``path``: report it if it counts."""
        if not self.accepts(path.name):
            return
        try:
            st = path.lstat()
        except FileNotFoundError:
            self.problem(self.relative(path), "vanished before it could be read")
            return
        except OSError as exc:
            self.problem(self.relative(path), exc.strerror or str(exc))
            return
        if stat.S_ISLNK(st.st_mode):
            self.problem(self.relative(path), "symlink, not followed")
        elif stat.S_ISREG(st.st_mode):
            self._emit(path, FileKey(self.relative(path), st.st_size, st.st_mtime_ns))

    def _emit(self, path: Path, key: FileKey) -> None:
        if self.ledger.claim(key):
            self.sink(Landed(key.path, path, key.size, key.mtime_ns / 1e9))

    async def scan(self, top: Path, add_folder: Callable[[Path], bool] | None = None) -> None:
        """Report every file under ``top`` not reported yet.

        ``add_folder`` is called on each folder *before* it is listed (so that a file
        created after the listing raises an event); a folder it refuses is skipped.
        """
        stack = [top]
        while stack:
            folder = stack.pop()
            if add_folder is not None and not add_folder(folder):
                continue
            await self._scan_one(folder, stack)

    async def _scan_one(self, folder: Path, stack: list[Path]) -> None:
        try:
            entries = os.scandir(folder)
        except FileNotFoundError:
            return  # gone again: its parent's events say so
        except OSError as exc:
            self.problem(self.relative(folder) or ".", f"folder not readable: {exc.strerror or exc}")
            return
        prefix = self.relative(folder)
        prefix = "" if prefix == "." else prefix + "/"
        batch: list[tuple[str, FileKey]] = []
        with entries:
            for entry in entries:
                found = self._entry(entry, prefix, stack)
                if found is not None:
                    batch.append(found)
                if len(batch) >= SCAN_CHUNK:
                    await self._report(batch)
                    batch = []
        await self._report(batch)

    def _entry(self, entry: os.DirEntry[str], prefix: str, stack: list[Path]) -> tuple[str, FileKey] | None:
        # Plain strings here: a scan of 100,000 files spends most of its time on paths.
        try:
            if entry.is_symlink():
                if self.accepts(entry.name):
                    self.problem(prefix + entry.name, "symlink, not followed")
                return None
            if entry.is_dir(follow_symlinks=False):
                if self.config.recursive:
                    stack.append(Path(entry.path))
                return None
            if not entry.is_file(follow_symlinks=False) or not self.accepts(entry.name):
                return None
            st = entry.stat(follow_symlinks=False)
        except OSError:
            return None  # vanished during the scan: it was never a finished file
        return entry.path, FileKey(prefix + entry.name, st.st_size, st.st_mtime_ns)

    async def _report(self, batch: list[tuple[str, FileKey]]) -> None:
        if not batch:
            return
        unseen = set(await self.ledger.unseen([k for _, k in batch]))
        wall = time.time()
        for path, key in batch:
            if key not in unseen:
                continue
            young = wall - key.mtime_ns / 1e9
            if young < self.config.settle:
                self._settle(Path(path), key, self.config.settle - max(young, 0.0) + 0.01)
            else:
                self._emit(Path(path), key)

    def settle_later(self, path: Path) -> None:
        """``path`` changed: report it once it has stayed unchanged for ``settle`` seconds."""
        try:
            st = path.lstat()
        except OSError:
            return
        if stat.S_ISREG(st.st_mode):
            self._settle(path, FileKey(self.relative(path), st.st_size, st.st_mtime_ns), self.config.settle)
        elif stat.S_ISLNK(st.st_mode):
            self.problem(self.relative(path), "symlink, not followed")

    def _settle(self, path: Path, key: FileKey, delay: float) -> None:
        """Report ``path`` once it has stayed ``key`` for ``delay`` seconds."""
        loop = asyncio.get_running_loop()

        def check() -> None:
            self._settling.discard(handle)
            try:
                st = path.lstat()
            except OSError:
                return  # removed while settling: it never landed
            now = FileKey(key.path, st.st_size, st.st_mtime_ns)
            if now == key:
                self._emit(path, key)
            elif stat.S_ISREG(st.st_mode):
                self._settle(path, now, self.config.settle)

        handle = loop.call_later(delay, check)
        self._settling.add(handle)

    def close(self) -> None:
        """Drop the files still settling (a new scan finds them again)."""
        for handle in self._settling:
            handle.cancel()
        self._settling.clear()

