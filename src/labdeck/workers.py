"""``labdeck serve --workers N``: N server processes on one port, sharing channels through Redis.

The supervisor (the process the command started) serves nothing itself. It starts N
copies of ``labdeck serve`` that each bind the port with ``SO_REUSEPORT``, so the kernel
spreads new connections over them; each has its own hub and shares channels, history
and locks with the others through ``[broker] url``. A worker that dies is started
again (after a pause if it keeps dying); one that fails while the workers first start
ends the whole command with its exit code, as a single server would. SIGINT or
SIGTERM stop the workers with SIGTERM, then SIGKILL after ``grace`` seconds. Workers
die with the supervisor, even one killed with SIGKILL.

A browser whose worker died reconnects, reaches another, and replays what it missed
from the shared history.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

__all__ = ["WORKER_ENV", "Supervisor", "is_worker"]

log = logging.getLogger(__name__)

WORKER_ENV = "LABDECK_WORKER"
"""Set to the worker's number (0..N-1) in each worker's environment."""

_PR_SET_PDEATHSIG = 1


def is_worker() -> bool:
    """Whether this process is a worker started by a supervisor."""
    return WORKER_ENV in os.environ


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Supervisor:
    """Runs ``workers`` copies of ``command`` and keeps them running.

    Args:
        command: the worker's command line (``labdeck serve`` with the same config).
        workers: how many.
        grace: seconds between SIGTERM and SIGKILL when stopping.
        settle: a worker exiting within this many seconds of the first start fails the command.
    """

    def __init__(self, command: Sequence[str], workers: int, *, grace: float = 10.0, settle: float = 3.0) -> None:
        self.command = list(command)
        self.workers = workers
        self.grace = grace
        self.settle = settle
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.restarts = 0
        self._stopping = False

    def _spawn(self, index: int) -> subprocess.Popen[bytes]:
        env = {**os.environ, WORKER_ENV: str(index), "LABDECK_WORKERS": str(self.workers)}
        preexec = _die_with_parent if sys.platform == "linux" else None
        proc = subprocess.Popen(self.command, env=env, preexec_fn=preexec)
        log.info("worker %d started (pid %d)", index, proc.pid)
        return proc

    def _stop(self, signum: int, frame: object) -> None:
        self._stopping = True

    def run(self) -> int:
        """Start the workers and supervise until SIGINT/SIGTERM; returns the exit code."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._stop)
        started = time.monotonic()
        self.procs = {i: self._spawn(i) for i in range(self.workers)}
        backoff: dict[int, float] = {}
        try:
            while not self._stopping:
                time.sleep(0.1)
                for index, proc in list(self.procs.items()):
                    code = proc.poll()
                    if code is None:
                        continue
                    if time.monotonic() - started < self.settle and code > 0:  # an error, not a signal
                        log.error("worker %d failed at start (exit code %d); stopping", index, code)
                        return code
                    delay = backoff.get(index, 0.5)
                    log.warning("worker %d (pid %d) exited with %d; starting it again in %.1f s",
                                index, proc.pid, code, delay)
                    time.sleep(delay)
                    backoff[index] = min(delay * 2, 30.0)
                    self.restarts += 1
                    self.procs[index] = self._spawn(index)
            return 0
        finally:
            self._terminate()

    def _terminate(self) -> None:
        live = [p for p in self.procs.values() if p.poll() is None]
        for proc in live:
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for proc in live:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker pid %d did not stop within %.0f s; killing it", proc.pid, self.grace)
                proc.kill()
                proc.wait()
