"""Watching a root with inotify: the folder tree as watch descriptors, kept in step.

* A folder created (or moved in) is watched *before* it is listed, then scanned: files
  written into it in the instant between its creation and its watch are not missed.
* A folder moved within the tree keeps its descriptor: its path (and those of the
  folders below it) is rewritten. One moved out of the tree is dropped.
* ``IN_Q_OVERFLOW`` means the kernel dropped events: the whole tree is scanned again
  (the ledger keeps the files already reported from being reported twice).
* The root deleted, moved away or unmounted ends :meth:`InotifyTree.run` with a
  :class:`~labdeck.exceptions.WatchError`; the supervisor watches it again once it
  is back.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from labdeck.exceptions import WatchError
from labdeck.watch import inotify as ino
from labdeck.watch.folder import Folder

__all__ = ["InotifyTree"]

log = logging.getLogger(__name__)

_ROOT_GONE = ino.IN_DELETE_SELF | ino.IN_MOVE_SELF | ino.IN_UNMOUNT | ino.IN_IGNORED


class InotifyTree:
    """The inotify watches of one :class:`Folder`'s tree."""

    def __init__(self, folder: Folder, watching: Callable[[], None] = lambda: None) -> None:
        self.folder = folder
        self.watching = watching
        self.paths: dict[int, Path] = {}
        self._inotify: ino.Inotify | None = None
        self._failed: asyncio.Future[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._rescan_again = False
        self._rescanning: asyncio.Task[None] | None = None
        self.overflows = 0

    async def run(self) -> None:
        """Watch until the root goes away; never returns normally.

        Raises:
            WatchError: the root is missing, not a folder, gone, or the kernel refused
                a watch it needs (the per-user limit).
        """
        loop = asyncio.get_running_loop()
        self._failed = loop.create_future()
        try:
            self._inotify = ino.Inotify()
        except OSError as exc:
            raise WatchError(f"inotify: {exc.strerror}") from None
        try:
            self.root_wd = self._watch_root()
            self._inotify.on_readable(loop, self._readable)
            self.watching()
            await self.folder.scan(self.folder.root, self._add)
            await self._failed
        finally:
            self._close(loop)

    def _watch_root(self) -> int:
        root = self.folder.root
        try:
            return self._add_watch(root)
        except OSError as exc:
            why = {errno.ENOENT: "does not exist", errno.ENOTDIR: "is not a folder (or is a symlink)",
                   errno.EACCES: "is not readable"}.get(exc.errno or 0, exc.strerror or str(exc))
            raise WatchError(f"{root} {why}") from None

    def _add_watch(self, path: Path) -> int:
        assert self._inotify is not None
        wd = self._inotify.add_watch(str(path))
        old = self.paths.get(wd)
        if old is not None and old != path:  # moved within the tree: rewrite what is below it
            for w, p in list(self.paths.items()):
                if p.is_relative_to(old):
                    self.paths[w] = path / p.relative_to(old)
        self.paths[wd] = path
        return wd

    def _add(self, path: Path) -> bool:
        """Watch a folder of the tree; ``False`` when it cannot be (reported, skipped)."""
        try:
            self._add_watch(path)
        except FileNotFoundError:
            return False
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                self._fail(WatchError(f"the kernel's inotify watch limit is reached at {path} "
                                      "(raise fs.inotify.max_user_watches)"))
            elif exc.errno != errno.ENOTDIR:  # ENOTDIR: replaced by a file or symlink meanwhile
                self.folder.problem(self.folder.relative(path) or ".", f"folder not watched: {exc.strerror}")
            return False
        return True

    def _fail(self, exc: WatchError) -> None:
        if self._failed is not None and not self._failed.done():
            self._failed.set_exception(exc)

    def _readable(self) -> None:
        assert self._inotify is not None
        for event in self._inotify.read():
            self._handle(event)

    def _handle(self, event: ino.InotifyEvent) -> None:
        mask = event.mask
        if mask & ino.IN_Q_OVERFLOW:
            self.overflows += 1
            log.warning("%s: inotify queue overflowed; scanning the tree again", self.folder.root)
            self.rescan()
            return
        folder = self.paths.get(event.wd)
        if folder is None:
            return  # a watch already dropped
        if not event.name:
            self._self_event(event.wd, mask)
        elif mask & ino.IN_ISDIR:
            if mask & (ino.IN_CREATE | ino.IN_MOVED_TO) and self.folder.config.recursive:
                self._follow(folder / event.name)
        elif mask & (ino.IN_CLOSE_WRITE | ino.IN_MOVED_TO):
            self.folder.event(folder / event.name)

    def _self_event(self, wd: int, mask: int) -> None:
        if wd == self.root_wd and mask & _ROOT_GONE:
            self._fail(WatchError(f"{self.folder.root} was deleted or moved away"))
            return
        if mask & ino.IN_IGNORED:
            self.paths.pop(wd, None)
        elif mask & ino.IN_MOVE_SELF and not self.paths[wd].is_dir():  # moved out of the tree
            assert self._inotify is not None
            self._inotify.rm_watch(wd)
            self.paths.pop(wd, None)

    def _follow(self, path: Path) -> None:
        """A new folder: watch it now, scan it (and what is below it) next."""
        if not self._add(path):
            return
        self._spawn(self.folder.scan(path, self._add_below(path)))

    def _add_below(self, top: Path) -> Callable[[Path], bool]:
        return lambda p: p == top or self._add(p)

    def rescan(self) -> None:
        """Scan the whole tree again (after an overflow); overlapping requests coalesce."""
        if self._rescanning is not None and not self._rescanning.done():
            self._rescan_again = True
            return

        async def again() -> None:
            while True:
                self._rescan_again = False
                await self.folder.scan(self.folder.root, self._add)
                if not self._rescan_again:
                    return

        self._rescanning = self._spawn(again())

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            self._fail(exc if isinstance(exc, WatchError) else WatchError(f"scan failed: {exc!r}"))

    def _close(self, loop: asyncio.AbstractEventLoop) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        self.folder.close()
        if self._inotify is not None:
            self._inotify.close(loop)
            self._inotify = None
        self.paths.clear()
