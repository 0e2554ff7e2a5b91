"""CPU time a server process spent, read from ``/proc``, beside wall time.

Wall time on a shared 2-core machine moves 2-4x from minute to minute with other
people's load; the CPU a server itself spent on a piece of work moves far less. Each
thread's ``/proc/<pid>/task/<tid>/schedstat`` starts with its time on a CPU in
nanoseconds (the scheduler's own count, not the 10 ms ticks of ``/proc/<pid>/stat``);
their sum over the process's threads is its CPU time, thread pool included.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cpu_ns"]


def cpu_ns(pid: int) -> int | None:
    """Nanoseconds of CPU all threads of process ``pid`` have used, or ``None`` where
    ``/proc`` does not say (another system, or the process is gone)."""
    tasks = Path(f"/proc/{pid}/task")
    try:
        tids = os.listdir(tasks)
    except OSError:
        return None
    total = 0
    for tid in tids:
        try:
            total += int((tasks / tid / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # a thread that ended meanwhile: its time is no longer counted anywhere
    return total
