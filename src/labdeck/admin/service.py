"""``Admin``: the admin's services of one server, composed, with their periodic jobs.

The deck makes one once the store and the gate are open (:meth:`Admin.load` before the
server listens, :meth:`Admin.start` after) and stops it after the capabilities, with a
last roll-up of the statistics, so nothing counted is lost.

Jobs (shown on the admin page, each also run on demand):

========== ====================================================================
sessions   every minute: close websockets of ended sessions, remove expired ones
stats      every minute: roll the request statistics and logged errors into the store
logs       daily at midnight: rotate ``[admin] log_file``, keep ``log_days`` files
history    daily: delete runs older than ``history_days``, audit entries and errors
           older than ``audit_days``
mail       daily at ``[mail] hour``: mail the errors logged since the last mail
========== ====================================================================
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from labdeck.admin import errors, mail
from labdeck.admin.audit import Audit
from labdeck.admin.jobs import Job, Scheduler
from labdeck.admin.maintenance import Maintenance
from labdeck.admin.stats import RequestStats
from labdeck.admin.switches import Switches

if TYPE_CHECKING:
    from labdeck.config import Config
    from labdeck.store import Store

__all__ = ["LOG_FORMAT", "Admin"]

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
RECORDED = ("labdeck", "aiohttp")
"""The loggers whose errors the daily mail reports (aiohttp's: a request that failed outside a handler)."""
MINUTE = 60.0
DAY = 86400.0


class Admin:
    """Statistics, audit log, switches, maintenance mode and jobs of one server.

    Args:
        config: the server's configuration.
        store: the open store.
        sweep_sessions: the gate's session sweep (returns a line saying what it did).
        on_debug: applies the ``debug`` switch beyond the error pages (the hub's replies).
    """

    def __init__(self, config: Config, store: Store, sweep_sessions: Callable[[], Awaitable[str]],
                 on_debug: Callable[[bool], None]) -> None:
        self.config = config
        self.store = store
        self.stats = RequestStats(config.server.base_path)
        self.audit = Audit(store)
        self.switches = Switches(config.server.debug, on_debug)
        self.maintenance = Maintenance(config.data_dir)
        self.recorder = errors.ErrorRecorder()
        self.scheduler = Scheduler()
        self.log_handler: logging.FileHandler | None = None
        settings = config.admin
        self.scheduler.add(Job("sessions", "End expired login sessions and their websockets", sweep_sessions, MINUTE))
        self.scheduler.add(Job("stats", "Roll request statistics and logged errors into the store", self.rollup,
                               MINUTE))
        self.scheduler.add(Job("logs", f"Rotate the log file, keep {settings.log_days} days", self.rotate_logs, DAY,
                               at_hour=0))
        self.scheduler.add(Job("history", "Delete runs, audit entries and errors past their retention",
                               self.prune_history, DAY, first=5 * MINUTE))
        self.scheduler.add(Job("mail", "Mail the errors logged since the last mail", self.mail_errors, DAY,
                               at_hour=config.mail.hour))

    @property
    def log_path(self) -> Path | None:
        name = self.config.admin.log_file
        return None if name is None else (self.config.data_dir / name).resolve()

    async def load(self) -> None:
        """Read the totals since the first start; before the server answers anything."""
        await self.store.run(lambda db: self.stats.load(db, time.time()))

    async def start(self) -> None:
        """Begin recording errors, writing the log file, and running the jobs."""
        for name in RECORDED:
            logging.getLogger(name).addHandler(self.recorder)
        path = self.log_path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.log_handler = logging.FileHandler(path, encoding="utf-8")
            self.log_handler.setFormatter(logging.Formatter(LOG_FORMAT))
            logging.getLogger("labdeck").addHandler(self.log_handler)
        self.scheduler.start()

    async def stop(self) -> None:
        """Stop the jobs, then roll up what is left."""
        await self.scheduler.stop()
        try:
            await self.rollup()
        except Exception:
            log.exception("the last roll-up of the request statistics failed")
        for name in RECORDED:
            logging.getLogger(name).removeHandler(self.recorder)
        self.switches.reset_log_level()
        if self.log_handler is not None:
            logging.getLogger("labdeck").removeHandler(self.log_handler)
            self.log_handler.close()

    # -- the jobs -------------------------------------------------------------------

    async def rollup(self) -> str:
        """Write the pending statistics and held errors to the store."""
        pending = self.stats.take()
        held = self.recorder.take()
        keep = self.config.admin.stats_days

        def write(db: sqlite3.Connection) -> int:
            rows = self.stats.write(db, pending, keep, time.time())
            errors.ErrorRecorder.write(db, held)
            return rows

        try:
            rows = await self.store.run(write)
        except BaseException:
            self.stats.restore(pending)
            raise
        self.stats.written(pending)
        return f"{rows} statistics rows, {len(held)} errors written"

    async def rotate_logs(self) -> str:
        handler, path = self.log_handler, self.log_path
        if handler is None or path is None:
            return "no [admin] log_file: nothing to rotate"
        return await asyncio.to_thread(_rotate, handler, path, self.config.admin.log_days)

    async def prune_history(self) -> str:
        settings = self.config.admin
        removed = await self.audit.prune(settings.audit_days)
        if not settings.history_days:
            return f"{removed} audit entries and errors removed; runs are kept (history_days = 0)"
        cutoff = time.time() - settings.history_days * DAY

        def delete(db: sqlite3.Connection) -> int:
            return db.execute("DELETE FROM runs WHERE ended IS NOT NULL AND ended < ?", (cutoff,)).rowcount

        runs = await self.store.run(delete)
        return f"{runs} runs, {removed} audit entries and errors removed"

    async def mail_errors(self) -> str:
        settings = self.config.mail
        if not settings.enabled:
            return "no [mail] host and to: no mail"
        await self.rollup()  # the errors held in memory too

        def new(db: sqlite3.Connection) -> list[sqlite3.Row]:
            row = db.execute("SELECT value FROM admin_meta WHERE key = 'mailed_error'").fetchone()
            return errors.errors_since(db, int(row[0]) if row else 0)

        found = await self.store.run(new)
        if not found:
            return "no new errors: no mail"
        dropped, self.recorder.dropped = self.recorder.dropped, 0
        message = mail.error_mail(settings, socket.gethostname(),
                                  [(r["t"], r["logger"], r["message"], r["error_id"]) for r in found], dropped)
        await asyncio.to_thread(mail.send, settings, message)
        last = found[-1]["id"]
        await self.store.execute("INSERT INTO admin_meta (key, value) VALUES ('mailed_error', ?) "
                                 "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (str(last),))
        return f"mailed {len(found)} errors to {', '.join(settings.to)}"


def _rotate(handler: logging.FileHandler, path: Path, keep: int) -> str:
    """Move the log file aside as ``<name>.<date>`` and start a new one; delete the oldest."""
    now = time.time()
    stamp = time.strftime("%Y-%m-%d-%H%M%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"
    handler.acquire()
    try:
        if handler.stream is not None:
            handler.stream.close()
        if path.exists():
            path.rename(path.with_name(f"{path.name}.{stamp}"))
        handler.stream = handler._open()
    finally:
        handler.release()
    rotated = sorted(p for p in path.parent.glob(f"{path.name}.*") if p.is_file())
    for old in rotated[:-keep]:
        old.unlink(missing_ok=True)
    return f"rotated to {path.name}.{stamp}; {min(len(rotated), keep)} kept"
