"""Scripts a crashed server left running: found by the next server, and killed.

A run's script dies with the server on Linux (the parent-death signal), but what the
script started itself does not, and elsewhere nothing does. So every run records its
process group in the store while it is alive (:func:`~labdeck.runner.history.set_process`).
The next server to open the same data folder looks at every run still recorded there:

* its group is gone: the run becomes ``interrupted``, as it always did;
* its group still runs (and is the same group, see :func:`~labdeck.runner.proc.live_members`):
  the run becomes ``failed`` with :data:`ORPHAN_ERROR`, a note on ``run/log`` and in the
  server log says so, and the group is killed with :func:`kill_group`. Until it is gone
  the runner refuses to start a run (``Busy``), so two scripts never overlap.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

from labdeck.runner import proc
from labdeck.runner.history import Unfinished

__all__ = ["ORPHAN_ERROR", "POLL", "kill_group", "live_members", "wait_gone"]

ORPHAN_ERROR = "the server stopped while this run was running; its process was killed at restart"
POLL = 0.05
"""Seconds between two looks at a group that is being killed."""


async def live_members(run: Unfinished) -> list[int]:
    """The pids still running in the run's recorded process group (none if not recorded)."""
    if run.pgid is None:
        return []
    return await asyncio.to_thread(proc.live_members, run.pgid, run.process_start)


async def wait_gone(run: Unfinished, timeout: float | None) -> bool:
    """Wait until no process of the run's group runs; ``False`` if ``timeout`` s passed first."""
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    while await live_members(run):
        if deadline is not None and loop.time() >= deadline:
            return False
        await asyncio.sleep(POLL)
    return True


async def kill_group(run: Unfinished, grace: float) -> None:
    """SIGTERM to the run's process group, SIGKILL after ``grace`` s; returns once it is gone.

    The group is signalled only while :func:`live_members` vouches for it, so a number
    the system has since given to another group is left alone. Cancel the call to give
    up waiting (a process stuck in the kernel outlives even SIGKILL for a while).
    """
    assert run.pgid is not None
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, None)):
        if not await live_members(run):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):  # gone between look and kill
            os.killpg(run.pgid, sig)
        if await wait_gone(run, wait):
            return
