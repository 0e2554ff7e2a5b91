"""A small scheduler of periodic jobs, one asyncio task for all of them.

A job is a coroutine function returning a line saying what it did (``"3 expired sessions
removed"``) run every ``every`` seconds, the first time ``first`` seconds after the
start (or at the next time of day :func:`next_at` gives). A job that raises is logged
with its traceback and tried again at its next time; it never stops the others. Two runs
of one job never overlap: a job still running when it is due again waits for itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from labdeck.exceptions import Busy, NotFound

__all__ = ["Job", "Scheduler", "next_at"]

log = logging.getLogger(__name__)


def next_at(hour: int, now: float) -> float:
    """The Unix time of the next ``hour``:00 (server time) after ``now``."""
    here = dt.datetime.fromtimestamp(now).astimezone()
    at = here.replace(hour=hour, minute=0, second=0, microsecond=0)
    if at.timestamp() <= now:
        at = (at + dt.timedelta(days=1)).replace(hour=hour)
    return at.timestamp()


@dataclass
class Job:
    """One periodic job and what the admin page shows of it.

    Attributes:
        name: its name on the admin page and in ``POST /api/admin/jobs/{name}/run``.
        title: what it does, for people.
        run: the coroutine function; returns a line saying what it did.
        every: seconds between two runs.
        first: seconds after the start of the first run; ``None``: ``every``.
        at_hour: run daily at this hour (server time) instead.
    """

    name: str
    title: str
    run: Callable[[], Awaitable[str]]
    every: float
    first: float | None = None
    at_hour: int | None = None
    next_run: float = 0.0
    last_run: float | None = None
    last_seconds: float | None = None
    last_ok: bool | None = None
    last_result: str = ""
    runs: int = 0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "every": self.every, "next_run": self.next_run,
                "last_run": self.last_run, "last_seconds": self.last_seconds, "last_ok": self.last_ok,
                "last_result": self.last_result, "runs": self.runs, "running": self._lock.locked()}

    def schedule(self, now: float) -> None:
        self.next_run = next_at(self.at_hour, now) if self.at_hour is not None else now + self.every


class Scheduler:
    """Runs :class:`Job` objects at their times.

    Args:
        clock: Unix time now.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.jobs: dict[str, Job] = {}
        self.clock = clock
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()

    def add(self, job: Job) -> None:
        """Add ``job``; jobs are added before :meth:`start`."""
        if job.name in self.jobs:
            raise ValueError(f"job {job.name!r} is added twice")
        self.jobs[job.name] = job

    def start(self) -> None:
        now = self.clock()
        for job in self.jobs.values():
            if job.at_hour is not None:
                job.schedule(now)
            else:
                job.next_run = now + (job.every if job.first is None else job.first)
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._running) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task = None

    def info(self) -> list[dict[str, Any]]:
        return [job.info() for job in self.jobs.values()]

    async def run_now(self, name: str) -> dict[str, Any]:
        """Run job ``name`` at once and wait for it; its next time stays.

        Raises:
            NotFound: no such job.
            Busy: it is running already.
        """
        job = self.jobs.get(name)
        if job is None:
            raise NotFound(f"no job {name!r}: there are {', '.join(self.jobs)}")
        if job._lock.locked():
            raise Busy(f"job {name!r} is running already")
        await self._run(job, reschedule=False)
        return job.info()

    async def _loop(self) -> None:
        while True:
            now = self.clock()
            due = [job for job in self.jobs.values() if job.next_run <= now and not job._lock.locked()]
            for job in due:
                task = asyncio.get_running_loop().create_task(self._run(job, reschedule=True))
                self._running.add(task)
                task.add_done_callback(self._running.discard)
            waiting = [job.next_run for job in self.jobs.values() if not job._lock.locked()]
            delay = min(waiting, default=now + 60.0) - now
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(max(delay, 0.05), 60.0))

    async def _run(self, job: Job, *, reschedule: bool) -> None:
        async with job._lock:
            started = self.clock()
            begun = time.perf_counter()
            try:
                job.last_result = await job.run()
                job.last_ok = True
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("job %s failed; it runs again at its next time", job.name)
                job.last_ok = False
                job.last_result = f"failed: {type(exc).__name__}: {exc}"
            job.last_run = started
            job.last_seconds = time.perf_counter() - begun
            job.runs += 1
            if reschedule:
                job.schedule(self.clock())
                self._wake.set()
