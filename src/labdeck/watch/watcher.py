"""One ``[watch.<name>]``: its backend supervised, its events published.

A watcher is never silently dead: when its backend fails (the root deleted, not a
folder, a kernel limit) the failure goes on ``files/<name>`` (``event: "status"``),
into the log and onto ``/healthz``, and the backend is started again after a pause
that doubles up to ``retry_max`` (back to the shortest after a minute of health).
A root deleted and created again is therefore watched again, and scanned.

Messages on ``files/<name>``, each with ``event`` and ``watch``:

* ``{"event": "file", "path", "size", "mtime"}``: a file finished writing (``path``
  relative to the root);
* ``{"event": "problem", "path", "reason"}``: a file skipped or unreadable;
* ``{"event": "status", "state": "watching" | "failed", "error", "retry_in", "restarts"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labdeck.exceptions import WatchError
from labdeck.types import Publish
from labdeck.watch import inotify
from labdeck.watch.config import WatchConfig
from labdeck.watch.fallback import WatchfilesTree
from labdeck.watch.folder import Folder, Landed
from labdeck.watch.inotify_backend import InotifyTree
from labdeck.watch.ledger import Ledger

__all__ = ["Watcher"]

RETRY_FIRST = 0.1
HEALTHY_AFTER = 60.0


class Watcher:
    """Watches one root for as long as it runs, restarting its backend when it fails.

    Args:
        name: the watch's name (``files/<name>``).
        config: its section.
        root: the folder, absolute.
        ledger: what it already reported.
        publish: the server's publish.
        landed: called for every file after it is published (the DICOM pipeline).
        log: where failures are logged.
    """

    def __init__(self, name: str, config: WatchConfig, root: Path, ledger: Ledger, publish: Publish,
                 landed: Callable[[Landed], None] | None = None, log: logging.Logger | None = None) -> None:
        self.name, self.config, self.root = name, config, root
        self.channel = f"files/{name}"
        self.publish, self.landed = publish, landed
        self.log = log or logging.getLogger(__name__)
        self.folder = Folder(root, config, ledger, self._sink, self._problem)
        self.state = "starting"
        self.error: str | None = None
        self.restarts = 0
        self.files = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def backend(self) -> str:
        if self.config.backend == "auto":
            return "inotify" if inotify.available() else "watchfiles"
        return self.config.backend

    def _sink(self, file: Landed) -> None:
        self.files += 1
        self.publish(self.channel, {"event": "file", "watch": self.name, "path": file.path, "size": file.size,
                                    "mtime": file.mtime})
        if self.landed is not None:
            self.landed(file)

    def _problem(self, path: str, reason: str) -> None:
        self.log.info("watch %s: %s: %s", self.name, path, reason)
        self.publish(self.channel, {"event": "problem", "watch": self.name, "path": path, "reason": reason})

    def start(self) -> None:
        """Begin watching, on the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._supervise(), name=f"watch-{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.folder.ledger.flush()

    async def _supervise(self) -> None:
        delay = RETRY_FIRST
        while True:
            began = time.monotonic()
            try:
                await self._run_backend()
            except WatchError as exc:
                self.error = exc.message
            except Exception as exc:  # a bug must not end the watch either: logged whole, restarted
                self.log.exception("watch %s failed", self.name)
                self.error = f"{type(exc).__name__}: {exc}"
            if time.monotonic() - began > HEALTHY_AFTER:
                delay = RETRY_FIRST
            self._failed(delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.config.retry_max)
            self.restarts += 1

    async def _run_backend(self) -> None:
        tree = InotifyTree if self.backend == "inotify" else WatchfilesTree
        await tree(self.folder, self._watching).run()

    def _watching(self) -> None:
        """The backend watches the root (it reports before its first scan)."""
        self.state, self.error = "watching", None
        self.log.info("watch %s: watching %s (%s)", self.name, self.root, self.backend)
        self.publish(self.channel, {"event": "status", "watch": self.name, "state": "watching",
                                    "error": None, "retry_in": None, "restarts": self.restarts})

    def _failed(self, retry_in: float) -> None:
        first = self.state != "failed"
        self.state = "failed"
        level = logging.WARNING if first else logging.DEBUG
        self.log.log(level, "watch %s: %s; trying again in %.1f s", self.name, self.error, retry_in)
        self.publish(self.channel, {"event": "status", "watch": self.name, "state": "failed", "error": self.error,
                                    "retry_in": retry_in, "restarts": self.restarts})

    def health(self) -> dict[str, Any]:
        """``{"state", "root", "backend", "error", "restarts", "files"}`` for ``/healthz``."""
        return {"state": self.state, "root": str(self.root), "backend": self.backend, "error": self.error,
                "restarts": self.restarts, "files": self.files}
