"""Watching a root where inotify is missing: watchfiles, with a stability check.

watchfiles reports *changes*, not finished writes, so a changed file counts only once
its size and modification time have stayed the same for ``settle`` seconds (the same
rule as a file a scan finds). Slower than inotify by ``settle``; never early.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from labdeck.exceptions import WatchError
from labdeck.watch.folder import Folder

__all__ = ["WatchfilesTree"]


class WatchfilesTree:
    """A :class:`Folder` watched through watchfiles."""

    def __init__(self, folder: Folder, watching: Callable[[], None] = lambda: None) -> None:
        self.folder = folder
        self.watching = watching

    async def run(self) -> None:
        """Watch until the root goes away; never returns normally.

        Raises:
            WatchError: the root is missing or not a folder, or it went away.
        """
        import watchfiles  # optional: only this backend needs it

        root = self.folder.root
        if not root.is_dir() or root.is_symlink():
            raise WatchError(f"{root} does not exist or is not a folder")
        stop = asyncio.Event()
        self.watching()
        await self.folder.scan(root)
        try:
            async for changes in watchfiles.awatch(root, recursive=self.folder.config.recursive, debounce=50,
                                                   step=10, stop_event=stop, rust_timeout=1000,
                                                   yield_on_timeout=True):
                if not root.is_dir():
                    break
                self._changed({Path(p) for change, p in changes if change != watchfiles.Change.deleted})
        except FileNotFoundError:
            pass
        raise WatchError(f"{root} was deleted or moved away")

    def _changed(self, paths: set[Path]) -> None:
        for path in paths:
            if path.is_dir() and not path.is_symlink():
                asyncio.get_running_loop().create_task(self.folder.scan(path))
            elif self.folder.accepts(path.name) and path.is_relative_to(self.folder.root):
                self.folder.settle_later(path)
